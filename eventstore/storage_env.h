// The filesystem under the RocksDB store (StoreOptions::storage_env): a
// rocksdb::FileSystem wrapped into the rocksdb::Env that DB::Open takes.
// Internal to eventstore and its tests (it includes RocksDB); event_store.h
// only forward-declares StorageEnv.
#ifndef IAMLEDGER_EVENTSTORE_STORAGE_ENV_H_
#define IAMLEDGER_EVENTSTORE_STORAGE_ENV_H_

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <memory>

namespace iam::eventstore {

class StorageEnv {
 public:
  // Every file operation of a store opened with this env goes to `fs`
  // (threads, clocks and locks stay the default Env's).
  explicit StorageEnv(std::shared_ptr<rocksdb::FileSystem> fs)
      : fs_(std::move(fs)), env_(rocksdb::NewCompositeEnv(fs_)) {}

  rocksdb::Env* env() const { return env_.get(); }
  const std::shared_ptr<rocksdb::FileSystem>& fs() const { return fs_; }

 private:
  std::shared_ptr<rocksdb::FileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_STORAGE_ENV_H_
