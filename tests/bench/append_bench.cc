// append_bench: durable appends per second of the event store with 1, 8 and
// 64 concurrent appenders of ~200-byte events, next to raw RocksDB Put with
// sync=true at the same thread counts, in the same run and on the same disk.
//
//   append_bench [--dir DIR] [--seconds S] [--only nosync]
//
// Prints `BENCH <name> <value> <unit>` and `RATIO append_vs_raw_rocksdb_<T>`.
// Each figure is the mean of three alternating rounds (raw, store, raw, ...).
// Goals (issue 13): ratio >= 0.95 with one appender, and at 8 and 64 no
// lower than 1.0.
#include <rocksdb/db.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/event_store.h"
#include "eventstore/format.h"
#include "eventstore/rocks_util.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace es = iam::eventstore;

// Runs `threads` workers calling op(thread, i) until `seconds` pass; returns
// operations per second.
template <typename Op>
double RunFor(int threads, double seconds, Op op) {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> workers;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        op(t, n++);
      }
      done += n;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return static_cast<double>(done.load()) / elapsed;
}

// ~200 bytes once encoded: a TokenCreated with a digest, a sealed value and
// two projects.
iam::Event MakeEvent(int t, uint64_t i) {
  iam::TokenCreated e;
  e.id = "t" + std::to_string(t) + "-" + std::to_string(i);
  e.name = "bench token";
  e.projects = {"p1", "p2"};
  e.value_digest = std::string(32, 'd');
  e.sealed_value = std::string(40, 's');
  return e;
}

double RawRocks(const std::string& dir, int threads, double seconds,
                bool sync = true) {
  es::RocksDb db;
  if (!db.Open(dir, false).ok()) {
    std::fprintf(stderr, "cannot open %s\n", dir.c_str());
    std::exit(1);
  }
  std::atomic<uint64_t> seq{0};
  std::string value(200, 'v');
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  return RunFor(threads, seconds, [&](int, uint64_t) {
    std::string key = es::EncodeSeqKey(++seq);
    if (!db.db()->Put(wo, db.events(), key, value).ok()) std::abort();
  });
}

double Store(const std::string& dir, int threads, double seconds,
             es::StoreStats* stats, bool sync = true) {
  es::StoreOptions options;
  options.sync_writes = sync;
  auto store = es::OpenRocksEventStore(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  double rate = RunFor(threads, seconds, [&](int t, uint64_t i) {
    es::AppendRequest req;
    req.meta = {"token:bench", "req", "127.0.0.1"};
    req.events.push_back(MakeEvent(t, i));
    if (!(*store)->Append(std::move(req)).ok()) std::abort();
  });
  *stats = (*store)->Stats();
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = "/tmp/iamledger-append-bench";
  double seconds = 3;
  std::string only;  // "nosync": the diagnostic alone (for callgrind)
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) base = argv[i + 1];
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  for (int threads : {1, 8, 64}) {
    if (only == "nosync") break;
    std::string raw_dir = base + "/raw-" + std::to_string(threads);
    std::string store_dir = base + "/store-" + std::to_string(threads);
    std::filesystem::remove_all(raw_dir);
    std::filesystem::remove_all(store_dir);
    std::filesystem::remove(es::CheckpointFileFor(store_dir));
    std::filesystem::create_directories(base);
    // Alternate in short rounds so that drift in the disk and the load of
    // the machine affects both alike; rates are means over the rounds.
    constexpr int kRounds = 3;
    double raw = 0, store = 0;
    es::StoreStats stats;
    for (int round = 0; round < kRounds; ++round) {
      raw += RawRocks(raw_dir, threads, seconds / kRounds) / kRounds;
      store += Store(store_dir, threads, seconds / kRounds, &stats) / kRounds;
    }
    std::printf("BENCH raw_rocksdb_put_sync_%d %.0f ops/s\n", threads, raw);
    std::printf("BENCH store_append_%d %.0f appends/s\n", threads, store);
    std::printf("BENCH store_events_per_sync_%d %.2f events/sync\n", threads,
                stats.groups ? double(stats.events) / stats.groups : 0.0);
    std::printf("RATIO append_vs_raw_rocksdb_%d %.2f\n", threads, store / raw);
    std::fflush(stdout);
    std::filesystem::remove_all(raw_dir);
    std::filesystem::remove_all(store_dir);
    std::filesystem::remove(es::CheckpointFileFor(store_dir));
  }
  // Diagnostic: the store's own cost per append with the sync taken away
  // (one appender; both sides unsynced), in microseconds.
  {
    std::string raw_dir = base + "/raw-nosync",
                store_dir = base + "/store-nosync";
    for (const auto& d : {raw_dir, store_dir}) std::filesystem::remove_all(d);
    std::filesystem::remove(es::CheckpointFileFor(store_dir));
    es::StoreStats stats;
    const double raw = RawRocks(raw_dir, 1, seconds / 3, /*sync=*/false);
    const double store = Store(store_dir, 1, seconds / 3, &stats, false);
    std::printf("BENCH raw_rocksdb_put_nosync_1 %.0f ops/s\n", raw);
    std::printf("BENCH store_append_nosync_1 %.0f appends/s\n", store);
    std::printf("BENCH store_extra_per_append_1 %.1f us\n",
                1e6 / store - 1e6 / raw);
    for (const auto& d : {raw_dir, store_dir}) std::filesystem::remove_all(d);
    std::filesystem::remove(es::CheckpointFileFor(store_dir));
  }
  return 0;
}
