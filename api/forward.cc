// Forwarding writes to the leader (forward.h): the X-Iam-Forwarded MAC and
// a small HTTP client on libcurl's multi interface (one thread, kept-alive
// connections, every request with its deadline). libcurl stays in this file.
#include "api/forward.h"

#include <curl/curl.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "api/json_codec.h"
#include "eventstore/crypto.h"

namespace iam::api {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The request headers the leader decides on, covered by the MAC.
constexpr std::string_view kSignedHeaders[] = {
    "api-token", "x-data-collector-token", "projects", "content-type",
    "if-match",  "x-iam-min-seq"};

// Headers a hop owns: never forwarded either way.
bool HopByHop(std::string_view name) {
  static constexpr std::string_view kHop[] = {
      "connection",      "keep-alive", "transfer-encoding", "te",
      "upgrade",         "host",       "content-length",    "expect",
      "proxy-connection"};
  for (std::string_view h : kHop) {
    if (name.size() == h.size() &&
        std::equal(name.begin(), name.end(), h.begin(), [](char a, char b) {
          return HeaderNameLess::Lower(a) == b;
        })) {
      return true;
    }
  }
  return false;
}

bool NameIs(std::string_view name, std::string_view lower) {
  return name.size() == lower.size() &&
         std::equal(
             name.begin(), name.end(), lower.begin(),
             [](char a, char b) { return HeaderNameLess::Lower(a) == b; });
}

// Length-prefixed, so no two field lists encode alike.
void Field(std::string& out, std::string_view v) {
  out += std::to_string(v.size());
  out += ':';
  out.append(v);
}

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string DeriveForwardKey(const std::string& checkpoint_key) {
  return eventstore::HmacSha256(checkpoint_key, "iamledger forward v1");
}

// ---- the MAC ----------------------------------------------------------------

ForwardSigner::ForwardSigner(std::string key, std::string node_name)
    : key_(std::move(key)), node_(std::move(node_name)) {}

std::string ForwardSigner::Mac(const HttpRequest& request,
                               std::string_view request_id,
                               std::string_view node, std::string_view ts,
                               std::string_view remote) const {
  std::string m;
  Field(m, "iamledger forward v1");
  Field(m, node);
  Field(m, ts);
  Field(m, remote);
  Field(m, request.method);
  Field(m, request.target);
  Field(m, request_id);
  Field(m, eventstore::ToHex(eventstore::Sha256(request.body)));
  for (std::string_view name : kSignedHeaders) {
    auto values = HeaderValues(request.headers, name);
    Field(m, name);
    Field(m, std::to_string(values.size()));
    for (std::string_view v : values) Field(m, v);
  }
  return eventstore::HmacSha256(key_, m);
}

std::string ForwardSigner::Sign(const HttpRequest& request,
                                const std::string& request_id,
                                int64_t now_ms) const {
  const std::string ts = std::to_string(now_ms);
  return "v1;node=" + node_ + ";ts=" + ts + ";remote=" + request.remote +
         ";sig=" +
         eventstore::ToHex(Mac(request, request_id, node_, ts, request.remote));
}

Status ForwardSigner::Verify(const HttpRequest& request, int64_t now_ms,
                             std::string* remote,
                             std::string* from_node) const {
  auto refuse = [](std::string_view why) {
    return UnauthenticatedError("forwarded request not authenticated: " +
                                std::string(why));
  };
  if (HeaderValues(request.headers, kForwardedHeader).size() != 1)
    return refuse("one X-Iam-Forwarded header expected");
  std::string_view v = HeaderValue(request.headers, kForwardedHeader);
  if (!v.starts_with("v1;")) return refuse("unknown version");
  v.remove_prefix(3);
  std::string node, ts, from, sig;
  while (!v.empty()) {
    size_t semi = v.find(';');
    std::string_view part = v.substr(0, semi);
    v = semi == std::string_view::npos ? std::string_view()
                                       : v.substr(semi + 1);
    size_t eq = part.find('=');
    if (eq == std::string_view::npos) return refuse("malformed");
    std::string_view k = part.substr(0, eq), val = part.substr(eq + 1);
    std::string* slot = k == "node"     ? &node
                        : k == "ts"     ? &ts
                        : k == "remote" ? &from
                        : k == "sig"    ? &sig
                                        : nullptr;
    if (slot == nullptr || !slot->empty()) return refuse("malformed");
    slot->assign(val);
  }
  if (node.empty() || ts.empty() || from.empty() || sig.size() != 64 ||
      ts.size() > 15 ||
      ts.find_first_not_of("0123456789") != std::string::npos) {
    return refuse("malformed");
  }
  const int64_t sent = std::stoll(ts);
  const int64_t skew =
      std::chrono::duration_cast<milliseconds>(kForwardClockSkew).count();
  if (sent < now_ms - skew || sent > now_ms + skew)
    return refuse("its time is off by more than " +
                  std::to_string(kForwardClockSkew.count()) + " s");
  const std::string want = eventstore::ToHex(Mac(
      request, HeaderValue(request.headers, "x-request-id"), node, ts, from));
  if (!eventstore::ConstantTimeEquals(want, sig))
    return refuse("bad MAC (do all nodes use the same key file?)");
  *remote = std::move(from);
  *from_node = std::move(node);
  return OkStatus();
}

// ---- the client
// ---------------------------------------------------------------

struct Forwarder::Impl {
  struct Job {
    HttpRequest request;  // as sent (headers rewritten)
    std::string request_id;
    std::string signature;
    std::function<void(Outcome)> done;
    SteadyClock::time_point deadline;
    SteadyClock::time_point due;  // of the next attempt
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::vector<std::string> header_lines;
    std::string body;
    std::string last_error;
  };
  using JobPtr = std::unique_ptr<Job>;

  Impl(ForwardSigner s, LeaderUrl l, ForwarderOptions o)
      : signer(std::move(s)), leader(std::move(l)), options(o) {
    static std::once_flag curl_once;
    std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      static_cast<long>(options.max_connections));
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                      static_cast<long>(options.max_connections));
    thread = std::thread([this] { Loop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    curl_multi_wakeup(multi);
    thread.join();
    curl_multi_cleanup(multi);
  }

  void Submit(JobPtr job) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stopping) {
        incoming.push_back(std::move(job));
        job = nullptr;
      }
    }
    if (job) {
      Finish(*job, Unavailable(*job, "the server is stopping"));
      return;
    }
    curl_multi_wakeup(multi);
  }

  static HttpResponse Unavailable(const Job& job, std::string why) {
    // Automate's error body (§2.5); the message holds no secret.
    HttpResponse r = ErrorResponse(
        UnavailableError(
            "could not forward the write to the cluster's leader: " + why +
            "; if it was sent, its outcome is unknown: retry it with the "
            "same X-Request-Id"),
        /*pretty=*/false);
    r.headers.emplace("X-Request-Id", job.request_id);
    return r;
  }

  void Finish(Job& job, HttpResponse response) {
    Outcome out;
    out.response = std::move(response);
    job.done(std::move(out));
  }

  void Release(Job& job) {
    if (job.easy != nullptr) {
      curl_multi_remove_handle(multi, job.easy);
      curl_easy_cleanup(job.easy);
      job.easy = nullptr;
    }
    if (job.headers != nullptr) {
      curl_slist_free_all(job.headers);
      job.headers = nullptr;
    }
    job.header_lines.clear();
    job.body.clear();
  }

  // Another attempt after retry_interval, or 503 past the deadline.
  void Retry(JobPtr job, std::string why) {
    Release(*job);
    job->last_error = std::move(why);
    job->due = SteadyClock::now() + options.retry_interval;
    if (job->due >= job->deadline) {
      Finish(*job, Unavailable(*job, job->last_error));
      return;
    }
    waiting.push_back(std::move(job));
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* job = static_cast<Job*>(user);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {
      job->header_lines.clear();  // a new response (after a 1xx)
    } else if (!line.empty()) {
      job->header_lines.emplace_back(line);
    }
    return size * n;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* job = static_cast<Job*>(user);
    if (job->body.size() + size * n > (16u << 20)) return 0;  // abort
    job->body.append(data, size * n);
    return size * n;
  }

  // Sends the job to the leader, serves it here, or waits for a leader.
  void Start(JobPtr job) {
    const std::string url = leader();
    if (url == kSelf) {
      Outcome out;
      out.serve_here = true;
      job->done(std::move(out));
      return;
    }
    if (url.empty()) return Retry(std::move(job), "no leader is known");
    const auto now = SteadyClock::now();
    CURL* e = curl_easy_init();
    job->easy = e;
    const std::string full = url + job->request.target;
    curl_easy_setopt(e, CURLOPT_URL, full.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, job->request.method.c_str());
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);  // the MAC covers the target
    if (job->request.method != "GET" && job->request.method != "DELETE") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->request.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(job->request.body.size()));
    } else if (!job->request.body.empty()) {
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, job->request.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(job->request.body.size()));
    }
    bool has_accept = false, has_type = false;
    for (const auto& [name, value] : job->request.headers) {
      if (HopByHop(name) || NameIs(name, "x-iam-forwarded") ||
          NameIs(name, "x-request-id")) {
        continue;
      }
      if (NameIs(name, "accept")) has_accept = true;
      if (NameIs(name, "content-type")) has_type = true;
      job->headers =
          curl_slist_append(job->headers, (name + ": " + value).c_str());
    }
    job->headers = curl_slist_append(
        job->headers, ("X-Request-Id: " + job->request_id).c_str());
    job->headers = curl_slist_append(
        job->headers,
        (std::string(kForwardedHeader) + ": " + job->signature).c_str());
    job->headers = curl_slist_append(job->headers, "Expect:");
    if (!has_accept) job->headers = curl_slist_append(job->headers, "Accept:");
    if (!has_type)
      job->headers = curl_slist_append(job->headers, "Content-Type:");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, job->headers);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, job.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, job.get());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout.count()));
    const long left = static_cast<long>(
        std::chrono::duration_cast<milliseconds>(job->deadline - now).count());
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, std::max(left, 1L));
    curl_easy_setopt(e, CURLOPT_PRIVATE, job.get());
    curl_multi_add_handle(multi, e);
    Job* raw = job.get();
    in_flight.emplace(raw, std::move(job));
  }

  void Completed(CURL* e, CURLcode code) {
    Job* raw = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &raw);
    auto it = in_flight.find(raw);
    if (it == in_flight.end()) return;
    JobPtr job = std::move(it->second);
    in_flight.erase(it);
    if (code != CURLE_OK) {
      // Not connected: nothing was sent. Anything else: the outcome is
      // unknown, and the same request id makes another attempt safe.
      const bool sent =
          code != CURLE_COULDNT_CONNECT && code != CURLE_COULDNT_RESOLVE_HOST;
      return Retry(std::move(job),
                   std::string(sent ? "the leader did not answer ("
                                    : "the leader is unreachable (") +
                       curl_easy_strerror(code) + ")");
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    HttpResponse r;
    r.status = static_cast<int>(status);
    bool not_leader = false;
    for (const std::string& line : job->header_lines) {
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      size_t start = line.find_first_not_of(" \t", colon + 1);
      std::string value = start == std::string::npos ? "" : line.substr(start);
      if (HopByHop(name)) continue;
      if (NameIs(name, "x-iam-not-leader")) not_leader = true;
      r.headers.emplace(std::move(name), std::move(value));
    }
    if (status == 503 && not_leader) {
      return Retry(std::move(job), "the node asked no longer leads");
    }
    r.body = std::move(job->body);
    Release(*job);
    Finish(*job, std::move(r));
  }

  void Loop() {
    for (;;) {
      std::deque<JobPtr> arrived;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (stopping) break;
        arrived.swap(incoming);
      }
      for (auto& job : arrived) Start(std::move(job));
      const auto now = SteadyClock::now();
      auto next = now + milliseconds(100);
      for (auto it = waiting.begin(); it != waiting.end();) {
        if ((*it)->due <= now) {
          JobPtr job = std::move(*it);
          it = waiting.erase(it);
          Start(std::move(job));
        } else {
          next = std::min(next, (*it)->due);
          ++it;
        }
      }
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE)
          Completed(msg->easy_handle, msg->data.result);
      }
      const int wait_ms = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<milliseconds>(next - SteadyClock::now())
                 .count()));
      curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    }
    // Stopping: everything still here gets its answer.
    std::deque<JobPtr> rest;
    {
      std::lock_guard<std::mutex> lock(mu);
      rest.swap(incoming);
    }
    for (auto& [raw, job] : in_flight) {
      Release(*job);
      rest.push_back(std::move(job));
    }
    in_flight.clear();
    for (auto& job : waiting) rest.push_back(std::move(job));
    waiting.clear();
    for (auto& job : rest)
      Finish(*job, Unavailable(*job, "the server is stopping"));
  }

  const ForwardSigner signer;
  const LeaderUrl leader;
  const ForwarderOptions options;
  CURLM* multi = nullptr;

  std::mutex mu;
  bool stopping = false;        // guarded
  std::deque<JobPtr> incoming;  // guarded
  // The loop thread's own.
  std::list<JobPtr> waiting;
  std::unordered_map<Job*, JobPtr> in_flight;
  std::thread thread;
};

Forwarder::Forwarder(ForwardSigner signer, LeaderUrl leader,
                     ForwarderOptions options)
    : impl_(std::make_unique<Impl>(std::move(signer), std::move(leader),
                                   options)) {}

Forwarder::~Forwarder() = default;

void Forwarder::Forward(HttpRequest request, std::string request_id,
                        std::function<void(Outcome)> done) {
  auto job = std::make_unique<Impl::Job>();
  // The signature covers exactly what is sent: the client's headers and
  // the request id under which the leader records the write.
  job->signature = impl_->signer.Sign(request, request_id, UnixMs());
  job->request = std::move(request);
  job->request_id = std::move(request_id);
  job->done = std::move(done);
  job->deadline = SteadyClock::now() + impl_->options.deadline;
  impl_->Submit(std::move(job));
}

}  // namespace iam::api
