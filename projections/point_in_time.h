// The state of the log at any past point, fast: the audit queries' source
// (API.md "Audit queries"). Events are folded with core's Evolve, the one
// apply path of live writes, start-up and replay, into a builder state;
// every `snapshot_every` events a copy of it is kept (a snapshot). The state
// after seq S is the newest snapshot at or before S plus at most
// `snapshot_every` - 1 events read back from the log and folded into a copy.
//
// Cost, bounded: at most `max_snapshots` snapshots are kept; when the log
// outgrows max_snapshots x snapshot_every events, every other snapshot is
// dropped and the interval doubles (so a query folds at most the interval
// then in force). Memory: at most (snapshots + 4) states without token
// secrets (the builder, the snapshots, the last answer, a spare kept for
// reuse, the copy at the end; audit states never hold a token's value
// digests or sealed value, nor stream versions), 8 bytes per event for the time
// index and 8 bytes per event plus one entry per stream for the per-stream
// seq index, and the members named by each change of a policy's members
// (the seqs of a diff name only the changes concerning its subject).
// Nothing is written to disk: the timeline is built on the first
// query after start-up (folding the log at replay speed) and extended on
// later ones.
//
// Concurrency: every method may be called from many threads at once. The
// states returned are immutable and shared; they stay valid as long as the
// caller holds them.
#ifndef IAMLEDGER_PROJECTIONS_POINT_IN_TIME_H_
#define IAMLEDGER_PROJECTIONS_POINT_IN_TIME_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/events.h"
#include "core/model.h"
#include "core/status.h"

namespace iam::projections {

// Delivers the events with seq in (after, to] in order to `sink` (an
// EventStore's ReadFrom(after + 1, sink, to)).
using EventReader =
    std::function<Status(uint64_t after, uint64_t to, EventSink* sink)>;

struct PointInTimeOptions {
  uint64_t snapshot_every = 10000;  // N; 0 = no snapshots (fold from seq 0)
  size_t max_snapshots = 128;       // then N doubles
};

class PointInTime {
 public:
  PointInTime(EventReader reader, PointInTimeOptions options);
  ~PointInTime();
  PointInTime(const PointInTime&) = delete;
  PointInTime& operator=(const PointInTime&) = delete;

  // The state after event `seq` (seq 0: before the first event). `seq` must
  // be in the log (kOutOfRange past its end is the reader's to report: the
  // state returned then stops at the log's end, so callers check seq <=
  // head first). The state's last_seq is `seq`.
  StatusOr<std::shared_ptr<const IamState>> StateAt(uint64_t seq);

  // The state after `seq` restricted to what authorizing `subject` reads
  // (core/authorize.h: the member index entries of `subject` and of the
  // wildcard members, every policy, role and project) plus `subject`'s
  // token when it is "token:<id>"; other tokens, their events and their
  // member index entries are left out. Authorize, AuthorizeExplained and
  // audit::Check of `subject` answer on it exactly as on StateAt(seq); it
  // costs a copy of the policies instead of the whole state, so a check
  // does not grow with the number of tokens.
  StatusOr<std::shared_ptr<const IamState>> SubjectStateAt(
      uint64_t seq, const std::string& subject);

  // The seq of the last event recorded at or before `t` among events
  // 1..head (0 when none): the point an RFC 3339 `at` names. Extends the
  // timeline to `head` first.
  StatusOr<uint64_t> SeqAt(Micros t, uint64_t head);

  // The seqs of `stream`'s events in (after, to], ascending. Extends the
  // timeline to `to` first.
  StatusOr<std::vector<uint64_t>> StreamSeqs(const std::string& stream,
                                             uint64_t after, uint64_t to);

  // The members that event `seq` adds to or removes from a policy when it
  // is a PolicyMembersAdded or PolicyMembersRemoved the timeline has folded,
  // else null (audit::MemberChanges). The list stays valid as long as this
  // object.
  const StringList* MemberChangeAt(uint64_t seq) const;

  // Folds everything the reader delivers after the timeline's end (the
  // rest of the log); returns the seq the timeline then ends at.
  StatusOr<uint64_t> CatchUp();

  // recorded_at of event `seq` (0 for seq 0). Extends to `seq` first.
  StatusOr<Micros> TimeOf(uint64_t seq);

  struct Stats {
    uint64_t built_seq = 0;       // the builder's last_seq
    uint64_t snapshot_every = 0;  // the interval now in force
    size_t snapshots = 0;
    uint64_t reused_answers = 0;  // answers written over a spare
  };
  Stats stats() const;

 private:
  // The newest snapshot at or before `seq` (null: none, start from the
  // empty state), after extending the timeline to `seq`; or, in *exact,
  // the state at exactly `seq` when one is at hand. Requires mu_.
  StatusOr<std::shared_ptr<const IamState>> BaseLocked(
      uint64_t seq, std::shared_ptr<const IamState>* exact);
  // Folds events (builder's seq, to] into the builder; unless `to_end`,
  // the log must reach `to`. Requires mu_.
  Status ExtendLocked(uint64_t to, bool to_end = false);
  // Drops a state that an answer replaced (the last answer, the copy at
  // the end) on a thread of its own when nothing else holds it: freeing a
  // whole state (tens of MB in 100,000s of allocations) took ~6% of a
  // `who`, inside the next query and under mu_.
  void Retire(std::shared_ptr<const IamState> state);
  void ReclaimLoop();

  EventReader reader_;
  const size_t max_snapshots_;
  mutable std::mutex mu_;
  uint64_t every_;                                          // guarded
  IamState builder_;                                        // guarded
  std::vector<std::shared_ptr<const IamState>> snapshots_;  // ascending
  std::vector<Micros> times_;                               // per seq - 1
  StringMap<std::vector<uint64_t>> history_;                // stream
  // The member changes, in seq order (a deque: the lists never move), and
  // per seq - 1 the index + 1 of its member change (0: none).
  std::deque<StringList> member_changes_;
  std::vector<uint32_t> change_of_;
  std::shared_ptr<const IamState> end_;  // a copy of the builder, or null
  std::pair<uint64_t, std::shared_ptr<IamState>> last_;  // the last answer
  // A state no caller holds (an answer replaced), overwritten by the next
  // StateAt instead of copying the snapshot into fresh memory: a copy into
  // new pages cost more in page clearing and malloc than the copying.
  std::shared_ptr<IamState> spare_;  // guarded
  uint64_t reused_answers_ = 0;      // guarded
  // Retire's queue and its thread (started by the first Retire).
  std::mutex retire_mu_;
  std::condition_variable retire_cv_;
  std::vector<std::shared_ptr<const IamState>> retired_;
  bool stopping_ = false;
  std::thread reclaimer_;
};

}  // namespace iam::projections

#endif  // IAMLEDGER_PROJECTIONS_POINT_IN_TIME_H_
