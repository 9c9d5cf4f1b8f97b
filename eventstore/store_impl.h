// EventStore over any LogBackend: the single writer with group commit, the
// hash chain, verification on read, stream versions and checkpoints.
// Internal to eventstore; the public face is event_store.h.
#ifndef IAMLEDGER_EVENTSTORE_STORE_IMPL_H_
#define IAMLEDGER_EVENTSTORE_STORE_IMPL_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "eventstore/event_store.h"
#include "eventstore/log_backend.h"

namespace iam::eventstore {

class StoreImpl final : public EventStore {
 public:
  // Recovers the head (last seq and hash, verified), the stream versions and
  // the checkpoints from `backend`, then starts the writer thread.
  static StatusOr<std::unique_ptr<StoreImpl>> Open(
      std::unique_ptr<LogBackend> backend, StoreOptions options);
  ~StoreImpl() override;

  void AppendAsync(AppendRequest request, AppendCallback done) override;
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
  Status Close() override;
  Status CreateBackup(const std::string& to_dir) override;  // backup.cc

  LogBackend* backend() { return backend_.get(); }

 private:
  struct Pending {
    AppendRequest request;
    AppendCallback done;
  };

  StoreImpl(std::unique_ptr<LogBackend> backend, StoreOptions options);
  Status Recover();
  void WriterLoop();
  void CommitGroup(std::deque<Pending>& group);
  // Checkpoints the current head unless a checkpoint covers it already.
  // Safe from any thread (the writer, Close, CreateBackup).
  Status WriteCheckpoint();

  const std::unique_ptr<LogBackend> backend_;
  const StoreOptions options_;

  // Queue between appenders and the writer thread.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread writer_;

  // Serializes checkpoint writes (meta and file), so checkpoints only move
  // forward. Taken before state_mu_.
  std::mutex checkpoint_mu_;

  // Committed state. Written by the writer thread only, under state_mu_;
  // read by anyone under it.
  mutable std::mutex state_mu_;
  mutable std::condition_variable new_events_cv_;
  uint64_t last_seq_ = 0;
  Hash head_{};
  Micros last_recorded_at_ = 0;
  std::unordered_map<std::string, uint64_t> stream_versions_;
  Checkpoint checkpoint_;
  Status write_error_;
  StoreStats stats_;
  bool closed_ = false;
};

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_STORE_IMPL_H_
