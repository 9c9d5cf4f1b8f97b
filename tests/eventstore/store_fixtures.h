// Fixtures that let one store test suite run against both stores: open,
// reopen, and tamper with stored values behind the store's back.
#ifndef IAMLEDGER_TESTS_EVENTSTORE_STORE_FIXTURES_H_
#define IAMLEDGER_TESTS_EVENTSTORE_STORE_FIXTURES_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "eventstore/event_store.h"
#include "eventstore/memory_log.h"

namespace iam::eventstore::testing {

struct TempDir {
  TempDir();
  ~TempDir();
  std::string path;
};

// Tamper methods require the store to be closed (as an attacker with the
// files would have it).
struct RocksFixture {
  static constexpr bool kHasFiles = true;
  TempDir tmp;
  std::string data_dir() const { return tmp.path + "/data"; }
  StatusOr<std::unique_ptr<EventStore>> Open(StoreOptions o = {});
  void Replace(uint64_t seq, const std::string& bytes);
  void Erase(uint64_t seq);
  std::string Get(uint64_t seq);
};

struct MemoryFixture {
  static constexpr bool kHasFiles = false;
  std::shared_ptr<MemoryLog> log = std::make_shared<MemoryLog>();
  StatusOr<std::unique_ptr<EventStore>> Open(StoreOptions o = {});
  void Replace(uint64_t seq, const std::string& bytes);
  void Erase(uint64_t seq);
  std::string Get(uint64_t seq);
};

// A ~200-byte TokenCreated numbered i.
Event SomeEvent(int i);
AppendRequest Request(std::vector<Event> events,
                      std::vector<StreamExpectation> expected = {});

struct CollectingSink : EventSink {
  Status Apply(const RecordedEvent& e) override;
  std::mutex mu;
  std::vector<RecordedEvent> events;
};

std::vector<RecordedEvent> ReadAll(const EventStore& store,
                                   Status* status = nullptr);

}  // namespace iam::eventstore::testing

#endif  // IAMLEDGER_TESTS_EVENTSTORE_STORE_FIXTURES_H_
