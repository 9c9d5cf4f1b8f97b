// Cluster mode (DESIGN.md §10): the log's commit point on an etcd cluster,
// every node a full replica. Public, and free of etcd, curl and RocksDB.
//
// Contract:
//  - One leader at a time, elected with a lease and a compare-and-create of
//    the leader key. Its writer thread commits each group as one etcd txn
//    comparing the head {seq, hash} it last saw and the leader key's
//    create_revision it holds, putting the group's envelopes (the exact
//    local bytes, same hash chain) and the new head. A write is
//    acknowledged only after etcd answered, then appended locally and
//    applied. A node that is not the leader refuses appends (kUnavailable)
//    and the API forwards writes to the leader instead.
//  - Every node (the leader too) follows the batches from its last applied
//    seq (a range read, then etcd's watch), checks seq, prev_hash and every
//    hash, appends to its own log and applies. A gap, a fork or a bad hash
//    stops the node: on_fatal gets a message naming the seq.
//  - A node that has not reached etcd's quorum for max_staleness, or whose
//    log stays behind the cluster's head that long, is cut off: GetStatus()
//    says so with the reason (the API then fails closed). It recovers by
//    itself when etcd answers again.
//  - Retention: the leader deletes batches every live node has applied and
//    that are more than retain_events behind the head, then compacts etcd.
//    A node whose next seq is no longer in etcd stops with a message that
//    says to bootstrap it from a peer's backup.
#ifndef IAMLEDGER_EVENTSTORE_CLUSTER_H_
#define IAMLEDGER_EVENTSTORE_CLUSTER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "eventstore/event_store.h"

namespace iam::eventstore {

struct ClusterOptions {
  std::vector<std::string> etcd_endpoints;  // http://HOST:PORT
  std::string node_name;                    // unique in the cluster
  std::string advertise_url;                // where peers reach this node
  std::chrono::milliseconds max_staleness{5000};
  std::chrono::seconds lease_ttl{2};
  // Batches within this many events of the head are always kept.
  uint64_t retain_events = 10000;
  std::chrono::milliseconds retention_interval{5000};
  std::string prefix = "/iamledger/";
  // The first append of an empty cluster (the factory defaults), made by
  // the first leader. May be null.
  std::function<AppendRequest()> initial_append;
  // Called once, from a cluster thread, when the node must stop (a gap,
  // fork or bad hash, a failed local write, or a log behind etcd's window).
  std::function<void(const Status&)> on_fatal;
};

enum class ClusterRole { kFollower, kLeader, kStopped };

struct ClusterStatus {
  ClusterRole role = ClusterRole::kFollower;
  std::string leader_name;  // "" when none is known
  std::string leader_url;   // its --advertise URL
  uint64_t applied_seq = 0;
  uint64_t cluster_seq = 0;  // the head seq etcd reported last
  bool caught_up = false;    // reached the cluster's head at least once
  bool cut_off = false;      // fail closed (reason says why)
  std::string reason;
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  // Starts following, electing and retention (after the caller folded the
  // local log into its projections).
  virtual Status Start() = 0;
  virtual ClusterStatus GetStatus() const = 0;
  // Waits until the local log holds `seq` or `timeout` passes; true when it
  // does.
  virtual bool WaitForSeq(uint64_t seq,
                          std::chrono::milliseconds timeout) const = 0;
  // Stops every cluster thread and gives up leadership (revokes the lease).
  // Idempotent. Call before closing the store.
  virtual void Stop() = 0;
};

struct ClusterStore {
  // Declared first, destroyed last: it owns the store's commit point.
  std::unique_ptr<Cluster> cluster;
  std::unique_ptr<EventStore> store;
};

// Opens the RocksDB log in `dir` (as OpenRocksEventStore) with etcd as its
// commit point. Checks that etcd answers; does not start following yet.
StatusOr<ClusterStore> OpenClusterEventStore(const std::string& dir,
                                             StoreOptions options,
                                             ClusterOptions cluster);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CLUSTER_H_
