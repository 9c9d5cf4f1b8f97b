// Backups (EventStore::CreateBackup): a checkpoint of the head, then a
// RocksDB checkpoint of the database, then the checkpoint file beside the
// copy, so that the copy opens and verifies on its own.
#include <rocksdb/utilities/checkpoint.h>

#include <filesystem>
#include <memory>
#include <system_error>

#include "eventstore/checkpoint.h"
#include "eventstore/rocks_util.h"
#include "eventstore/store_impl.h"

namespace iam::eventstore {

Status EventStore::CreateBackup(const std::string& to_dir) {
  return Status(StatusCode::kUnimplemented,
                "this event store cannot be backed up (not " + to_dir + ")");
}

Status CreateRocksCheckpoint(rocksdb::DB* db, const std::string& to_dir) {
  namespace fs = std::filesystem;
  if (to_dir.empty()) return InvalidArgumentError("no backup directory given");
  std::error_code ec;
  fs::path to = fs::absolute(to_dir, ec);
  if (ec) return InvalidArgumentError("bad backup directory " + to_dir);
  to = to.lexically_normal();
  if (!to.has_filename()) to = to.parent_path();  // a trailing '/'
  if (fs::symlink_status(to, ec).type() != fs::file_type::not_found) {
    return AlreadyExistsError("the backup directory " + to.string() +
                              " already exists; choose a new one");
  }
  if (!fs::is_directory(to.parent_path(), ec)) {
    return FailedPreconditionError("the parent of the backup directory, " +
                                   to.parent_path().string() +
                                   ", is not a directory");
  }
  rocksdb::Checkpoint* raw = nullptr;
  IAM_RETURN_IF_ERROR(
      FromRocks(rocksdb::Checkpoint::Create(db, &raw), "backup"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush = 0: flush first, so the copy needs no WAL replay.
  return FromRocks(checkpoint->CreateCheckpoint(to.string(), 0),
                   "backup to " + to.string());
}

Status StoreImpl::CreateBackup(const std::string& to_dir) {
  // Checkpoint what is committed now; the copy holds at least that much,
  // so the checkpoint written beside it never runs ahead of it.
  IAM_RETURN_IF_ERROR(WriteCheckpoint());
  const Checkpoint cp = LastCheckpoint();
  IAM_RETURN_IF_ERROR(backend_->CopyTo(to_dir));
  if (cp.seq == 0) return OkStatus();  // an empty log has no checkpoint
  return WriteCheckpointFile(CheckpointFileFor(to_dir), cp,
                             options_.checkpoint_key);
}

}  // namespace iam::eventstore
