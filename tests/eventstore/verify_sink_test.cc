// VerifyLog's sink (the fold of `replay verify` and `rebuild`): it gets the
// checked events in order, in batches (eventstore/verify.cc checks a batch
// first, then hands the checked prefix over), and never one past the first
// failure or past to_time, wherever in a batch that falls.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/clock.h"
#include "eventstore/event_store.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

constexpr int kEvents = 3000;  // several of the verifier's batches
constexpr Micros kStart = 1'700'000'000'000'000;

// A log of kEvents events, event k recorded at kStart + k seconds.
void FillTimed(RocksFixture& fx) {
  FakeClock clock(kStart);
  StoreOptions o;
  o.clock = &clock;
  auto store = fx.Open(o);
  REQUIRE(store.ok());
  for (int k = 1; k <= kEvents; ++k) {
    clock.Set(kStart + Micros{k} * 1'000'000);
    std::vector<Event> events;
    events.push_back(SomeEvent(k));
    REQUIRE((*store)->Append(Request(std::move(events))).ok());
  }
  REQUIRE((*store)->Close().ok());
}

// Records the seqs it is given (one Apply or ApplyBatch call at a time)
// and fails at `fail_at`.
struct RecordingSink : EventSink {
  Status Apply(const RecordedEvent& e) override {
    if (e.seq == fail_at)
      return InternalError("sink refuses " + std::to_string(e.seq));
    seqs.push_back(e.seq);
    return OkStatus();
  }
  uint64_t fail_at = 0;
  std::vector<uint64_t> seqs;
};

bool Consecutive(const std::vector<uint64_t>& seqs, uint64_t first,
                 uint64_t last) {
  if (seqs.size() != last - first + 1) return false;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i] != first + i) return false;
  }
  return true;
}

TEST_CASE(
    "verify: the sink gets every event up to to_time, wherever in a batch "
    "it falls, and the report ends there") {
  RocksFixture fx;
  FillTimed(fx);
  for (uint64_t stop : {uint64_t{1}, uint64_t{1023}, uint64_t{1500},
                        uint64_t{2049}, uint64_t{kEvents}}) {
    CAPTURE(stop);
    RecordingSink sink;
    VerifyOptions o;
    o.sink = &sink;
    o.verify_checksums = false;
    // Event k is recorded at kStart + k s: half a second after `stop`.
    o.to_time = kStart + Micros(stop) * 1'000'000 + 500'000;
    auto report = VerifyLog(fx.data_dir(), o);
    REQUIRE_MESSAGE(report.ok(), report.status().message());
    CHECK(Consecutive(sink.seqs, 1, stop));
    CHECK(report->events == stop);
    CHECK(report->last_seq == stop);
    CHECK(report->first_seq == 1);
    CHECK(report->last_recorded_at == kStart + Micros(stop) * 1'000'000);
  }
}

TEST_CASE(
    "verify: a sink's failure stops the run with its own error; the sink "
    "had every event before it") {
  RocksFixture fx;
  FillTimed(fx);
  for (uint64_t fail_at :
       {uint64_t{1}, uint64_t{700}, uint64_t{2048}, uint64_t{kEvents}}) {
    CAPTURE(fail_at);
    RecordingSink sink;
    sink.fail_at = fail_at;
    VerifyOptions o;
    o.sink = &sink;
    auto report = VerifyLog(fx.data_dir(), o);
    REQUIRE(!report.ok());
    CHECK(report.status().message() ==
          "sink refuses " + std::to_string(fail_at));
    CHECK(Consecutive(sink.seqs, 1, fail_at - 1));
  }
  // And with nothing refused, everything, once, in order.
  RecordingSink sink;
  VerifyOptions o;
  o.sink = &sink;
  auto report = VerifyLog(fx.data_dir(), o);
  REQUIRE_MESSAGE(report.ok(), report.status().message());
  CHECK(Consecutive(sink.seqs, 1, kEvents));
  CHECK(report->events == uint64_t{kEvents});
  CHECK(report->whole_log);
}

}  // namespace
}  // namespace iam::eventstore::testing
