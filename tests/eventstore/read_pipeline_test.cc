// ReadFrom over long ranges (the scan, verification and decoding then run on
// a reader thread while the caller's sink applies, eventstore/store_impl.cc):
// the same events in the same order as a short read, and the same first
// failure, whether the damage, the sink or the end comes first.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "eventstore/codec.h"
#include "eventstore/event_store.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

#define STORES RocksFixture, MemoryFixture

// Longer than the threshold of the reader thread (4096) and than its
// batches (4 x 256), with batch boundaries at 256 k + 1.
constexpr int kEvents = 6000;
constexpr uint64_t kMaxSeq = std::numeric_limits<uint64_t>::max();

template <typename Fx>
void Fill(Fx& fx) {
  auto store = fx.Open();
  REQUIRE(store.ok());
  for (int i = 1; i <= kEvents; i += 500) {
    std::vector<Event> events;
    for (int k = i; k < i + 500 && k <= kEvents; ++k) {
      events.push_back(SomeEvent(k));
    }
    REQUIRE((*store)->Append(Request(std::move(events))).ok());
  }
  REQUIRE((*store)->Close().ok());
}

// Counts what it is given, checks the order, and fails at `fail_at`.
struct CountingSink : EventSink {
  Status Apply(const RecordedEvent& e) override {
    if (e.seq == fail_at)
      return InternalError("sink stops at " + std::to_string(e.seq));
    if (e.seq != next) in_order = false;
    next = e.seq + 1;
    ++count;
    return OkStatus();
  }
  uint64_t fail_at = 0;
  uint64_t next = 0;
  uint64_t count = 0;
  bool in_order = true;
};

template <typename Fx>
Status Read(Fx& fx, uint64_t from, uint64_t to, CountingSink* sink) {
  auto store = fx.Open();
  REQUIRE(store.ok());
  sink->next = from;
  return (*store)->ReadFrom(from, sink, to);
}

TEST_CASE_TEMPLATE("read pipeline: long reads deliver every event in order", Fx,
                   STORES) {
  Fx fx;
  Fill(fx);
  CountingSink all;
  REQUIRE(Read(fx, 1, kMaxSeq, &all).ok());
  CHECK(all.count == kEvents);
  CHECK(all.in_order);
  CountingSink range;
  REQUIRE(Read(fx, 700, 5500, &range).ok());
  CHECK(range.count == 4801);
  CHECK(range.in_order);
  // The events themselves are those a short read decodes.
  auto store = fx.Open();
  REQUIRE(store.ok());
  CollectingSink longer, shorter;
  REQUIRE((*store)->ReadFrom(1, &longer, kMaxSeq).ok());
  REQUIRE((*store)->ReadFrom(4000, &shorter, 4100).ok());
  REQUIRE(longer.events.size() == kEvents);
  REQUIRE(shorter.events.size() == 101);
  for (size_t i = 0; i < shorter.events.size(); ++i) {
    CHECK(shorter.events[i] == longer.events[3999 + i]);
  }
}

TEST_CASE_TEMPLATE("read pipeline: the first failure in log order wins", Fx,
                   STORES) {
  Fx fx;
  Fill(fx);
  SUBCASE("the sink fails") {
    CountingSink sink;
    sink.fail_at = 3333;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(s.message() == "sink stops at 3333");
    CHECK(sink.count == 3332);
  }
  SUBCASE("a value is damaged, at a batch boundary") {
    std::string raw = fx.Get(1025);
    raw[raw.size() / 2] ^= 0x20;
    fx.Replace(1025, raw);
    CountingSink sink;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 1025:"));
    CHECK(sink.count == 1024);
    CHECK(sink.in_order);
  }
  SUBCASE("a value is changed: only its hash tells") {
    std::string raw = fx.Get(2600);
    const size_t pos = raw.find("Token number 2600");
    REQUIRE(pos != std::string::npos);
    raw[pos] = 't';
    fx.Replace(2600, raw);
    CountingSink sink;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message() == "seq 2600: hash mismatch (event content was changed)");
    CHECK(sink.count == 2599);
    CountingSink short_read;  // the same on the sequential path
    CHECK(Read(fx, 2590, 2610, &short_read).message() == s.message());
    CHECK(short_read.count == 10);
  }
  SUBCASE("a prev_hash is changed: its own hash is named, not the link") {
    auto before = DecodeRecordedEvent(3999, fx.Get(3999));
    REQUIRE(before.ok());
    std::string raw = fx.Get(4000);
    const size_t pos = raw.find(
        std::string(reinterpret_cast<const char*>(before->hash.data()), 32));
    REQUIRE(pos != std::string::npos);
    raw[pos] ^= 1;
    fx.Replace(4000, raw);
    CountingSink sink;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message() == "seq 4000: hash mismatch (event content was changed)");
    CHECK(sink.count == 3999);
    CountingSink short_read;  // the same on the sequential path
    CHECK(Read(fx, 3990, 4010, &short_read).message() == s.message());
    CHECK(short_read.count == 10);
  }
  SUBCASE("an event is missing") {
    fx.Erase(5000);
    CountingSink sink;
    Status s = Read(fx, 2, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message() ==
          "seq 5000: missing (the next stored event is seq 5001)");
    CHECK(sink.count == 4998);
  }
  SUBCASE("events are swapped") {
    std::string a = fx.Get(4500), b = fx.Get(4501);
    fx.Replace(4500, b);
    fx.Replace(4501, a);
    CountingSink sink;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().starts_with("seq 4500:"));
    CHECK(sink.count == 4499);
  }
  SUBCASE("the sink fails before the damage") {
    fx.Erase(5000);
    CountingSink sink;
    sink.fail_at = 4000;
    Status s = Read(fx, 1, kMaxSeq, &sink);
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(sink.count == 3999);
  }
}

}  // namespace
}  // namespace iam::eventstore::testing
