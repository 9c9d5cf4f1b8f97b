// eventstore/usage_store.h: coarse last-used times outside the log,
// persisted without sync, reloaded at start.
#include "eventstore/usage_store.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/event_store.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

constexpr Micros kMin = 60'000'000;
constexpr Micros kT0 = 1'800'000'000'000'000;
// The flusher stays out of the way: the tests flush by hand.
constexpr auto kNoAutoFlush = std::chrono::hours(1);

std::map<std::string, Micros> Records(const EventStore& store) {
  std::map<std::string, Micros> out;
  REQUIRE(store
              .ScanUsage([&](std::string_view id, Micros at) {
                out[std::string(id)] = at;
              })
              .ok());
  return out;
}

TEST_CASE("usage store: at most one record per token per 15 minutes") {
  RocksFixture fx;
  auto store = fx.Open();
  REQUIRE(store.ok());
  UsageStore usage(store->get(), kUsageInterval, kNoAutoFlush);
  // First use: visible after the flush that takes it in.
  usage.Touch("a", kT0);
  CHECK(usage.LastUsed("a") == 0);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.LastUsed("a") == kT0);
  CHECK(usage.records_written() == 1);
  // Many uses within the interval: no new record.
  for (int i = 1; i < 15; ++i) usage.Touch("a", kT0 + i * kMin - 1);
  usage.Touch("a", kT0 + 15 * kMin - 1);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.LastUsed("a") == kT0);
  CHECK(usage.records_written() == 1);
  // At 15 minutes: one more.
  usage.Touch("a", kT0 + 15 * kMin);
  usage.Touch("a", kT0 + 15 * kMin + 1);
  CHECK(usage.LastUsed("a") == kT0 + 15 * kMin);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.records_written() == 2);
  CHECK(Records(**store) ==
        std::map<std::string, Micros>{{"a", kT0 + 15 * kMin}});
  usage.Stop();
}

TEST_CASE("usage store: survives a restart, forgets deleted tokens") {
  RocksFixture fx;
  {
    auto store = fx.Open();
    REQUIRE(store.ok());
    UsageStore usage(store->get(), kUsageInterval, kNoAutoFlush);
    usage.Touch("a", kT0);
    usage.Touch("b", kT0 + 1);
    usage.Touch("c", kT0 + 2);
    usage.Stop();  // flushes
    usage.Forget("c");
    usage.Stop();  // a later Stop flushes again
    REQUIRE((*store)->Close().ok());
  }
  auto store = fx.Open();
  REQUIRE(store.ok());
  UsageStore usage(store->get(), kUsageInterval, kNoAutoFlush);
  REQUIRE(usage.load_status().ok());
  CHECK(usage.LastUsed("a") == kT0);
  CHECK(usage.LastUsed("b") == kT0 + 1);
  CHECK(usage.LastUsed("c") == 0);
  // The coarseness goes on from the reloaded times.
  usage.Touch("a", kT0 + kMin);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.records_written() == 0);
  usage.Stop();
}

TEST_CASE("usage store: the flusher writes on its own") {
  MemoryFixture fx;
  auto store = fx.Open();
  REQUIRE(store.ok());
  UsageStore usage(store->get(), kUsageInterval, std::chrono::milliseconds(10));
  usage.Touch("a", kT0);
  for (int i = 0; i < 500 && Records(**store).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(Records(**store) == std::map<std::string, Micros>{{"a", kT0}});
  usage.Stop();
}

TEST_CASE("usage store: concurrent touches record once") {
  MemoryFixture fx;
  auto store = fx.Open();
  REQUIRE(store.ok());
  UsageStore usage(store->get(), kUsageInterval, kNoAutoFlush);
  for (int i = 0; i < 100; ++i) usage.Touch("t" + std::to_string(i), kT0);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.records_written() == 100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        usage.Touch("t" + std::to_string(i % 100), kT0 + 20 * kMin + t);
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(usage.Flush().ok());
  CHECK(usage.records_written() == 200);  // one more per token, not more
  usage.Stop();
}

TEST_CASE(
    "usage store: a mark skips the table only while the record is recent") {
  RocksFixture fx;
  auto store = fx.Open();
  REQUIRE(store.ok());
  UsageStore usage(store->get(), kUsageInterval, kNoAutoFlush);
  usage.Reserve("a");
  uint32_t mark = 0;
  // First use: recorded and visible at once, the mark set to its seconds.
  const Micros t0 = kT0 + 400'000;  // not a whole second
  usage.Touch("a", t0, &mark);
  CHECK(usage.LastUsed("a") == t0);
  CHECK(mark == static_cast<uint32_t>(t0 / 1'000'000));
  // Within the interval the mark answers; nothing is recorded.
  usage.Touch("a", t0 + 15 * kMin - 1, &mark);
  CHECK(usage.LastUsed("a") == t0);
  // A mark rounded down only makes the table decide early: still one
  // record per interval.
  usage.Touch("a", kT0 + 15 * kMin, &mark);  // t0 + 15 min - 0.4 s
  CHECK(usage.LastUsed("a") == t0);
  usage.Touch("a", t0 + 15 * kMin, &mark);
  CHECK(usage.LastUsed("a") == t0 + 15 * kMin);
  CHECK(mark == static_cast<uint32_t>((t0 + 15 * kMin) / 1'000'000));
  REQUIRE(usage.Flush().ok());
  CHECK(usage.records_written() == 1);  // both uses in one flush: the later
  CHECK(Records(**store) ==
        std::map<std::string, Micros>{{"a", t0 + 15 * kMin}});
  // A fresh mark (a restart, a new index entry) learns from the table.
  uint32_t fresh = 0;
  usage.Touch("a", t0 + 16 * kMin, &fresh);
  CHECK(fresh == static_cast<uint32_t>((t0 + 15 * kMin) / 1'000'000));
  CHECK(usage.LastUsed("a") == t0 + 15 * kMin);
  // A token not reserved: queued by its first use (which marks it); a use
  // that finds it queued before knows no record and sets no mark.
  uint32_t b_mark = 0;
  usage.Touch("b", kT0, &b_mark);
  CHECK(b_mark == static_cast<uint32_t>(kT0 / 1'000'000));
  uint32_t other = 0;
  usage.Touch("b", kT0 + 1, &other);
  CHECK(other == 0);
  REQUIRE(usage.Flush().ok());
  CHECK(usage.LastUsed("b") == kT0);
  usage.Stop();
}

}  // namespace
}  // namespace iam::eventstore::testing
