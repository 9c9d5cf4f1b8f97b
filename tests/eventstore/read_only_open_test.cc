// A read-only open beside a running writer (how `iamledger replay verify`,
// `export` and `backup verify` read a live node's data directory) sees
// every write acknowledged before the open began, even when flushes delete
// WAL files during the open (eventstore/rocks_util.h).
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "eventstore/format.h"
#include "eventstore/rocks_util.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

// The highest seq in the events family, 0 when empty.
uint64_t LastSeqIn(const RocksDb& db) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.events()));
  it->SeekToLast();
  uint64_t seq = 0;
  if (it->Valid()) DecodeSeqKey(ToView(it->key()), &seq);
  return seq;
}

TEST_CASE(
    "rocks: a read-only open beside a writer that flushes (its WAL files "
    "deleted) sees every write made before the open") {
  TempDir tmp;
  const std::string dir = tmp.path + "/data";
  RocksDb primary;
  REQUIRE(primary.Open(dir, /*read_only=*/false).ok());

  // The writer: one event a millisecond, unsynced (a cluster node's
  // commits), and every family flushed after every 20 (what a data-key
  // delete triggers, at most every 200 ms on a server), so each WAL is
  // deleted soon after its last write.
  std::atomic<uint64_t> written{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    rocksdb::WriteOptions wo;
    for (uint64_t seq = 1; !stop.load(); ++seq) {
      if (!primary.db()
               ->Put(wo, primary.events(), EncodeSeqKey(seq), "event")
               .ok())
        return;
      written.store(seq);
      if (seq % 20 == 0) {
        primary.db()
            ->Flush(rocksdb::FlushOptions(),
                    {primary.events(), primary.keys(), primary.meta()})
            .PermitUncheckedError();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  // 400 opens, or as many as fit in 60 s (a sanitizer build's opens are
  // slower than the writer's flushes).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int opens = 0, behind = 0, failed = 0;
  for (; opens < 400 && std::chrono::steady_clock::now() < deadline; ++opens) {
    const uint64_t before = written.load();
    RocksDb reader;
    Status s = reader.Open(dir, /*read_only=*/true);
    if (!s.ok()) {
      ++failed;  // allowed: a clear error, never a silently short view
      if (failed == 1) MESSAGE(s.message());
      continue;
    }
    if (LastSeqIn(reader) < before) ++behind;
  }
  stop.store(true);
  writer.join();
  MESSAGE("opens ", opens, ", failed ", failed, ", written ", written.load());
  CHECK(written.load() > 50);  // the writer really ran beside the opens
  CHECK(opens >= 50);
  CHECK(behind == 0);
  CHECK(failed < opens / 2);
}

}  // namespace
}  // namespace iam::eventstore::testing
