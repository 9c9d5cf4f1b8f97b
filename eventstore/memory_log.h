// The in-memory twin of the RocksDB log, for tests. A MemoryLog outlives the
// stores opened on it, so tests can close, tamper and reopen as with RocksDB.
#ifndef IAMLEDGER_EVENTSTORE_MEMORY_LOG_H_
#define IAMLEDGER_EVENTSTORE_MEMORY_LOG_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "eventstore/event_store.h"

namespace iam::eventstore {

struct MemoryLog {
  std::mutex mu;
  std::map<uint64_t, std::string> events;  // seq -> envelope bytes
  std::map<std::string, std::string> meta;
  std::map<std::string, std::string> keys;
  uint64_t syncs = 0;
  bool fail_commits = false;  // fault injection: every Commit fails
};

// Opens a store over `log` (recovering what it holds).
StatusOr<std::unique_ptr<EventStore>> OpenMemoryEventStore(
    std::shared_ptr<MemoryLog> log, StoreOptions options);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_MEMORY_LOG_H_
