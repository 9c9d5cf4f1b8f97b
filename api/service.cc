#include "api/service.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "api/audit.h"
#include "api/body_cache.h"
#include "api/body_stream.h"
#include "api/console.h"
#include "api/digest_cache.h"
#include "api/json_codec.h"
#include "api/metrics.h"
#include "api/router.h"
#include "core/authorize.h"
#include "core/decide.h"
#include "core/ids.h"

namespace iam::api {
namespace {

using SteadyClock = std::chrono::steady_clock;
using projections::View;

constexpr std::string_view kNotAuthenticated = "request not authenticated";
constexpr std::string_view kPermissionDenied = "Permission Denied";
constexpr uint64_t kFeedDefaultLimit = 100;
constexpr uint64_t kFeedMaxLimit = 1000;
constexpr uint64_t kFeedMaxWaitSeconds = 60;
constexpr uint64_t kFeedMaxScan = 100000;  // events examined per request

std::string KeyName(std::string_view token_id) {
  return "token/" + std::string(token_id);
}

// The `projects` header (§2.3): comma-separated over all header lines,
// trimmed, duplicates removed, empty entries dropped.
StringList ProjectsHeader(const Headers& headers, bool* present) {
  StringList out;
  *present = HasHeader(headers, "projects");
  for (std::string_view line : HeaderValues(headers, "projects")) {
    size_t start = 0;
    while (start <= line.size()) {
      size_t comma = line.find(',', start);
      if (comma == std::string_view::npos) comma = line.size();
      std::string_view item = line.substr(start, comma - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
        item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
        item.remove_suffix(1);
      if (!item.empty() &&
          std::find(out.begin(), out.end(), item) == out.end()) {
        out.emplace_back(item);
      }
      start = comma + 1;
    }
  }
  return out;
}

// If-Match: "3" (or 3, or W/"3"); nullopt when absent, error when malformed.
StatusOr<std::optional<uint64_t>> IfMatch(const Headers& headers) {
  if (!HasHeader(headers, "if-match")) return std::optional<uint64_t>();
  std::string_view v = HeaderValue(headers, "if-match");
  if (v.starts_with("W/")) v.remove_prefix(2);
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
    v = v.substr(1, v.size() - 2);
  if (v.empty() || v.size() > 19 ||
      v.find_first_not_of("0123456789") != std::string_view::npos) {
    return InvalidArgumentError(
        "If-Match must be an ETag returned by GET, e.g. \"3\"");
  }
  return std::optional<uint64_t>(std::stoull(std::string(v)));
}

std::string ETag(uint64_t version) {
  return "\"" + std::to_string(version) + "\"";
}

// The client's X-Request-Id when it is short and plain, else a fresh one:
// a per-process random prefix and a counter (unique, and cheap on the hot
// path).
std::string RequestId(const Headers& headers) {
  std::string_view given = HeaderValue(headers, "x-request-id");
  if (!given.empty() && given.size() <= 64 &&
      std::all_of(given.begin(), given.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' ||
               c == '_' || c == '.';
      })) {
    return std::string(given);
  }
  static const std::string prefix =
      eventstore::ToHex(eventstore::RandomBytes(4)) + "-";
  static std::atomic<uint64_t> counter{0};
  return prefix + std::to_string(++counter);
}

// The stream and not-found status of the object a route addresses.
std::string StreamFor(RouteId route, const std::string& id) {
  switch (route) {
    case RouteId::kUpdateToken:
    case RouteId::kDeleteToken:
    case RouteId::kTokenHistory:
    case RouteId::kRotateToken:
      return "token/" + id;
    case RouteId::kUpdatePolicy:
    case RouteId::kDeletePolicy:
    case RouteId::kReplacePolicyMembers:
    case RouteId::kAddPolicyMembers:
    case RouteId::kRemovePolicyMembers:
    case RouteId::kPolicyHistory:
      return "policy/" + id;
    case RouteId::kUpdateRole:
    case RouteId::kDeleteRole:
    case RouteId::kRoleHistory:
      return "role/" + id;
    case RouteId::kUpdateProject:
    case RouteId::kDeleteProject:
    case RouteId::kProjectHistory:
      return "project/" + id;
    default:
      return "";
  }
}

const std::string& CommandId(const Command& cmd) {
  return std::visit([](const auto& c) -> const std::string& { return c.id; },
                    cmd);
}

// Wrapped (never unwrapped) data keys by token id, so that revealing a value
// does not read the key store on every GET. Crypto-shredding: an entry is
// dropped (and its bytes cleansed) when a DeleteToken request finishes,
// which is after its commit deleted the key from the store; the epoch makes
// a lookup that raced that delete (read the key from the store before the
// commit, stores it after the drop) leave the old key out. DeleteToken is
// the only write that deletes a key (StartWrite); another one must call
// Forget() too.
class WrappedKeyCache {
 public:
  static constexpr size_t kMaxEntries = 16384;

  ~WrappedKeyCache() { Clear(); }

  // The wrapped key of `id` into *wrapped, or false and the epoch to hand
  // to Put() after reading the key from the store.
  bool Get(const std::string& id, std::string* wrapped, uint64_t* epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = keys_.find(id);
    if (it == keys_.end()) {
      *epoch = epoch_;
      return false;
    }
    *wrapped = it->second;
    return true;
  }

  void Put(const std::string& id, const std::string& wrapped, uint64_t epoch) {
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch != epoch_) return;  // a delete finished meanwhile
    if (keys_.size() >= kMaxEntries) Clear();
    keys_.insert_or_assign(id, wrapped);
  }

  void Forget(const std::string& id) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = keys_.find(id); it != keys_.end()) {
      OPENSSL_cleanse(it->second.data(), it->second.size());
      keys_.erase(it);
    }
    ++epoch_;
  }

 private:
  void Clear() {
    for (auto& [id, wrapped] : keys_) {
      OPENSSL_cleanse(wrapped.data(), wrapped.size());
    }
    keys_.clear();
  }

  std::mutex mu_;
  std::unordered_map<std::string, std::string> keys_;  // guarded
  uint64_t epoch_ = 0;                                 // guarded
};

}  // namespace

// ---------------------------------------------------------------------------

struct Service::Impl {
  Impl(Service* owner, eventstore::EventStore* store,
       projections::Projections* projections,
       const eventstore::MasterKeys& keys, ServiceOptions options)
      : owner(owner),
        store(store),
        projections(projections),
        wrapping_key(keys.wrapping_key),
        digester(keys.pepper),
        options(options),
        lifecycle(store, projections, &digester, options.lifecycle,
                  options.clock),
        auth_limiter(options.auth_limit, options.clock),
        audit(store, options.audit, options.clock) {
    feed_thread = std::thread([this] { FeedLoop(); });
    // Cluster mode: deletes and rotations made through other nodes drop
    // this node's in-memory copies of the token's key too.
    if (options.request_log != nullptr) {
      options.request_log->SetTokenSecretListener(
          [this](const std::string& id) {
            wrapped_keys.Forget(id);
            token_bodies.Forget(id);
          });
    }
  }

  ~Impl() {
    if (options.request_log != nullptr)
      options.request_log->SetTokenSecretListener(nullptr);
    Shutdown();
  }

  // One request in flight.
  struct Ctx {
    HttpRequest req;
    Responder respond;
    RouteMatch match;
    Negotiation neg;
    std::string request_id;
    std::string subject;
    Caller caller;
    std::optional<uint64_t> if_match;
    SteadyClock::time_point start = SteadyClock::now();
  };
  using CtxPtr = std::shared_ptr<Ctx>;

  // What a command needs besides the command itself.
  struct Write {
    Command command;
    std::string token_value;  // CreateToken: the plaintext (never logged)
    std::vector<std::pair<std::string, std::string>> key_puts;
    std::vector<std::string> key_deletes;
    int attempt = 0;
    size_t events = 0;  // of the decision that was appended
    // Cluster mode: a retry of a write already in the log, answered with
    // its recorded outcome (new values are those the log holds).
    bool replayed = false;
  };

  void Finish(const CtxPtr& ctx, HttpResponse response) {
    double seconds =
        std::chrono::duration<double>(SteadyClock::now() - ctx->start).count();
    metrics.Record(ctx->match.route, response.status, seconds);
    // Whatever the outcome: the key may be gone from the store.
    if (ctx->match.id() == RouteId::kDeleteToken ||
        ctx->match.id() == RouteId::kRotateToken) {
      wrapped_keys.Forget(ctx->match.Param("id"));
      token_bodies.Forget(ctx->match.Param("id"));
    }
    if (ctx->match.id() == RouteId::kDeleteToken && response.status == 200) {
      lifecycle.usage().Forget(ctx->match.Param("id"));
    }
    if (!HasHeader(response.headers, "X-Request-Id"))  // forwarded: has it
      response.headers.emplace("X-Request-Id", ctx->request_id);
    ctx->respond(std::move(response));
  }
  void Fail(const CtxPtr& ctx, const Status& status) {
    Finish(ctx, ErrorResponse(status, ctx->neg.pretty));
  }
  void Ok(const CtxPtr& ctx, std::string body) {
    Finish(ctx, JsonResponse(std::move(body)));
  }

  // ---- pipeline -----------------------------------------------------------

  void Handle(HttpRequest request, Responder respond) {
    auto ctx = std::make_shared<Ctx>();
    ctx->req = std::move(request);
    ctx->respond = std::move(respond);
    ctx->request_id = RequestId(ctx->req.headers);
    // Operator routes exist only on the admin socket (DESIGN.md §6).
    if (ctx->req.remote == "unix" && ctx->req.target == "/admin/v1/backup") {
      return Backup(ctx);
    }
    // The web console's pages and assets (api/console.h).
    if (auto page = ServeConsole(ctx->req))
      return Finish(ctx, std::move(*page));
    ctx->match = Match(ctx->req.method, ctx->req.target);
    if (!ctx->match.ok()) {
      Finish(ctx, RoutingErrorResponse(ctx->match));
      return;
    }
    ctx->neg = Negotiate(ctx->req.headers, ctx->match.query);
    const RouteId route = ctx->match.id();
    switch (route) {
      case RouteId::kHealthz:
        return Ok(ctx, "{\"status\":\"ok\"}");
      case RouteId::kReadyz:
        if (options.cluster != nullptr)
          return Finish(ctx, options.cluster->Readyz(owner->ready_));
        return Finish(ctx, SingleNodeReadyz(owner->ready_, store->LastSeq()));
      case RouteId::kMetrics:
        return Finish(ctx, MetricsResponse());
      default:
        break;
    }
    if (options.cluster != nullptr) {
      // Cluster mode (api/cluster_front.h): forwarded to the leader, failed
      // closed, or held until X-Iam-Min-Seq is applied, first.
      const bool is_write =
          IsCommandRoute(route) || route == RouteId::kRevokeTokens;
      return options.cluster->Admit(
          &ctx->req, is_write, ctx->request_id,
          [this, ctx](Status refused) {
            if (!refused.ok()) return Fail(ctx, refused);
            Serve(ctx);
          },
          [this, ctx](HttpResponse r) { Finish(ctx, std::move(r)); });
    }
    Serve(ctx);
  }

  // The request past routing (and, in cluster mode, admission).
  void Serve(const CtxPtr& ctx) {
    const RouteId route = ctx->match.id();
    // Unauthenticated revocation of leaked values (api/lifecycle.h).
    if (route == RouteId::kRevokeTokens) return Revoke(ctx);

    // 2. Body decoding precedes authentication (§1).
    std::optional<Write> write;
    if (IsCommandRoute(route)) {
      auto decoded = DecodeCommand(route, ctx->req.body, ctx->neg.lax,
                                   ctx->match.Param("id"));
      if (!decoded.ok()) return Fail(ctx, decoded.status());
      write.emplace();
      write->command = std::move(decoded->command);
      write->token_value = std::move(decoded->token_value);
    }
    std::optional<IntrospectSomeRequest> introspect_some;
    std::optional<IntrospectRequest> introspect;
    if (route == RouteId::kIntrospectSome) {
      auto d = DecodeIntrospectSome(ctx->req.body, ctx->neg.lax);
      if (!d.ok()) return Fail(ctx, d.status());
      introspect_some = std::move(*d);
    } else if (route == RouteId::kIntrospect) {
      auto d = DecodeIntrospect(ctx->req.body, ctx->neg.lax);
      if (!d.ok()) return Fail(ctx, d.status());
      introspect = std::move(*d);
    }

    if (route == RouteId::kAuditWhatIf) {
      Status s = Audit::ValidateWhatIf(ctx->req.body);
      if (!s.ok()) return Fail(ctx, s);
    }

    // 4. Authentication, limited per client address on failures
    // (api/auth_limiter.h): a limited address is not even looked up.
    if (auto d = auth_limiter.Admit(ctx->req.remote); !d.allowed) {
      return TooManyFailures(ctx, d);
    }
    auto subject = Authenticate(ctx->req);
    if (!subject.ok()) {
      if (auto d = auth_limiter.Failed(ctx->req.remote); !d.allowed) {
        return TooManyFailures(ctx, d);
      }
      return Fail(ctx, subject.status());
    }
    ctx->subject = std::move(*subject);
    ctx->caller.subjects = {ctx->subject};

    // 5. Authorization of the route's (resource, action).
    bool has_header = false;
    StringList header = ProjectsHeader(ctx->req.headers, &has_header);
    AuthzDecision authz = projections->Read([&](const View& v) {
      return Authorize(v.state,
                       AuthzRequest{ctx->caller.subjects, ctx->match.resource,
                                    ctx->match.action, has_header, header});
    });
    if (!authz.allowed) {
      return Fail(ctx, PermissionDeniedError(std::string(kPermissionDenied)));
    }
    ctx->caller.filter = std::move(authz.filter);

    auto if_match = IfMatch(ctx->req.headers);
    if (!if_match.ok()) return Fail(ctx, if_match.status());
    ctx->if_match = *if_match;

    if (write) return StartWrite(ctx, std::move(*write));
    if (IsAuditRoute(route)) return AuditQuery(ctx);
    if (introspect_some) return IntrospectSome(ctx, *introspect_some);
    if (introspect) return IntrospectOne(ctx, *introspect);
    return Read(ctx);
  }

  // POST /admin/v1/backup {"to": DIR}: a consistent copy of the log while
  // appends go on (EventStore::CreateBackup). The copy runs on its own
  // thread: it may take a while and must not hold an I/O thread.
  void Backup(const CtxPtr& ctx) {
    if (ctx->req.method != "POST") {
      HttpResponse r;
      r.status = 405;
      r.headers.emplace("Allow", "POST");
      r.headers.emplace("Content-Type", "text/plain; charset=utf-8");
      r.body = "Method Not Allowed\n";
      return Finish(ctx, std::move(r));
    }
    auto req = DecodeBackup(ctx->req.body, /*lax=*/false);
    if (!req.ok()) return Fail(ctx, req.status());
    if (req->to.empty() || req->to.front() != '/') {
      return Fail(ctx, InvalidArgumentError("\"to\" must be the absolute path "
                                            "of the directory to create"));
    }
    {
      std::lock_guard<std::mutex> lock(feed_mu);
      if (feed_stopping) {
        return Fail(ctx, UnavailableError("the server is stopping"));
      }
      backups_running++;
    }
    std::thread([this, ctx, to = req->to] {
      Status s = store->CreateBackup(to);
      if (s.ok()) {
        Ok(ctx, "{}");
      } else {
        Fail(ctx, s);
      }
      backups_running--;
    }).detach();
  }

  // 429 for an address past the failed-authentication limit.
  void TooManyFailures(const CtxPtr& ctx, const RateLimiter::Decision& d) {
    HttpResponse r = ErrorResponse(
        ResourceExhaustedError(
            "too many failed authentications from this address; retry in " +
            std::to_string(d.retry_after_seconds) + " seconds"),
        ctx->neg.pretty);
    r.headers.emplace("Retry-After", std::to_string(d.retry_after_seconds));
    Finish(ctx, std::move(r));
  }

  // POST /tokens:revoke: no authentication (holding the value is the
  // proof); the actor is `revocation`, the source the client address.
  void Revoke(const CtxPtr& ctx) {
    Lifecycle::Refusal refusal;
    RevokeTokens cmd =
        lifecycle.PrepareRevoke(ctx->req, ctx->neg.lax, &refusal);
    if (!refusal.status.ok()) {
      HttpResponse r = ErrorResponse(refusal.status, ctx->neg.pretty);
      if (refusal.retry_after_seconds > 0) {
        r.headers.emplace("Retry-After",
                          std::to_string(refusal.retry_after_seconds));
      }
      return Finish(ctx, std::move(r));
    }
    ctx->subject = std::string(kRevocationActor);
    ctx->caller.subjects = {ctx->subject};
    Write write;
    write.command = std::move(cmd);
    StartWrite(ctx, std::move(write));
  }

  // The audit queries (api/audit.h) take up to seconds, so they run on a
  // thread of their own, not an I/O thread.
  void AuditQuery(const CtxPtr& ctx) {
    {
      std::lock_guard<std::mutex> lock(feed_mu);
      if (feed_stopping) {
        return Fail(ctx, UnavailableError("the server is stopping"));
      }
      backups_running++;
    }
    std::thread([this, ctx] {
      const bool pretty = ctx->neg.pretty;
      const QueryParams& q = ctx->match.query;
      const RouteId route = ctx->match.id();
      if (route == RouteId::kAuditWhatIf) {
        auto body = audit.WhatIf(ctx->req.body, ctx->caller.subjects,
                                 lifecycle.Expiry(), pretty);
        if (body.ok()) {
          Ok(ctx, std::move(*body));
        } else {
          Fail(ctx, body.status());
        }
        backups_running--;
        return;
      }
      // check, who and diff: sent whole up to the inline limit, streamed
      // past it (api/body_stream.h): a whole-log diff never sits in memory.
      StreamedReply reply(
          [this, ctx](HttpResponse r) { Finish(ctx, std::move(r)); },
          "application/json", options.audit_inline_limit);
      const AnswerSink sink = [this, &reply](std::string_view bytes) {
        return !queries_stopping.load() && reply.Write(bytes);
      };
      Status s = route == RouteId::kAuditCheck ? audit.Check(q, pretty, sink)
                 : route == RouteId::kAuditWho ? audit.Who(q, pretty, sink)
                                               : audit.Diff(q, pretty, sink);
      if (!s.ok() && reply.streamed()) {
        spdlog::warn("audit: {} cut short after streaming began: {}",
                     ctx->match.route->name, s.ToString());
      }
      reply.End(s, [pretty](const Status& error) {
        return ErrorResponse(error, pretty);
      });
      backups_running--;
    }).detach();
  }

  // §3: x-data-collector-token, then api-token; the first non-empty header
  // decides. The admin socket is local:admin.
  StatusOr<std::string> Authenticate(const HttpRequest& req) {
    if (req.remote == "unix") return std::string(kLocalAdminSubject);
    for (std::string_view name : {"x-data-collector-token", "api-token"}) {
      std::string_view value = HeaderValue(req.headers, name);
      if (value.empty()) continue;
      // A value in our format with a bad checksum is refused before any
      // lookup (DESIGN.md §5).
      if (value.starts_with("iam_") && value.size() == 53 &&
          !eventstore::IsGeneratedTokenValue(value)) {
        break;
      }
      unsigned char digest_bytes[32];
      digest_cache.DigestInto(value, digest_bytes);
      const std::string_view digest(reinterpret_cast<const char*>(digest_bytes),
                                    sizeof(digest_bytes));
      // Expired tokens and previous values past their grace are refused
      // here, as inactive ones (core/lifecycle.h): no background job.
      const Micros now = lifecycle.clock().Now();
      // last_used_at through the usage mark of the digest index entry: a
      // token used within the interval costs one load from a cache line the
      // lookup has just read (eventstore/usage_store.h).
      std::optional<std::string> subject =
          projections->Read([&](const View& v) -> std::optional<std::string> {
            const View::Authenticated a = v.Authenticate(digest, now);
            if (a.token == nullptr) return std::nullopt;
            if (a.usage_mark != nullptr) {
              lifecycle.usage().Touch(a.id, now, a.usage_mark);
            } else {
              lifecycle.usage().Touch(a.id, now);
            }
            std::string subject = "token:";
            subject += a.id;
            return subject;
          });
      if (!subject) break;
      return std::move(*subject);
    }
    return UnauthenticatedError(std::string(kNotAuthenticated));
  }

  // ---- writes ---------------------------------------------------------------

  void StartWrite(const CtxPtr& ctx, Write write) {
    if (auto* create = std::get_if<CreateToken>(&write.command)) {
      Status s = PrepareSecret(*create, &write);
      if (!s.ok()) return Fail(ctx, s);
    }
    if (auto* rotate = std::get_if<RotateToken>(&write.command)) {
      write.token_value = eventstore::GenerateTokenValue();
      rotate->now = lifecycle.clock().Now();
      rotate->value_digest = digester.Digest(write.token_value);
      Status s = SealValue(rotate->id, write.token_value, &rotate->sealed_value,
                           &write);
      if (!s.ok()) return Fail(ctx, s);
    }
    if (std::holds_alternative<DeleteToken>(write.command)) {
      write.key_deletes.push_back(KeyName(CommandId(write.command)));
    }
    Attempt(ctx, std::make_shared<Write>(std::move(write)));
  }

  // Generates (or takes) the value, seals it under a fresh data key and
  // wraps that key; only the digest and the sealed value reach core.
  Status PrepareSecret(CreateToken& cmd, Write* write) {
    TokenSecret& secret = cmd.secret;
    secret.supplied = !write->token_value.empty();
    if (!secret.supplied) write->token_value = eventstore::GenerateTokenValue();
    const std::string& value = write->token_value;
    // A value in our generated shape must be one of ours: authentication
    // refuses such a value with a bad checksum before any lookup.
    if (secret.supplied && value.starts_with("iam_") && value.size() == 53 &&
        !eventstore::IsGeneratedTokenValue(value)) {
      return InvalidArgumentError(
          "token value has the shape of a generated iamledger value but its "
          "checksum does not match; supply another value or let the server "
          "generate one");
    }
    secret.length = value.size();
    secret.acceptable = eventstore::IsAcceptableTokenValue(value);
    if (!secret.acceptable) return OkStatus();  // core reports it in order
    if (cmd.id.empty()) cmd.id = DeriveIdFromName(cmd.name);
    secret.digest = digester.Digest(value);
    return SealValue(cmd.id, value, &secret.sealed, write);
  }

  // Seals `value` under a fresh data key for token `id` and queues the
  // wrapped key's put with the write (a rotation replaces the key).
  Status SealValue(const std::string& id, const std::string& value,
                   std::string* sealed, Write* write) {
    std::string data_key = eventstore::RandomBytes(32);
    IAM_ASSIGN_OR_RETURN(*sealed, eventstore::Seal(data_key, value, id));
    IAM_ASSIGN_OR_RETURN(std::string wrapped,
                         eventstore::Seal(wrapping_key, data_key, KeyName(id)));
    write->key_puts.emplace_back(KeyName(id), std::move(wrapped));
    return OkStatus();
  }

  void Attempt(const CtxPtr& ctx, std::shared_ptr<Write> write) {
    const RouteId route = ctx->match.id();
    // Fail closed: once a write failed, the store takes none until a
    // restart, so every write is a 503 (reads go on), not a decision on a
    // state that may lag what the client last saw.
    if (Status stuck = store->WriteError(); !stuck.ok()) {
      return Fail(ctx,
                  UnavailableError("writes are stopped: " + stuck.message()));
    }
    // Cluster mode: a retry of a write the log already holds (its client
    // never saw the answer) gets the recorded outcome, not a second apply.
    if (options.request_log != nullptr) {
      if (auto done = options.request_log->Find(ctx->request_id);
          done && done->actor == ctx->subject) {
        write->replayed = true;
        write->events = done->events;
        return Answer(ctx, *write, done->last_seq);
      }
    }
    Status precondition;
    StatusOr<Decision> decision = projections->Read([&](const View& v) {
      if (ctx->if_match) {
        const std::string stream = StreamFor(route, CommandId(write->command));
        auto it = v.state.stream_versions.find(stream);
        uint64_t current = it == v.state.stream_versions.end() ? 0 : it->second;
        if (current != *ctx->if_match && current != 0) {
          precondition = IfMatchFailedError(stream + " is at version " +
                                            std::to_string(current));
        }
      }
      // §4.5: project assignment is checked against this same state.
      ctx->caller.may_assign = MayAssignFunc(v.state, ctx->caller.subjects);
      // Expiry rules read the time of this decision (core/lifecycle.h).
      if (auto* c = std::get_if<CreateToken>(&write->command)) {
        c->expiry = lifecycle.Expiry();
      } else if (auto* u = std::get_if<UpdateToken>(&write->command)) {
        u->expiry = lifecycle.Expiry();
      }
      return Decide(write->command, v.state, ctx->caller);
    });
    if (!decision.ok()) return Fail(ctx, decision.status());
    if (!precondition.ok()) return Fail(ctx, precondition);
    write->events = decision->events.size();
    if (decision->events.empty()) {
      return Answer(ctx, *write, projections->last_seq());
    }
    // The object the response shows (a derived token id is in the event).
    std::string stream = StreamOf(decision->events.front());
    eventstore::AppendRequest append;
    append.meta = {ctx->subject, ctx->request_id, ctx->req.remote};
    for (auto& [s, v] : decision->expected) append.expected.push_back({s, v});
    append.events = std::move(decision->events);
    append.key_puts = write->key_puts;
    append.key_deletes = write->key_deletes;
    store->AppendAsync(
        std::move(append),
        [this, ctx, write](StatusOr<eventstore::AppendResult> result) {
          if (result.ok()) {
            if (result->already_committed) {  // cluster mode: a retry
              write->replayed = true;
              write->events = result->last_seq - result->first_seq + 1;
            }
            return Answer(ctx, *write, result->last_seq);
          }
          if (result.status().code() == StatusCode::kAborted) {
            if (ctx->if_match) {
              return Fail(ctx, IfMatchFailedError(result.status().message()));
            }
            if (++write->attempt < options.max_retries) {
              return Attempt(ctx, write);  // decide again on the new state
            }
            // The stream versions in the store's message are internal.
            return Fail(ctx, AbortedError("the object was changed by "
                                          "concurrent requests; try again"));
          }
          Fail(ctx, result.status());
        });
  }

  // The success response of a write (or of a write that changed nothing).
  void Answer(const CtxPtr& ctx, const Write& write, uint64_t seq) {
    const bool pretty = ctx->neg.pretty;
    const std::string& id = CommandId(write.command);
    std::string body;
    std::optional<Token> token;
    StatusOr<bool> found =
        projections->Read([&](const View& v) -> StatusOr<bool> {
          const IamState& s = v.state;
          return std::visit(
              [&](const auto& cmd) -> StatusOr<bool> {
                using T = std::decay_t<decltype(cmd)>;
                if constexpr (std::is_same_v<T, CreateToken> ||
                              std::is_same_v<T, UpdateToken> ||
                              std::is_same_v<T, RotateToken>) {
                  auto it = s.tokens.find(id);
                  if (it == s.tokens.end()) return false;
                  token = it->second;
                } else if constexpr (std::is_same_v<T, CreatePolicy> ||
                                     std::is_same_v<T, UpdatePolicy>) {
                  auto it = s.policies.find(id);
                  if (it == s.policies.end()) return false;
                  body = PolicyJson(it->second, pretty);
                } else if constexpr (std::is_same_v<T, ReplacePolicyMembers> ||
                                     std::is_same_v<T, AddPolicyMembers> ||
                                     std::is_same_v<T, RemovePolicyMembers>) {
                  auto it = s.policies.find(id);
                  if (it == s.policies.end()) return false;
                  body = MembersJson(SortedMembers(it->second.members), pretty);
                } else if constexpr (std::is_same_v<T, CreateRole> ||
                                     std::is_same_v<T, UpdateRole>) {
                  auto it = s.roles.find(id);
                  if (it == s.roles.end()) return false;
                  body = RoleJson(it->second, pretty);
                } else if constexpr (std::is_same_v<T, CreateProject> ||
                                     std::is_same_v<T, UpdateProject>) {
                  auto it = s.projects.find(id);
                  if (it == s.projects.end()) return false;
                  body = ProjectJson(it->second, pretty);
                } else if constexpr (std::is_same_v<T, RevokeTokens>) {
                  body = RevokedJson(write.events, pretty);
                } else {
                  body = EmptyJson(pretty);  // every delete
                }
                return true;
              },
              write.command);
        });
    if (!found.ok() || !*found) {
      return Fail(ctx, InternalError("written object " + id + " not found"));
    }
    if (token) {
      if (std::holds_alternative<CreateToken>(write.command)) {
        lifecycle.usage().Reserve(token->id);  // its first use: lock-free
      }
      std::string value;
      if (write.replayed &&
          (std::holds_alternative<CreateToken>(write.command) ||
           std::holds_alternative<RotateToken>(write.command))) {
        // The value the log holds, not the one this attempt generated.
        auto revealed = RevealValue(*token);
        if (!revealed.ok()) return Fail(ctx, revealed.status());
        value = std::move(*revealed);
      } else if (std::holds_alternative<CreateToken>(write.command) ||
                 std::holds_alternative<RotateToken>(write.command)) {
        value = write.token_value;  // every mode shows a new value once
      } else if (options.token_values == TokenValues::kReveal) {
        auto revealed = RevealValue(*token);
        if (!revealed.ok()) return Fail(ctx, revealed.status());
        value = std::move(*revealed);
      }
      const Micros used = lifecycle.usage().LastUsed(token->id);
      body = std::holds_alternative<RotateToken>(write.command)
                 ? RotatedTokenJson(*token, value, pretty, used)
                 : TokenJson(*token, value, pretty, used);
    }
    HttpResponse response = JsonResponse(std::move(body));
    response.headers.emplace("X-Iam-Seq", std::to_string(seq));
    Finish(ctx, std::move(response));
  }

  // The stored value of a token: its data key unwrapped, then opened. The
  // wrapped key comes from memory when this token was read before.
  StatusOr<std::string> RevealValue(const Token& token) {
    std::string wrapped;
    uint64_t epoch = 0;
    if (wrapped_keys.Get(token.id, &wrapped, &epoch)) {
      auto value = OpenValue(token, wrapped);
      if (value.ok()) return value;
      // Defensive: a stale entry is dropped and the store asked again.
      wrapped_keys.Forget(token.id);
      IAM_ASSIGN_OR_RETURN(wrapped, store->GetKey(KeyName(token.id)));
      return OpenValue(token, wrapped);
    }
    IAM_ASSIGN_OR_RETURN(wrapped, store->GetKey(KeyName(token.id)));
    auto value = OpenValue(token, wrapped);
    if (value.ok()) wrapped_keys.Put(token.id, wrapped, epoch);
    return value;
  }

  StatusOr<std::string> OpenValue(const Token& token,
                                  const std::string& wrapped) {
    const std::string key_name = KeyName(token.id);
    IAM_ASSIGN_OR_RETURN(std::string data_key,
                         eventstore::Open(wrapping_key, wrapped, key_name));
    auto value = eventstore::Open(data_key, token.sealed_value, token.id);
    OPENSSL_cleanse(data_key.data(), data_key.size());  // not left in the heap
    return value;
  }

  std::string ValueFor(const Token& token) {
    if (options.token_values != TokenValues::kReveal) return "";
    auto v = RevealValue(token);
    return v.ok() ? *v : "";
  }

  // ---- reads ----------------------------------------------------------------

  void Read(const CtxPtr& ctx) {
    const bool pretty = ctx->neg.pretty;
    const Caller& caller = ctx->caller;
    const std::string& id = ctx->match.Param("id");
    std::string etag;
    switch (ctx->match.id()) {
      case RouteId::kListTokens: {
        auto filter = Lifecycle::ParseTokenFilter(ctx->match.query);
        if (!filter.ok()) return Fail(ctx, filter.status());
        std::vector<Token> tokens = projections->Read([&](const View& v) {
          std::vector<Token> out;
          for (const Token* t : ListVisibleTokens(v.state, caller)) {
            if (filter->empty() ||
                MatchesFilter(*t, *filter,
                              filter->unused_since
                                  ? lifecycle.usage().LastUsed(t->id)
                                  : 0)) {
              out.push_back(*t);
            }
          }
          return out;
        });
        std::vector<TokenWithValue> list;
        list.reserve(tokens.size());
        for (const auto& t : tokens) {
          list.push_back({&t, ValueFor(t), lifecycle.usage().LastUsed(t.id)});
        }
        return Ok(ctx, TokenListJson(list, pretty));
      }
      case RouteId::kGetToken: {
        // An unchanged token is answered from its encoded body
        // (api/body_cache.h): no copy, no value opened, no JSON written.
        TokenBodyCache::Key key{0, pretty, lifecycle.usage().LastUsed(id)};
        std::string body;
        uint64_t epoch = 0;
        std::optional<Token> token;
        Status visible = projections->Read([&](const View& v) -> Status {
          IAM_ASSIGN_OR_RETURN(const Token* t,
                               GetVisibleToken(v.state, caller, id));
          key.version = t->version;
          if (!token_bodies.Get(id, key, &body, &epoch)) token = *t;
          return OkStatus();
        });
        if (!visible.ok()) return Fail(ctx, visible);
        if (token) {
          std::string value;
          bool complete = true;
          if (options.token_values == TokenValues::kReveal) {
            auto revealed = RevealValue(*token);
            complete = revealed.ok();
            if (complete) value = std::move(*revealed);
          }
          body = TokenJson(*token, value, pretty, key.last_used_at);
          if (complete) token_bodies.Put(id, key, body, epoch);
        }
        return OkWithETag(ctx, std::move(body), key.version);
      }
      case RouteId::kTokenHistory:
      case RouteId::kPolicyHistory:
      case RouteId::kRoleHistory:
      case RouteId::kProjectHistory:
        return History(ctx);
      case RouteId::kListEvents:
        return Feed(ctx);
      case RouteId::kIntrospectAll:
        return IntrospectSome(ctx, IntrospectSomeRequest{}, /*all=*/true);
      default:
        break;
    }
    // Everything else is serialized under the shared lock.
    uint64_t version = 0;
    StatusOr<std::string> body =
        projections->Read([&](const View& v) -> StatusOr<std::string> {
          const IamState& s = v.state;
          switch (ctx->match.id()) {
            case RouteId::kListPolicies:
              return PolicyListJson(ListVisiblePolicies(s, caller), pretty);
            case RouteId::kGetPolicy: {
              IAM_ASSIGN_OR_RETURN(const Policy* p,
                                   GetVisiblePolicy(s, caller, id));
              version = p->version;
              return PolicyJson(*p, pretty);
            }
            case RouteId::kGetPolicyVersion:
              return PolicyVersionJson(pretty);
            case RouteId::kListPolicyMembers: {
              IAM_ASSIGN_OR_RETURN(StringList m,
                                   GetVisiblePolicyMembers(s, caller, id));
              version = s.policies.at(id).version;
              return MembersJson(m, pretty);
            }
            case RouteId::kListRoles:
              return RoleListJson(ListVisibleRoles(s, caller), pretty);
            case RouteId::kGetRole: {
              IAM_ASSIGN_OR_RETURN(const Role* r,
                                   GetVisibleRole(s, caller, id));
              version = r->version;
              return RoleJson(*r, pretty);
            }
            case RouteId::kListProjects:
              return ProjectListJson(ListVisibleProjects(s, caller), pretty);
            case RouteId::kGetProject: {
              IAM_ASSIGN_OR_RETURN(const Project* p,
                                   GetVisibleProject(s, caller, id));
              version = p->version;
              return ProjectJson(*p, pretty);
            }
            case RouteId::kIntrospectAllProjects: {
              std::vector<Project> owned;
              for (const auto& pid : IntrospectProjects(s, caller.subjects)) {
                auto it = s.projects.find(pid);
                if (it != s.projects.end()) {
                  owned.push_back(it->second);
                } else if (pid == kUnassignedProject) {
                  owned.push_back(Project{pid, pid, PolicyType::kChefManaged});
                }
              }
              std::vector<const Project*> list;
              for (const auto& p : owned) list.push_back(&p);
              return ProjectListJson(list, pretty);
            }
            default:
              return InternalError("route has no handler");
          }
        });
    if (!body.ok()) return Fail(ctx, body.status());
    if (version > 0) return OkWithETag(ctx, std::move(*body), version);
    Ok(ctx, std::move(*body));
  }

  void OkWithETag(const CtxPtr& ctx, std::string body, uint64_t version) {
    HttpResponse response = JsonResponse(std::move(body));
    response.headers.emplace("ETag", ETag(version));
    Finish(ctx, std::move(response));
  }

  // Collects events from the store, filtered, up to `limit`.
  struct CollectSink : EventSink {
    size_t limit = 0;
    uint64_t scanned = 0;  // highest seq examined
    std::string type;
    std::string stream;
    std::vector<RecordedEvent> events;
    Status Apply(const RecordedEvent& e) override {
      scanned = e.seq;
      if ((type.empty() || EventTypeName(e.event) == type) &&
          (stream.empty() || e.stream == stream)) {
        events.push_back(e);
      }
      if (events.size() >= limit) return Status(StatusCode::kCancelled, "");
      return OkStatus();
    }
  };
  static Status ReadInto(const eventstore::EventStore& store, uint64_t from,
                         uint64_t to, CollectSink* sink) {
    Status s = store.ReadFrom(from, sink, to);
    return s.code() == StatusCode::kCancelled ? OkStatus() : s;
  }

  // GET /{kind}/{id}/history: readable after deletion; no secrets (the
  // codec leaves digest and ciphertext out).
  void History(const CtxPtr& ctx) {
    const std::string& id = ctx->match.Param("id");
    const RouteId route = ctx->match.id();
    const std::string stream = StreamFor(route, id);
    StatusOr<std::vector<uint64_t>> seqs = projections->Read(
        [&](const View& v) -> StatusOr<std::vector<uint64_t>> {
          const IamState& s = v.state;
          // A live object must be visible to the caller; a deleted one
          // keeps its history (auditing outlives the object).
          Status visible;
          auto it = v.history.find(stream);
          switch (route) {
            case RouteId::kTokenHistory:
              visible = s.tokens.contains(id)
                            ? GetVisibleToken(s, ctx->caller, id).status()
                            : NotFoundError("No token record found");
              break;
            case RouteId::kPolicyHistory:
              visible =
                  s.policies.contains(id)
                      ? GetVisiblePolicy(s, ctx->caller, id).status()
                      : NotFoundError("no policy with ID \"" + id + "\" found");
              break;
            case RouteId::kRoleHistory:
              visible =
                  s.roles.contains(id)
                      ? GetVisibleRole(s, ctx->caller, id).status()
                      : NotFoundError("no role with ID \"" + id + "\" found");
              break;
            default:
              visible =
                  s.projects.contains(id)
                      ? GetVisibleProject(s, ctx->caller, id).status()
                      : NotFoundError("could not find project with ID \"" + id +
                                      "\"");
              break;
          }
          if (!visible.ok() && !StillExists(s, route, id) &&
              it != v.history.end()) {
            visible = OkStatus();  // deleted, history remains
          }
          if (!visible.ok()) return visible;
          if (it == v.history.end()) return std::vector<uint64_t>{};
          return it->second;
        });
    if (!seqs.ok()) return Fail(ctx, seqs.status());
    std::vector<RecordedEvent> events;
    for (uint64_t seq : *seqs) {
      CollectSink sink;
      sink.limit = 1;
      Status s = ReadInto(*store, seq, seq, &sink);
      if (!s.ok()) return Fail(ctx, s);
      for (auto& e : sink.events) events.push_back(std::move(e));
    }
    Ok(ctx, HistoryJson(events, ctx->neg.pretty));
  }

  static bool StillExists(const IamState& s, RouteId route,
                          const std::string& id) {
    switch (route) {
      case RouteId::kTokenHistory:
        return s.tokens.contains(id);
      case RouteId::kPolicyHistory:
        return s.policies.contains(id);
      case RouteId::kRoleHistory:
        return s.roles.contains(id);
      default:
        return s.projects.contains(id);
    }
  }

  // ---- the change feed ------------------------------------------------------

  struct FeedQuery {
    uint64_t after = 0;
    uint64_t limit = kFeedDefaultLimit;
    std::string type;
    std::string stream;
  };

  // Events after query.after; `next` is where to continue.
  StatusOr<std::pair<std::vector<RecordedEvent>, uint64_t>> FeedPage(
      const FeedQuery& q) {
    CollectSink sink;
    sink.limit = q.limit;
    sink.type = q.type;
    sink.stream = q.stream;
    sink.scanned = q.after;
    uint64_t to = q.after + kFeedMaxScan;
    IAM_RETURN_IF_ERROR(ReadInto(*store, q.after + 1, to, &sink));
    uint64_t next = sink.events.empty() ? std::max(q.after, sink.scanned)
                                        : sink.events.back().seq;
    return std::make_pair(std::move(sink.events), next);
  }

  void Feed(const CtxPtr& ctx) {
    const QueryParams& query = ctx->match.query;
    FeedQuery q;
    auto after = QueryUint(query, "after", 0, UINT64_MAX - kFeedMaxScan);
    if (!after.ok()) return Fail(ctx, after.status());
    auto limit = QueryUint(query, "limit", kFeedDefaultLimit, kFeedMaxLimit);
    if (!limit.ok()) return Fail(ctx, limit.status());
    auto wait = QueryUint(query, "wait", 0, kFeedMaxWaitSeconds);
    if (!wait.ok()) return Fail(ctx, wait.status());
    q.after = *after;
    q.limit = std::max<uint64_t>(*limit, 1);
    q.type = ctx->match.Query("type").value_or("");
    q.stream = ctx->match.Query("stream").value_or("");
    if (!q.type.empty()) {
      const auto& names = AllEventTypeNames();
      if (std::find(names.begin(), names.end(), q.type) == names.end()) {
        return Fail(
            ctx, InvalidArgumentError("unknown event type \"" + q.type + "\""));
      }
    }
    auto page = FeedPage(q);
    if (!page.ok()) return Fail(ctx, page.status());
    if (!page->first.empty() || *wait == 0) {
      return Ok(ctx, EventFeedJson(page->first, page->second, ctx->neg.pretty));
    }
    // Long-poll: the feed thread answers when an event arrives or time is up.
    std::lock_guard<std::mutex> lock(feed_mu);
    if (feed_stopping) {
      return Ok(ctx, EventFeedJson({}, page->second, ctx->neg.pretty));
    }
    q.after = page->second;
    waiters.push_back(
        Waiter{ctx, q, SteadyClock::now() + std::chrono::seconds(*wait)});
    feed_cv.notify_one();
  }

  struct Waiter {
    CtxPtr ctx;
    FeedQuery query;
    SteadyClock::time_point deadline;
  };

  void FeedLoop() {
    std::unique_lock<std::mutex> lock(feed_mu);
    for (;;) {
      feed_cv.wait(lock, [&] { return feed_stopping || !waiters.empty(); });
      if (feed_stopping && waiters.empty()) return;
      uint64_t lowest = UINT64_MAX;
      for (const auto& w : waiters) lowest = std::min(lowest, w.query.after);
      lock.unlock();
      store->WaitForEvents(lowest, std::chrono::milliseconds(100));
      lock.lock();
      const auto now = SteadyClock::now();
      std::vector<Waiter> keep;
      for (auto& w : waiters) {
        auto page = FeedPage(w.query);
        if (!page.ok()) {
          Fail(w.ctx, page.status());
        } else if (!page->first.empty() || now >= w.deadline || feed_stopping) {
          Ok(w.ctx,
             EventFeedJson(page->first, page->second, w.ctx->neg.pretty));
        } else {
          w.query.after = page->second;
          keep.push_back(std::move(w));
        }
      }
      waiters.swap(keep);
    }
  }

  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(feed_mu);
      feed_stopping = true;  // no new long-polls or backups from now on
    }
    queries_stopping = true;   // streamed audit answers stop early
    lifecycle.usage().Stop();  // flushed before the store closes
    // A backup in progress finishes first (it uses the store).
    while (backups_running > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    feed_cv.notify_all();
    if (feed_thread.joinable()) feed_thread.join();
  }

  // ---- introspection (§11)
  // ---------------------------------------------------

  void AddFlags(MethodsAllowed& m, std::string_view method, bool allowed) {
    if (!allowed) return;
    if (method == "GET")
      m.get = true;
    else if (method == "PUT")
      m.put = true;
    else if (method == "POST")
      m.post = true;
    else if (method == "DELETE")
      m.del = true;
    else if (method == "PATCH")
      m.patch = true;
  }

  void IntrospectSome(const CtxPtr& ctx, const IntrospectSomeRequest& req,
                      bool all = false) {
    std::vector<std::string> paths;
    if (all) {
      for (auto p : LiteralIntrospectablePaths()) paths.emplace_back(p);
    } else {
      paths = req.paths;
    }
    std::map<std::string, MethodsAllowed> endpoints;
    projections->Read([&](const View& v) {
      for (const auto& path : paths) {
        auto routes = RoutesWithLiteralPath(path);
        if (routes.empty()) continue;  // unknown paths are ignored
        MethodsAllowed& m = endpoints[path];
        for (const RouteInfo* r : routes) {
          AddFlags(m, r->method,
                   AuthorizePair(v.state, ctx->caller.subjects, r->resource,
                                 r->action));
        }
      }
      return 0;
    });
    Ok(ctx, EndpointsJson(endpoints, ctx->neg.pretty));
  }

  void IntrospectOne(const CtxPtr& ctx, const IntrospectRequest& req) {
    std::map<std::string, MethodsAllowed> endpoints;
    Status error;
    projections->Read([&](const View& v) {
      for (const auto& match : MatchTemplates(req.path)) {
        auto resource = HydrateResource(match.route->resource, match.params,
                                        req.parameters);
        if (!resource.ok()) {
          error = resource.status();
          return 0;
        }
        AddFlags(endpoints[req.path], match.route->method,
                 AuthorizePair(v.state, ctx->caller.subjects, *resource,
                               match.route->action));
      }
      return 0;
    });
    if (!error.ok()) return Fail(ctx, error);
    Ok(ctx, EndpointsJson(endpoints, ctx->neg.pretty));
  }

  // ---- /metrics
  // ---------------------------------------------------------------

  HttpResponse MetricsResponse() {
    std::string out;
    metrics.Render(out);
    eventstore::StoreStats st = store->Stats();
    auto counter = [&](const char* name, const char* help, uint64_t v) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
             " counter\n" + name + " " + std::to_string(v) + "\n";
    };
    auto gauge = [&](const char* name, const char* help, double v) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.6g", v);
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name +
             " gauge\n" + name + " " + buf + "\n";
    };
    counter("iamledger_appends_total", "Appends committed.", st.appends);
    counter("iamledger_events_total", "Events committed.", st.events);
    counter("iamledger_group_commits_total", "Synced write batches.",
            st.groups);
    counter("iamledger_wal_syncs_total", "WAL syncs by the storage engine.",
            st.syncs);
    gauge("iamledger_group_commit_events_avg", "Events per synced batch.",
          st.groups ? double(st.events) / st.groups : 0);
    gauge("iamledger_log_last_seq", "Highest sequence number in the log.",
          double(store->LastSeq()));
    auto sizes = projections->Read([](const View& v) {
      return std::array<size_t, 4>{
          v.state.tokens.size(), v.state.policies.size(), v.state.roles.size(),
          v.state.projects.size()};
    });
    gauge("iamledger_tokens", "Tokens in the projection.", double(sizes[0]));
    gauge("iamledger_policies", "Policies in the projection.",
          double(sizes[1]));
    gauge("iamledger_roles", "Roles in the projection.", double(sizes[2]));
    gauge("iamledger_projects", "Projects in the projection.",
          double(sizes[3]));
    gauge("iamledger_ready", "1 once projections caught up.",
          owner->ready_ ? 1 : 0);
    auth_limiter.AppendMetrics(&out);
    if (extra_metrics) extra_metrics(&out);
    HttpResponse r;
    r.status = 200;
    r.headers.emplace("Content-Type", "text/plain; version=0.0.4");
    r.body = std::move(out);
    return r;
  }

  Service* owner;
  eventstore::EventStore* store;
  projections::Projections* projections;
  std::string wrapping_key;
  eventstore::TokenDigester digester;
  DigestCache digest_cache{&digester};  // Authenticate's HMACs, per thread
  ServiceOptions options;
  Lifecycle lifecycle;
  AuthFailureLimiter auth_limiter;
  std::function<void(std::string*)> extra_metrics;  // set before serving
  RequestMetrics metrics;
  WrappedKeyCache wrapped_keys;
  TokenBodyCache token_bodies;  // GET token bodies by version
  Audit audit;

  // Backups and audit queries on threads of their own (Shutdown waits).
  std::atomic<int> backups_running{0};
  // Set by Shutdown: audit answers being streamed end (cut short).
  std::atomic<bool> queries_stopping{false};
  std::mutex feed_mu;
  std::condition_variable feed_cv;
  std::vector<Waiter> waiters;
  bool feed_stopping = false;
  std::thread feed_thread;
};

Service::Service(eventstore::EventStore* store,
                 projections::Projections* projections,
                 const eventstore::MasterKeys& keys, ServiceOptions options)
    : impl_(std::make_unique<Impl>(this, store, projections, keys, options)) {}

Service::~Service() = default;

void Service::Handle(HttpRequest request, Responder respond) {
  impl_->Handle(std::move(request), std::move(respond));
}

void Service::Shutdown() { impl_->Shutdown(); }

void Service::SetExtraMetrics(std::function<void(std::string*)> append) {
  impl_->extra_metrics = std::move(append);
}

}  // namespace iam::api
