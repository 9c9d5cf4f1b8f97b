// audit_bench: the audit queries (api/audit.h, the code the server and the
// CLI run) on a generated log, next to the baseline of the same run:
// rebuilding the state from the first event for each point.
//
//   audit_bench [--dir DIR] [--events N] [--tokens T] [--policies P]
//               [--snapshot-every K] [--max-snapshots S] [--checks C]
//               [--whos W] [--diffs D] [--rebuilds R] [--pretty]
//               [--whole] [--digest]
//
// Defaults: 1,000,000 events, 100,000 tokens, 10,000 policies, a snapshot
// every 10,000 events. The log is written through the event store (many
// events per append): factory defaults, 50 projects, 200 roles, the
// policies (token, team and wildcard members; own actions and roles;
// project-scoped and all-project statements; some DENYs), the tokens each
// joining a policy, then changes until N events: members added and
// removed, policies rewritten, roles changed, tokens renamed, moved between
// projects, toggled, deleted and replaced.
//
// Measured: the timeline build (the first query folds the log once),
// `check` at C random past points (p50, p99), `who` at W random points
// and, to show where a who's time goes, the state alone at as many
// (`audit_state_at_*`), `diff` over the whole log, and the baseline: check at
// random points by folding from seq 0 (no snapshots). Memory: resident size
// before and after the timeline, snapshots kept. Prints `BENCH <name> <value>
// <unit>` and `RATIO check_p99_vs_rebuild`. who and diff stream their answers
// as the server does (api/audit.h's AnswerSink; each piece copied once, as into
// a socket); --whole collects them into one string instead. --pretty asks for
// indented answers; --digest prints `DIGEST <query> <sha256>` of the answers
// (check's outside the timed section, who's and diff's inside when streamed),
// so two builds, or --whole and streamed, can be shown to answer byte for byte
// the same on the same log. Goals (issue 11): check p99 <= 100 ms, who p99 <=
// 500 ms, diff over the whole log <= 2 s.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "api/audit.h"
#include "core/defaults.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "eventstore/large_memory.h"

namespace {

using SteadyClock = std::chrono::steady_clock;
namespace es = iam::eventstore;
namespace fs = std::filesystem;
using namespace iam;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "audit_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

double LoadAverage() {
  double load = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

// Resident set size of this process, MiB.
double RssMiB() {
  double kb = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof(line), f)) {
      if (std::strncmp(line, "VmRSS:", 6) == 0) kb = std::atof(line + 6);
    }
    std::fclose(f);
  }
  return kb / 1024;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

struct Flags {
  std::string dir;
  uint64_t events = 1000000;
  uint64_t tokens = 100000;
  uint64_t policies = 10000;
  uint64_t snapshot_every = 10000;
  size_t max_snapshots = 128;
  int checks = 200;
  int whos = 100;      // p99 of 100 is the second largest, not the maximum
  int diffs = 3;       // whole-log diffs (the best one counts)
  bool whole = false;  // answers collected into a string, not streamed
  int rebuilds = 3;    // baseline folds from seq 0 (the median counts)
  bool pretty = false;
  bool digest = false;
};

std::string Tok(uint64_t i) { return "tok-" + std::to_string(i); }
std::string Pol(uint64_t i) { return "pol-" + std::to_string(i); }
std::string Role(uint64_t i) { return "role-" + std::to_string(i); }
std::string Proj(uint64_t i) { return "proj-" + std::to_string(i); }

const std::vector<std::string>& ActionPool() {
  static const std::vector<std::string> pool = {
      "iam:tokens:get",   "iam:tokens:list",   "iam:tokens:*",
      "iam:policies:get", "iam:policies:list", "iam:*:get",
      "compliance:*",     "infra:nodes:get",   "*:list",
      "iam:roles:get",    "iam:projects:list", "event:*:get"};
  return pool;
}

Statement RandomStatement(std::mt19937_64& rng, bool allow_deny) {
  const auto& actions = ActionPool();
  Statement st;
  st.effect = allow_deny && rng() % 10 == 0 ? Effect::kDeny : Effect::kAllow;
  st.resources = {"*"};
  if (rng() % 3 == 0) {
    st.role = Role(rng() % 200);
  } else {
    st.actions = {actions[rng() % actions.size()]};
    if (rng() % 2 == 0) {
      const auto& a = actions[rng() % actions.size()];
      if (a != st.actions[0]) st.actions.push_back(a);
    }
  }
  if (rng() % 4 == 0) {
    st.projects = {"*"};
  } else {
    st.projects = {Proj(rng() % 50)};
  }
  return st;
}

// Writes the log; returns its last seq.
uint64_t Fill(const Flags& f, const std::string& data_dir,
              const std::string& key_file) {
  auto keys = es::LoadOrCreateMasterKeys(key_file, true);
  if (!keys.ok()) Die(keys.status().ToString());
  es::StoreOptions options;
  options.checkpoint_key = keys->checkpoint_key;
  auto store = es::OpenRocksEventStore(data_dir, options);
  if (!store.ok()) Die(store.status().ToString());
  auto append = [&](std::vector<Event> events) {
    es::AppendRequest req;
    req.meta = {"token:bench", "bench-request", "127.0.0.1"};
    req.events = std::move(events);
    auto r = (*store)->Append(std::move(req));
    if (!r.ok()) Die(r.status().ToString());
  };
  std::mt19937_64 rng(42);
  std::vector<Event> batch = FactoryDefaultEvents("bench-ledger");
  auto flush = [&](bool force) {
    if (batch.size() >= 1000 || (force && !batch.empty())) {
      append(std::exchange(batch, {}));
    }
  };
  for (uint64_t i = 0; i < 50; ++i) {
    batch.push_back(ProjectCreated{Proj(i), "Project", PolicyType::kCustom});
  }
  const auto& actions = ActionPool();
  for (uint64_t i = 0; i < 200; ++i) {
    batch.push_back(RoleCreated{
        Role(i),
        "Role",
        PolicyType::kCustom,
        {actions[i % actions.size()], actions[(i * 7 + 3) % actions.size()]},
        {}});
  }
  flush(true);
  for (uint64_t i = 0; i < f.policies; ++i) {
    StringList members;
    if (i % 500 == 0) {
      members.push_back("token:*");
    } else if (i % 50 == 0) {
      members.push_back("team:local:team-" + std::to_string(i % 20));
    }
    std::vector<Statement> sts = {RandomStatement(rng, members.empty())};
    if (rng() % 2 == 0) sts.push_back(RandomStatement(rng, members.empty()));
    batch.push_back(
        PolicyCreated{Pol(i), "Policy", PolicyType::kCustom, members, sts, {}});
    flush(false);
  }
  // Distinct digests and ciphertexts, as HMACs and AES-GCM give.
  auto token = [&](uint64_t i) {
    const Hash h = es::Sha256("bench token " + std::to_string(i));
    const std::string digest(reinterpret_cast<const char*>(h.data()), h.size());
    std::string sealed = digest + digest + digest;
    sealed.resize(81, '\x01');
    return TokenCreated{Tok(i), "Token", true, {}, digest, sealed};
  };
  std::vector<uint64_t> policy_of(f.tokens * 4);
  std::vector<bool> alive(f.tokens * 4);
  for (uint64_t i = 0; i < f.tokens; ++i) {
    batch.push_back(token(i));
    policy_of[i] = rng() % f.policies;
    batch.push_back(PolicyMembersAdded{Pol(policy_of[i]), {"token:" + Tok(i)}});
    alive[i] = true;
    flush(false);
  }
  uint64_t next_token = f.tokens;
  uint64_t written = 0;
  flush(true);
  written = (*store)->LastSeq();
  while (written + batch.size() < f.events) {
    const uint64_t op = rng() % 100;
    uint64_t t = rng() % next_token;
    if (!alive[t]) continue;
    const std::string subject = "token:" + Tok(t);
    if (op < 25) {  // moves to another policy
      batch.push_back(PolicyMembersRemoved{Pol(policy_of[t]), {subject}});
      policy_of[t] = rng() % f.policies;
      batch.push_back(PolicyMembersAdded{Pol(policy_of[t]), {subject}});
    } else if (op < 40) {  // a policy rewritten
      const uint64_t p = rng() % f.policies;
      std::vector<Statement> sts = {RandomStatement(rng, true)};
      batch.push_back(
          PolicyUpdated{Pol(p), "Policy v2", PolicyType::kCustom, sts, {}});
    } else if (op < 45) {  // a role changed, rarely (Evolve recompiles
                           // every policy naming it)
      if (rng() % 25 != 0) continue;
      const uint64_t r = rng() % 200;
      batch.push_back(RoleUpdated{Role(r),
                                  "Role v2",
                                  PolicyType::kCustom,
                                  {actions[rng() % actions.size()]},
                                  {}});
    } else if (op < 60) {
      batch.push_back(TokenRenamed{Tok(t), "Token v" + std::to_string(op)});
    } else if (op < 75) {
      batch.push_back(TokenProjectsAssigned{Tok(t), {Proj(rng() % 50)}});
    } else if (op < 90) {
      batch.push_back(TokenStatusToggled{Tok(t), rng() % 2 == 0});
    } else if (next_token < alive.size()) {  // deleted and replaced
      batch.push_back(PolicyMembersRemoved{Pol(policy_of[t]), {subject}});
      batch.push_back(TokenDeleted{Tok(t)});
      alive[t] = false;
      const uint64_t n = next_token++;
      batch.push_back(token(n));
      policy_of[n] = rng() % f.policies;
      batch.push_back(
          PolicyMembersAdded{Pol(policy_of[n]), {"token:" + Tok(n)}});
      alive[n] = true;
    }
    if (batch.size() >= 1000) {
      written += batch.size();
      flush(true);
    }
  }
  flush(true);
  const uint64_t last = (*store)->LastSeq();
  if (Status s = (*store)->Close(); !s.ok()) Die(s.ToString());
  return last;
}

}  // namespace

int main(int argc, char** argv) {
  // Huge pages for the large tables (core/model.h LargeMemory).
  iam::SetLargeMemory(iam::eventstore::HugePageMemory());
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // figures as they come
  Flags f;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--dir") {
      f.dir = next();
    } else if (a == "--events") {
      f.events = std::stoull(next());
    } else if (a == "--tokens") {
      f.tokens = std::stoull(next());
    } else if (a == "--policies") {
      f.policies = std::stoull(next());
    } else if (a == "--snapshot-every") {
      f.snapshot_every = std::stoull(next());
    } else if (a == "--max-snapshots") {
      f.max_snapshots = std::stoull(next());
    } else if (a == "--checks") {
      f.checks = std::stoi(next());
    } else if (a == "--whos") {
      f.whos = std::stoi(next());
    } else if (a == "--whole") {
      f.whole = true;
    } else if (a == "--diffs") {
      f.diffs = std::stoi(next());
    } else if (a == "--rebuilds") {
      f.rebuilds = std::max(1, std::stoi(next()));
    } else if (a == "--pretty") {
      f.pretty = true;
    } else if (a == "--digest") {
      f.digest = true;
    } else if (a == "--help" || a == "-h") {
      std::printf(
          "audit_bench [--dir DIR] [--events N] [--tokens T] [--policies P]\n"
          "            [--snapshot-every K] [--max-snapshots S] [--checks C]\n"
          "            [--whos W] [--diffs D] [--rebuilds R] [--pretty]\n"
          "            [--whole] [--digest]\n"
          "A log in DIR is reused (its --events/--tokens/--policies are the\n"
          "ones it was made with); without --dir a temporary one is made.\n");
      return 0;
    } else {
      Die("unknown flag " + a);
    }
  }
  std::string root = f.dir;
  if (root.empty()) {
    char tmpl[] = "/tmp/audit-bench-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) Die("mkdtemp");
    root = tmpl;
  }
  std::error_code made;
  fs::create_directories(root, made);
  if (made) Die("cannot create " + root + ": " + made.message());
  const std::string data_dir = root + "/data";
  const std::string key_file = root + "/iamledger.key";
  uint64_t head = 0;
  auto start = SteadyClock::now();
  if (!fs::exists(data_dir)) {
    head = Fill(f, data_dir, key_file);
    std::printf("BENCH audit_fill_events %llu events\n",
                static_cast<unsigned long long>(head));
    std::printf("BENCH audit_fill_seconds %.1f s\n", Seconds(start));
  }
  std::printf("BENCH audit_load_average %.2f load\n", LoadAverage());

  auto keys = es::LoadOrCreateMasterKeys(key_file, false);
  if (!keys.ok()) Die(keys.status().ToString());
  es::StoreOptions options;
  options.checkpoint_key = keys->checkpoint_key;
  auto store = es::OpenRocksEventStore(data_dir, options);
  if (!store.ok()) Die(store.status().ToString());
  head = (*store)->LastSeq();

  const double rss_before = RssMiB();
  projections::PointInTimeOptions pit;
  pit.snapshot_every = f.snapshot_every;
  pit.max_snapshots = f.max_snapshots;
  api::Audit audit(store->get(), pit);
  std::mt19937_64 rng(7);
  // --digest: the answers of each query, hashed in order.
  es::Sha256Stream check_digest, who_digest, diff_digest;
  auto check_params = [&](uint64_t seq) {
    api::QueryParams q;
    q.emplace("subject", "token:" + Tok(rng() % f.tokens));
    q.emplace("action", "iam:tokens:get");
    q.emplace("resource", "iam:tokens:x");
    if (rng() % 2 == 0) q.emplace("project", Proj(rng() % 50));
    q.emplace("at_seq", std::to_string(seq));
    return q;
  };
  // The timeline: the first query folds the log once.
  start = SteadyClock::now();
  auto first = audit.Check(check_params(head), false);
  if (!first.ok()) Die(first.status().ToString());
  const double build = Seconds(start);
  const auto stats = audit.timeline().stats();
  std::printf("BENCH audit_timeline_build %.2f s\n", build);
  std::printf("BENCH audit_snapshots %zu snapshots\n", stats.snapshots);
  std::printf("BENCH audit_snapshot_interval %llu events\n",
              static_cast<unsigned long long>(stats.snapshot_every));
  std::printf("BENCH audit_timeline_memory %.0f MiB\n", RssMiB() - rss_before);

  std::vector<double> checks;
  int allowed = 0;
  for (int i = 0; i < f.checks; ++i) {
    const uint64_t seq = 1 + rng() % head;
    auto q = check_params(seq);
    start = SteadyClock::now();
    auto r = audit.Check(q, f.pretty);
    checks.push_back(Seconds(start) * 1000);
    if (!r.ok()) Die(r.status().ToString());
    if (f.digest) check_digest.Update(*r);
    allowed += r->find("\"allowed\":true") != std::string::npos;
  }
  std::printf("BENCH audit_check_p50 %.2f ms\n", Percentile(checks, 0.5));
  std::printf("BENCH audit_check_p99 %.2f ms\n", Percentile(checks, 0.99));
  std::printf("BENCH audit_check_allowed %d of %d\n", allowed, f.checks);

  // who and diff stream their answers (the server sends them as HTTP
  // chunks): the sink copies each piece once, as a socket write would, and
  // hashes it under --digest (then the times include the hashing). With
  // --whole the answers are collected into one string instead, as before
  // streaming.
  std::vector<char> scratch;
  size_t streamed = 0;
  es::Sha256Stream* digest_into = nullptr;
  const api::AnswerSink sink = [&](std::string_view bytes) {
    if (scratch.size() < bytes.size()) scratch.resize(bytes.size());
    std::memcpy(scratch.data(), bytes.data(), bytes.size());
    streamed += bytes.size();
    if (digest_into != nullptr) digest_into->Update(bytes);
    return true;
  };
  // who or diff, streamed or whole: the answer's size.
  auto run = [&](bool who, const api::QueryParams& q,
                 es::Sha256Stream* digest) -> size_t {
    if (f.whole) {
      StatusOr<std::string> r =
          who ? audit.Who(q, f.pretty) : audit.Diff(q, f.pretty);
      if (!r.ok()) Die(r.status().ToString());
      if (digest != nullptr) digest->Update(*r);
      return r->size();
    }
    streamed = 0;
    digest_into = digest;
    Status s =
        who ? audit.Who(q, f.pretty, sink) : audit.Diff(q, f.pretty, sink);
    if (!s.ok()) Die(s.ToString());
    return streamed;
  };
  std::vector<double> whos;
  size_t listed = 0;
  for (int i = 0; i < f.whos; ++i) {
    api::QueryParams q;
    q.emplace("action", ActionPool()[rng() % ActionPool().size()]);
    q.emplace("resource", "iam:tokens:x");
    q.emplace("at_seq", std::to_string(1 + rng() % head));
    start = SteadyClock::now();
    listed += run(true, q, f.digest ? &who_digest : nullptr);
    whos.push_back(Seconds(start) * 1000);
  }
  std::printf("BENCH audit_who_p50 %.1f ms\n", Percentile(whos, 0.5));
  std::printf("BENCH audit_who_p99 %.1f ms\n", Percentile(whos, 0.99));
  // Where a who's time goes: the state at its point alone (a snapshot's
  // copy plus at most the interval's events folded), at as many random
  // points.
  std::vector<double> states;
  for (int i = 0; i < f.whos; ++i) {
    const uint64_t seq = 1 + rng() % head;
    start = SteadyClock::now();
    auto state = audit.timeline().StateAt(seq);
    if (!state.ok()) Die(state.status().ToString());
    states.push_back(Seconds(start) * 1000);
  }
  std::printf("BENCH audit_state_at_p50 %.1f ms\n", Percentile(states, 0.5));
  std::printf("BENCH audit_state_at_p99 %.1f ms\n", Percentile(states, 0.99));

  double diff_s = 1e9;
  size_t diff_bytes = 0;
  for (int i = 0; i < f.diffs; ++i) {
    api::QueryParams q;
    q.emplace("from_seq", "0");
    es::Sha256Stream* digest = f.digest && i == 0 ? &diff_digest : nullptr;
    start = SteadyClock::now();
    diff_bytes = run(false, q, digest);
    diff_s = std::min(diff_s, Seconds(start));
  }
  std::printf("BENCH audit_diff_whole_log %.2f s\n", diff_s);
  std::printf("BENCH audit_diff_answer %.1f MiB\n", diff_bytes / 1048576.0);
  if (f.digest) {
    std::printf("DIGEST check %s\n", es::ToHex(check_digest.Finish()).c_str());
    std::printf("DIGEST who %s\n", es::ToHex(who_digest.Finish()).c_str());
    std::printf("DIGEST diff %s\n", es::ToHex(diff_digest.Finish()).c_str());
  }

  // Baseline: the same check, the state rebuilt from the first event.
  projections::PointInTimeOptions none;
  none.snapshot_every = 0;
  std::vector<double> rebuilds;
  for (int i = 0; i < f.rebuilds; ++i) {
    api::Audit cold(store->get(), none);
    const uint64_t seq = head / 2 + rng() % (head / 2);
    auto q = check_params(seq);
    start = SteadyClock::now();
    // Only the state (no timeline): the point's own fold from seq 0.
    auto state = cold.timeline().StateAt(seq);
    if (!state.ok()) Die(state.status().ToString());
    rebuilds.push_back(Seconds(start) * 1000);
  }
  const double rebuild = Percentile(rebuilds, 0.5);
  std::printf("BENCH audit_rebuild_from_first_event %.0f ms\n", rebuild);
  std::printf("RATIO check_p99_vs_rebuild %.4f\n",
              Percentile(checks, 0.99) / rebuild);
  std::printf("BENCH audit_load_average_end %.2f load\n", LoadAverage());
  if (f.dir.empty()) fs::remove_all(root);
  return 0;
}
