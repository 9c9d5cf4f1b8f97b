// LogBackend over RocksDB (format.h has the layout).
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/statistics.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "eventstore/format.h"
#include "eventstore/log_backend.h"
#include "eventstore/rocks_util.h"
#include "eventstore/storage_env.h"
#include "eventstore/store_impl.h"

namespace iam::eventstore {
namespace {

class RocksBackend final : public LogBackend {
 public:
  // `sync_commits`: false in cluster mode, where etcd (a quorum's fsync)
  // is the commit point; meta writes (checkpoints, snapshots) stay synced,
  // and a synced write makes every earlier WAL record durable with it, so a
  // checkpoint never covers events a crash of the machine could lose.
  static StatusOr<std::unique_ptr<RocksBackend>> Open(
      const std::string& dir, const StoreOptions& options, bool sync_commits) {
    auto backend = std::unique_ptr<RocksBackend>(
        new RocksBackend(dir, options.storage_env, options.sync_writes,
                         sync_commits && options.sync_writes));
    IAM_RETURN_IF_ERROR(backend->Init());
    return backend;
  }

  ~RocksBackend() override {
    {
      std::lock_guard<std::mutex> lock(compact_mu_);
      stop_compactor_ = true;
    }
    compact_cv_.notify_all();
    if (compactor_.joinable()) compactor_.join();
    db_.Close();
  }

  Status Commit(const CommitBatch& batch) override {
    rocksdb::WriteBatch wb;
    for (const auto& [seq, value] : batch.events)
      wb.Put(db_.events(), EncodeSeqKey(seq), value);
    for (const auto& [stream, version] : batch.stream_heads) {
      wb.Put(db_.meta(), std::string(kMetaStreamPrefix) + stream,
             EncodeSeqKey(version));
    }
    for (const auto& [k, v] : batch.key_puts) wb.Put(db_.keys(), k, v);
    for (const auto& k : batch.key_deletes) wb.Delete(db_.keys(), k);
    rocksdb::WriteOptions wo;
    wo.sync = sync_commits_;
    IAM_RETURN_IF_ERROR(Stopped());
    IAM_RETURN_IF_ERROR(Failed(FromRocks(db_.db()->Write(wo, &wb), "write")));
    if (!batch.key_deletes.empty()) ScheduleKeyCompaction();
    return OkStatus();
  }

  Status Scan(uint64_t from, uint64_t to,
              const std::function<Status(uint64_t, std::string_view)>& visit)
      const override {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(
        db_.db()->NewIterator(ro, db_.events()));
    for (it->Seek(EncodeSeqKey(from)); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      if (!DecodeSeqKey(ToView(it->key()), &seq)) {
        return DataLossError("events family holds a key that is not a seq");
      }
      if (seq > to) break;
      IAM_RETURN_IF_ERROR(visit(seq, ToView(it->value())));
    }
    return FromRocks(it->status(), "read");
  }

  StatusOr<uint64_t> LastSeq() const override {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.db()->NewIterator(rocksdb::ReadOptions(), db_.events()));
    it->SeekToLast();
    IAM_RETURN_IF_ERROR(FromRocks(it->status(), "read"));
    if (!it->Valid()) return uint64_t{0};
    uint64_t seq = 0;
    if (!DecodeSeqKey(ToView(it->key()), &seq)) {
      return DataLossError("events family holds a key that is not a seq");
    }
    return seq;
  }

  Status LoadStreamHeads(
      std::unordered_map<std::string, uint64_t>* heads) const override {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.db()->NewIterator(rocksdb::ReadOptions(), db_.meta()));
    for (it->Seek(std::string(kMetaStreamPrefix));
         it->Valid() && it->key().starts_with(std::string(kMetaStreamPrefix));
         it->Next()) {
      uint64_t v = 0;
      if (!DecodeSeqKey(ToView(it->value()), &v)) {
        return DataLossError("malformed stream head in meta");
      }
      std::string_view key = ToView(it->key());
      key.remove_prefix(kMetaStreamPrefix.size());
      (*heads)[std::string(key)] = v;
    }
    return FromRocks(it->status(), "read");
  }

  StatusOr<std::string> GetMeta(std::string_view key) const override {
    IAM_ASSIGN_OR_RETURN(std::string value, db_.Get(db_.meta(), key));
    uint64_t generation = 0, size = 0;
    uint32_t parts = 0;
    if (!DecodeLargeMetaHead(value, &generation, &parts, &size)) return value;
    // The parts of that generation, in order (format.h "large meta values").
    std::string out;
    out.reserve(size);
    for (uint32_t i = 0; i < parts; ++i) {
      auto part = db_.Get(db_.meta(), LargeMetaPartKey(key, generation, i));
      if (!part.ok()) {
        return DataLossError("meta " + std::string(key) + ": part " +
                             std::to_string(i) + " of " +
                             std::to_string(parts) +
                             " is missing: " + part.status().message());
      }
      out.append(*part);
    }
    if (out.size() != size) {
      return DataLossError("meta " + std::string(key) + ": parts hold " +
                           std::to_string(out.size()) + " bytes, not " +
                           std::to_string(size));
    }
    return out;
  }
  Status PutMeta(std::string_view key, std::string_view value) override {
    rocksdb::WriteOptions wo;
    wo.sync = sync_writes_;
    IAM_RETURN_IF_ERROR(Stopped());
    return Failed(FromRocks(
        db_.db()->Put(wo, db_.meta(), rocksdb::Slice(key.data(), key.size()),
                      rocksdb::Slice(value.data(), value.size())),
        "write"));
  }
  // In parts of kLargeMetaPart bytes, each its own write without the WAL:
  // commits go through RocksDB's one write queue, and a single Put of tens
  // of MB held it while it was copied into the memtable (issue 12 item 8:
  // a 300 ms stall at every snapshot). Then the head, then a flush of `meta`
  // makes all of it durable at once; the older generation's parts go last.
  // A crash before the flush leaves the older head and its parts (parts of
  // the new generation written by then are overwritten by the next try).
  Status PutLargeMeta(std::string_view key, std::string_view value) override {
    if (!sync_writes_) return PutMeta(key, value);
    IAM_RETURN_IF_ERROR(Stopped());
    uint64_t generation = 1, old_generation = 0, old_size = 0;
    uint32_t old_parts = 0;
    if (auto old = db_.Get(db_.meta(), key);
        old.ok() &&
        DecodeLargeMetaHead(*old, &old_generation, &old_parts, &old_size)) {
      generation = old_generation + 1;
    }
    rocksdb::WriteOptions wo;
    wo.disableWAL = true;
    auto put = [&](std::string_view k, std::string_view v) {
      return Failed(FromRocks(
          db_.db()->Put(wo, db_.meta(), rocksdb::Slice(k.data(), k.size()),
                        rocksdb::Slice(v.data(), v.size())),
          "write"));
    };
    uint32_t parts = 0;
    for (size_t at = 0; at < value.size(); at += kLargeMetaPart, ++parts) {
      IAM_RETURN_IF_ERROR(put(LargeMetaPartKey(key, generation, parts),
                              value.substr(at, kLargeMetaPart)));
    }
    IAM_RETURN_IF_ERROR(
        put(key, EncodeLargeMetaHead(generation, parts, value.size())));
    IAM_RETURN_IF_ERROR(Failed(FromRocks(
        db_.db()->Flush(rocksdb::FlushOptions(), db_.meta()), "flush")));
    // The older generation's parts, through the WAL (durable with the next
    // synced commit). Not DeleteRange: this RocksDB (7.8) asserts on range
    // tombstones in a memtable read under load.
    if (old_parts == 0) return OkStatus();
    rocksdb::WriteBatch deletes;
    for (uint32_t i = 0; i < old_parts; ++i) {
      deletes.Delete(db_.meta(), LargeMetaPartKey(key, old_generation, i));
    }
    return Failed(
        FromRocks(db_.db()->Write(rocksdb::WriteOptions(), &deletes), "write"));
  }
  StatusOr<std::string> GetKey(std::string_view key) const override {
    return db_.Get(db_.keys(), key);
  }
  bool CommitWaitsForDisk() const override { return sync_commits_; }
  Status PutUsage(
      const std::vector<std::pair<std::string, int64_t>>& records) override {
    rocksdb::WriteBatch batch;
    for (const auto& [id, at] : records) {
      const std::string key = std::string(kMetaUsagePrefix) + id;
      if (at == 0) {
        batch.Delete(db_.meta(), key);
      } else {
        batch.Put(db_.meta(), key, EncodeSeqKey(static_cast<uint64_t>(at)));
      }
    }
    rocksdb::WriteOptions wo;
    wo.sync = false;  // usage: never an fsync (format.h)
    return FromRocks(db_.db()->Write(wo, &batch), "write usage");
  }
  Status ScanUsage(const std::function<void(std::string_view, int64_t)>& visit)
      const override {
    std::unique_ptr<rocksdb::Iterator> it(
        db_.db()->NewIterator(rocksdb::ReadOptions(), db_.meta()));
    const std::string prefix(kMetaUsagePrefix);
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
         it->Next()) {
      uint64_t at = 0;
      if (!DecodeSeqKey(ToView(it->value()), &at)) {
        return DataLossError("malformed usage record in meta");
      }
      std::string_view id = ToView(it->key());
      id.remove_prefix(prefix.size());
      visit(id, static_cast<int64_t>(at));
    }
    return FromRocks(it->status(), "read usage");
  }
  uint64_t Syncs() const override {
    return db_.statistics()->getTickerCount(rocksdb::WAL_FILE_SYNCED);
  }
  std::string CheckpointFilePath() const override {
    return CheckpointFileFor(dir_);
  }
  Status CopyTo(const std::string& to_dir) override {
    return CreateRocksCheckpoint(db_.db(), to_dir);  // backup.cc
  }

 private:
  RocksBackend(std::string dir, std::shared_ptr<StorageEnv> env,
               bool sync_writes, bool sync_commits)
      : dir_(std::move(dir)),
        env_(std::move(env)),
        sync_writes_(sync_writes),
        sync_commits_(sync_commits) {}

  Status Init() {
    IAM_RETURN_IF_ERROR(
        db_.Open(dir_, /*read_only=*/false, env_ ? env_->env() : nullptr));
    auto format = db_.Get(db_.meta(), kMetaFormatKey);
    if (format.ok()) {
      if (*format != kFormatVersion) {
        return FailedPreconditionError(
            "data directory " + dir_ + " has format " + *format +
            "; this build reads format " + std::string(kFormatVersion));
      }
    } else if (format.status().code() == StatusCode::kNotFound) {
      IAM_RETURN_IF_ERROR(PutMeta(kMetaFormatKey, kFormatVersion));
    } else {
      return format.status();
    }
    compactor_ = std::thread([this] { CompactorLoop(); });
    return OkStatus();
  }

  // After a failed write the database takes no more writes, flushes or
  // compactions until a restart. The failed batch may still be in the WAL
  // (written, not synced); a flush of some column families would move their
  // log numbers past it, and the restart would replay it into the others
  // only: half a batch (found by tests/faults/io_errors_test.cc).
  Status Failed(Status s) {
    if (!s.ok()) write_failed_.store(true);
    return s;
  }
  Status Stopped() const {
    if (!write_failed_.load()) return OkStatus();
    return UnavailableError(
        "an earlier write to the data directory failed; restart iamledger");
  }

  // A deleted data key must not linger in SST or WAL files (DESIGN.md §5):
  // soon after a delete, flush and compact the `keys` family.
  void ScheduleKeyCompaction() {
    std::lock_guard<std::mutex> lock(compact_mu_);
    compact_requested_ = true;
    compact_cv_.notify_one();
  }
  void CompactorLoop() {
    std::unique_lock<std::mutex> lock(compact_mu_);
    for (;;) {
      compact_cv_.wait(lock,
                       [&] { return stop_compactor_ || compact_requested_; });
      if (stop_compactor_) return;
      // Gather deletes for a moment, then compact once.
      compact_cv_.wait_for(lock, std::chrono::milliseconds(200),
                           [&] { return stop_compactor_; });
      compact_requested_ = false;
      if (write_failed_.load()) continue;  // see Failed()
      lock.unlock();
      CompactKeys().IgnoreError();  // retried after the next delete
      lock.lock();
    }
  }
  // Flushes every family, so that no live WAL file still holds the deleted
  // key (RocksDB then deletes obsolete WAL files), and rewrites the `keys`
  // SST files without it.
  Status CompactKeys() {
    rocksdb::FlushOptions fo;
    IAM_RETURN_IF_ERROR(FromRocks(
        db_.db()->Flush(fo, {db_.events(), db_.keys(), db_.meta()}), "flush"));
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    return FromRocks(db_.db()->CompactRange(co, db_.keys(), nullptr, nullptr),
                     "compact");
  }

  const std::string dir_;
  // Declared before db_: the database closes before its env goes.
  const std::shared_ptr<StorageEnv> env_;  // null: the default
  const bool sync_writes_;                 // false only in tests
  const bool sync_commits_;                // false in cluster mode too
  RocksDb db_;
  std::atomic<bool> write_failed_{false};
  std::mutex compact_mu_;
  std::condition_variable compact_cv_;
  bool compact_requested_ = false;
  bool stop_compactor_ = false;
  std::thread compactor_;
};

}  // namespace

StatusOr<std::unique_ptr<StoreImpl>> OpenRocksStoreImpl(
    const std::string& dir, StoreOptions options, CommitPoint* commit_point) {
  // Cluster mode: etcd made the group durable before the local commit (a
  // local tail lost to a power cut is taken in from etcd again at start).
  IAM_ASSIGN_OR_RETURN(
      auto backend,
      RocksBackend::Open(dir, options,
                         /*sync_commits=*/commit_point == nullptr));
  return StoreImpl::Open(std::move(backend), std::move(options), commit_point);
}

StatusOr<std::unique_ptr<EventStore>> OpenRocksEventStore(
    const std::string& dir, StoreOptions options) {
  IAM_ASSIGN_OR_RETURN(auto store,
                       OpenRocksStoreImpl(dir, std::move(options), nullptr));
  return std::unique_ptr<EventStore>(std::move(store));
}

}  // namespace iam::eventstore
