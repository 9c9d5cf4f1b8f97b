#include "eventstore/rocks_util.h"

#include <rocksdb/env.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "eventstore/format.h"

namespace iam::eventstore {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return OkStatus();
  std::string msg = "rocksdb " + std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return NotFoundError(msg);
  if (s.IsCorruption()) return DataLossError(msg);
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
    return UnavailableError(msg +
                            " (is another iamledger using this data "
                            "directory?)");
  }
  if (s.IsNoSpace()) {
    return UnavailableError(msg +
                            " (the disk is full: free space, then restart "
                            "iamledger)");
  }
  if (s.IsIOError()) return UnavailableError(msg);
  if (s.IsInvalidArgument()) return FailedPreconditionError(msg);
  return InternalError(msg);
}

std::string CheckpointFileFor(const std::string& dir) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + ".checkpoint";
}

rocksdb::Options DbOptions() {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  options.paranoid_checks = true;
  options.wal_recovery_mode =
      rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  options.IncreaseParallelism(2);
  options.keep_log_file_num = 4;
  // Flushes and compactions write their files in 1 MiB synced steps instead
  // of one large writeback at the end, which would queue the WAL's syncs
  // (every commit's) behind tens of MB (issue 12 item 8: the tail).
  options.bytes_per_sync = 1 << 20;
  // A write error is sticky in the store (DESIGN.md §3: fail closed until a
  // restart), so RocksDB's background auto-resume would only make Close
  // wait for its retries (1 s each).
  options.max_bgerror_resume_count = 0;
  return options;
}

namespace {

// The files of `dir`, sorted ("" entries never; empty when unreadable).
std::vector<std::string> FilesOf(rocksdb::Env* env, const std::string& dir) {
  std::vector<std::string> files;
  if (!env->GetChildren(dir, &files).ok()) files.clear();
  std::sort(files.begin(), files.end());
  return files;
}

// The number of a WAL file's name ("000012.log" -> 12); false otherwise.
bool WalNumber(const std::string& name, uint64_t* number) {
  constexpr std::string_view kSuffix = ".log";
  if (name.size() <= kSuffix.size() ||
      name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return false;
  uint64_t n = 0;
  for (size_t i = 0; i + kSuffix.size() < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  *number = n;
  return true;
}

}  // namespace

Status RocksDb::Open(const std::string& dir, bool read_only,
                     rocksdb::Env* env) {
  if (!read_only) return OpenOnce(dir, read_only, env);
  // A read-only open reads the MANIFEST, then replays the WAL files it
  // finds from the oldest one whose writes some family has not flushed (the
  // MANIFEST's min log number). A writer beside it (a running server) whose
  // flush retires such a WAL in between (edit synced to the MANIFEST, then
  // the file deleted) leaves a view that silently misses that WAL's writes.
  // Every write made before the open began is in a table file or in a WAL
  // present then; so the open counts unless a WAL present before it, at or
  // past the view's min log number, is gone after it (then it is retried:
  // the next MANIFEST read has that flush). A failed open is retried when
  // any file went (a compaction retired a table file the open was reading).
  rocksdb::Env* fs = env != nullptr ? env : rocksdb::Env::Default();
  Status last = OkStatus();
  for (int attempt = 0; attempt < kReadOnlyOpenAttempts; ++attempt) {
    if (attempt > 0) {
      Close();
      fs->SleepForMicroseconds(1000 * std::min(attempt, 20));
    }
    const std::vector<std::string> before = FilesOf(fs, dir);
    last = OpenOnce(dir, read_only, env);
    const std::vector<std::string> after = FilesOf(fs, dir);
    // 0 (no flush recorded, or the property unknown): every WAL is needed.
    uint64_t min_wal_needed = 0;
    if (last.ok() &&
        !db_->GetIntProperty(rocksdb::DB::Properties::kMinLogNumberToKeep,
                             &min_wal_needed)) {
      min_wal_needed = 0;
    }
    bool needed_wal_gone = false, any_gone = false;
    for (const std::string& f : before) {
      if (std::binary_search(after.begin(), after.end(), f)) continue;
      any_gone = true;
      uint64_t wal = 0;
      if (WalNumber(f, &wal) && wal >= min_wal_needed) needed_wal_gone = true;
    }
    if (last.ok() ? !needed_wal_gone : !any_gone) return last;
  }
  Close();
  if (!last.ok()) return last;
  return UnavailableError("rocksdb open " + dir +
                          ": a running server retired WAL files during "
                          "each of " +
                          std::to_string(kReadOnlyOpenAttempts) +
                          " read-only opens; try again");
}

Status RocksDb::OpenOnce(const std::string& dir, bool read_only,
                         rocksdb::Env* env) {
  Close();
  rocksdb::Options options = DbOptions();
  if (env != nullptr) options.env = env;
  statistics_ = rocksdb::CreateDBStatistics();
  options.statistics = statistics_;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, options},
      {std::string(kEventsFamily), options},
      {std::string(kKeysFamily), options},
      {std::string(kMetaFamily), options}};
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      read_only ? rocksdb::DB::OpenForReadOnly(options, dir, families,
                                               &handles_, &raw)
                : rocksdb::DB::Open(options, dir, families, &handles_, &raw);
  if (!s.ok()) {
    Status st = FromRocks(s, "open " + dir);
    if (st.code() == StatusCode::kDataLoss) {
      return DataLossError(st.message() +
                           ". Refusing to open rather than roll back; run "
                           "`iamledger replay verify --data-dir " +
                           dir + "` to locate the damage.");
    }
    return st;
  }
  db_.reset(raw);
  return OkStatus();
}

void RocksDb::Close() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  handles_.clear();
  db_->Close().PermitUncheckedError();
  db_.reset();
}

StatusOr<std::string> RocksDb::Get(rocksdb::ColumnFamilyHandle* cf,
                                   std::string_view key) const {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf,
                               rocksdb::Slice(key.data(), key.size()), &value);
  if (s.IsNotFound()) return NotFoundError("not found");
  IAM_RETURN_IF_ERROR(FromRocks(s, "read"));
  return value;
}

}  // namespace iam::eventstore
