// The service's door in cluster mode (DESIGN.md §10, API.md "Cluster
// headers"): what happens to a request before the service decodes,
// authenticates or decides anything, and the /readyz answer.
//
// Contract of Admit(), in this order:
//  1. A request carrying X-Iam-Forwarded must verify (api/forward.h), else
//     401; it then stands for its original client (`remote` rewritten).
//  2. Fail closed: while the node is cut off from the cluster (etcd not
//     reached, or the log behind the cluster's head, for more than
//     --max-staleness; or replication stopped) every request but those of
//     the admin socket gets 503 naming the reason, so a revoked token cannot
//     live on in a partition. It ends by itself when the node catches up.
//  3. A write on a node that does not lead is forwarded to the leader
//     (api/forward.h); the client gets the leader's answer, at once by
//     default, or after this node has applied the write too with
//     forwarded_apply_wait > 0 (read your writes on this node without
//     X-Iam-Min-Seq, for replication lag on every forwarded write; the
//     benchmark measured 0.30 vs 0.23 of single-node creates/s without and
//     with the wait, so it is off). A forwarded write that reaches a
//     node which no longer leads gets 503 with X-Iam-Not-Leader (the
//     forwarder then follows the new leader).
//  4. X-Iam-Min-Seq: N waits (without holding a thread of the caller) until
//     this node has applied seq N, at most min_seq_wait, else 503; a
//     malformed value is 400.
//  5. Otherwise the request is the service's (next(OK)).
// `next` and `answer` may run on the caller's thread or on one of this
// object's threads; neither blocks.
#ifndef IAMLEDGER_API_CLUSTER_FRONT_H_
#define IAMLEDGER_API_CLUSTER_FRONT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/forward.h"
#include "api/http_types.h"
#include "core/status.h"
#include "eventstore/cluster.h"
#include "eventstore/event_store.h"
#include "projections/projections.h"

namespace iam::api {

inline constexpr std::string_view kMinSeqHeader = "X-Iam-Min-Seq";
inline constexpr std::string_view kSeqHeader = "X-Iam-Seq";

struct ClusterFrontOptions {
  std::chrono::milliseconds min_seq_wait{3000};
  std::chrono::milliseconds forwarded_apply_wait{0};
  ForwarderOptions forwarder;
};

class ClusterFront {
 public:
  // `cluster`, `store` and `projections` (the store's apply sink) must
  // outlive this object. "Applied" means in the projections (the store
  // publishes its seq just before it applies). `forward_key`:
  // DeriveForwardKey() of the shared key file.
  ClusterFront(eventstore::Cluster* cluster, eventstore::EventStore* store,
               const projections::Projections* projections,
               std::string forward_key, std::string node_name,
               ClusterFrontOptions options = {});
  ~ClusterFront();  // Stop()
  ClusterFront(const ClusterFront&) = delete;
  ClusterFront& operator=(const ClusterFront&) = delete;

  using Next = std::function<void(Status refused)>;  // OK: serve it here
  using Answer = std::function<void(HttpResponse)>;  // the leader's answer
  // `request` stays valid until `next` or `answer` ran (the caller keeps
  // it alive); `is_write`: a route that appends (writes and revocation).
  void Admit(HttpRequest* request, bool is_write, const std::string& request_id,
             Next next, Answer answer);

  // GET /readyz: {"status", "role", "applied_seq", "leader"} (+ "reason"
  // when 503). `ready`: the projections caught up with the local log.
  HttpResponse Readyz(bool ready) const;

  // Answers waiting requests (503) and stops the threads. Idempotent.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// /readyz of a single node: role "single".
HttpResponse SingleNodeReadyz(bool ready, uint64_t applied_seq);

}  // namespace iam::api

#endif  // IAMLEDGER_API_CLUSTER_FRONT_H_
