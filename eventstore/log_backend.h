// The storage under an event store: what differs between RocksDB and memory.
// Everything else (writer, group commit, chain, verification, checkpoints)
// is shared in store_impl.cc. Internal to eventstore.
#ifndef IAMLEDGER_EVENTSTORE_LOG_BACKEND_H_
#define IAMLEDGER_EVENTSTORE_LOG_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace iam::eventstore {

// One atomic, durable write (format.h says where each part goes).
struct CommitBatch {
  std::vector<std::pair<uint64_t, std::string>> events;  // seq -> envelope
  std::vector<std::pair<std::string, uint64_t>> stream_heads;
  // Side writes of the `keys` column family. Invariant: no key is in both
  // lists (AddKeyPut/AddKeyDelete keep it), so a backend may apply the two
  // in either order; of two puts of one key the later one wins.
  std::vector<std::pair<std::string, std::string>> key_puts;
  std::vector<std::string> key_deletes;

  // Adds a key write after those already here, as if applied in order: a
  // put cancels an earlier delete of its key, a delete an earlier put (a
  // group commit may hold a token deleted and created again under one id).
  void AddKeyPut(std::string key, std::string value) {
    if (!key_deletes.empty()) std::erase(key_deletes, key);
    key_puts.emplace_back(std::move(key), std::move(value));
  }
  void AddKeyDelete(std::string key) {
    std::erase_if(key_puts, [&](const auto& kv) { return kv.first == key; });
    key_deletes.push_back(std::move(key));
  }
};

class LogBackend {
 public:
  virtual ~LogBackend() = default;

  // Writes the batch atomically and durably (synced) or not at all.
  virtual Status Commit(const CommitBatch& batch) = 0;

  // Visits stored events with seq in [from, to] in key order. A key that is
  // not a valid seq is kDataLoss. Stops at the first non-OK visitor status.
  virtual Status Scan(
      uint64_t from, uint64_t to,
      const std::function<Status(uint64_t seq, std::string_view value)>& visit)
      const = 0;

  // The highest stored seq, 0 if none.
  virtual StatusOr<uint64_t> LastSeq() const = 0;

  virtual Status LoadStreamHeads(
      std::unordered_map<std::string, uint64_t>* heads) const = 0;

  // meta values (checkpoint, snapshot): kNotFound when absent. PutMeta is
  // synced.
  virtual StatusOr<std::string> GetMeta(std::string_view key) const = 0;
  virtual Status PutMeta(std::string_view key, std::string_view value) = 0;
  // PutMeta for a value of megabytes (the projection snapshot): as durable
  // on return, but kept out of the write-ahead log that commits go through,
  // so that no commit queues behind writing and syncing it. RocksDB: in
  // parts of 1 MiB without the WAL, then the meta column family flushed
  // (format.h "large meta values"); GetMeta reassembles it.
  virtual Status PutLargeMeta(std::string_view key, std::string_view value) {
    return PutMeta(key, value);
  }

  virtual StatusOr<std::string> GetKey(std::string_view key) const = 0;

  // Token usage (format.h "usage/"): written without sync in one batch; a
  // time of 0 deletes the token's record. ScanUsage visits every record.
  virtual Status PutUsage(
      const std::vector<std::pair<std::string, int64_t>>& records) = 0;
  virtual Status ScanUsage(
      const std::function<void(std::string_view id, int64_t at)>& visit)
      const = 0;

  // WAL syncs done by the engine so far (RocksDB statistics), or the number
  // of synced commits for memory.
  virtual uint64_t Syncs() const = 0;
  // Every Commit waits for the disk (a synced write). Only then may an
  // Append commit on its caller's thread (StoreImpl::Append): the wait makes
  // concurrent appenders collide, which keeps group commit on.
  virtual bool CommitWaitsForDisk() const { return false; }

  // Path of the checkpoint file beside the data directory; "" for memory.
  virtual std::string CheckpointFilePath() const = 0;

  // A consistent copy of the database in `to_dir` (EventStore::CreateBackup).
  virtual Status CopyTo(const std::string& to_dir) {
    return Status(StatusCode::kUnimplemented,
                  "backups need the RocksDB store (not " + to_dir + ")");
  }
};

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_LOG_BACKEND_H_
