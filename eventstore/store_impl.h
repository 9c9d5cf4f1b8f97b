// EventStore over any LogBackend: the single writer with group commit, the
// hash chain, verification on read, stream versions and checkpoints.
// Internal to eventstore; the public face is event_store.h.
#ifndef IAMLEDGER_EVENTSTORE_STORE_IMPL_H_
#define IAMLEDGER_EVENTSTORE_STORE_IMPL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/model.h"
#include "eventstore/commit_point.h"
#include "eventstore/event_store.h"
#include "eventstore/log_backend.h"

namespace iam::eventstore {

class StoreImpl final : public EventStore {
 public:
  // Recovers the head (last seq and hash, verified), the stream versions and
  // the checkpoints from `backend`, then starts the writer thread.
  // With a `commit_point` (cluster mode; it must outlive the store) every
  // group is committed there first and only then locally, and request ids
  // already committed are answered with their earlier result
  // (AppendResult::already_committed) instead of being written again.
  static StatusOr<std::unique_ptr<StoreImpl>> Open(
      std::unique_ptr<LogBackend> backend, StoreOptions options,
      CommitPoint* commit_point = nullptr);
  ~StoreImpl() override;

  void AppendAsync(AppendRequest request, AppendCallback done) override;
  // Alone (writer idle, nothing queued, no other Append waiting or seen
  // lately: see busy_groups_), the caller
  // commits its request itself, a group of one, without the hand-off to the
  // writer thread and back; otherwise it queues like AppendAsync and waits.
  StatusOr<AppendResult> Append(AppendRequest request) override;
  Status ReadFrom(uint64_t from_seq, EventSink* sink,
                  uint64_t to_seq) const override;
  uint64_t LastSeq() const override;
  uint64_t StreamVersion(const std::string& stream) const override;
  uint64_t WaitForEvents(uint64_t after,
                         std::chrono::milliseconds timeout) const override;
  Checkpoint LastCheckpoint() const override;
  Status WriteError() const override;
  StoreStats Stats() const override;
  StatusOr<std::string> GetKey(const std::string& key) const override;
  Status PutSnapshot(uint64_t seq, std::string_view bytes) override;
  StatusOr<Snapshot> GetSnapshot() const override;
  Status PutUsage(
      const std::vector<std::pair<std::string, Micros>>& records) override;
  Status ScanUsage(const std::function<void(std::string_view, Micros)>& visit)
      const override;
  Status Close() override;
  Status CreateBackup(const std::string& to_dir) override;  // backup.cc

  LogBackend* backend() { return backend_.get(); }

  // Cluster mode: takes in a batch committed elsewhere (by the leader), in
  // log order, on the writer thread: every envelope verified (Verifier,
  // hash, seq right after the local head, prev_hash == the local head,
  // stream versions), then written locally, applied and published like a
  // local commit. A batch the log already holds is checked against it and
  // skipped. `done` gets kDataLoss "seq N: ..." for a gap, a fork or a bad
  // envelope (then the store stops writing: sticky), or OK.
  void ReplicateAsync(CommitBatch batch, std::function<void(Status)> done);

  // The chain head (last seq and its hash).
  ChainHead Head() const;

 private:
  struct Pending {
    AppendRequest request;
    AppendCallback done;
    // A replicated batch instead of an append (ReplicateAsync).
    std::unique_ptr<CommitBatch> replicated;
    std::function<void(Status)> replicated_done;
  };

  StoreImpl(std::unique_ptr<LogBackend> backend, StoreOptions options,
            CommitPoint* commit_point);
  Status Recover();
  // Cluster mode: remembers the request ids of the newest events.
  Status IndexRecentRequests();
  void WriterLoop();
  // Commits `group` and then tells each of its appenders; `committed`, when
  // given, runs first, once the store's state no longer changes (the
  // writer thread clears committing_ there).
  void CommitGroup(std::deque<Pending>& group,
                   const std::function<void()>& committed = {});
  Status Ingest(const CommitBatch& batch);
  // After a durable local commit of `recorded` (seq .. through `seq`, head
  // `head`): publish the state, apply, checkpoint. Writer thread only.
  void Publish(uint64_t seq, const Hash& head, Micros recorded_at,
               const std::unordered_map<std::string, uint64_t>& touched,
               const std::vector<RecordedEvent>& recorded, uint64_t appends);
  void RememberRequests(const std::vector<RecordedEvent>& recorded);
  const AppendResult* FindCommittedRequest(const std::string& id) const;
  // Checkpoints the current head unless a checkpoint covers it already.
  // Safe from any thread (the writer, Close, CreateBackup).
  Status WriteCheckpoint();

  const std::unique_ptr<LogBackend> backend_;
  const StoreOptions options_;
  CommitPoint* const commit_point_;

  // Cluster mode: request id -> its commit, for the newest requests
  // (writer thread only).
  std::unordered_map<std::string, AppendResult> committed_requests_;
  std::deque<std::string> committed_order_;

  // Queue between appenders and the writer thread.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  // A group is being committed (by the writer thread, or inline by Append):
  // at most one committer at a time, so the committed state below has one
  // writer. Handed over under queue_mu_.
  bool committing_ = false;
  // Append callers waiting on the writer thread (not committing inline).
  int waiting_appends_ = 0;
  // Groups the writer thread still takes before an Append may commit
  // inline again: set when an Append found the store busy.
  static constexpr int kBusyGroups = 256;
  // LogBackend::CommitWaitsForDisk, fixed at open.
  const bool inline_commits_;
  int busy_groups_ = 0;
  std::thread writer_;

  // Serializes checkpoint writes (meta and file), so checkpoints only move
  // forward. Taken before state_mu_.
  std::mutex checkpoint_mu_;
  // Writes the checkpoints that Publish marks due (checkpoint_due_, every
  // checkpoint_interval events), off the commit path: the committer never
  // waits for a checkpoint's syncs. It covers the head as it is when it runs
  // (committed, so durable), which may be past the seq that made it due.
  // Stops at close (closed_); Close then writes the last checkpoint itself.
  void CheckpointerLoop();
  std::thread checkpointer_;

  // Committed state. Written by the committer only (committing_: the writer
  // thread or an inline Append), under state_mu_; read by anyone under it.
  mutable std::mutex state_mu_;
  mutable std::condition_variable new_events_cv_;
  uint64_t last_seq_ = 0;
  Hash head_{};
  Micros last_recorded_at_ = 0;
  // Stream -> version. A StringMap (core/model.h), which grows a step per
  // insertion: an unordered_map's rehash at ~351k streams stalled the
  // writer ~70 ms.
  StringMap<uint64_t> stream_versions_;
  Checkpoint checkpoint_;
  bool checkpoint_due_ = false;            // the checkpointer's work
  std::condition_variable checkpoint_cv_;  // checkpoint_due_ or closed_
  Status write_error_;
  StoreStats stats_;
  bool closed_ = false;
};

// The RocksDB log in `dir` over StoreImpl (rocks_backend.cc).
StatusOr<std::unique_ptr<StoreImpl>> OpenRocksStoreImpl(
    const std::string& dir, StoreOptions options, CommitPoint* commit_point);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_STORE_IMPL_H_
