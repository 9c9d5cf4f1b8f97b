// The RocksDB database of a data directory: options, column families,
// status translation. Internal to eventstore (includes RocksDB).
#ifndef IAMLEDGER_EVENTSTORE_ROCKS_UTIL_H_
#define IAMLEDGER_EVENTSTORE_ROCKS_UTIL_H_

#include <rocksdb/db.h>
#include <rocksdb/statistics.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace iam::eventstore {

// RocksDB status -> ours: NotFound stays NotFound, Corruption is DataLoss,
// a held lock is Unavailable, IOError is Unavailable. `what` names the
// operation ("open", "write").
Status FromRocks(const rocksdb::Status& s, std::string_view what);

inline std::string_view ToView(const rocksdb::Slice& s) {
  return std::string_view(s.data(), s.size());
}

// "<dir>.checkpoint": the checkpoint file beside the data directory.
std::string CheckpointFileFor(const std::string& dir);

// A RocksDB checkpoint of `db` in `to_dir` (made absolute; must not exist,
// its parent must): a consistent copy, hard-linked on the same filesystem.
// Defined in backup.cc.
Status CreateRocksCheckpoint(rocksdb::DB* db, const std::string& to_dir);

// Options every open of a data directory uses: the durability settings of
// DESIGN.md §3 (paranoid checks, kTolerateCorruptedTailRecords).
rocksdb::Options DbOptions();

// An open database with its three column families.
class RocksDb {
 public:
  RocksDb() = default;
  ~RocksDb() { Close(); }
  RocksDb(const RocksDb&) = delete;
  RocksDb& operator=(const RocksDb&) = delete;

  // Opens `dir` (creating it unless read_only). A corrupted database is
  // refused with a message naming `iamledger replay verify`. `env` (may be
  // null: the default) does all file I/O. Read-only, beside a running
  // server: the view holds every write made before the open began (an open
  // that raced a flush is retried), or the open fails with Unavailable.
  Status Open(const std::string& dir, bool read_only,
              rocksdb::Env* env = nullptr);
  void Close();

  rocksdb::DB* db() const { return db_.get(); }
  rocksdb::ColumnFamilyHandle* events() const { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* keys() const { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return handles_[3]; }
  rocksdb::Statistics* statistics() const { return statistics_.get(); }

  StatusOr<std::string> Get(rocksdb::ColumnFamilyHandle* cf,
                            std::string_view key) const;

 private:
  static constexpr int kReadOnlyOpenAttempts = 50;
  Status OpenOnce(const std::string& dir, bool read_only, rocksdb::Env* env);

  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // default first
};

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_ROCKS_UTIL_H_
