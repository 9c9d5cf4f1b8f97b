// The store suite: every case runs against the RocksDB store and its
// in-memory twin (TEST_CASE_TEMPLATE over the two fixtures).
#include "eventstore/event_store.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>

#include "eventstore/codec.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

#define STORES RocksFixture, MemoryFixture

std::unique_ptr<EventStore> MustOpen(auto& fx, StoreOptions o = {}) {
  auto store = fx.Open(std::move(o));
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(store).value();
}

TEST_CASE_TEMPLATE("store: append and read back", Fx, STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  auto r1 = store->Append(Request({SomeEvent(1)}));
  REQUIRE(r1.ok());
  CHECK(r1->first_seq == 1);
  CHECK(r1->last_seq == 1);
  auto r2 =
      store->Append(Request({TokenRenamed{"tok-1", "renamed"}, SomeEvent(2)}));
  REQUIRE(r2.ok());
  CHECK(r2->first_seq == 2);
  CHECK(r2->last_seq == 3);
  CHECK(store->LastSeq() == 3);
  CHECK(store->StreamVersion("token/tok-1") == 2);
  CHECK(store->StreamVersion("token/tok-2") == 1);
  CHECK(store->StreamVersion("token/none") == 0);

  Status s;
  auto events = ReadAll(*store, &s);
  REQUIRE(s.ok());
  REQUIRE(events.size() == 3);
  CHECK(events[0].event == SomeEvent(1));
  CHECK(events[1].event == Event(TokenRenamed{"tok-1", "renamed"}));
  CHECK(events[2].event == SomeEvent(2));
  for (size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == i + 1);
    CHECK(events[i].meta.actor == "token:admin");
    CHECK(events[i].meta.source == "127.0.0.1");
    CHECK(events[i].recorded_at > 0);
    CHECK(events[i].hash != Hash{});
  }
  CHECK(events[0].prev_hash == Hash{});
  CHECK(events[1].prev_hash == events[0].hash);
  CHECK(events[2].prev_hash == events[1].hash);
  CHECK(events[1].stream == "token/tok-1");
  CHECK(events[1].stream_version == 2);

  CollectingSink tail;
  REQUIRE(store->ReadFrom(2, &tail, 2).ok());
  REQUIRE(tail.events.size() == 1);
  CHECK(tail.events[0].seq == 2);
}

TEST_CASE_TEMPLATE("store: an empty append is refused", Fx, STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  auto r = store->Append(Request({}));
  CHECK(r.status().code() == StatusCode::kInvalidArgument);
  CHECK(store->LastSeq() == 0);
}

TEST_CASE_TEMPLATE("store: reopen continues the chain", Fx, STORES) {
  Fx fx;
  Hash head;
  {
    auto store = MustOpen(fx);
    for (int i = 0; i < 5; ++i)
      REQUIRE(store->Append(Request({SomeEvent(i)})).ok());
    REQUIRE(store->Close().ok());
    head = ReadAll(*store).back().hash;
  }
  auto store = MustOpen(fx);
  CHECK(store->LastSeq() == 5);
  CHECK(store->StreamVersion("token/tok-3") == 1);
  CHECK(store->LastCheckpoint().seq == 5);  // written at close
  auto r =
      store->Append(Request({TokenDeleted{"tok-3"}}, {{"token/tok-3", 1}}));
  REQUIRE(r.ok());
  CHECK(r->first_seq == 6);
  Status s;
  auto events = ReadAll(*store, &s);
  REQUIRE(s.ok());
  REQUIRE(events.size() == 6);
  CHECK(events[5].prev_hash == head);
  CHECK(events[5].stream_version == 2);
}

TEST_CASE_TEMPLATE("store: expected version conflicts are Aborted", Fx,
                   STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  REQUIRE(store->Append(Request({SomeEvent(1)}, {{"token/tok-1", kNoStream}}))
              .ok());
  auto again =
      store->Append(Request({SomeEvent(1)}, {{"token/tok-1", kNoStream}}));
  CHECK(again.status().code() == StatusCode::kAborted);
  auto stale = store->Append(
      Request({TokenRenamed{"tok-1", "x"}}, {{"token/tok-1", 7}}));
  CHECK(stale.status().code() == StatusCode::kAborted);
  // A failed expectation anywhere rejects the whole request.
  auto mixed = store->Append(
      Request({SomeEvent(2), SomeEvent(3)},
              {{"token/tok-2", kNoStream}, {"token/tok-1", kNoStream}}));
  CHECK(mixed.status().code() == StatusCode::kAborted);
  CHECK(store->LastSeq() == 1);
  CHECK(store->StreamVersion("token/tok-2") == 0);
  auto ok = store->Append(
      Request({TokenRenamed{"tok-1", "x"}}, {{"token/tok-1", 1}}));
  CHECK(ok.ok());
  CHECK(store->StreamVersion("token/tok-1") == 2);
}

TEST_CASE_TEMPLATE(
    "store: 8 concurrent appenders get gapless seqs and share syncs", Fx,
    STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  constexpr int kThreads = 8, kPerThread = 60;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * 1000 + i;
        if (!store
                 ->Append(
                     Request({SomeEvent(n)},
                             {{"token/tok-" + std::to_string(n), kNoStream}}))
                 .ok())
          failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  Status s;
  auto events = ReadAll(*store, &s);
  REQUIRE(s.ok());
  REQUIRE(events.size() == kThreads * kPerThread);
  for (size_t i = 0; i < events.size(); ++i) CHECK(events[i].seq == i + 1);
  StoreStats stats = store->Stats();
  CHECK(stats.appends == kThreads * kPerThread);
  MESSAGE("groups=" << stats.groups << " syncs=" << stats.syncs
                    << " appends=" << stats.appends);
  CHECK(stats.groups < stats.appends);  // group commit happened
  CHECK(stats.syncs > 0);
  CHECK(stats.syncs <
        stats.appends);  // counted by the engine (WAL_FILE_SYNCED)
}

TEST_CASE_TEMPLATE(
    "store: the apply sink sees each event before the append "
    "completes",
    Fx, STORES) {
  Fx fx;
  CollectingSink sink;
  StoreOptions o;
  o.apply_sink = &sink;
  auto store = MustOpen(fx, o);
  auto r = store->Append(Request({SomeEvent(1), SomeEvent(2)}));
  REQUIRE(r.ok());
  std::lock_guard<std::mutex> lock(sink.mu);
  REQUIRE(sink.events.size() == 2);
  CHECK(sink.events[1].seq == 2);
}

TEST_CASE(
    "store: a lone appender commits on its own thread again after "
    "company") {
  // Once appends overlapped (here an AppendAsync, then an Append while it
  // commits), the writer thread groups the next kBusyGroups groups; after
  // that, an appender alone commits inline again. The writer used to tell
  // its appenders before clearing `committing_`, so a lone appender found
  // the store still committing every time, re-armed the busy count and
  // never came back (two context switches per append).
  RocksFixture fx;
  struct ThreadSink : EventSink {
    std::mutex mu;
    std::vector<std::thread::id> threads;
    Status Apply(const RecordedEvent&) override {
      std::lock_guard<std::mutex> lock(mu);
      threads.push_back(std::this_thread::get_id());
      return OkStatus();
    }
  } sink;
  StoreOptions o;
  o.apply_sink = &sink;
  auto store = MustOpen(fx, o);
  std::promise<void> first;
  store->AppendAsync(Request({SomeEvent(1)}),
                     [&](StatusOr<AppendResult>) { first.set_value(); });
  REQUIRE(store->Append(Request({SomeEvent(2)})).ok());
  first.get_future().wait();
  constexpr int kAppends = 800;  // kBusyGroups (256) and as many again
  for (int i = 0; i < kAppends; ++i) {
    REQUIRE(store->Append(Request({SomeEvent(3 + i)})).ok());
  }
  std::lock_guard<std::mutex> lock(sink.mu);
  REQUIRE(sink.threads.size() == kAppends + 2);
  const auto me = std::this_thread::get_id();
  const auto inline_commits =
      std::count(sink.threads.end() - 300, sink.threads.end(), me);
  CHECK(inline_commits == 300);  // the last 300 all committed inline
}

TEST_CASE_TEMPLATE(
    "store: a value rewritten behind the store's back is "
    "caught at its seq",
    Fx, STORES) {
  Fx fx;
  {
    auto store = MustOpen(fx);
    for (int i = 1; i <= 8; ++i)
      REQUIRE(store->Append(Request({SomeEvent(i)})).ok());
    REQUIRE(store->Close().ok());
  }
  // Re-encode seq 5 with other content but its old hash fields: a valid
  // FlatBuffer and valid engine checksums, only our hash can tell.
  auto original = DecodeRecordedEvent(5, fx.Get(5));
  REQUIRE(original.ok());
  RecordedEvent forged = *original;
  std::get<TokenCreated>(forged.event).name = "forged";
  Hash keep = forged.hash;
  std::string bytes = EncodeRecordedEvent(&forged);
  (void)keep;
  SUBCASE("content changed, hash recomputed for itself only") {
    fx.Replace(5, bytes);
    auto store = MustOpen(fx);  // tail and checkpoint are intact
    Status s;
    ReadAll(*store, &s);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 6:"));  // its link breaks
  }
  SUBCASE("stored bytes flipped in place") {
    std::string raw = fx.Get(5);
    size_t pos = raw.find("Token number 5");
    REQUIRE(pos != std::string::npos);
    raw[pos] = 't';
    fx.Replace(5, raw);
    auto store = MustOpen(fx);
    Status s;
    auto events = ReadAll(*store, &s);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 5:"));
    CHECK(s.message().find("hash mismatch") != std::string::npos);
    CHECK(events.size() == 4);  // delivered up to the damage, not past it
  }
}

TEST_CASE_TEMPLATE("store: a deleted or swapped event is caught", Fx, STORES) {
  Fx fx;
  {
    auto store = MustOpen(fx);
    for (int i = 1; i <= 8; ++i)
      REQUIRE(store->Append(Request({SomeEvent(i)})).ok());
    REQUIRE(store->Close().ok());
  }
  SUBCASE("deleted") {
    fx.Erase(4);
    auto store = MustOpen(fx);
    Status s;
    ReadAll(*store, &s);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 4: missing"));
  }
  SUBCASE("swapped") {
    std::string a = fx.Get(4), b = fx.Get(5);
    fx.Replace(4, b);
    fx.Replace(5, a);
    auto store = MustOpen(fx);
    Status s;
    ReadAll(*store, &s);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 4:"));
  }
  SUBCASE("garbage value") {
    fx.Replace(6, "not a flatbuffer at all");
    auto store = MustOpen(fx);
    Status s;
    ReadAll(*store, &s);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 6:"));
  }
}

TEST_CASE_TEMPLATE(
    "store: checkpoints every N events and at close, "
    "authenticated",
    Fx, STORES) {
  Fx fx;
  StoreOptions o;
  o.checkpoint_interval = 10;
  o.checkpoint_key = std::string(32, 'k');
  {
    auto store = MustOpen(fx, o);
    for (int i = 1; i <= 25; ++i)
      REQUIRE(store->Append(Request({SomeEvent(i)})).ok());
    // Written off the commit path (the checkpointer thread), of the head as
    // it is then: seq 20 made one due, so one lands at 20..25 without a
    // close; two at most (seqs 10 and 20 made them due).
    for (int i = 0; i < 500 && store->LastCheckpoint().seq < 20; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(store->LastCheckpoint().seq >= 20);
    CHECK(store->Stats().checkpoints >= 1);
    CHECK(store->Stats().checkpoints <= 2);
    REQUIRE(store->Close().ok());
    CHECK(store->LastCheckpoint().seq == 25);
  }
  SUBCASE("wrong key is refused") {
    StoreOptions wrong = o;
    wrong.checkpoint_key = std::string(32, 'w');
    auto store = fx.Open(wrong);
    CHECK(store.status().code() == StatusCode::kDataLoss);
  }
  SUBCASE("log cut below the last checkpoint is refused") {
    for (uint64_t seq = 21; seq <= 25; ++seq) fx.Erase(seq);
    auto store = fx.Open(o);
    REQUIRE(store.status().code() == StatusCode::kDataLoss);
    CHECK(store.status().message().find("replay verify") != std::string::npos);
  }
  SUBCASE("reopens with the right key") {
    auto store = fx.Open(o);
    CHECK(store.ok());
  }
}

TEST_CASE_TEMPLATE("store: a failed write is sticky", Fx, MemoryFixture) {
  Fx fx;
  auto store = MustOpen(fx);
  REQUIRE(store->Append(Request({SomeEvent(1)})).ok());
  fx.log->fail_commits = true;
  auto failed = store->Append(Request({SomeEvent(2)}));
  CHECK(failed.status().code() == StatusCode::kUnavailable);
  fx.log->fail_commits = false;
  auto after = store->Append(Request({SomeEvent(3)}));
  CHECK(after.status().code() == StatusCode::kUnavailable);
  CHECK(store->LastSeq() == 1);
  CHECK_FALSE(store->WriteError().ok());
  Status s;
  CHECK(ReadAll(*store, &s).size() == 1);  // reads still served
  CHECK(s.ok());
}

TEST_CASE_TEMPLATE("store: WaitForEvents wakes on a new event", Fx, STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  auto start = std::chrono::steady_clock::now();
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(store->Append(Request({SomeEvent(1)})).ok());
  });
  uint64_t last = store->WaitForEvents(0, std::chrono::seconds(10));
  auto waited = std::chrono::steady_clock::now() - start;
  writer.join();
  CHECK(last == 1);
  CHECK(waited < std::chrono::seconds(5));
  // Nothing new: returns after the timeout with the same seq.
  CHECK(store->WaitForEvents(1, std::chrono::milliseconds(20)) == 1);
}

TEST_CASE_TEMPLATE("store: key side writes are atomic with their events", Fx,
                   STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  auto req = Request({SomeEvent(1)});
  req.key_puts = {{"token/tok-1", "wrapped-key"}};
  REQUIRE(store->Append(req).ok());
  auto key = store->GetKey("token/tok-1");
  REQUIRE(key.ok());
  CHECK(*key == "wrapped-key");
  auto del = Request({TokenDeleted{"tok-1"}});
  del.key_deletes = {"token/tok-1"};
  REQUIRE(store->Append(del).ok());
  CHECK(store->GetKey("token/tok-1").status().code() == StatusCode::kNotFound);
  // A rejected append writes no keys.
  auto rejected = Request({SomeEvent(2)}, {{"token/tok-2", 5}});
  rejected.key_puts = {{"token/tok-2", "k2"}};
  CHECK_FALSE(store->Append(rejected).ok());
  CHECK(store->GetKey("token/tok-2").status().code() == StatusCode::kNotFound);
}

// A group commit holds the key writes of many requests; the log's order
// decides a key that one request deletes and a later one puts back (a
// token deleted and created again under the same id) and the other way
// round. Pairs race on one key each while other writers keep the writer
// busy, so that many pairs share a group.
TEST_CASE_TEMPLATE("store: key writes in one group keep the log's order", Fx,
                   STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  std::atomic<bool> stop{false};
  std::atomic<int> load_failures{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      while (!stop) {
        auto r = Request({TokenRenamed{"load-" + std::to_string(t), "x"}});
        if (!store->Append(r).ok()) ++load_failures;
      }
    });
  }
  // Joined however the case ends (a failed REQUIRE throws).
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads) t.join();
    }
  } joiner{stop, load};
  constexpr int kPairs = 300;
  int put_last = 0, delete_last = 0;
  for (int i = 0; i < kPairs; ++i) {
    const std::string key = "token/pair-" + std::to_string(i);
    if (i % 2 == 1) {  // deletes need something to delete half the time
      auto seed = Request({TokenRenamed{"pair-" + std::to_string(i), "s"}});
      seed.key_puts = {{key, "old"}};
      REQUIRE(store->Append(seed).ok());
    }
    std::atomic<int> ready{0};
    StatusOr<AppendResult> put_result = AppendResult{},
                           delete_result = AppendResult{};
    auto race = [&](bool put) {
      auto r = Request({TokenRenamed{"pair-" + std::to_string(i), "r"}});
      if (put) {
        r.key_puts = {{key, "new"}};
      } else {
        r.key_deletes = {key};
      }
      ready++;
      while (ready < 2) {
      }
      (put ? put_result : delete_result) = store->Append(r);
    };
    std::thread a(race, true), b(race, false);
    a.join();
    b.join();
    REQUIRE(put_result.ok());
    REQUIRE(delete_result.ok());
    auto got = store->GetKey(key);
    if (put_result->first_seq > delete_result->first_seq) {
      ++put_last;
      REQUIRE_MESSAGE(got.ok(), "pair " << i << ": the put at seq "
                                        << put_result->first_seq
                                        << " came after the delete");
      CHECK(*got == "new");
    } else {
      ++delete_last;
      CHECK_MESSAGE(got.status().code() == StatusCode::kNotFound,
                    "pair " << i << ": the delete came last");
    }
  }
  CHECK(load_failures == 0);
  // Both orders happened, and requests did share groups.
  CHECK(put_last > 0);
  CHECK(delete_last > 0);
  const StoreStats stats = store->Stats();
  CHECK(stats.groups < stats.appends);
}

// Snapshots of megabytes (LogBackend::PutLargeMeta): the newer replaces the
// older, commits go on between them, both survive a reopen, and the RocksDB
// store leaves no file of its own behind in the data directory.
TEST_CASE_TEMPLATE("store: large snapshots replace each other and persist", Fx,
                   STORES) {
  Fx fx;
  const std::string first(6 << 20, 'a');
  std::string second(5 << 20, 'b');
  second[12345] = 'c';
  {
    auto store = MustOpen(fx);
    REQUIRE(store->Append(Request({SomeEvent(1)})).ok());
    REQUIRE(store->PutSnapshot(1, first).ok());
    auto got = store->GetSnapshot();
    REQUIRE(got.ok());
    CHECK(got->seq == 1);
    CHECK(got->bytes == first);
    REQUIRE(store->Append(Request({SomeEvent(2)})).ok());
    REQUIRE(store->PutSnapshot(2, second).ok());
    REQUIRE(store->Append(Request({SomeEvent(3)})).ok());
    REQUIRE(store->Close().ok());
  }
  auto store = MustOpen(fx);
  auto got = store->GetSnapshot();
  REQUIRE(got.ok());
  CHECK(got->seq == 2);
  CHECK(got->bytes == second);
  CHECK(store->LastSeq() == 3);
  if constexpr (Fx::kHasFiles) {
    for (const auto& entry :
         std::filesystem::directory_iterator(fx.data_dir())) {
      CHECK_MESSAGE(
          entry.path().filename().string().find("tmp") == std::string::npos,
          entry.path());
    }
  }
}

TEST_CASE_TEMPLATE("store: appends after Close fail", Fx, STORES) {
  Fx fx;
  auto store = MustOpen(fx);
  REQUIRE(store->Close().ok());
  CHECK(store->Append(Request({SomeEvent(1)})).status().code() ==
        StatusCode::kUnavailable);
  CHECK(store->Close().ok());  // idempotent
}

}  // namespace
}  // namespace iam::eventstore::testing
