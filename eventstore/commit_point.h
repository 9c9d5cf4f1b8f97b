// Where a group commit becomes durable before the local log: nowhere else in
// single-node mode (no commit point), etcd in cluster mode (etcd_log.cc).
// Internal to eventstore; StoreImpl's writer thread calls it.
#ifndef IAMLEDGER_EVENTSTORE_COMMIT_POINT_H_
#define IAMLEDGER_EVENTSTORE_COMMIT_POINT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/events.h"
#include "core/status.h"
#include "eventstore/log_backend.h"

namespace iam::eventstore {

struct ChainHead {
  uint64_t seq = 0;
  Hash hash{};
};

struct CommitOutcome {
  // OK: committed. kAborted: the cluster's head is past `prev`; `missed`
  // holds the batches after `prev` (in order, maybe not all of them) for
  // the caller to take in before it tries again. kFailedPrecondition: this
  // node is not the leader. kUnavailable: the commit point did not answer;
  // the outcome is unknown (a later commit's head compare settles it).
  Status status;
  std::vector<CommitBatch> missed;
};

class CommitPoint {
 public:
  virtual ~CommitPoint() = default;
  // Makes `batch` (events seq prev.seq+1 .. next.seq, chained from
  // prev.hash to next.hash) durable, only if the commit point's head is
  // still `prev` and this node still leads. Called on the writer thread.
  virtual CommitOutcome Commit(const ChainHead& prev, const ChainHead& next,
                               const CommitBatch& batch) = 0;
};

// The batch value of format.h ("IAMB1 ..."): events, key puts and deletes
// (stream heads are not part of it; the receiver derives them).
std::string EncodeCommitBatch(const CommitBatch& batch);
StatusOr<CommitBatch> DecodeCommitBatch(std::string_view bytes);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_COMMIT_POINT_H_
