// members_bench: changing the members of a large policy (issue 13: speed at
// the limit; a policy may name 100,000s of tokens).
//
//   build/tests/bench/members_bench [--reps R]
//
// For a policy of N token members (N = 100, 10,000, 100,000), built by one
// PolicyCreated folded into a state: members:add of one new member and
// members:remove of it again (core's Decide + Evolve, as the writer does
// them, p50 of R each), and a PUT of the whole member list with one member
// changed (decide only). Baseline in the same run: the same operations at
// N = 100, and a scan of the N-member list for a member it lacks (what
// each added or removed member cost when membership was a list scan).
// Prints `BENCH <name> <value> <unit>`, `RATIO members_add_100000_vs_100`
// (how an add grows from 100 to 100,000 members) and
// `RATIO members_list_scan_100000_vs_100` (how a list scan grows, 1,000x
// the members).
//
// Measured on 2026-12-03 (2 cores): before membership went through the
// indexes (the same program against 950136a) a 100,000-member policy took
// 20.7 s to create, 185 us per member added or removed and 30 s for a PUT
// of its members; after, 61 ms, 9 us (add; remove stays a list scan for
// the position, ~100 us) and 63 ms.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/decide.h"
#include "core/defaults.h"
#include "core/events.h"
#include "core/model.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "members_bench: %s\n", what.c_str());
  std::exit(1);
}

double Micros(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Folds `events` as the log would record them.
void Fold(iam::IamState& state, std::vector<iam::Event> events) {
  for (auto& e : events) {
    iam::RecordedEvent rec;
    rec.seq = state.last_seq + 1;
    rec.stream = iam::StreamOf(e);
    auto it = state.stream_versions.find(rec.stream);
    rec.stream_version =
        (it == state.stream_versions.end() ? 0 : it->second) + 1;
    rec.event = std::move(e);
    if (iam::Status s = iam::Evolve(state, rec); !s.ok()) Die(s.ToString());
  }
}

void Apply(iam::IamState& state, iam::StatusOr<iam::Decision> d) {
  if (!d.ok()) Die(d.status().ToString());
  if (d->events.empty()) Die("the command changed nothing");
  Fold(state, std::move(d->events));
}

std::string Member(size_t i) { return "token:bench-" + std::to_string(i); }

struct Figures {
  double build_ms, add_us, remove_us, replace_us, scan_us;
};

Figures Measure(size_t n, int reps) {
  iam::IamState state;
  Fold(state, iam::FactoryDefaultEvents("members-bench"));
  iam::StringList members;
  for (size_t i = 0; i < n; ++i) members.push_back(Member(i));
  const iam::Statement st{
      iam::Effect::kAllow, {"iam:tokens:get"}, "", {"*"}, {"*"}};
  Figures f{};
  auto start = Clock::now();
  Fold(state, {iam::PolicyCreated{
                  "big", "Big", iam::PolicyType::kCustom, members, {st}, {}}});
  f.build_ms = Micros(start) / 1000;
  if (state.policies.at("big").members.size() != n) Die("members lost");

  const iam::Caller caller{{"local:admin"}, {}, nullptr};
  std::vector<double> adds, removes;
  for (int r = 0; r < reps; ++r) {
    const std::string m = Member(n + r);
    start = Clock::now();
    Apply(state, iam::DecideAddPolicyMembers({"big", {m}}, state, caller));
    adds.push_back(Micros(start));
    start = Clock::now();
    Apply(state, iam::DecideRemovePolicyMembers({"big", {m}}, state, caller));
    removes.push_back(Micros(start));
  }
  if (state.policies.at("big").members.size() != n) Die("members drifted");
  f.add_us = Median(adds);
  f.remove_us = Median(removes);

  std::vector<double> replaces;
  iam::StringList changed = members;
  for (int r = 0; r < std::max(3, reps / 20); ++r) {
    changed.back() = Member(2 * n + r);
    start = Clock::now();
    auto d = iam::DecideReplacePolicyMembers({"big", changed}, state, caller);
    replaces.push_back(Micros(start));
    if (!d.ok()) Die(d.status().ToString());
    if (d->events.size() != 2) Die("a replace should add one, remove one");
  }
  f.replace_us = Median(replaces);

  std::vector<double> scans;
  const iam::StringList& listed = state.policies.at("big").members;
  const std::string absent = Member(3 * n);
  for (int r = 0; r < reps; ++r) {
    start = Clock::now();
    bool found =
        std::find(listed.begin(), listed.end(), absent) != listed.end();
    scans.push_back(Micros(start));
    if (found) Die("found an absent member");
  }
  f.scan_us = Median(scans);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "members_bench [--reps R]\n");
      return 2;
    }
  }
  double add_100 = 0, add_100k = 0, scan_100 = 0, scan_100k = 0;
  for (size_t n : {size_t{100}, size_t{10000}, size_t{100000}}) {
    const Figures f = Measure(n, reps);
    std::printf("BENCH members_create_%zu %.2f ms\n", n, f.build_ms);
    std::printf("BENCH members_add_%zu %.2f us\n", n, f.add_us);
    std::printf("BENCH members_remove_%zu %.2f us\n", n, f.remove_us);
    std::printf("BENCH members_replace_%zu %.1f us\n", n, f.replace_us);
    std::printf("BENCH members_list_scan_%zu %.2f us\n", n, f.scan_us);
    if (n == 100) add_100 = f.add_us, scan_100 = f.scan_us;
    if (n == 100000) add_100k = f.add_us, scan_100k = f.scan_us;
  }
  std::printf("RATIO members_add_100000_vs_100 %.2f\n", add_100k / add_100);
  std::printf("RATIO members_list_scan_100000_vs_100 %.0f\n",
              scan_100k / scan_100);
  return 0;
}
