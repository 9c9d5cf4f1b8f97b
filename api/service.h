// The service: every request of the HTTP API, transport-agnostic.
//
//   route -> decode body (400) -> authenticate (401) -> authorize (403)
//         -> read the projections, or decide -> append -> apply -> answer
//
// (automate-iam-v2.md §1). Reads are answered from memory under the
// projections' shared lock. Writes are decided on the projections' state,
// appended with the stream versions they saw, and answered on the event
// store's writer thread once their batch is synced and applied; a write that
// lost a race is decided again on the new state (unless the client sent
// If-Match: then 412). Nothing here blocks an I/O thread.
#ifndef IAMLEDGER_API_SERVICE_H_
#define IAMLEDGER_API_SERVICE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "api/auth_limiter.h"
#include "api/cluster_front.h"
#include "api/http_types.h"
#include "api/lifecycle.h"
#include "api/request_log.h"
#include "core/clock.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "projections/point_in_time.h"
#include "projections/projections.h"

namespace iam::api {

enum class TokenValues {
  kReveal,    // Automate-compatible: create, get, list, update show the value
  kShowOnce,  // only the create response shows it
};

struct ServiceOptions {
  TokenValues token_values = TokenValues::kReveal;
  // How often a write that lost a race is decided again before 409. Each
  // round commits at least one of the racing writers, so this bounds the
  // wait of a writer among many on the same streams (e.g. token deletes
  // cascading into the same policies).
  int max_retries = 64;
  // Token lifecycle (API.md): revocation limit, and the clock that expiry,
  // rotation and rate limits read (null = the system clock).
  LifecycleOptions lifecycle;
  const Clock* clock = nullptr;
  // Failed authentications per client address (api/auth_limiter.h).
  AuthLimitOptions auth_limit;
  // The audit queries' point-in-time snapshots (api/audit.h).
  projections::PointInTimeOptions audit;
  // Answers of check, who and diff up to this many bytes are sent whole
  // (Content-Length); longer ones are streamed as HTTP chunks as they are
  // written (api/body_stream.h), so memory stays bounded.
  size_t audit_inline_limit = size_t{1} << 20;
  // Cluster mode (DESIGN.md §10); both null on a single node. The front
  // admits requests first (forwarding, fail closed, X-Iam-Min-Seq: api/
  // cluster_front.h); the request log answers retried writes with their
  // recorded outcome (api/request_log.h). Both must outlive the service.
  ClusterFront* cluster = nullptr;
  RequestLog* request_log = nullptr;
};

// The subject of requests arriving on the admin socket (DESIGN.md §6).
inline constexpr std::string_view kLocalAdminSubject = "local:admin";

class Service {
 public:
  // `store` and `projections` must outlive the service; `projections` must
  // be the store's apply sink.
  Service(eventstore::EventStore* store, projections::Projections* projections,
          const eventstore::MasterKeys& keys, ServiceOptions options);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Serves one request (the api::Handler contract: never blocks, never
  // throws; `respond` is called exactly once, maybe from another thread).
  void Handle(HttpRequest request, Responder respond);

  // /readyz answers 200 once set (projections caught up with the log).
  void SetReady(bool ready) { ready_ = ready; }

  // Stops long-polls (they answer with what they have). Call before the
  // store closes.
  void Shutdown();

  // Appends more Prometheus text to every /metrics answer (e.g. the HTTP
  // server's connection counters); called on an I/O thread, must not block.
  // Set before the first request: not synchronized with Handle.
  void SetExtraMetrics(std::function<void(std::string*)> append);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> ready_{false};
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_SERVICE_H_
