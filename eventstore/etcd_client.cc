// EtcdClient over libcurl (HTTP/1.1 keep-alive, per-call deadlines) and
// nlohmann/json; base64 through OpenSSL. The only file that knows libcurl
// on the eventstore side.
#include "eventstore/etcd_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>

#include <mutex>
#include <nlohmann/json.hpp>

namespace iam::eventstore {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Base64(const std::string& in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(n < 0 ? 0 : n);
  return out;
}

StatusOr<std::string> Unbase64(const std::string& in) {
  if (in.empty()) return std::string();
  if (in.size() % 4 != 0) return DataLossError("etcd: bad base64 length");
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return DataLossError("etcd: bad base64");
  size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

// The gateway writes int64 as strings ("revision": "12").
int64_t Int(const Json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    try {
      return std::stoll(it->get<std::string>());
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string Str(const Json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

StatusOr<EtcdKeyValue> ParseKv(const Json& j) {
  EtcdKeyValue kv;
  IAM_ASSIGN_OR_RETURN(kv.key, Unbase64(Str(j, "key")));
  IAM_ASSIGN_OR_RETURN(kv.value, Unbase64(Str(j, "value")));
  kv.create_revision = Int(j, "create_revision");
  kv.mod_revision = Int(j, "mod_revision");
  kv.version = Int(j, "version");
  kv.lease = Int(j, "lease");
  return kv;
}

StatusOr<EtcdRange> ParseRange(const Json& j) {
  EtcdRange r;
  if (auto h = j.find("header"); h != j.end()) r.revision = Int(*h, "revision");
  if (auto kvs = j.find("kvs"); kvs != j.end() && kvs->is_array()) {
    for (const auto& k : *kvs) {
      IAM_ASSIGN_OR_RETURN(EtcdKeyValue kv, ParseKv(k));
      r.kvs.push_back(std::move(kv));
    }
  }
  r.more = j.value("more", false);
  r.count = Int(j, "count");
  return r;
}

Json RangeJson(const std::string& key, const std::string& range_end,
               int64_t limit, bool serializable) {
  Json j = {{"key", Base64(key)}};
  if (!range_end.empty()) j["range_end"] = Base64(range_end);
  if (limit > 0) j["limit"] = std::to_string(limit);
  if (serializable) j["serializable"] = true;
  return j;
}

Json OpJson(const EtcdOp& op) {
  switch (op.kind) {
    case EtcdOp::Kind::kPut: {
      Json p = {{"key", Base64(op.key)}, {"value", Base64(op.value)}};
      if (op.lease != 0) p["lease"] = std::to_string(op.lease);
      return {{"request_put", p}};
    }
    case EtcdOp::Kind::kRange:
      return {{"request_range", RangeJson(op.key, op.range_end, op.limit,
                                          /*serializable=*/false)}};
    case EtcdOp::Kind::kDelete: {
      Json d = {{"key", Base64(op.key)}};
      if (!op.range_end.empty()) d["range_end"] = Base64(op.range_end);
      return {{"request_delete_range", d}};
    }
  }
  return Json::object();
}

Json CompareJson(const EtcdCompare& c) {
  static const char* kTargets[] = {"VERSION", "CREATE", "MOD", "VALUE"};
  static const char* kResults[] = {"EQUAL", "NOT_EQUAL", "GREATER", "LESS"};
  Json j = {{"key", Base64(c.key)},
            {"target", kTargets[static_cast<int>(c.target)]},
            {"result", kResults[static_cast<int>(c.result)]}};
  if (!c.range_end.empty()) j["range_end"] = Base64(c.range_end);
  switch (c.target) {
    case EtcdCompare::Target::kVersion:
      j["version"] = std::to_string(c.number);
      break;
    case EtcdCompare::Target::kCreate:
      j["create_revision"] = std::to_string(c.number);
      break;
    case EtcdCompare::Target::kMod:
      j["mod_revision"] = std::to_string(c.number);
      break;
    case EtcdCompare::Target::kValue:
      j["value"] = Base64(c.value);
      break;
  }
  return j;
}

size_t AppendBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// An etcd error body {"error", "message", "code"} as a Status. Codes are
// gRPC's, as ours are.
Status EtcdError(const Json& j, long http_status) {
  int code = j.is_object() ? static_cast<int>(Int(j, "code")) : 0;
  std::string message = j.is_object() ? Str(j, "message") : "";
  if (message.empty()) message = "HTTP " + std::to_string(http_status);
  if (code <= 0 || code > 16) code = static_cast<int>(StatusCode::kUnknown);
  return Status(static_cast<StatusCode>(code), "etcd: " + message);
}

// Errors worth another endpoint: the member has no leader, timed out, or
// is going away. The outcome of a write is unknown then.
bool Retryable(const Status& s) {
  return s.code() == StatusCode::kUnavailable ||
         s.code() == StatusCode::kDeadlineExceeded;
}

}  // namespace

EtcdCompare EtcdCompare::ValueEquals(std::string key, std::string value) {
  EtcdCompare c;
  c.key = std::move(key);
  c.target = Target::kValue;
  c.value = std::move(value);
  return c;
}
EtcdCompare EtcdCompare::CreateRevisionEquals(std::string key, int64_t rev) {
  EtcdCompare c;
  c.key = std::move(key);
  c.target = Target::kCreate;
  c.number = rev;
  return c;
}
EtcdCompare EtcdCompare::NoKeyIn(std::string key, std::string range_end) {
  EtcdCompare c = CreateRevisionEquals(std::move(key), 0);
  c.range_end = std::move(range_end);
  return c;
}
EtcdOp EtcdOp::Put(std::string key, std::string value, int64_t lease) {
  EtcdOp op;
  op.kind = Kind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}
EtcdOp EtcdOp::Get(std::string key, std::string range_end, int64_t limit) {
  EtcdOp op;
  op.kind = Kind::kRange;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  op.limit = limit;
  return op;
}
EtcdOp EtcdOp::Delete(std::string key, std::string range_end) {
  EtcdOp op;
  op.kind = Kind::kDelete;
  op.key = std::move(key);
  op.range_end = std::move(range_end);
  return op;
}

struct EtcdClient::Impl {
  std::vector<std::string> endpoints;
  EtcdClientOptions options;
  size_t current = 0;
  CURL* curl = nullptr;
  curl_slist* headers = nullptr;

  Impl(std::vector<std::string> eps, EtcdClientOptions opts)
      : endpoints(std::move(eps)), options(opts) {
    GlobalInit();
    curl = curl_easy_init();
    headers = curl_slist_append(nullptr, "Content-Type: application/json");
  }
  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
  }

  // One POST to one endpoint with `timeout`; the HTTP status and body, or
  // kUnavailable for a transport failure.
  Status PostOnce(const std::string& url, const std::string& body,
                  std::chrono::milliseconds timeout, long* http_status,
                  std::string* response) {
    response->clear();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                     static_cast<long>(body.size()));
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(timeout.count(), 1)));
    curl_easy_setopt(
        curl, CURLOPT_CONNECTTIMEOUT_MS,
        static_cast<long>(std::min(timeout, options.connect_timeout).count()));
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
      return UnavailableError("etcd " + url + ": " + curl_easy_strerror(rc));
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, http_status);
    return OkStatus();
  }

  // POSTs `request` to `path`, trying endpoints round robin within the
  // deadline; the parsed answer of the first that answers.
  StatusOr<Json> Call(const std::string& path, const Json& request) {
    const std::string body = request.dump();
    const auto deadline = SteadyClock::now() + options.timeout;
    const auto per_try =
        std::max(std::chrono::milliseconds(300),
                 options.timeout /
                     static_cast<int>(std::max<size_t>(endpoints.size(), 1)));
    Status last = UnavailableError("etcd: no endpoint");
    for (;;) {
      const auto now = SteadyClock::now();
      if (now >= deadline) break;
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
      const std::string url = endpoints[current] + path;
      long http_status = 0;
      std::string response;
      Status s =
          PostOnce(url, body, std::min(left, per_try), &http_status, &response);
      if (s.ok()) {
        Json j = Json::parse(response, nullptr, /*allow_exceptions=*/false);
        if (http_status == 200 && j.is_object() && !j.contains("error")) {
          return j;
        }
        if (j.is_discarded() && http_status == 200) {
          s = DataLossError("etcd " + url + ": answer is not JSON");
        } else {
          s = EtcdError(j, http_status);
        }
        if (!Retryable(s)) return s;
      }
      last = s;
      current = (current + 1) % endpoints.size();
    }
    return last;
  }
};

EtcdClient::EtcdClient(std::vector<std::string> endpoints,
                       EtcdClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(endpoints), options)) {}
EtcdClient::~EtcdClient() = default;

std::string EtcdClient::CurrentEndpoint() const {
  return impl_->endpoints.empty() ? "" : impl_->endpoints[impl_->current];
}

StatusOr<EtcdRange> EtcdClient::Range(const std::string& key,
                                      const std::string& range_end,
                                      int64_t limit, bool serializable) {
  IAM_ASSIGN_OR_RETURN(
      Json j, impl_->Call("/v3/kv/range",
                          RangeJson(key, range_end, limit, serializable)));
  return ParseRange(j);
}

StatusOr<int64_t> EtcdClient::Put(const std::string& key,
                                  const std::string& value, int64_t lease) {
  Json req = {{"key", Base64(key)}, {"value", Base64(value)}};
  if (lease != 0) req["lease"] = std::to_string(lease);
  IAM_ASSIGN_OR_RETURN(Json j, impl_->Call("/v3/kv/put", req));
  return Int(j.value("header", Json::object()), "revision");
}

StatusOr<EtcdTxnResult> EtcdClient::Txn(
    const std::vector<EtcdCompare>& compares,
    const std::vector<EtcdOp>& success, const std::vector<EtcdOp>& failure) {
  Json req = {{"compare", Json::array()},
              {"success", Json::array()},
              {"failure", Json::array()}};
  for (const auto& c : compares) req["compare"].push_back(CompareJson(c));
  for (const auto& op : success) req["success"].push_back(OpJson(op));
  for (const auto& op : failure) req["failure"].push_back(OpJson(op));
  IAM_ASSIGN_OR_RETURN(Json j, impl_->Call("/v3/kv/txn", req));
  EtcdTxnResult result;
  result.succeeded = j.value("succeeded", false);
  result.revision = Int(j.value("header", Json::object()), "revision");
  if (auto rs = j.find("responses"); rs != j.end() && rs->is_array()) {
    for (const auto& r : *rs) {
      if (auto range = r.find("response_range"); range != r.end()) {
        IAM_ASSIGN_OR_RETURN(EtcdRange parsed, ParseRange(*range));
        result.ranges.push_back(std::move(parsed));
      }
    }
  }
  return result;
}

StatusOr<int64_t> EtcdClient::DeleteRange(const std::string& key,
                                          const std::string& range_end) {
  Json req = {{"key", Base64(key)}};
  if (!range_end.empty()) req["range_end"] = Base64(range_end);
  IAM_ASSIGN_OR_RETURN(Json j, impl_->Call("/v3/kv/deleterange", req));
  return Int(j, "deleted");
}

Status EtcdClient::Compact(int64_t revision) {
  return impl_
      ->Call("/v3/kv/compaction", {{"revision", std::to_string(revision)}})
      .status();
}

StatusOr<int64_t> EtcdClient::LeaseGrant(int64_t ttl_seconds) {
  IAM_ASSIGN_OR_RETURN(
      Json j,
      impl_->Call("/v3/lease/grant", {{"TTL", std::to_string(ttl_seconds)}}));
  int64_t id = Int(j, "ID");
  if (id == 0) return UnavailableError("etcd: lease grant returned no id");
  return id;
}

StatusOr<int64_t> EtcdClient::LeaseKeepAlive(int64_t id) {
  IAM_ASSIGN_OR_RETURN(
      Json j, impl_->Call("/v3/lease/keepalive", {{"ID", std::to_string(id)}}));
  // A stream of one message: {"result": {..., "TTL": "n"}}; no TTL once the
  // lease is gone.
  const Json& r = j.contains("result") ? j["result"] : j;
  return Int(r, "TTL");
}

Status EtcdClient::LeaseRevoke(int64_t id) {
  return impl_->Call("/v3/lease/revoke", {{"ID", std::to_string(id)}}).status();
}

Status EtcdClient::Watch(
    const std::string& key, const std::string& range_end,
    int64_t start_revision,
    const std::function<bool(const EtcdWatchResponse&)>& on_response,
    const std::atomic<bool>* stop) {
  Json create = {{"key", Base64(key)}};
  if (!range_end.empty()) create["range_end"] = Base64(range_end);
  if (start_revision > 0)
    create["start_revision"] = std::to_string(start_revision);
  const std::string body = Json{{"create_request", create}}.dump();
  const std::string url = impl_->endpoints[impl_->current] + "/v3/watch";

  struct Stream {
    std::string buffer;
    const std::function<bool(const EtcdWatchResponse&)>* on_response;
    bool created = false;
    bool ended_by_caller = false;
    Status error;
  } stream;
  stream.on_response = &on_response;
  // Messages are JSON objects, one per line.
  auto on_data = +[](char* data, size_t size, size_t n, void* p) -> size_t {
    auto* st = static_cast<Stream*>(p);
    st->buffer.append(data, size * n);
    size_t nl;
    while ((nl = st->buffer.find('\n')) != std::string::npos) {
      std::string line = st->buffer.substr(0, nl);
      st->buffer.erase(0, nl + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      Json j = Json::parse(line, nullptr, false);
      if (!j.is_object()) {
        st->error = DataLossError("etcd watch: a message is not JSON");
        return 0;
      }
      if (j.contains("error")) {
        const Json& e = j["error"];
        st->error = EtcdError(e.is_object() ? e : j, 200);
        return 0;
      }
      const Json& r = j.contains("result") ? j["result"] : j;
      EtcdWatchResponse resp;
      resp.revision = Int(r.value("header", Json::object()), "revision");
      resp.created = r.value("created", false);
      resp.canceled = r.value("canceled", false);
      resp.compact_revision = Int(r, "compact_revision");
      resp.cancel_reason = Str(r, "cancel_reason");
      if (auto evs = r.find("events"); evs != r.end() && evs->is_array()) {
        for (const auto& e : *evs) {
          EtcdWatchEvent ev;
          ev.is_delete = Str(e, "type") == "DELETE";
          if (auto kv = e.find("kv"); kv != e.end()) {
            auto parsed = ParseKv(*kv);
            if (!parsed.ok()) {
              st->error = parsed.status();
              return 0;
            }
            ev.kv = std::move(*parsed);
          }
          resp.events.push_back(std::move(ev));
        }
      }
      if (resp.created) st->created = true;
      if (!(*st->on_response)(resp)) {
        st->ended_by_caller = true;
        return 0;
      }
      if (resp.canceled) {
        st->error =
            AbortedError("etcd watch canceled: " +
                         (resp.cancel_reason.empty() ? std::string("compacted")
                                                     : resp.cancel_reason));
        return 0;
      }
    }
    return size * n;
  };

  CURL* h = curl_easy_init();
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, impl_->headers);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(impl_->options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &stream);
  CURLM* multi = curl_multi_init();
  curl_multi_add_handle(multi, h);
  const auto started = SteadyClock::now();
  Status result;
  for (;;) {
    int running = 0;
    curl_multi_perform(multi, &running);
    if (running == 0) {
      int left = 0;
      CURLcode rc = CURLE_OK;
      while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
        if (m->msg == CURLMSG_DONE) rc = m->data.result;
      }
      if (stream.ended_by_caller) {
        result = OkStatus();
      } else if (!stream.error.ok()) {
        result = stream.error;
      } else {
        result = UnavailableError("etcd watch " + url + " ended: " +
                                  (rc == CURLE_OK
                                       ? std::string("stream closed")
                                       : std::string(curl_easy_strerror(rc))));
      }
      break;
    }
    if (stop != nullptr && stop->load()) {
      result = OkStatus();
      break;
    }
    if (!stream.created &&
        SteadyClock::now() - started > impl_->options.timeout) {
      result = UnavailableError("etcd watch " + url + ": no answer");
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  curl_multi_remove_handle(multi, h);
  curl_easy_cleanup(h);
  curl_multi_cleanup(multi);
  if (!result.ok() && result.code() != StatusCode::kAborted) {
    impl_->current = (impl_->current + 1) % impl_->endpoints.size();
  }
  return result;
}

std::string EtcdClient::PrefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

StatusOr<std::vector<std::string>> ParseEtcdEndpoints(const std::string& list) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string url = list.substr(start, comma - start);
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (!url.starts_with("http://") || url.size() <= 7 ||
        url.find('/', 7) != std::string::npos) {
      return InvalidArgumentError("--etcd: \"" + url +
                                  "\" is not http://HOST:PORT");
    }
    out.push_back(url);
    start = comma + 1;
  }
  if (out.empty()) return InvalidArgumentError("--etcd: no endpoint");
  return out;
}

}  // namespace iam::eventstore
