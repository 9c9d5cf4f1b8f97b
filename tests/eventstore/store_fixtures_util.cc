#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>

#include "eventstore/format.h"
#include "eventstore/rocks_util.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {

TempDir::TempDir() {
  std::string tmpl = "/tmp/iamledger-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  path = tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

// ---- RocksFixture -----------------------------------------------------------

StatusOr<std::unique_ptr<EventStore>> RocksFixture::Open(StoreOptions o) {
  return OpenRocksEventStore(data_dir(), std::move(o));
}

namespace {
template <typename F>
void WithRawDb(const std::string& dir, F f) {
  RocksDb db;
  REQUIRE(db.Open(dir, /*read_only=*/false).ok());
  f(db);
}
}  // namespace

void RocksFixture::Replace(uint64_t seq, const std::string& bytes) {
  WithRawDb(data_dir(), [&](RocksDb& db) {
    REQUIRE(db.db()
                ->Put(rocksdb::WriteOptions(), db.events(), EncodeSeqKey(seq),
                      bytes)
                .ok());
  });
}
void RocksFixture::Erase(uint64_t seq) {
  WithRawDb(data_dir(), [&](RocksDb& db) {
    REQUIRE(
        db.db()
            ->Delete(rocksdb::WriteOptions(), db.events(), EncodeSeqKey(seq))
            .ok());
  });
}
std::string RocksFixture::Get(uint64_t seq) {
  std::string out;
  WithRawDb(data_dir(), [&](RocksDb& db) {
    auto v = db.Get(db.events(), EncodeSeqKey(seq));
    REQUIRE(v.ok());
    out = *v;
  });
  return out;
}

// ---- MemoryFixture ----------------------------------------------------------

StatusOr<std::unique_ptr<EventStore>> MemoryFixture::Open(StoreOptions o) {
  return OpenMemoryEventStore(log, std::move(o));
}
void MemoryFixture::Replace(uint64_t seq, const std::string& bytes) {
  std::lock_guard<std::mutex> lock(log->mu);
  log->events[seq] = bytes;
}
void MemoryFixture::Erase(uint64_t seq) {
  std::lock_guard<std::mutex> lock(log->mu);
  log->events.erase(seq);
}
std::string MemoryFixture::Get(uint64_t seq) {
  std::lock_guard<std::mutex> lock(log->mu);
  return log->events.at(seq);
}

// ---- helpers ----------------------------------------------------------------

Event SomeEvent(int i) {
  TokenCreated e;
  e.id = "tok-" + std::to_string(i);
  e.name = "Token number " + std::to_string(i);
  e.projects = {"p1", "p2"};
  e.value_digest = std::string(32, static_cast<char>(i));
  e.sealed_value = std::string(60, 'x');
  return e;
}

AppendRequest Request(std::vector<Event> events,
                      std::vector<StreamExpectation> expected) {
  AppendRequest r;
  r.meta = {"token:admin", "req-1", "127.0.0.1"};
  r.events = std::move(events);
  r.expected = std::move(expected);
  return r;
}

Status CollectingSink::Apply(const RecordedEvent& e) {
  std::lock_guard<std::mutex> lock(mu);
  events.push_back(e);
  return OkStatus();
}

std::vector<RecordedEvent> ReadAll(const EventStore& store, Status* status) {
  CollectingSink sink;
  Status s = store.ReadFrom(1, &sink);
  if (status) *status = s;
  return sink.events;
}

}  // namespace iam::eventstore::testing
