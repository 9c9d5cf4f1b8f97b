// Ledger::WriteSnapshot folds a private state (the newest snapshot plus the
// log after it) instead of reading the live projections: what it records must
// be exactly the live state at the seq it names, from no snapshot, from an
// older one, past one that no longer loads, and while writers go on.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/api/service_fixture.h"

namespace iam::api {
namespace {

constexpr char kTokens[] = "/apis/iam/v2/tokens";

// What a snapshot describes, comparable: the canonical state and the stream
// histories in stream order (the snapshot's bytes list the streams in hash
// table order, which depends on how the table grew).
std::string Described(const projections::Projections& p) {
  return p.Read([](const projections::View& v) {
    std::string out = CanonicalEncoding(v.state);
    std::map<std::string, std::vector<uint64_t>> sorted(v.history.begin(),
                                                        v.history.end());
    for (const auto& [stream, seqs] : sorted) {
      out += "\n" + stream;
      for (uint64_t seq : seqs) out += " " + std::to_string(seq);
    }
    return out;
  });
}

struct SnapshotFixture : testing::ServiceFixture {
  SnapshotFixture() { Open(); }
  void CreateTokens(const std::string& prefix, int n) {
    for (int i = 0; i < n; ++i) {
      std::string id = prefix + std::to_string(i);
      REQUIRE(Call("POST", kTokens, R"({"id":")" + id + R"(","name":"t"})")
                  .status == 200);
    }
  }
  // The recorded snapshot, loaded into a fresh Projections and encoded
  // again; *seq receives the seq it describes.
  std::string Recorded(uint64_t* seq) {
    auto snap = ledger->store()->GetSnapshot();
    REQUIRE_MESSAGE(snap.ok(), snap.status().ToString());
    projections::Projections loaded;
    REQUIRE(loaded.LoadSnapshot(snap->bytes).ok());
    REQUIRE(loaded.last_seq() == snap->seq);
    *seq = snap->seq;
    return Described(loaded);
  }
  // The state after `seq`, folded from the log alone.
  std::string FoldedTo(uint64_t seq) {
    projections::Projections fold;
    REQUIRE(ledger->store()->ReadFrom(1, &fold, seq).ok());
    REQUIRE(fold.last_seq() == seq);
    return Described(fold);
  }
};

TEST_CASE("ledger snapshot: the private fold equals the live state") {
  SnapshotFixture f;
  f.CreateTokens("a-", 20);
  REQUIRE(f.ledger->WriteSnapshot().ok());  // no snapshot before: from seq 1
  uint64_t seq = 0;
  CHECK(f.Recorded(&seq) == Described(*f.ledger->projections()));
  CHECK(seq == f.ledger->store()->LastSeq());

  // From the older snapshot plus the events after it, deletes included.
  f.CreateTokens("b-", 10);
  REQUIRE(f.Call("DELETE", std::string(kTokens) + "/a-3").status == 200);
  REQUIRE(f.ledger->WriteSnapshot().ok());
  uint64_t seq2 = 0;
  CHECK(f.Recorded(&seq2) == Described(*f.ledger->projections()));
  CHECK(seq2 > seq);
  CHECK(f.Recorded(&seq2) == f.FoldedTo(seq2));
}

TEST_CASE("ledger snapshot: a snapshot that does not load is folded past") {
  SnapshotFixture f;
  f.CreateTokens("c-", 5);
  const uint64_t at = f.ledger->store()->LastSeq();
  // Matches the chain at `at` (so GetSnapshot returns it) but is garbage.
  REQUIRE(f.ledger->store()->PutSnapshot(at, "not a snapshot").ok());
  f.CreateTokens("d-", 5);
  REQUIRE(f.ledger->WriteSnapshot().ok());
  uint64_t seq = 0;
  CHECK(f.Recorded(&seq) == Described(*f.ledger->projections()));
  CHECK(seq == f.ledger->store()->LastSeq());
}

TEST_CASE("ledger snapshot: written while writers go on, it names its seq") {
  SnapshotFixture f;
  f.CreateTokens("e-", 10);
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&f, &stop, w] {
      for (int i = 0; !stop; ++i) {
        std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        f.Call("POST", kTokens, R"({"id":")" + id + R"(","name":"t"})");
      }
    });
  }
  for (int round = 0; round < 5; ++round) {
    REQUIRE(f.ledger->WriteSnapshot().ok());
    uint64_t seq = 0;
    std::string recorded = f.Recorded(&seq);
    CHECK(seq <= f.ledger->store()->LastSeq());
    CHECK(recorded == f.FoldedTo(seq));
  }
  stop = true;
  for (auto& t : writers) t.join();
}

}  // namespace
}  // namespace iam::api
