#include "tests/faults/fault_fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace iam::faults {
namespace {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

// "a//b/" -> "a/b": RocksDB joins names with '/', callers may add more.
std::string Normalize(const std::string& path) {
  std::string out;
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::optional<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteWhole(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class File final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(FaultFs* fs, std::string path,
       std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)),
        fs_(fs),
        path_(std::move(path)) {}

  IOStatus Append(const Slice& data, const IOOptions& o,
                  IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kWrite, true);
    if (!s.ok()) return s;
    s = target()->Append(data, o, dbg);
    if (s.ok()) fs_->Appended(path_, fs_->SizeOf(path_) + data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& o,
                  const DataVerificationInfo& /*info*/,
                  IODebugContext* dbg) override {
    return Append(data, o, dbg);
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kWrite, true);
    if (!s.ok()) return s;
    s = target()->PositionedAppend(data, offset, o, dbg);
    if (s.ok()) fs_->Appended(path_, offset + data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset,
                            const IOOptions& o,
                            const DataVerificationInfo& /*info*/,
                            IODebugContext* dbg) override {
    return PositionedAppend(data, offset, o, dbg);
  }
  IOStatus Truncate(uint64_t size, const IOOptions& o,
                    IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kWrite, true);
    if (!s.ok()) return s;
    s = target()->Truncate(size, o, dbg);
    if (s.ok()) fs_->Truncated(path_, size);
    return s;
  }
  IOStatus Sync(const IOOptions& o, IODebugContext* dbg) override {
    return DoSync([&] { return target()->Sync(o, dbg); });
  }
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    return DoSync([&] { return target()->Fsync(o, dbg); });
  }
  // Not a durability point (sync_file_range does not flush metadata).
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& o,
                     IODebugContext* dbg) override {
    if (!fs_->powered()) return IOStatus::IOError("power is off");
    return target()->RangeSync(offset, nbytes, o, dbg);
  }
  IOStatus Close(const IOOptions& o, IODebugContext* dbg) override {
    // A close after power-off must still release the descriptor, and it
    // writes nothing: forward it, but report the power state.
    if (!fs_->powered()) {
      target()->Close(o, dbg).PermitUncheckedError();
      return IOStatus::IOError("power is off");
    }
    IOStatus s = fs_->Check(FaultFs::Op::kClose, false);
    if (!s.ok()) {
      target()->Close(o, dbg).PermitUncheckedError();
      return s;
    }
    return target()->Close(o, dbg);
  }

 private:
  template <typename F>
  IOStatus DoSync(F sync) {
    IOStatus s = fs_->Check(FaultFs::Op::kSync, true);
    if (!s.ok()) return s;
    const uint64_t size = fs_->SizeOf(path_);  // what this sync covers
    s = sync();
    if (s.ok()) fs_->Synced(path_, size);
    return s;
  }

  FaultFs* const fs_;
  const std::string path_;
};

class SeqFile final : public rocksdb::FSSequentialFileOwnerWrapper {
 public:
  SeqFile(FaultFs* fs, std::unique_ptr<rocksdb::FSSequentialFile> t)
      : FSSequentialFileOwnerWrapper(std::move(t)), fs_(fs) {}
  IOStatus Read(size_t n, const IOOptions& o, Slice* result, char* scratch,
                IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kRead, false);
    if (!s.ok()) return s;
    return target()->Read(n, o, result, scratch, dbg);
  }
  IOStatus PositionedRead(uint64_t offset, size_t n, const IOOptions& o,
                          Slice* result, char* scratch,
                          IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kRead, false);
    if (!s.ok()) return s;
    return target()->PositionedRead(offset, n, o, result, scratch, dbg);
  }

 private:
  FaultFs* const fs_;
};

class RandomFile final : public rocksdb::FSRandomAccessFileOwnerWrapper {
 public:
  RandomFile(FaultFs* fs, std::unique_ptr<rocksdb::FSRandomAccessFile> t)
      : FSRandomAccessFileOwnerWrapper(std::move(t)), fs_(fs) {}
  IOStatus Read(uint64_t offset, size_t n, const IOOptions& o, Slice* result,
                char* scratch, IODebugContext* dbg) const override {
    IOStatus s = fs_->Check(FaultFs::Op::kRead, false);
    if (!s.ok()) return s;
    return target()->Read(offset, n, o, result, scratch, dbg);
  }
  IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs,
                     const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kRead, false);
    if (!s.ok()) return s;
    return target()->MultiRead(reqs, num_reqs, o, dbg);
  }
  // Asynchronous reads would bypass the count: refuse them, so RocksDB
  // falls back to Read.
  IOStatus ReadAsync(rocksdb::FSReadRequest&, const IOOptions&,
                     std::function<void(const rocksdb::FSReadRequest&, void*)>,
                     void*, void**, rocksdb::IOHandleDeleter*,
                     IODebugContext*) override {
    return IOStatus::NotSupported("FaultFs reads synchronously");
  }

 private:
  FaultFs* const fs_;
};

class Dir final : public rocksdb::FSDirectoryWrapper {
 public:
  Dir(FaultFs* fs, std::string path, std::unique_ptr<rocksdb::FSDirectory> t)
      : FSDirectoryWrapper(std::move(t)), fs_(fs), path_(std::move(path)) {}
  IOStatus Fsync(const IOOptions& o, IODebugContext* dbg) override {
    IOStatus s = fs_->Check(FaultFs::Op::kSync, true);
    if (!s.ok()) return s;
    s = FSDirectoryWrapper::Fsync(o, dbg);
    if (s.ok()) fs_->DirSynced(path_);
    return s;
  }
  IOStatus FsyncWithDirOptions(
      const IOOptions& o, IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& /*dir_fsync_options*/) override {
    return Fsync(o, dbg);
  }

 private:
  FaultFs* const fs_;
  const std::string path_;
};

}  // namespace

const char* FaultFs::OpName(Op op) {
  static const char* kNames[] = {"write", "sync", "read", "rename", "close"};
  return kNames[static_cast<int>(op)];
}

FaultFs::FaultFs(std::shared_ptr<rocksdb::FileSystem> base)
    : FileSystemWrapper(std::move(base)) {}

IOStatus FaultFs::Check(Op op, bool mutating) {
  if (mutating) {
    const uint64_t at = power_off_at_.load();
    if (at != 0 && mutating_calls_.fetch_add(1) + 1 >= at) powered_ = false;
    if (!powered_.load()) return IOStatus::IOError("power is off");
  }
  const uint64_t n = counts_[static_cast<int>(op)].fetch_add(1) + 1;
  std::lock_guard<std::mutex> lock(mu_);
  if (fault_ && fault_->op == op &&
      (n == fault_->nth || (fault_->sticky && n > fault_->nth))) {
    injected_.fetch_add(1);
    const std::string what =
        std::string("injected fault: ") + OpName(op) + " #" + std::to_string(n);
    return fault_->no_space ? IOStatus::NoSpace(what) : IOStatus::IOError(what);
  }
  return IOStatus::OK();
}

void FaultFs::Arm(const Fault& fault) {
  std::lock_guard<std::mutex> lock(mu_);
  fault_ = fault;
  for (auto& c : counts_) c.store(0);
  injected_.store(0);
}

void FaultFs::Disarm() {
  std::lock_guard<std::mutex> lock(mu_);
  fault_.reset();
}

void FaultFs::ResetCounts() {
  for (auto& c : counts_) c.store(0);
}

void FaultFs::Appended(const std::string& path, uint64_t end_offset) {
  std::lock_guard<std::mutex> lock(mu_);
  FileState& f = files_[path];
  f.size = std::max(f.size, end_offset);
}

void FaultFs::Truncated(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  FileState& f = files_[path];
  f.size = size;
  f.synced = std::min(f.synced, size);
}

uint64_t FaultFs::SizeOf(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(path);
  return it == files_.end() ? 0 : it->second.size;
}

void FaultFs::Synced(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  FileState& f = files_[path];
  f.synced = std::max(f.synced, std::min(size, f.size));
}

void FaultFs::DirSynced(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string d = Normalize(dir);
  pending_.erase(std::remove_if(pending_.begin(), pending_.end(),
                                [&](const DirOp& op) { return op.dir == d; }),
                 pending_.end());
}

IOStatus FaultFs::Track(const std::string& fname, bool existed, bool keep,
                        std::unique_ptr<rocksdb::FSWritableFile>* result) {
  const std::string path = Normalize(fname);
  {
    std::lock_guard<std::mutex> lock(mu_);
    FileState& f = files_[path];
    f = FileState{};
    if (existed && keep) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      f.size = ec ? 0 : size;
      f.synced = f.size;  // it was there before: durable as far as we know
    }
    if (!existed)
      pending_.push_back(DirOp{false, DirOf(path), path, "", std::nullopt});
  }
  *result = std::make_unique<File>(this, path, std::move(*result));
  return IOStatus::OK();
}

IOStatus FaultFs::NewWritableFile(
    const std::string& fname, const FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  IOStatus s = Check(Op::kWrite, true);
  if (!s.ok()) return s;
  std::error_code ec;
  const bool existed = std::filesystem::exists(fname, ec);
  s = target()->NewWritableFile(fname, file_opts, result, dbg);
  if (!s.ok()) return s;
  // An existing file is truncated: its entry stays durable, its content
  // starts over.
  return Track(fname, existed, /*keep=*/false, result);
}

IOStatus FaultFs::ReopenWritableFile(
    const std::string& fname, const FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  IOStatus s = Check(Op::kWrite, true);
  if (!s.ok()) return s;
  std::error_code ec;
  const bool existed = std::filesystem::exists(fname, ec);
  s = target()->ReopenWritableFile(fname, file_opts, result, dbg);
  if (!s.ok()) return s;
  return Track(fname, existed, /*keep=*/true, result);
}

IOStatus FaultFs::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSWritableFile>* result, IODebugContext* dbg) {
  // WAL recycling renames a file and overwrites it in place, which this
  // model does not track; the store leaves recycle_log_file_num at 0.
  (void)fname;
  (void)old_fname;
  (void)file_opts;
  (void)result;
  (void)dbg;
  return IOStatus::NotSupported("FaultFs does not model WAL recycling");
}

IOStatus FaultFs::NewSequentialFile(
    const std::string& fname, const FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSSequentialFile>* result, IODebugContext* dbg) {
  IOStatus s = target()->NewSequentialFile(fname, file_opts, result, dbg);
  if (s.ok()) *result = std::make_unique<SeqFile>(this, std::move(*result));
  return s;
}

IOStatus FaultFs::NewRandomAccessFile(
    const std::string& fname, const FileOptions& file_opts,
    std::unique_ptr<rocksdb::FSRandomAccessFile>* result, IODebugContext* dbg) {
  IOStatus s = target()->NewRandomAccessFile(fname, file_opts, result, dbg);
  if (s.ok()) *result = std::make_unique<RandomFile>(this, std::move(*result));
  return s;
}

IOStatus FaultFs::NewDirectory(const std::string& name,
                               const IOOptions& io_opts,
                               std::unique_ptr<rocksdb::FSDirectory>* result,
                               IODebugContext* dbg) {
  IOStatus s = target()->NewDirectory(name, io_opts, result, dbg);
  if (s.ok())
    *result = std::make_unique<Dir>(this, Normalize(name), std::move(*result));
  return s;
}

IOStatus FaultFs::RenameFile(const std::string& src, const std::string& target,
                             const IOOptions& options, IODebugContext* dbg) {
  IOStatus s = Check(Op::kRename, true);
  if (!s.ok()) return s;
  const std::string from = Normalize(src), to = Normalize(target);
  std::optional<std::string> old_target = ReadWhole(to);
  s = this->target()->RenameFile(src, target, options, dbg);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(it);
  } else {
    files_.erase(to);
  }
  pending_.push_back(DirOp{true, DirOf(to), to, from, std::move(old_target)});
  return s;
}

IOStatus FaultFs::DeleteFile(const std::string& fname, const IOOptions& options,
                             IODebugContext* dbg) {
  if (!powered_.load()) return IOStatus::IOError("power is off");
  IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (!s.ok()) return s;
  const std::string path = Normalize(fname);
  std::lock_guard<std::mutex> lock(mu_);
  files_.erase(path);
  // A file created and deleted before any directory sync leaves nothing to
  // undo; a rename onto it is moot too.
  pending_.erase(
      std::remove_if(pending_.begin(), pending_.end(),
                     [&](const DirOp& op) { return op.path == path; }),
      pending_.end());
  return s;
}

IOStatus FaultFs::LinkFile(const std::string& src, const std::string& target,
                           const IOOptions& options, IODebugContext* dbg) {
  if (!powered_.load()) return IOStatus::IOError("power is off");
  return this->target()->LinkFile(src, target, options, dbg);
}

FaultFs::CutReport FaultFs::Cut(const CutOptions& options) {
  std::lock_guard<std::mutex> lock(mu_);
  CutReport report;
  std::mt19937_64 rng(options.seed);
  for (const auto& [path, f] : files_) {
    if (f.size <= f.synced) continue;
    uint64_t keep = f.synced;
    if (options.keep_random_prefix)
      keep +=
          std::uniform_int_distribution<uint64_t>(0, f.size - f.synced)(rng);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    const uint64_t on_disk = std::filesystem::file_size(path, ec);
    if (ec || on_disk <= keep) continue;
    if (::truncate(path.c_str(), static_cast<off_t>(keep)) == 0) {
      report.files_truncated++;
      report.bytes_dropped += on_disk - keep;
    }
  }
  // Undo the directory entries no fsync made durable, newest first.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    if (options.keep_random_prefix && (rng() & 1)) continue;
    std::error_code ec;
    if (!it->rename) {
      std::filesystem::remove(it->path, ec);
    } else {
      std::filesystem::rename(it->path, it->from, ec);
      if (it->old_target) WriteWhole(it->path, *it->old_target);
    }
    report.entries_undone++;
  }
  files_.clear();
  pending_.clear();
  return report;
}

}  // namespace iam::faults
