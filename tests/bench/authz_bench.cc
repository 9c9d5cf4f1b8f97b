// authz_bench (issue 3 item 7): the read path and the replay of the
// projections.
//
//   authz_bench [--tokens N] [--events E] [--samples S] [--dir DIR]
//               [--only latency|replay] [--keep-log 1]
//
// Defaults: N = E = 1,000,000, S = 200,000, DIR = /tmp/iamledger-authz-bench.
//
// 1. Latency. Factory defaults, 300 projects, 50 custom roles, 10,000
//    policies and N tokens are folded straight into a
//    projections::Projections (no disk). Policies name one or two of the
//    tokens tok-0..tok-4999 and some teams and users; 10 name "token:*",
//    50 "team:local:*", 20 "user:*"; statements mix action lists, default
//    and custom roles, project lists, "*" and DENYs. One request is what the
//    server does for a token: the value's format check and HMAC
//    (IsGeneratedTokenValue, TokenDigester::DigestInto), the wall clock
//    read, then under one Projections::Read View::Authenticate (one cache
//    line of the digest index: active, expiry flag, id, usage mark; the
//    token itself only for an expiry, a long id or a rotation grace),
//    UsageStore::Touch through the entry's usage mark (last_used_at; memory
//    only here, the server's flusher writes in the background) and
//    Authorize({token:<id>}, iam:tokens:<id>, iam:tokens:get, no projects
//    header). The `lookup_step_token_by_id` diagnostic is the id map
//    (IamState::tokens), which authentication no longer reads. Timed with
//    steady_clock over S random tokens: one pass timing only whole requests
//    (`total`), one timing the parts (`check_digest`, `lookup`,
//    `authorize`), one timing the two steps of the lookup apart (digest
//    index, token by id). At 1,000, 100,000 and N tokens, two mixes:
//      - `uniform`: tokens drawn from all N (the "random tokens");
//      - `member`: tokens drawn from the 5,000 (or N if fewer) that
//        policies name, so the authorization work is the same at every N
//        and only the size of the token indexes changes.
//    RATIO authz_p99_growth_1m_vs_1k is the larger of the two mixes' total
//    p99 growth.
// 2. Memory: RSS (/proc/self/statm) before and after folding the N
//    TokenCreated events (ids, names, a project, 32-byte digests, 81-byte
//    sealed values), divided by N: state + digest index + history.
// 3. Replay: E events (defaults, 300 projects, 1,000 policies, then blocks of
//    7 TokenCreated sized like append_bench's, a rename, a status toggle and
//    a project assignment or a delete) are appended to a temp RocksDB event
//    store, 1,000 per append, then flushed and compacted into SST files.
//    Then, in the same run, on the same files: raw RocksDB iteration of the
//    `events` family (before and after the replay; the faster pass counts)
//    and ReadFrom(1) of the store into a fresh Projections (RocksDB read,
//    verify, decode, hash chain, fold). Diagnostics split the replay into
//    read + verify + decode (ReadFrom into a counting sink) and the fold
//    alone (Projections::Apply of events already in memory).
//
// Prints `BENCH <name> <value> <unit>` and `RATIO <name> <value>`.
// Goals: authenticate + authorize p99 <= 2 us with flat growth from 1k to
// 1M tokens; <= 1 KiB per token; replay_vs_raw_iter >= 0.5.
#include <malloc.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "core/authorize.h"
#include "core/defaults.h"
#include "core/events.h"
#include "core/model.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "eventstore/large_memory.h"
#include "eventstore/rocks_util.h"
#include "eventstore/usage_store.h"
#include "projections/projections.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace es = iam::eventstore;
using iam::Event;
using iam::RecordedEvent;
using iam::StringList;
using iam::projections::Projections;
using iam::projections::View;

constexpr int kProjects = 300;
constexpr int kRoles = 50;
constexpr int kPolicies = 10000;
// Policies name tokens tok-0 .. tok-(kMemberPool-1) directly.
constexpr int kMemberPool = 5000;
constexpr size_t kValueLen = 53;  // GenerateTokenValue()

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "authz_bench: %s\n", what.c_str());
  std::exit(1);
}

void Must(const iam::Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.ToString());
}

int64_t RssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) Die("cannot read /proc/self/statm");
  long size = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) Die("bad statm");
  std::fclose(f);
  return static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE);
}

std::string Proj(int i) { return "proj-" + std::to_string(i % kProjects); }
std::string TokenId(uint64_t i) { return "tok-" + std::to_string(i); }

// Feeds events to a Projections as the log would deliver them.
class Feeder {
 public:
  explicit Feeder(Projections& p) : p_(p) {}
  void Apply(Event e) {
    rec_.seq = ++seq_;
    rec_.recorded_at = 1700000000000000 + static_cast<int64_t>(seq_);
    rec_.meta = {"local:admin", "bench", ""};
    rec_.stream = iam::StreamOf(e);
    rec_.stream_version = 1;  // every object here is created once
    rec_.event = std::move(e);
    Must(p_.Apply(rec_), "apply");
  }

 private:
  Projections& p_;
  RecordedEvent rec_;
  uint64_t seq_ = 0;
};

iam::Statement Stmt(iam::Effect effect, StringList actions, std::string role,
                    StringList projects) {
  iam::Statement s;
  s.effect = effect;
  s.actions = std::move(actions);
  s.role = std::move(role);
  s.resources = {"*"};
  s.projects = std::move(projects);
  return s;
}

constexpr auto kAllow = iam::Effect::kAllow;
constexpr auto kDeny = iam::Effect::kDeny;

// Policy i of the 10,000. Members: one or two pool tokens, some teams and
// users; every 1000th names "token:*", every 200th "team:local:*", every
// 500th "user:*". Statements rotate through action lists, default and
// custom roles, project lists, "*" and DENYs.
iam::PolicyCreated MakePolicy(int i) {
  iam::PolicyCreated p;
  p.id = "pol-" + std::to_string(i);
  p.name = "Policy " + std::to_string(i);
  p.type = iam::PolicyType::kCustom;
  p.members.push_back("token:" + TokenId(i % kMemberPool));
  if (i % 3 == 0) {
    p.members.push_back("token:" + TokenId((i * 7 + 11) % kMemberPool));
  }
  if (i % 2 == 0)
    p.members.push_back("team:local:team-" + std::to_string(i % 100));
  if (i % 5 == 0)
    p.members.push_back("user:local:user-" + std::to_string(i % 200));
  if (i % 1000 == 0) p.members.push_back("token:*");
  if (i % 200 == 1) p.members.push_back("team:local:*");
  if (i % 500 == 2) p.members.push_back("user:*");
  switch (i % 4) {
    case 0:
      p.statements = {Stmt(kAllow, {"iam:tokens:get", "iam:tokens:list"}, "",
                           {Proj(i), Proj(i + 1)})};
      break;
    case 1:
      p.statements = {Stmt(kAllow, {}, "viewer", {Proj(i)}),
                      Stmt(kDeny, {"iam:tokens:delete"}, "", {Proj(i + 7)})};
      break;
    case 2:
      p.statements = {
          Stmt(kAllow, {}, "custom-role-" + std::to_string(i % kRoles), {"*"})};
      break;
    default:
      p.statements = {Stmt(kAllow, {"compliance:*", "iam:tokens:*"}, "",
                           {"(unassigned)", Proj(i)}),
                      Stmt(kDeny, {}, "editor", {Proj(i + 3)})};
      break;
  }
  if (i % 1000 == 0) {  // the "token:*" policies
    p.statements = {
        Stmt(kAllow, {"iam:introspect:*", "iam:tokens:get"}, "", {Proj(i)}),
        Stmt(kDeny, {"iam:tokens:update"}, "", {"*"})};
  }
  return p;
}

// Factory defaults, projects, roles and policies: everything but tokens.
void FoldFixedState(Feeder& feed) {
  for (auto& e : iam::FactoryDefaultEvents("bench-ledger")) {
    feed.Apply(std::move(e));
  }
  for (int i = 0; i < kProjects; ++i) {
    feed.Apply(iam::ProjectCreated{"proj-" + std::to_string(i),
                                   "Project " + std::to_string(i),
                                   iam::PolicyType::kCustom});
  }
  for (int i = 0; i < kRoles; ++i) {
    StringList actions =
        i % 2 == 0 ? StringList{"iam:tokens:get", "iam:tokens:list",
                                "compliance:*:get"}
                   : StringList{"infra:nodes:*", "compliance:reports:list"};
    feed.Apply(iam::RoleCreated{"custom-role-" + std::to_string(i),
                                "Custom role " + std::to_string(i),
                                iam::PolicyType::kCustom,
                                std::move(actions),
                                {}});
  }
  for (int i = 0; i < kPolicies; ++i) feed.Apply(MakePolicy(i));
}

// N generated token values, flat (53 bytes each).
struct Values {
  std::string flat;
  std::string_view Get(uint64_t i) const {
    return std::string_view(flat).substr(i * kValueLen, kValueLen);
  }
};

Values GenerateValues(uint64_t n) {
  Values v;
  v.flat.reserve(n * kValueLen);
  for (uint64_t i = 0; i < n; ++i) {
    std::string value = es::GenerateTokenValue();
    if (value.size() != kValueLen) Die("unexpected token value length");
    v.flat += value;
  }
  return v;
}

// A realistic sealed value: nonce (12) + value (53) + tag (16).
std::string SealedLike(uint64_t i) {
  std::string s(12 + kValueLen + 16, 's');
  std::memcpy(s.data(), &i, sizeof(i));
  return s;
}

void FoldTokens(Feeder& feed, const Values& values, uint64_t n,
                const es::TokenDigester& digester) {
  for (uint64_t i = 0; i < n; ++i) {
    iam::TokenCreated t;
    t.id = TokenId(i);
    t.name = "Bench token " + std::to_string(i);
    t.active = true;
    if (i % 3 != 0) t.projects = {Proj(static_cast<int>(i))};
    t.value_digest = digester.Digest(values.Get(i));
    t.sealed_value = SealedLike(i);
    feed.Apply(std::move(t));
  }
}

struct Percentiles {
  double p50 = 0, p99 = 0;
};

Percentiles Of(std::vector<uint32_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(ns.size()));
    return static_cast<double>(ns[std::min(i, ns.size() - 1)]);
  };
  return {at(0.50), at(0.99)};
}

uint32_t Nanos(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

struct MixResult {
  Percentiles total, digest, lookup, authorize;
  // The lookup's two steps, timed apart (a diagnostic pass): the digest
  // index (hash map) and the token by id (IamState::tokens).
  Percentiles lookup_index, lookup_token;
  uint64_t allowed = 0;
};

// prefix + id, in one allocation (the subject and the resource of a
// request).
std::string Prefixed(std::string_view prefix, std::string_view id) {
  std::string out;
  out.reserve(prefix.size() + id.size());
  out += prefix;
  out += id;
  return out;
}

// One request as the server runs it. Returns false when the token is not
// found (never, here: every token is active).
struct Request {
  const Projections& p;
  const es::TokenDigester& digester;
  es::UsageStore& usage;  // last_used_at, as the server records it
  const std::string action = "iam:tokens:get";

  // Whole request, timed from outside.
  bool Run(std::string_view value) const {
    if (!es::IsGeneratedTokenValue(value)) return false;
    unsigned char bytes[32];
    digester.DigestInto(value, bytes);
    const std::string_view digest(reinterpret_cast<const char*>(bytes), 32);
    const iam::Micros now = iam::SystemClock::Get()->Now();
    return p.Read([&](const View& v) {
      const View::Authenticated a = v.Authenticate(digest, now);
      if (a.token == nullptr) return false;
      TouchUsage(a, now);
      StringList subjects;
      subjects.push_back(Prefixed("token:", a.id));
      std::string resource = Prefixed("iam:tokens:", a.id);
      return iam::Authorize(v.state, subjects, resource, action, nullptr)
          .allowed;
    });
  }

  // The two steps of ActiveTokenByDigest, done by hand and timed apart.
  void RunLookupSteps(std::string_view value, uint32_t* index_ns,
                      uint32_t* token_ns) const {
    unsigned char bytes[32];
    digester.DigestInto(value, bytes);
    const std::string_view digest(reinterpret_cast<const char*>(bytes), 32);
    p.Read([&](const View& v) {
      auto t0 = Clock::now();
      auto it = v.tokens_by_digest.find(digest);
      auto t1 = Clock::now();
      if (it == v.tokens_by_digest.end()) Die("digest not indexed");
      auto t = v.state.tokens.find(it->second.front());
      auto t2 = Clock::now();
      if (t == v.state.tokens.end()) Die("token not found");
      *index_ns = Nanos(t0, t1);
      *token_ns = Nanos(t1, t2);
    });
  }

  // The same with a timestamp between the parts.
  bool RunParts(std::string_view value, uint32_t* digest_ns,
                uint32_t* lookup_ns, uint32_t* authz_ns) const {
    auto t0 = Clock::now();
    if (!es::IsGeneratedTokenValue(value)) return false;
    unsigned char bytes[32];
    digester.DigestInto(value, bytes);
    const std::string_view digest(reinterpret_cast<const char*>(bytes), 32);
    auto t1 = Clock::now();
    const iam::Micros now = iam::SystemClock::Get()->Now();
    return p.Read([&](const View& v) {
      const View::Authenticated a = v.Authenticate(digest, now);
      if (a.token != nullptr) TouchUsage(a, now);
      auto t2 = Clock::now();
      if (a.token == nullptr) return false;
      StringList subjects;
      subjects.push_back(Prefixed("token:", a.id));
      std::string resource = Prefixed("iam:tokens:", a.id);
      bool allowed =
          iam::Authorize(v.state, subjects, resource, action, nullptr).allowed;
      auto t3 = Clock::now();
      *digest_ns = Nanos(t0, t1);
      *lookup_ns = Nanos(t1, t2);
      *authz_ns = Nanos(t2, t3);
      return allowed;
    });
  }

  // last_used_at as the server records it (api/service.cc Authenticate).
  void TouchUsage(const View::Authenticated& a, iam::Micros now) const {
    if (a.usage_mark != nullptr) {
      usage.Touch(a.id, now, a.usage_mark);
    } else {
      usage.Touch(a.id, now);
    }
  }
};

MixResult Measure(const Request& req, const Values& values, uint64_t range,
                  size_t samples, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(0, range - 1);
  std::vector<uint64_t> order(samples);
  for (auto& i : order) i = pick(rng);

  // Warm-up (thread-local scratch, digester context, caches).
  for (size_t i = 0; i < std::min<size_t>(samples, 20000); ++i) {
    req.Run(values.Get(order[i]));
  }
  // The presented value is copied out of the 53-byte-per-token array before
  // the clock starts, as a server has it in a just-parsed header: otherwise
  // the request would pay a cache (and TLB) miss on the array itself.
  char buf[kValueLen];
  auto presented = [&](uint64_t i) {
    std::memcpy(buf, values.Get(i).data(), kValueLen);
    return std::string_view(buf, kValueLen);
  };
  MixResult out;
  std::vector<uint32_t> total(samples);
  for (size_t i = 0; i < samples; ++i) {
    std::string_view value = presented(order[i]);
    auto a = Clock::now();
    bool allowed = req.Run(value);
    auto b = Clock::now();
    total[i] = Nanos(a, b);
    out.allowed += allowed;
  }
  std::vector<uint32_t> d(samples), l(samples), z(samples);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < samples; ++i) {
    req.RunParts(presented(order[i]), &d[i], &l[i], &z[i]);
  }
  std::vector<uint32_t> li(samples), lt(samples);
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t i = 0; i < samples; ++i) {
    req.RunLookupSteps(presented(order[i]), &li[i], &lt[i]);
  }
  out.lookup_index = Of(li);
  out.lookup_token = Of(lt);
  out.total = Of(total);
  out.digest = Of(d);
  out.lookup = Of(l);
  out.authorize = Of(z);
  return out;
}

void Print(const char* mix, uint64_t n, const MixResult& r, size_t samples) {
  auto line = [&](const char* what, const Percentiles& p) {
    std::printf("BENCH authz_%s_%s_p50_%lu %.0f ns\n", mix, what,
                static_cast<unsigned long>(n), p.p50);
    std::printf("BENCH authz_%s_%s_p99_%lu %.0f ns\n", mix, what,
                static_cast<unsigned long>(n), p.p99);
  };
  line("total", r.total);
  line("check_digest", r.digest);
  line("lookup", r.lookup);
  line("authorize", r.authorize);
  line("lookup_step_digest_index", r.lookup_index);
  line("lookup_step_token_by_id", r.lookup_token);
  std::printf("BENCH authz_%s_allowed_share_%lu %.3f fraction\n", mix,
              static_cast<unsigned long>(n),
              static_cast<double>(r.allowed) / static_cast<double>(samples));
  std::fflush(stdout);
}

struct SizeResult {
  MixResult uniform, member;
};

SizeResult RunLatency(uint64_t n, size_t samples, bool measure_memory) {
  es::TokenDigester digester(es::RandomBytes(32));
  Values values = GenerateValues(n);
  auto projections = std::make_unique<Projections>();
  Feeder feed(*projections);
  FoldFixedState(feed);

  malloc_trim(0);
  const int64_t rss_before = RssBytes();
  auto start = Clock::now();
  FoldTokens(feed, values, n, digester);
  const double fold_s =
      std::chrono::duration<double>(Clock::now() - start).count();
  const int64_t rss_after = RssBytes();
  if (measure_memory) {
    std::printf("BENCH fold_token_created_%lu %.0f events/s\n",
                static_cast<unsigned long>(n), static_cast<double>(n) / fold_s);
    std::printf("BENCH rss_tokens_%lu %.1f MiB\n",
                static_cast<unsigned long>(n),
                static_cast<double>(rss_after - rss_before) / (1 << 20));
    std::printf(
        "BENCH bytes_per_token %.0f bytes\n",
        static_cast<double>(rss_after - rss_before) / static_cast<double>(n));
  }

  // last_used_at as on a running server: every token has authenticated
  // before (its usage entry exists, the flusher took it in, and its digest
  // index entry carries the usage mark), so a request is the steady-state
  // path (one load of the mark).
  es::UsageStore usage(nullptr);  // memory only: no store to flush to
  for (uint64_t i = 0; i < n; ++i) usage.Reserve(TokenId(i));
  Request req{*projections, digester, usage};
  for (uint64_t i = 0; i < n; ++i) req.Run(values.Get(i));
  usage.Flush().IgnoreError();
  SizeResult r;
  r.uniform = Measure(req, values, n, samples, 42 + n);
  Print("uniform", n, r.uniform, samples);
  r.member = Measure(req, values, std::min<uint64_t>(n, kMemberPool), samples,
                     4242 + n);
  Print("member", n, r.member, samples);
  return r;
}

// ---- replay -----------------------------------------------------------------

// Event i of the replay log: after the fixed state, blocks of 10 events:
// 7 TokenCreated, a rename, a status toggle, and a project assignment or a
// delete, each of a token created in the same block.
class ReplayLog {
 public:
  explicit ReplayLog(uint64_t total) : total_(total) {
    for (auto& e : iam::FactoryDefaultEvents("bench-replay")) {
      head_.push_back(std::move(e));
    }
    for (int i = 0; i < kProjects; ++i) {
      head_.push_back(iam::ProjectCreated{"proj-" + std::to_string(i),
                                          "Project " + std::to_string(i),
                                          iam::PolicyType::kCustom});
    }
    for (int i = 0; i < 1000; ++i) head_.push_back(MakePolicy(i));
  }

  bool Done() const { return emitted_ >= total_; }

  Event Next() {
    ++emitted_;
    if (head_pos_ < head_.size()) return std::move(head_[head_pos_++]);
    const uint64_t k = block_pos_++;
    const uint64_t base = block_ * 7;
    if (block_pos_ == 10) {
      block_pos_ = 0;
      ++block_;
    }
    if (k < 7) {  // sizes as append_bench's ~200-byte TokenCreated
      const uint64_t i = base + k;
      iam::TokenCreated t;
      t.id = TokenId(i);
      t.name = "bench token";
      t.projects = {Proj(static_cast<int>(i)), Proj(static_cast<int>(i + 1))};
      iam::Hash h = es::Sha256(t.id);  // a stand-in for the HMAC digest
      t.value_digest.assign(reinterpret_cast<const char*>(h.data()), h.size());
      t.sealed_value = std::string(40, 's');
      return t;
    }
    if (k == 7) return iam::TokenRenamed{TokenId(base + 1), "renamed"};
    if (k == 8) return iam::TokenStatusToggled{TokenId(base + 2), false};
    if (block_ % 2 == 0) {
      return iam::TokenProjectsAssigned{TokenId(base + 3), {Proj(1), Proj(2)}};
    }
    return iam::TokenDeleted{TokenId(base)};
  }

 private:
  uint64_t total_;
  uint64_t emitted_ = 0;
  std::vector<Event> head_;
  size_t head_pos_ = 0;
  uint64_t block_ = 0;
  uint64_t block_pos_ = 0;
};

void WriteLog(const std::string& dir, uint64_t events) {
  es::StoreOptions options;
  options.checkpoint_interval = 100000;
  auto store = es::OpenRocksEventStore(dir, options);
  Must(store.status(), "open store");
  ReplayLog log(events);
  auto start = Clock::now();
  while (!log.Done()) {
    es::AppendRequest req;
    req.meta = {"token:bench", "req", "127.0.0.1"};
    req.events.reserve(1000);
    while (req.events.size() < 1000 && !log.Done()) {
      req.events.push_back(log.Next());
    }
    Must((*store)->Append(std::move(req)).status(), "append");
  }
  Must((*store)->Close(), "close");
  std::printf("BENCH replay_write_%lu %.0f events/s\n",
              static_cast<unsigned long>(events),
              static_cast<double>(events) /
                  std::chrono::duration<double>(Clock::now() - start).count());
}

// Moves everything the store wrote into SST files, compacted, as in a data
// directory that has lived a while: both readers then read the same files
// (rather than one of them re-reading the WAL into a memtable).
void Settle(const std::string& dir) {
  es::RocksDb db;
  Must(db.Open(dir, /*read_only=*/false), "open to flush");
  rocksdb::FlushOptions fo;
  for (auto* cf : {db.events(), db.keys(), db.meta()}) {
    Must(es::FromRocks(db.db()->Flush(fo, cf), "flush"), "flush");
  }
  rocksdb::CompactRangeOptions co;
  Must(es::FromRocks(db.db()->CompactRange(co, db.events(), nullptr, nullptr),
                     "compact"),
       "compact");
}

struct RawScan {
  double rate = 0;
  uint64_t events = 0;
  uint64_t bytes = 0;
};

RawScan RawIterate(const std::string& dir) {
  es::RocksDb db;
  Must(db.Open(dir, /*read_only=*/true), "open raw");
  RawScan out;
  uint64_t touched = 0;
  auto start = Clock::now();
  {
    rocksdb::ReadOptions ro;
    ro.verify_checksums = true;  // as the store's Scan
    std::unique_ptr<rocksdb::Iterator> it(
        db.db()->NewIterator(ro, db.events()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      rocksdb::Slice k = it->key();
      rocksdb::Slice v = it->value();
      out.bytes += k.size() + v.size();
      touched += static_cast<unsigned char>(k.data()[k.size() - 1]) +
                 static_cast<unsigned char>(v.data()[0]);
      ++out.events;
    }
    if (!it->status().ok()) Die("raw iteration: " + it->status().ToString());
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  out.rate = static_cast<double>(out.events) / s;
  if (touched == 0) std::printf("# unlikely\n");
  return out;
}

// Counts events, or keeps them: for the split of the replay time into
// store read + verify + decode, and fold.
class DiagnosticSink final : public iam::EventSink {
 public:
  explicit DiagnosticSink(bool keep) : keep_(keep) {}
  iam::Status Apply(const RecordedEvent& e) override {
    ++count;
    if (keep_) events.push_back(e);
    return iam::OkStatus();
  }
  uint64_t count = 0;
  std::vector<RecordedEvent> events;

 private:
  bool keep_;
};

struct ReplaySplit {
  double verify_decode = 0;  // events/s of ReadFrom into a counting sink
  double fold = 0;           // events/s of Projections::Apply alone
};

ReplaySplit SplitReplay(const std::string& dir, uint64_t expected) {
  auto store = es::OpenRocksEventStore(dir, {});
  Must(store.status(), "open store for the split");
  ReplaySplit out;
  {
    DiagnosticSink counter(/*keep=*/false);
    auto start = Clock::now();
    Must((*store)->ReadFrom(1, &counter), "read");
    const double s =
        std::chrono::duration<double>(Clock::now() - start).count();
    if (counter.count != expected) Die("split read ended early");
    out.verify_decode = static_cast<double>(expected) / s;
  }
  DiagnosticSink keeper(/*keep=*/true);
  keeper.events.reserve(expected);
  Must((*store)->ReadFrom(1, &keeper), "read");
  Must((*store)->Close(), "close");
  auto projections = std::make_unique<Projections>();
  auto start = Clock::now();
  for (const auto& e : keeper.events) Must(projections->Apply(e), "fold");
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  out.fold = static_cast<double>(expected) / s;
  return out;
}

double Replay(const std::string& dir, uint64_t expected) {
  auto store = es::OpenRocksEventStore(dir, {});
  Must(store.status(), "open store for replay");
  auto projections = std::make_unique<Projections>();
  auto start = Clock::now();
  Must((*store)->ReadFrom(1, projections.get()), "replay");
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (projections->last_seq() != expected) Die("replay ended early");
  Must((*store)->Close(), "close");
  return static_cast<double>(expected) / s;
}

// 1 + 2: latency at 1k, 100k and N tokens; memory at N.
void RunLatencyPart(uint64_t tokens, size_t samples) {
  std::vector<uint64_t> sizes = {1000};
  if (tokens > 100000) sizes.push_back(100000);
  if (tokens > 1000) sizes.push_back(tokens);
  SizeResult small, large;
  for (uint64_t n : sizes) {
    SizeResult r = RunLatency(n, samples, /*measure_memory=*/n == tokens);
    if (n == 1000) small = r;
    if (n == tokens) large = r;
  }
  const double uniform_growth =
      large.uniform.total.p99 / small.uniform.total.p99;
  const double member_growth = large.member.total.p99 / small.member.total.p99;
  const std::string suffix = tokens == 1000000 ? "1m" : std::to_string(tokens);
  std::printf("RATIO authz_p99_growth_%s_vs_1k %.2f\n", suffix.c_str(),
              std::max(uniform_growth, member_growth));
  std::printf("RATIO authz_uniform_p99_growth_%s_vs_1k %.2f\n", suffix.c_str(),
              uniform_growth);
  std::printf("RATIO authz_member_p99_growth_%s_vs_1k %.2f\n", suffix.c_str(),
              member_growth);
  std::fflush(stdout);
}

// 3: replay next to raw iteration, on the same directory.
void RunReplayPart(const std::string& dir, uint64_t events, bool keep_log) {
  const bool reuse = keep_log && std::filesystem::exists(
                                     std::filesystem::path(dir) / "CURRENT");
  if (!reuse) {
    std::filesystem::remove_all(dir);
    std::filesystem::remove(es::CheckpointFileFor(dir));
    std::filesystem::create_directories(
        std::filesystem::path(dir).parent_path());
    WriteLog(dir, events);
    Settle(dir);
  }
  RawScan raw1 = RawIterate(dir);
  const double replay = Replay(dir, events);
  const ReplaySplit split = SplitReplay(dir, events);
  RawScan raw2 = RawIterate(dir);
  if (raw1.events != events || raw2.events != events) Die("raw scan count");
  const double raw = std::max(raw1.rate, raw2.rate);
  std::printf("BENCH replay_event_bytes %.0f bytes\n",
              static_cast<double>(raw1.bytes) / static_cast<double>(events));
  std::printf("BENCH raw_iter_pass1_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), raw1.rate);
  std::printf("BENCH raw_iter_pass2_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), raw2.rate);
  std::printf("BENCH raw_iter_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), raw);
  std::printf("BENCH replay_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), replay);
  std::printf("BENCH replay_split_read_verify_decode_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), split.verify_decode);
  std::printf("BENCH replay_split_fold_only_%lu %.0f events/s\n",
              static_cast<unsigned long>(events), split.fold);
  std::printf("RATIO replay_vs_raw_iter %.2f\n", replay / raw);
  std::fflush(stdout);
  if (keep_log) return;
  std::filesystem::remove_all(dir);
  std::filesystem::remove(es::CheckpointFileFor(dir));
}

}  // namespace

int main(int argc, char** argv) {
  // Huge pages for the large tables (core/model.h LargeMemory).
  iam::SetLargeMemory(iam::eventstore::HugePageMemory());
  uint64_t tokens = 1000000;
  uint64_t events = 1000000;
  size_t samples = 200000;
  std::string dir = "/tmp/iamledger-authz-bench";
  std::string only;       // "latency" or "replay": run one part
  bool keep_log = false;  // --keep-log 1: keep (and reuse) the replay log
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--tokens"))
      tokens = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--events"))
      events = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--samples"))
      samples = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--dir"))
      dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--only"))
      only = argv[i + 1];
    else if (!std::strcmp(argv[i], "--keep-log"))
      keep_log = std::strcmp(argv[i + 1], "0") != 0;
    else
      Die(std::string("unknown flag ") + argv[i]);
  }
  if (tokens < 1000 || events < 2000 || samples < 100) {
    Die("need --tokens >= 1000, --events >= 2000, --samples >= 100");
  }

  if (only.empty() || only == "latency") RunLatencyPart(tokens, samples);
  if (only.empty() || only == "replay") RunReplayPart(dir, events, keep_log);
  return 0;
}
