// Token usage (API.md "Token lifecycle": last_used_at): when each token last
// authenticated, coarsely, kept outside the hash-chained log.
//
// Contract:
//  - Coarse: a token's time is recorded at most once per `interval`
//    (15 minutes): Touch at t records t only when the last record is at
//    least `interval` older; LastUsed returns the last record. At most one
//    store record per token per interval, ever (the flusher re-checks).
//  - Never slows authentication: Touch takes no exclusive lock, does no I/O
//    and no allocation in the common case (the token's last record is
//    recent: a shared lock on one of kShards shards, one slot read, one
//    atomic load). Touch with a mark (a word the caller keeps where it
//    finds the token anyway: the digest index entry) costs, in that common
//    case, one relaxed load of the mark and nothing else: no hash, no lock,
//    no access to the table. A record due (once per token per interval) is a
//    compare-and-swap and a lock-free push for the flusher. Every token has
//    a slot reserved (Reserve) at start and when it is created, so even its
//    first use is visible at once; a token used before that is a lock-free
//    push (deduplicated by a small atomic hint table).
//  - Persisted by a background thread every `flush_interval` through
//    EventStore::PutUsage (meta "usage/", eventstore/format.h): no fsync.
//    A crash of the process loses at most the records of the last
//    flush_interval; a crash of the machine at most those since the last
//    synced append of the log (each token loses at most its last interval).
//  - Loaded at construction (ScanUsage), so it survives restarts; backups
//    carry it (it is in the RocksDB database).
//  - Forget(id) (a deleted token) drops the entry and its stored record.
//  - Stop() flushes and ends the thread; call it before the store closes.
#ifndef IAMLEDGER_EVENTSTORE_USAGE_STORE_H_
#define IAMLEDGER_EVENTSTORE_USAGE_STORE_H_

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/events.h"
#include "core/status.h"

namespace iam::eventstore {

class EventStore;

inline constexpr Micros kUsageInterval = 15LL * 60 * 1'000'000;

class UsageStore {
 public:
  static constexpr size_t kShards = 64;
  static constexpr size_t kHints = 4096;

  // `store` may be null (memory only: benchmarks). With a store, its
  // records are loaded now and the flusher starts.
  explicit UsageStore(
      EventStore* store, Micros interval = kUsageInterval,
      std::chrono::milliseconds flush_interval = std::chrono::seconds(1));
  ~UsageStore();
  UsageStore(const UsageStore&) = delete;
  UsageStore& operator=(const UsageStore&) = delete;

  // The load's status (records unreadable: the store starts empty).
  const Status& load_status() const { return load_status_; }

  // Makes room for `id` (a token that exists), so that its first use takes
  // no lock but the shared one and is visible at once. Takes the shard's
  // exclusive lock: call it where tokens are created (and at start for the
  // existing ones), not on the authentication path.
  void Reserve(std::string_view id);
  // Token `id` authenticated at `now`. Returns the token's last record
  // after the call (`now` when this call recorded it or queued it), or 0
  // when not known yet (an earlier call queued it: the flusher takes it in).
  Micros Touch(std::string_view id, Micros now);
  // The same through `mark`, a zero-initialized word the caller keeps for
  // the token alone (read and written here with std::atomic_ref, relaxed;
  // reset it to zero if it may come to stand for another token): it holds
  // the whole seconds of the token's last record as known here, so that
  // while that record is recent (less than `interval` before `now`) the
  // call reads the mark and returns. Otherwise it is Touch(id, now) and the
  // mark is updated. Records exactly what Touch(id, now) would: the mark
  // only ever understates the last record, so it never skips a due one.
  void Touch(std::string_view id, Micros now, uint32_t* mark) {
    std::atomic_ref<uint32_t> m(*mark);
    const uint32_t s = m.load(std::memory_order_relaxed);
    if (s != 0 && now - Micros{s} * 1'000'000 < interval_) return;
    TouchAndMark(id, now, m);
  }
  // The last recorded use of `id`, 0 when none (a token used before it was
  // reserved shows after the next flush).
  Micros LastUsed(std::string_view id) const;
  // Drops `id` (its token was deleted) from memory and from the store.
  void Forget(const std::string& id);
  // Takes in the pending uses and writes the due records now (the flusher
  // does this every flush_interval). Returns the store's status.
  Status Flush();
  // Stops the flusher and flushes (every call flushes again). Call before
  // the store closes; the destructor calls it.
  void Stop();

  // Records written to the store so far (tests: the coarseness).
  uint64_t records_written() const { return records_written_.load(); }

 private:
  // The hot table: open addressing over {hash of the id, last use} slots
  // (16 bytes, one cache line read per lookup), per shard, grown by the
  // flusher under the shard's exclusive lock. Two ids with the same 64-bit
  // hash would share a slot (about 5e-8 likely among a million tokens):
  // usage is coarse information, never a decision.
  struct Slot {
    uint64_t key = 0;  // 0: empty
    std::atomic<Micros> last{0};
  };
  struct Shard {
    mutable std::shared_mutex mu;
    std::unique_ptr<Slot[]> slots;  // a power of two, at most 1/2 used
    size_t capacity = 0;
    size_t used = 0;
  };
  // A use waiting for the flusher: a Treiber stack node.
  struct Node {
    std::string id;
    Micros at;
    Node* next;
  };

  static uint64_t KeyOf(std::string_view id);
  // The slot of `key` in `shard`, or null. Shared lock held.
  static Slot* Find(const Shard& shard, uint64_t key);
  // Inserts `key` (exclusive lock held); returns its slot.
  static Slot* Insert(Shard& shard, uint64_t key);
  Shard& ShardOf(uint64_t key) const { return shards_[key % kShards]; }
  // Touch's slow path: Touch(id, now), then the record's seconds in `mark`.
  void TouchAndMark(std::string_view id, Micros now,
                    std::atomic_ref<uint32_t> mark);
  void Push(std::string_view id, Micros at);
  void FlushLoop();

  EventStore* const store_;
  const Micros interval_;
  const std::chrono::milliseconds flush_interval_;
  Status load_status_;
  mutable std::array<Shard, kShards> shards_;
  std::array<std::atomic<uint64_t>, kHints> hints_{};  // recently pushed ids
  std::atomic<Node*> pending_{nullptr};
  std::atomic<uint64_t> records_written_{0};

  std::mutex flush_mu_;  // one Flush at a time; guards the two below
  std::vector<std::string> forgotten_;                 // deletes to write
  std::unordered_map<std::string, Micros> persisted_;  // id -> last written
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread flusher_;
};

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_USAGE_STORE_H_
