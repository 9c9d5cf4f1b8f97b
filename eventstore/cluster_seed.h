// Restoring a whole cluster from a backup when etcd was lost (DESIGN.md §10,
// README "Backup and restore in a cluster"): `iamledger cluster seed`
// writes a verified backup's head and the tail of its log into an empty
// etcd, in etcd_log.cc's key layout (format.h), so that nodes started from
// copies of that backup (or empty, while etcd holds the log from seq 1)
// come up on it and go on writing. Public, and free of etcd, curl, JSON
// and RocksDB.
//
// Contract of SeedClusterFromBackup:
//  - The backup is verified first, as `replay verify` does (VerifyLog, with
//    the checkpoint key: checksums, seqs, every envelope and hash, the
//    chain, the stream heads), and must carry its checkpoint file
//    (<dir>.checkpoint) with a MAC that checks under the key. Anything else
//    is refused before etcd is touched.
//  - Never over a live cluster: the claim is one transaction that succeeds
//    only if no key at all exists under the prefix (a range compare), and
//    puts the head, the restore record (state "seeding") and the leader
//    key, held by the seed ("(cluster seed)", no lease) so that no node
//    campaigns, and so no node commits, while the log goes in. A node that
//    already leads, or any other key, makes the claim fail: kFailedPrecondition
//    saying what etcd holds. The one exception: the record of an unfinished
//    seed of the same backup head (same seq and hash) with the seed still
//    holding the leader key; that seed is resumed (its puts are idempotent).
//  - Then the batches of the window (the last `window_events` events, the
//    whole log when it is shorter) in seq order, one transaction each,
//    every one fenced on the seed's leader key; each batch carries the
//    data keys of the tokens created or rotated in it (the backup's current
//    ones) and the deletes of tokens deleted in it, as the live commits did.
//  - Last, one fenced transaction deletes the leader key and marks the
//    record "done": the nodes then elect a leader among those that hold the
//    head. The record stays (P "restore"), so that a node whose log is
//    ahead of the restored head is told what happened and what to do.
#ifndef IAMLEDGER_EVENTSTORE_CLUSTER_SEED_H_
#define IAMLEDGER_EVENTSTORE_CLUSTER_SEED_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/events.h"
#include "core/status.h"
#include "eventstore/event_store.h"

namespace iam::eventstore {

// The leader key's value while a seed holds it (not a valid node name).
inline constexpr std::string_view kSeedLeaderName = "(cluster seed)";

struct SeedOptions {
  std::vector<std::string> etcd_endpoints;  // http://HOST:PORT
  std::string backup_dir;                   // made by `backup create`
  std::string checkpoint_key;               // required (the key file's)
  // Events written to etcd behind the head (all when the log is shorter);
  // as serve's --etcd-retain.
  uint64_t window_events = 10000;
  std::string prefix = "/iamledger/";
  const Clock* clock = SystemClock::Get();
  // Receives every verified event of the backup (the caller's fold, for
  // its state digest). May be null.
  EventSink* sink = nullptr;
  // (events written to etcd, events to write), now and then. May be null.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct SeedReport {
  VerifyReport verified;      // the backup's verification
  uint64_t window_first = 0;  // first seq written to etcd
  uint64_t batches = 0;       // batch keys written
  bool resumed = false;       // an unfinished seed of this backup went on
  std::string record;         // the restore record as it stands in etcd
};

StatusOr<SeedReport> SeedClusterFromBackup(const SeedOptions& options);

// The restore record (P "restore"), a JSON document, decoded.
struct RestoreRecord {
  bool done = false;  // "done"; false: "seeding"
  uint64_t seq = 0;   // the restored head
  Hash head{};
  uint64_t window_first = 0;
  std::string at;    // RFC 3339, when the seed started
  std::string from;  // the backup directory, as given
};
StatusOr<RestoreRecord> ParseRestoreRecord(std::string_view text);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CLUSTER_SEED_H_
