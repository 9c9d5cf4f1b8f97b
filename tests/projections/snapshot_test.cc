// Snapshot + tail gives the same state as a full fold (DESIGN.md §4).
#include <doctest/doctest.h>

#include "core/defaults.h"
#include "eventstore/event_store.h"
#include "projections/projections.h"

namespace iam::projections {
namespace {

// Folds the factory defaults and a mixed workload through a memory store
// into `live`; returns the store.
std::unique_ptr<eventstore::EventStore> BuildLog(Projections* live) {
  eventstore::StoreOptions o;
  o.apply_sink = live;
  auto store = eventstore::NewMemoryEventStore(o);
  auto append = [&](std::vector<Event> events) {
    eventstore::AppendRequest r;
    r.meta = {"local:admin", "req", ""};
    r.events = std::move(events);
    auto result = store->Append(std::move(r));
    REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  };
  append(FactoryDefaultEvents("ledger-test"));
  append({ProjectCreated{"p1", "P1", PolicyType::kCustom}});
  for (int i = 0; i < 50; ++i) {
    std::string id = "tok-" + std::to_string(i);
    append({TokenCreated{id, "T", true, {"p1"}, "digest-" + id, "sealed"}});
    append({PolicyMembersAdded{"viewer-access", {"token:" + id}}});
    if (i % 3 == 0) append({TokenRenamed{id, "renamed"}});
    if (i % 5 == 0) {
      append({TokenDeleted{id},
              PolicyMembersRemoved{"viewer-access", {"token:" + id}}});
    }
    if (i % 7 == 0 && i % 5 != 0) append({TokenStatusToggled{id, false}});
  }
  return store;
}

TEST_CASE("snapshot: snapshot + tail equals a full fold") {
  Projections live;
  auto store = BuildLog(&live);
  const uint64_t last = store->LastSeq();
  REQUIRE(last > 100);

  // A snapshot taken half way through, then the tail folded on top.
  Projections half;
  REQUIRE(store->ReadFrom(1, &half, last / 2).ok());
  uint64_t snap_seq = 0;
  std::string snap = half.EncodeSnapshot(&snap_seq);
  CHECK(snap_seq == last / 2);

  Projections restored;
  REQUIRE(restored.LoadSnapshot(snap).ok());
  CHECK(restored.last_seq() == last / 2);
  REQUIRE(store->ReadFrom(restored.last_seq() + 1, &restored).ok());

  Projections full;
  REQUIRE(store->ReadFrom(1, &full).ok());

  auto encode = [](const Projections& p) {
    return p.Read([](const View& v) { return CanonicalEncoding(v.state); });
  };
  CHECK(encode(restored) == encode(full));
  CHECK(encode(full) == encode(live));
  // Indexes that are not in the canonical encoding match too.
  auto indexes = [](const Projections& p) {
    return p.Read([](const View& v) {
      return std::make_tuple(v.history, v.state.policies_by_member,
                             v.state.policies_by_wildcard_member,
                             v.tokens_by_digest.size());
    });
  };
  CHECK(indexes(restored) == indexes(full));
  // Deleted tokens' history survives the snapshot.
  bool has_history = restored.Read(
      [](const View& v) { return v.history.at("token/tok-0").size() >= 3; });
  CHECK(has_history);
  // Authentication works from a loaded snapshot, and not for deleted ones.
  restored.Read([](const View& v) {
    CHECK(v.ActiveTokenByDigest("digest-tok-1") != nullptr);
    CHECK(v.ActiveTokenByDigest("digest-tok-0") == nullptr);  // deleted
    CHECK(v.ActiveTokenByDigest("digest-tok-7") == nullptr);  // inactive
    return 0;
  });
}

TEST_CASE("snapshot: a snapshot in the store is found only while it matches") {
  Projections live;
  auto store = BuildLog(&live);
  uint64_t seq = 0;
  std::string bytes = live.EncodeSnapshot(&seq);
  REQUIRE(store->PutSnapshot(seq, bytes).ok());
  auto got = store->GetSnapshot();
  REQUIRE(got.ok());
  CHECK(got->seq == seq);
  CHECK(got->bytes == bytes);
  CHECK(store->PutSnapshot(seq + 100, bytes).code() != StatusCode::kOk);
}

TEST_CASE("snapshot: malformed bytes are refused and change nothing") {
  Projections live;
  auto store = BuildLog(&live);
  std::string good = live.EncodeSnapshot();
  Projections p;
  CHECK(p.LoadSnapshot("garbage").code() == StatusCode::kDataLoss);
  CHECK(p.LoadSnapshot(good.substr(0, good.size() - 3)).code() ==
        StatusCode::kDataLoss);
  std::string flipped = good;
  flipped[30] ^= 0x55;  // inside the state's length prefix or header
  CHECK_FALSE(p.LoadSnapshot(flipped + "x").ok());
  CHECK(p.last_seq() == 0);
  CHECK(p.LoadSnapshot(good).ok());
  CHECK(p.last_seq() == live.last_seq());
}

}  // namespace
}  // namespace iam::projections
