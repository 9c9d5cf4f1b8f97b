// FaultFs: a rocksdb::FileSystemWrapper for tests that simulates power loss
// (reliability.md §1.7 mode B) and injects I/O errors (mode E). Put it under
// a store with StoreOptions::storage_env (or LedgerOptions::storage_env):
//
//   auto fs = std::make_shared<FaultFs>();
//   options.storage_env = std::make_shared<eventstore::StorageEnv>(fs);
//
// Contract.
// * Power loss. Writes go to the real files (so the running process reads
//   them back, as from a page cache), and FaultFs remembers per file how many
//   bytes were appended and how many of them a Sync/Fsync made durable, and
//   per directory which entries (files created, renames) no directory fsync
//   has made durable yet. PowerOff() makes every later mutating call fail
//   with an IOError ("power is off") without touching the disk: the machine
//   has stopped. After the store is closed (its files closed), Cut() rewinds
//   the disk to what a real power cut could leave: each file is truncated
//   to its synced length (with keep_random_prefix, to its synced length plus
//   a random prefix of the unsynced bytes: a torn write), and directory
//   entries that were never fsynced are undone (a created file disappears, a
//   rename is reverted and the old target restored; with keep_random_prefix
//   each such entry survives with probability 1/2 instead). Files that
//   existed before this FaultFs saw them count as synced. Not modelled:
//   deletes (a deleted file stays deleted), reordering among synced data,
//   and files written with POSIX calls outside RocksDB (the checkpoint file
//   and the key file beside the data directory).
// * I/O errors. Arm({op, nth, sticky, no_space}) makes the nth call of that
//   kind counted from the Arm (1-based) fail, and with `sticky` every later
//   one too; no_space returns ENOSPC ("No space left on device") instead of
//   EIO. Kinds: kWrite = Append/PositionedAppend/Truncate, kSync = file
//   Sync/Fsync and directory Fsync, kRead = sequential and random-access
//   reads, kRename = RenameFile, kClose = writable file Close. A failed call
//   changes nothing on disk. Count(op) says how many calls of a kind were
//   made since the last Arm or ResetCounts (a dry run finds the fault points
//   of a workload).
// Thread-safe: RocksDB calls it from its writer and background threads.
#ifndef IAMLEDGER_TESTS_FAULTS_FAULT_FS_H_
#define IAMLEDGER_TESTS_FAULTS_FAULT_FS_H_

#include <rocksdb/file_system.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace iam::faults {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  enum class Op { kWrite = 0, kSync, kRead, kRename, kClose };
  static constexpr int kOps = 5;
  static const char* OpName(Op op);

  struct Fault {
    Op op = Op::kWrite;
    uint64_t nth = 1;       // 1-based, counted from Arm()
    bool sticky = false;    // also fail every later call of the kind
    bool no_space = false;  // ENOSPC instead of EIO
  };

  struct CutOptions {
    bool keep_random_prefix = false;
    uint64_t seed = 0;
  };
  struct CutReport {
    uint64_t files_truncated = 0;
    uint64_t bytes_dropped = 0;
    uint64_t entries_undone = 0;  // created files removed, renames reverted
  };

  explicit FaultFs(std::shared_ptr<rocksdb::FileSystem> base =
                       rocksdb::FileSystem::Default());
  static const char* kClassName() { return "IamFaultFs"; }
  const char* Name() const override { return kClassName(); }

  // ---- power loss
  void PowerOff() { powered_.store(false); }
  // The power goes off at the nth mutating call from now (1-based): that
  // call already fails. So a cut can land between a write and its sync.
  void PowerOffAtCall(uint64_t n) {
    mutating_calls_.store(0);
    power_off_at_.store(n);
  }
  bool powered() const { return powered_.load(); }
  // Rewinds the disk to its durable state (see the contract). Call once the
  // store is closed; the FaultFs is spent afterwards (use a new one).
  CutReport Cut(const CutOptions& options);

  // ---- I/O errors
  void Arm(const Fault& fault);
  void Disarm();
  void ResetCounts();
  uint64_t Count(Op op) const { return counts_[static_cast<int>(op)].load(); }
  // How many calls an armed fault has failed.
  uint64_t Injected() const { return injected_.load(); }

  // ---- the calls FaultFs intercepts
  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewSequentialFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSSequentialFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomAccessFile(
      const std::string& fname, const rocksdb::FileOptions& file_opts,
      std::unique_ptr<rocksdb::FSRandomAccessFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src,
                               const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;

  // Called by the file wrappers (fault_fs.cc). A non-OK status fails the
  // call: power off (mutating calls) or an armed fault of `op`.
  rocksdb::IOStatus Check(Op op, bool mutating);
  void Appended(const std::string& path, uint64_t end_offset);
  void Truncated(const std::string& path, uint64_t size);
  uint64_t SizeOf(const std::string& path);
  void Synced(const std::string& path, uint64_t size);
  void DirSynced(const std::string& dir);

 private:
  struct FileState {
    uint64_t size = 0;
    uint64_t synced = 0;
  };
  struct DirOp {
    bool rename = false;
    std::string dir;
    std::string path;  // the created file, or the rename's target
    std::string from;  // rename: the source
    std::optional<std::string> old_target;  // rename: what `path` held
  };

  // Wraps a writable file; `keep`: an existing file's content stays.
  rocksdb::IOStatus Track(const std::string& fname, bool existed, bool keep,
                          std::unique_ptr<rocksdb::FSWritableFile>* result);

  std::atomic<bool> powered_{true};
  std::atomic<uint64_t> mutating_calls_{0};
  std::atomic<uint64_t> power_off_at_{0};  // 0: none
  std::array<std::atomic<uint64_t>, kOps> counts_{};
  std::atomic<uint64_t> injected_{0};

  std::mutex mu_;
  std::optional<Fault> fault_;  // guarded by mu_
  std::map<std::string, FileState> files_;
  std::vector<DirOp> pending_;  // directory entries not yet fsynced
};

}  // namespace iam::faults

#endif  // IAMLEDGER_TESTS_FAULTS_FAULT_FS_H_
