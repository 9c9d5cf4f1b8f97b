// projections/point_in_time.h: the state at every seq equals the fold from
// the first event (secrets and stream versions aside), however the
// snapshots fall; the subject-restricted state answers checks exactly as
// the whole one; snapshots stay bounded; times map to seqs.
#include "projections/point_in_time.h"

#include <doctest/doctest.h>

#include <atomic>
#include <deque>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/audit.h"
#include "core/defaults.h"
#include "core/model.h"

namespace iam::projections {
namespace {

// A generated log in memory, and the reader PointInTime asks.
struct Log {
  std::vector<RecordedEvent> events;  // seq i at index i - 1
  std::map<std::string, uint64_t> versions;
  int reads = 0;  // by Reader(), from one thread at a time

  void Add(Event e) {
    RecordedEvent rec;
    rec.seq = events.size() + 1;
    rec.recorded_at = 1000 * static_cast<Micros>(rec.seq / 3);  // ties too
    rec.stream = StreamOf(e);
    rec.stream_version = ++versions[rec.stream];
    rec.event = std::move(e);
    events.push_back(std::move(rec));
  }
  EventReader Reader() {
    return [this](uint64_t after, uint64_t to, EventSink* sink) -> Status {
      ++reads;
      for (uint64_t s = after + 1; s <= to && s <= events.size(); ++s) {
        IAM_RETURN_IF_ERROR(sink->Apply(events[s - 1]));
      }
      return OkStatus();
    };
  }
};

Log Generate(int units, uint32_t seed) {
  Log log;
  for (const Event& e : FactoryDefaultEvents("ledger")) log.Add(e);
  log.Add(ProjectCreated{"p1", "p1", PolicyType::kCustom});
  log.Add(RoleCreated{"r", "r", PolicyType::kCustom, {"iam:tokens:get"}, {}});
  std::mt19937 rng(seed);
  std::vector<std::string> tokens;
  for (int i = 0; i < units; ++i) {
    const std::string id = "t" + std::to_string(i);
    log.Add(TokenCreated{id, id, true, {}, "digest" + id, "sealed" + id});
    tokens.push_back(id);
    const std::string pol = "pol" + std::to_string(i % 5);
    if (i < 5) {
      log.Add(PolicyCreated{
          pol,
          pol,
          PolicyType::kCustom,
          {i == 0 ? "token:*" : "token:" + id},
          {Statement{Effect::kAllow, {}, "r", {"*"}, {i % 2 ? "p1" : "*"}}},
          {}});
    } else {
      log.Add(PolicyMembersAdded{pol, {"token:" + id}});
    }
    switch (rng() % 6) {
      case 4: {  // another policy rewritten
        const std::string other = "pol" + std::to_string(rng() % 5);
        if (i >= 5) {
          log.Add(PolicyUpdated{
              other,
              other,
              PolicyType::kCustom,
              {Statement{Effect::kAllow,
                         {rng() % 2 ? "iam:policies:get" : "iam:tokens:get"},
                         "",
                         {"*"},
                         {rng() % 2 ? "p1" : "*"}}},
              {}});
        }
        break;
      }
      case 0:
        log.Add(
            TokenStatusToggled{tokens[rng() % tokens.size()], rng() % 2 == 0});
        break;
      case 1:
        log.Add(RoleUpdated{"r",
                            "r",
                            PolicyType::kCustom,
                            {rng() % 2 ? "iam:tokens:get" : "iam:*"},
                            {}});
        break;
      case 2:
        log.Add(PolicyMembersRemoved{pol, {"token:" + id}});
        break;
      case 3:
        log.Add(TokenRotated{id, "digest2" + id, "sealed2" + id,
                             static_cast<Micros>(i)});
        break;
      default:
        break;
    }
  }
  return log;
}

// What an audit state holds: the fold without secrets or stream versions.
std::string Expected(const Log& log, uint64_t seq) {
  IamState s;
  for (uint64_t i = 0; i < seq; ++i) REQUIRE(Evolve(s, log.events[i]).ok());
  for (auto& [id, t] : s.tokens) {
    t.value_digest.clear();
    t.sealed_value.clear();
    t.previous_value_digest.clear();
  }
  s.stream_versions = StringMap<uint64_t>();
  return CanonicalEncoding(s);
}

TEST_CASE("point in time - every seq equals the fold from the first event") {
  Log log = Generate(40, 1);
  const uint64_t head = log.events.size();
  for (uint64_t every : {0, 1, 7, 25}) {
    CAPTURE(every);
    PointInTime pit(log.Reader(), {every, 4});
    // Out of order on purpose: the timeline grows as asked.
    for (uint64_t seq : {head / 2, uint64_t{0}, head, head / 3 + 1}) {
      auto s = pit.StateAt(seq);
      REQUIRE(s.ok());
      CHECK((*s)->last_seq == seq);
    }
    for (uint64_t seq = 0; seq <= head; ++seq) {
      CAPTURE(seq);
      auto s = pit.StateAt(seq);
      REQUIRE(s.ok());
      REQUIRE(CanonicalEncoding(**s) == Expected(log, seq));
      for (const auto& [id, t] : (*s)->tokens) {
        CHECK(t.value_digest.empty());
        CHECK(t.sealed_value.empty());
        CHECK(t.previous_value_digest.empty());
      }
    }
    // Bounded: at most 4 snapshots, the interval doubled as the log grew.
    auto st = pit.stats();
    CHECK(st.snapshots <= 4);
    if (every > 0) {
      CHECK(st.snapshot_every >= every);
      CHECK(head / st.snapshot_every <= 4);
    }
    CHECK(!pit.StateAt(head + 1).ok());
  }
}

TEST_CASE(
    "point in time - the subject's state answers checks like the whole "
    "one") {
  Log log = Generate(60, 2);
  const uint64_t head = log.events.size();
  PointInTime pit(log.Reader(), {10, 8});
  std::mt19937 rng(3);
  for (int i = 0; i < 300; ++i) {
    const uint64_t seq = rng() % (head + 1);
    const std::string subject =
        rng() % 10 == 0 ? "token:*" : "token:t" + std::to_string(rng() % 70);
    CAPTURE(seq);
    CAPTURE(subject);
    auto whole = pit.StateAt(seq);
    auto own = pit.SubjectStateAt(seq, subject);
    REQUIRE(whole.ok());
    REQUIRE(own.ok());
    CHECK((*own)->last_seq == seq);
    for (const char* action : {"iam:tokens:get", "iam:roles:list"}) {
      for (const StringList& projects : {StringList{}, StringList{"p1"}}) {
        audit::CheckQuery q{subject, action, "iam:tokens:x", projects, 0};
        audit::CheckResult a = audit::Check(**whole, q);
        audit::CheckResult b = audit::Check(**own, q);
        CHECK(a.allowed == b.allowed);
        CHECK(a.reasons == b.reasons);
        CHECK(a.note == b.note);
      }
    }
  }
}

TEST_CASE(
    "point in time - at snapshot boundaries (k*N-1, k*N, k*N+1) the states "
    "and checks equal a fold from the first event") {
  Log log = Generate(80, 5);
  const uint64_t head = log.events.size();
  for (uint64_t every : {uint64_t{8}, uint64_t{21}}) {
    CAPTURE(every);
    PointInTime pit(log.Reader(), {every, 64});
    REQUIRE(pit.CatchUp().ok());
    std::vector<uint64_t> seqs;
    for (uint64_t k = 1; k * every + 1 <= head; ++k) {
      for (uint64_t seq : {k * every - 1, k * every, k * every + 1}) {
        seqs.push_back(seq);
      }
    }
    std::mt19937 rng(static_cast<uint32_t>(every));
    for (uint64_t seq : seqs) {
      CAPTURE(seq);
      IamState fold;
      for (uint64_t i = 0; i < seq; ++i) {
        REQUIRE(Evolve(fold, log.events[i]).ok());
      }
      auto whole = pit.StateAt(seq);
      REQUIRE(whole.ok());
      REQUIRE(CanonicalEncoding(**whole) == Expected(log, seq));
      for (int i = 0; i < 6; ++i) {
        const std::string subject =
            i == 0 ? "token:*" : "token:t" + std::to_string(rng() % 90);
        CAPTURE(subject);
        auto own = pit.SubjectStateAt(seq, subject);
        REQUIRE(own.ok());
        CHECK((*own)->last_seq == seq);
        for (const char* action : {"iam:tokens:get", "iam:policies:get"}) {
          for (const StringList& projects : {StringList{}, StringList{"p1"}}) {
            audit::CheckQuery q{subject, action, "iam:tokens:x", projects, 0};
            audit::CheckResult a = audit::Check(fold, q);
            audit::CheckResult b = audit::Check(**own, q);
            CHECK(a.allowed == b.allowed);
            CHECK(a.reasons == b.reasons);
            CHECK(a.note == b.note);
          }
        }
      }
    }
  }
}

TEST_CASE(
    "point in time - an answer a caller holds is never reused; one no one "
    "holds is, and answers stay exact") {
  Log log = Generate(60, 6);
  const uint64_t head = log.events.size();
  PointInTime pit(log.Reader(), {16, 64});
  // Off the snapshots (seq % 16 != 0) and before the end of the timeline
  // (a state there is at hand): each answer is a fold into a copy.
  REQUIRE(head > 140);
  REQUIRE(pit.CatchUp().ok());
  auto held = pit.StateAt(97);
  REQUIRE(held.ok());
  const std::string held_encoding = CanonicalEncoding(**held);
  for (uint64_t seq : {83, 53, 135, 41}) {
    CAPTURE(seq);
    auto s = pit.StateAt(seq);  // replaces the last answer, dropped here
    REQUIRE(s.ok());
    CHECK(s->get() != held->get());
    REQUIRE(CanonicalEncoding(**s) == Expected(log, seq));
  }
  // The answer held throughout is untouched by the answers after it...
  CHECK(CanonicalEncoding(**held) == held_encoding);
  CHECK(held_encoding == Expected(log, 97));
  // ...while those no caller held were overwritten by later answers (the
  // spare): the 1st answer of the loop is replaced by the 2nd and becomes
  // the spare the 3rd and 4th are written over (the held one never is).
  CHECK(pit.stats().reused_answers == 2);
  auto again = pit.StateAt(75);
  REQUIRE(again.ok());
  CHECK(CanonicalEncoding(**again) == Expected(log, 75));
  CHECK(pit.stats().reused_answers == 3);
}

TEST_CASE(
    "point in time - threads asking at once each get exact answers that "
    "stay exact while they hold them") {
  // Four threads ask at random points (off the snapshots: each answer a
  // fold into a copy or into a spare), drop half of the answers at once
  // and keep the others a few queries longer; every answer, checked when it
  // comes and again just before it is dropped, equals the fold from the first
  // event. An answer reused while still held would change under its holder
  // (ThreadSanitizer in `make tsan` also watches the hand-over).
  Log log = Generate(60, 8);
  const uint64_t head = log.events.size();
  std::vector<std::string> expected(head + 1);
  for (uint64_t seq = 0; seq <= head; ++seq) expected[seq] = Expected(log, seq);
  // Read from many threads at once: a reader without Log's counter.
  EventReader reader = [&log](uint64_t after, uint64_t to,
                              EventSink* sink) -> Status {
    for (uint64_t s = after + 1; s <= to && s <= log.events.size(); ++s) {
      IAM_RETURN_IF_ERROR(sink->Apply(log.events[s - 1]));
    }
    return OkStatus();
  };
  PointInTime pit(reader, {16, 64});
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      std::deque<std::shared_ptr<const IamState>> held;
      for (int i = 0; i < 150; ++i) {
        uint64_t seq = 1 + rng() % head;
        if (seq % 16 == 0) --seq;
        auto s = pit.StateAt(seq);
        if (!s.ok() || (*s)->last_seq != seq ||
            CanonicalEncoding(**s) != expected[seq]) {
          ++wrong;
          continue;
        }
        if (rng() % 2 == 0) continue;  // dropped at once: may be a spare
        held.push_back(*s);
        if (held.size() > static_cast<size_t>(1 + rng() % 3)) {
          const auto& old = held.front();
          if (CanonicalEncoding(*old) != expected[old->last_seq]) ++wrong;
          held.pop_front();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(wrong.load() == 0);
  CHECK(pit.stats().reused_answers > 0);  // the spare was in play
}

TEST_CASE("point in time - times name seqs, streams their seqs") {
  Log log = Generate(10, 4);
  const uint64_t head = log.events.size();
  PointInTime pit(log.Reader(), {5, 8});
  // recorded_at = 1000 * (seq / 3): the last seq at or before t.
  auto at = pit.SeqAt(1000 * 4, head);
  REQUIRE(at.ok());
  CHECK(*at == 14);
  CHECK(*pit.SeqAt(-1, head) == 0);
  CHECK(*pit.SeqAt(INT64_MAX, head) == head);
  CHECK(*pit.TimeOf(14) == 4000);
  CHECK(*pit.TimeOf(0) == 0);
  auto seqs = pit.StreamSeqs("role/r", 0, head);
  REQUIRE(seqs.ok());
  std::vector<uint64_t> expected;
  for (const auto& e : log.events) {
    if (e.stream == "role/r") expected.push_back(e.seq);
  }
  CHECK(*seqs == expected);
  auto some = pit.StreamSeqs("role/r", expected[0], expected[0]);
  CHECK(some->empty());
  CHECK(pit.CatchUp().value() == head);
}

}  // namespace
}  // namespace iam::projections
