// Projections: the live View folded from RecordedEvents (state through core's
// Evolve, the authentication index and the history index), its refusal of
// events out of order or that cannot apply, and the equality of a live fold
// (the store's apply sink) with a replay of the same log.
#include "projections/projections.h"

#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/defaults.h"
#include "core/events.h"
#include "core/model.h"
#include "eventstore/event_store.h"

namespace iam::projections {
namespace {

// Builds RecordedEvents the way the log delivers them: consecutive seqs
// from 1, per-stream versions from 1, recorded_at advancing by 10 per event.
// Only events that applied consume a seq.
class Feed {
 public:
  explicit Feed(Projections& p) : p_(p) {}

  RecordedEvent Next(Event e) const {
    RecordedEvent rec;
    rec.seq = seq_ + 1;
    rec.recorded_at = now_ + 10;
    rec.meta = {"token:admin", "req-" + std::to_string(seq_ + 1), "127.0.0.1"};
    rec.stream = StreamOf(e);
    auto it = versions_.find(rec.stream);
    rec.stream_version = it == versions_.end() ? 1 : it->second + 1;
    rec.event = std::move(e);
    return rec;
  }
  Status Apply(Event e) {
    RecordedEvent rec = Next(std::move(e));
    Status s = p_.Apply(rec);
    if (s.ok()) {
      seq_ = rec.seq;
      now_ = rec.recorded_at;
      versions_[rec.stream] = rec.stream_version;
    }
    return s;
  }
  // Applies and returns the seq the event got.
  uint64_t Must(Event e) {
    Status s = Apply(std::move(e));
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    return seq_;
  }
  uint64_t seq() const { return seq_; }

 private:
  Projections& p_;
  uint64_t seq_ = 0;
  Micros now_ = 1000;
  std::map<std::string, uint64_t> versions_;
};

TokenCreated Tok(std::string id, std::string digest, bool active = true,
                 StringList projects = {}) {
  TokenCreated t;
  t.id = std::move(id);
  t.name = "token " + t.id;
  t.active = active;
  t.projects = std::move(projects);
  t.value_digest = std::move(digest);
  t.sealed_value = "sealed-" + t.id;
  return t;
}

PolicyCreated Pol(std::string id, StringList members) {
  PolicyCreated p;
  p.id = std::move(id);
  p.name = "policy " + p.id;
  p.members = std::move(members);
  Statement st;
  st.effect = Effect::kAllow;
  st.actions = {"iam:tokens:get"};
  st.resources = {"*"};
  st.projects = {"*"};
  p.statements = {st};
  return p;
}

// A copy of the whole view, taken under the read lock.
View Snapshot(const Projections& p) {
  return p.Read([](const View& v) { return v; });
}

void CheckSameView(const View& a, const View& b) {
  CHECK(CanonicalEncoding(a.state) == CanonicalEncoding(b.state));
  CHECK(a.state == b.state);  // indexes and stream versions included
  CHECK(a.tokens_by_digest == b.tokens_by_digest);
  CHECK(a.history == b.history);
}

// The id of the active token with `digest`, "" when there is none.
std::string ActiveId(const Projections& p, std::string_view digest) {
  return p.Read([&](const View& v) {
    const Token* t = v.ActiveTokenByDigest(digest);
    return t == nullptr ? std::string() : t->id;
  });
}

TEST_CASE("projections: factory defaults and tokens fold into the view") {
  Projections p;
  Feed feed(p);
  CHECK(p.last_seq() == 0);
  for (auto& e : FactoryDefaultEvents("ledger-1")) feed.Must(std::move(e));
  CHECK(p.last_seq() == 14);  // LedgerInitialized, 7 roles, 6 policies

  feed.Must(Tok("t1", "d1"));
  feed.Must(Tok("t2", "d2", /*active=*/false, {"p1"}));
  CHECK(p.last_seq() == 16);

  View v = Snapshot(p);
  CHECK(v.state.ledger_id == "ledger-1");
  CHECK(v.state.roles.size() == 7);
  CHECK(v.state.policies.size() == 6);
  CHECK(v.state.policies.contains("administrator-access"));
  CHECK(v.state.policies_by_member.contains("team:local:admins"));
  REQUIRE(v.state.tokens.size() == 2);
  CHECK(v.state.tokens.at("t2").projects == StringList{"p1"});
  CHECK(v.state.last_seq == 16);
  CHECK(v.tokens_by_digest.size() == 2);
  CHECK(v.tokens_by_digest.at("d1") == StringList{"t1"});
  CHECK(v.tokens_by_digest.at("d2") == StringList{"t2"});
  CHECK(v.history.at("ledger") == std::vector<uint64_t>{1});
  CHECK(v.history.at("role/owner") == std::vector<uint64_t>{2});
  CHECK(v.history.at("policy/administrator-access") ==
        std::vector<uint64_t>{9});
  CHECK(v.history.at("token/t1") == std::vector<uint64_t>{15});
  CHECK(v.history.size() == 16);  // every stream has one event so far

  CHECK(ActiveId(p, "d1") == "t1");
  CHECK(ActiveId(p, "d2") == "");  // created inactive
  CHECK(ActiveId(p, "nope") == "");
  CHECK(ActiveId(p, "") == "");
}

TEST_CASE("projections: ActiveTokenByDigest follows status and deletion") {
  Projections p;
  Feed feed(p);
  feed.Must(Tok("t1", "d1"));
  feed.Must(Tok("other", "d9"));
  CHECK(ActiveId(p, "d1") == "t1");

  feed.Must(TokenStatusToggled{"t1", false});
  CHECK(ActiveId(p, "d1") == "");
  CHECK(Snapshot(p).tokens_by_digest.contains("d1"));  // still indexed

  feed.Must(TokenStatusToggled{"t1", true});
  CHECK(ActiveId(p, "d1") == "t1");

  feed.Must(TokenRenamed{"t1", "renamed"});
  feed.Must(TokenProjectsAssigned{"t1", {"p1", "p2"}});
  CHECK(p.Read([](const View& v) {
    const Token* t = v.ActiveTokenByDigest("d1");
    return t != nullptr && t->name == "renamed" &&
           t->projects == StringList{"p1", "p2"} && t->version == 5;
  }));

  feed.Must(TokenDeleted{"t1"});
  CHECK(ActiveId(p, "d1") == "");
  View v = Snapshot(p);
  CHECK_FALSE(v.tokens_by_digest.contains("d1"));
  CHECK_FALSE(v.state.tokens.contains("t1"));
  CHECK(ActiveId(p, "d9") == "other");  // untouched
  CHECK(v.tokens_by_digest.size() == 1);
}

TEST_CASE("projections: two tokens sharing a digest") {
  Projections p;
  Feed feed(p);
  feed.Must(Tok("t1", "shared"));
  feed.Must(Tok("t2", "shared"));
  CHECK(Snapshot(p).tokens_by_digest.at("shared") == StringList{"t1", "t2"});
  CHECK(ActiveId(p, "shared") == "t1");  // the first active one

  feed.Must(TokenStatusToggled{"t1", false});
  CHECK(ActiveId(p, "shared") == "t2");

  feed.Must(TokenDeleted{"t2"});
  CHECK(ActiveId(p, "shared") == "");  // t1 is inactive, t2 gone
  CHECK(Snapshot(p).tokens_by_digest.at("shared") == StringList{"t1"});

  feed.Must(TokenStatusToggled{"t1", true});
  CHECK(ActiveId(p, "shared") == "t1");

  // A new token may take the value again after the old one is deleted.
  feed.Must(TokenDeleted{"t1"});
  CHECK_FALSE(Snapshot(p).tokens_by_digest.contains("shared"));
  feed.Must(Tok("t3", "shared", /*active=*/false));
  feed.Must(Tok("t4", "shared"));
  CHECK(Snapshot(p).tokens_by_digest.at("shared") == StringList{"t3", "t4"});
  CHECK(ActiveId(p, "shared") == "t4");
  // A deleted id that is created again gets indexed again. Ids sharing a
  // digest are kept in id order (not creation order), so a view loaded
  // from a snapshot picks the same token as the live one.
  feed.Must(Tok("t1", "shared"));
  CHECK(Snapshot(p).tokens_by_digest.at("shared") ==
        StringList{"t1", "t3", "t4"});
  CHECK(ActiveId(p, "shared") == "t1");
}

TEST_CASE("projections: the usage mark of a digest index entry") {
  Projections p;
  Feed feed(p);
  feed.Must(Tok("t1", "d1"));
  feed.Must(Tok("t2", "d2"));
  auto mark_of = [&](const std::string& digest) {
    return p.Read([&](const View& v) -> uint32_t* {
      return v.Authenticate(digest, 0).usage_mark;
    });
  };
  auto auth_id = [&](const std::string& digest) {
    return p.Read([&](const View& v) -> std::string {
      const View::Authenticated a = v.Authenticate(digest, 0);
      return a.token == nullptr ? "" : a.token->id;
    });
  };
  CHECK(auth_id("d1") == "t1");
  REQUIRE(mark_of("d1") != nullptr);
  CHECK(*mark_of("d1") == 0);  // a new entry
  *mark_of("d1") = 7;
  // Kept when the index grows around it.
  for (int i = 0; i < 100; ++i) {
    feed.Must(Tok("x" + std::to_string(i), "dx" + std::to_string(i)));
  }
  REQUIRE(mark_of("d1") != nullptr);
  CHECK(*mark_of("d1") == 7);
  CHECK(mark_of("d1") != mark_of("d2"));
  // A shared digest has none; the entry's mark starts again when one token
  // is left (it may have been the other one's).
  feed.Must(Tok("t0", "d1"));
  CHECK(auth_id("d1") == "t0");
  CHECK(mark_of("d1") == nullptr);
  feed.Must(TokenDeleted{"t0"});
  REQUIRE(mark_of("d1") != nullptr);
  CHECK(*mark_of("d1") == 0);
  // Unknown or inactive: no token.
  CHECK(auth_id("nope") == "");
  feed.Must(TokenStatusToggled{"t2", false});
  CHECK(auth_id("d2") == "");
}

TEST_CASE("projections: authentication reads the digest index entry") {
  Projections p;
  Feed feed(p);
  const std::string long_id(DigestIndex::kInlineId + 1, 'l');
  const std::string short_id(DigestIndex::kInlineId, 's');
  // A 32-byte digest, as outside tests, and a shorter one.
  const std::string d32(32, 'k');
  feed.Must(Tok(short_id, d32));
  feed.Must(Tok(long_id, "d-long"));
  feed.Must(Tok("t", "d-t"));
  auto auth = [&](const std::string& digest, Micros now) {
    return p.Read([&](const View& v) -> std::string {
      const View::Authenticated a = v.Authenticate(digest, now);
      if (a.token == nullptr) return "-";
      CHECK(a.id == a.token->id);
      CHECK(a.token == v.UsableTokenByDigest(digest, now));
      return std::string(a.id);
    });
  };
  CHECK(auth(d32, 0) == short_id);
  CHECK(auth("d-long", 0) == long_id);
  CHECK(auth("d-t", 0) == "t");
  // The entry follows the token's status and expiry.
  feed.Must(TokenStatusToggled{"t", false});
  CHECK(auth("d-t", 0) == "-");
  feed.Must(TokenStatusToggled{"t", true});
  CHECK(auth("d-t", 0) == "t");
  feed.Must(TokenExpirySet{"t", 5000});
  CHECK(auth("d-t", 4999) == "t");
  CHECK(auth("d-t", 5000) == "-");
  feed.Must(TokenExpirySet{"t", 0});
  CHECK(auth("d-t", 5000) == "t");
  // A view loaded from a snapshot, or copied, answers the same.
  Projections q;
  REQUIRE(q.LoadSnapshot(p.EncodeSnapshot()).ok());
  CHECK(q.Read([&](const View& v) {
    return std::string(v.Authenticate(d32, 0).id);
  }) == short_id);
  const View copy = Snapshot(p);
  CHECK(copy.Authenticate("d-t", 0).id == "t");
  CHECK(copy.Authenticate("d-long", 0).id == long_id);
}

TEST_CASE("projections: the history index keeps deleted objects' seqs") {
  Projections p;
  Feed feed(p);
  const uint64_t c = feed.Must(Tok("t1", "d1"));
  feed.Must(Tok("t2", "d2"));
  const uint64_t r = feed.Must(TokenRenamed{"t1", "x"});
  const uint64_t d = feed.Must(TokenDeleted{"t1"});
  const uint64_t pc = feed.Must(Pol("pol", {"token:t2"}));
  const uint64_t pa = feed.Must(PolicyMembersAdded{"pol", {"token:*"}});
  const uint64_t pd = feed.Must(PolicyDeleted{"pol"});
  const uint64_t rc = feed.Must(
      RoleCreated{"role", "Role", PolicyType::kCustom, {"iam:tokens:get"}, {}});
  const uint64_t rd = feed.Must(RoleDeleted{"role"});
  const uint64_t jc =
      feed.Must(ProjectCreated{"proj", "Project", PolicyType::kCustom});
  const uint64_t jr = feed.Must(ProjectRenamed{"proj", "Renamed"});
  const uint64_t jd = feed.Must(ProjectDeleted{"proj"});

  View v = Snapshot(p);
  CHECK(v.history.at("token/t1") == std::vector<uint64_t>{c, r, d});
  CHECK(v.history.at("token/t2") == std::vector<uint64_t>{2});
  CHECK(v.history.at("policy/pol") == std::vector<uint64_t>{pc, pa, pd});
  CHECK(v.history.at("role/role") == std::vector<uint64_t>{rc, rd});
  CHECK(v.history.at("project/proj") == std::vector<uint64_t>{jc, jr, jd});
  CHECK_FALSE(v.state.tokens.contains("t1"));
  CHECK(v.state.policies.empty());
  CHECK(v.state.policies_by_member.empty());
  CHECK(v.state.policies_by_wildcard_member.empty());
  CHECK(v.state.roles.empty());
  CHECK(v.state.projects.empty());
  CHECK(v.state.stream_versions.at("token/t1") == 3);

  // A re-created object continues the same stream and history.
  const uint64_t again = feed.Must(Tok("t1", "d1"));
  CHECK(Snapshot(p).history.at("token/t1") ==
        std::vector<uint64_t>{c, r, d, again});
}

TEST_CASE("projections: an out-of-order seq is DataLoss and changes nothing") {
  Projections p;
  Feed feed(p);
  for (auto& e : FactoryDefaultEvents("ledger-1")) feed.Must(std::move(e));
  feed.Must(Tok("t1", "d1"));
  const View before = Snapshot(p);
  const uint64_t last = p.last_seq();
  REQUIRE(last == 15);

  RecordedEvent gap = feed.Next(Tok("t2", "d2"));
  gap.seq = last + 2;
  Status s = p.Apply(gap);
  CHECK(s.code() == StatusCode::kDataLoss);
  CHECK(s.message().find("seq 17") != std::string::npos);
  CHECK(s.message().find("15") != std::string::npos);

  RecordedEvent repeat = feed.Next(Tok("t2", "d2"));
  repeat.seq = last;
  CHECK(p.Apply(repeat).code() == StatusCode::kDataLoss);

  RecordedEvent zero = feed.Next(Tok("t2", "d2"));
  zero.seq = 0;
  CHECK(p.Apply(zero).code() == StatusCode::kDataLoss);

  CHECK(p.last_seq() == last);
  CheckSameView(Snapshot(p), before);
  CHECK(ActiveId(p, "d2") == "");

  // The right seq still applies afterwards.
  feed.Must(Tok("t2", "d2"));
  CHECK(p.last_seq() == last + 1);
  CHECK(ActiveId(p, "d2") == "t2");
}

TEST_CASE("projections: an event that cannot apply leaves the view unchanged") {
  Projections p;
  Feed feed(p);
  for (auto& e : FactoryDefaultEvents("ledger-1")) feed.Must(std::move(e));
  feed.Must(Tok("t1", "d1"));
  feed.Must(Pol("pol", {"token:t1"}));
  const View before = Snapshot(p);
  const uint64_t last = p.last_seq();

  auto check_refused = [&](Event e) {
    CAPTURE(EventTypeName(e));
    Status s = feed.Apply(std::move(e));
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message().find("seq " + std::to_string(last + 1)) !=
          std::string::npos);
    CHECK(p.last_seq() == last);
    CheckSameView(Snapshot(p), before);
  };
  check_refused(TokenRenamed{"ghost", "x"});
  check_refused(TokenStatusToggled{"ghost", false});
  check_refused(TokenProjectsAssigned{"ghost", {"p1"}});
  // No index entry for the digest of a refused TokenCreated, nor a history
  // entry for its stream.
  check_refused(Tok("t1", "other-digest"));
  CHECK_FALSE(Snapshot(p).tokens_by_digest.contains("other-digest"));
  // A refused delete keeps the token findable.
  check_refused(TokenDeleted{"ghost"});
  CHECK(ActiveId(p, "d1") == "t1");
  check_refused(Pol("pol", {"token:*"}));
  check_refused(PolicyMembersAdded{"ghost", {"token:t1"}});
  check_refused(PolicyDeleted{"ghost"});
  check_refused(LedgerInitialized{1, "another-ledger"});
  CHECK_FALSE(Snapshot(p).history.contains("token/ghost"));

  // The seq the refused events had is still free.
  feed.Must(TokenDeleted{"t1"});
  CHECK(p.last_seq() == last + 1);
  CHECK(ActiveId(p, "d1") == "");
}

// A log that touches every index: shared digests, wildcard members, deletes
// and re-creations, role and project changes.
std::vector<std::vector<Event>> Workload() {
  std::vector<std::vector<Event>> appends;
  appends.push_back(FactoryDefaultEvents("ledger-fold"));
  std::vector<Event> tokens;
  for (int i = 0; i < 40; ++i) {
    // Every fifth token shares its value digest with the one before it.
    std::string digest = "digest-" + std::to_string(i % 5 == 4 ? i - 1 : i);
    tokens.push_back(Tok("tok-" + std::to_string(i), digest, i % 7 != 3,
                         i % 2 ? StringList{"proj-1"} : StringList{}));
  }
  appends.push_back(std::move(tokens));
  appends.push_back({ProjectCreated{"proj-1", "One", PolicyType::kCustom},
                     ProjectCreated{"proj-2", "Two", PolicyType::kCustom},
                     Pol("pol-a", {"token:tok-1", "token:tok-2"}),
                     Pol("pol-b", {"token:*", "team:local:*"}),
                     Pol("pol-c", {"user:local:alice", "token:tok-3"})});
  appends.push_back(
      {TokenRenamed{"tok-1", "one"}, TokenStatusToggled{"tok-2", false},
       TokenProjectsAssigned{"tok-4", {"proj-2"}}, TokenDeleted{"tok-3"},
       TokenDeleted{"tok-4"}, PolicyMembersAdded{"pol-a", {"token:tok-5", "*"}},
       PolicyMembersRemoved{"pol-b", {"team:local:*"}},
       PolicyUpdated{"pol-c", "C", PolicyType::kCustom, {}, {}},
       RoleUpdated{"viewer",
                   "Viewer",
                   PolicyType::kChefManaged,
                   {"iam:tokens:get"},
                   {}},
       ProjectRenamed{"proj-2", "Deux"}});
  appends.push_back({PolicyDeleted{"pol-a"}, ProjectDeleted{"proj-1"},
                     Tok("tok-3", "digest-new"), TokenDeleted{"tok-8"},
                     TokenStatusToggled{"tok-2", true}});
  return appends;
}

TEST_CASE("projections: a live fold through the store equals a replay") {
  Projections live;
  eventstore::StoreOptions options;
  options.apply_sink = &live;
  auto store = eventstore::NewMemoryEventStore(options);
  for (auto& events : Workload()) {
    eventstore::AppendRequest req;
    req.meta = {"token:admin", "req", "127.0.0.1"};
    req.events = std::move(events);
    auto r = store->Append(std::move(req));
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }
  const uint64_t last = store->LastSeq();
  REQUIRE(last > 60);
  CHECK(live.last_seq() == last);  // Append returns after the sink applied

  Projections replay;
  Status s = store->ReadFrom(1, &replay);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  const View a = Snapshot(live);
  CheckSameView(a, Snapshot(replay));
  CHECK(a.state.tokens.size() == 38);  // 40 - tok-3 - tok-4 - tok-8 + tok-3
  // tok-3 and tok-4 shared digest-3; both were deleted (tok-3 came back
  // with another digest).
  CHECK_FALSE(a.tokens_by_digest.contains("digest-3"));
  CHECK(a.tokens_by_digest.at("digest-new") == StringList{"tok-3"});
  CHECK(a.history.at("token/tok-3").size() == 3);
  CHECK(a.state.policies_by_wildcard_member.contains("token:*"));
  CHECK_FALSE(a.state.policies_by_wildcard_member.contains("team:local:*"));

  // In two parts (a snapshot up to some seq, then the tail): the same view.
  Projections parts;
  REQUIRE(store->ReadFrom(1, &parts, last / 2).ok());
  CHECK(parts.last_seq() == last / 2);
  REQUIRE(store->ReadFrom(last / 2 + 1, &parts).ok());
  CheckSameView(a, Snapshot(parts));

  // Delivering the log again to a view that has it is refused, unchanged.
  CHECK(store->ReadFrom(1, &replay).code() == StatusCode::kDataLoss);
  CheckSameView(a, Snapshot(replay));
  REQUIRE(store->Close().ok());
}

TEST_CASE("projections: a snapshot loads into the same view") {
  Projections live;
  Feed feed(live);
  for (auto& events : Workload()) {
    for (auto& e : events) feed.Must(std::move(e));
  }
  // Two active tokens sharing a value, created in the reverse of id order.
  feed.Must(Tok("zz-first", "dup"));
  feed.Must(Tok("aa-second", "dup"));
  const std::string bytes = live.EncodeSnapshot();

  Projections loaded;
  Status s = loaded.LoadSnapshot(bytes);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  CHECK(loaded.last_seq() == live.last_seq());
  CheckSameView(Snapshot(live), Snapshot(loaded));
  CHECK(ActiveId(live, "dup") == ActiveId(loaded, "dup"));

  // Folding continues from the snapshot as from the live view.
  RecordedEvent next = feed.Next(TokenDeleted{"aa-second"});
  REQUIRE(live.Apply(next).ok());
  REQUIRE(loaded.Apply(next).ok());
  CheckSameView(Snapshot(live), Snapshot(loaded));
  CHECK(ActiveId(loaded, "dup") == "zz-first");

  // A damaged snapshot is refused and changes nothing.
  const View before = Snapshot(loaded);
  CHECK(loaded.LoadSnapshot(bytes.substr(0, bytes.size() - 3)).code() ==
        StatusCode::kDataLoss);
  CHECK(loaded.LoadSnapshot("not a snapshot").code() == StatusCode::kDataLoss);
  CheckSameView(before, Snapshot(loaded));
}

TEST_CASE("projections: readers run concurrently with the applier") {
  Projections p;
  Feed feed(p);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<bool> consistent{true};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        // Whatever a reader sees is one consistent state: every indexed
        // digest of an active token points at a token with that digest.
        bool ok = p.Read([](const View& v) {
          for (const auto& [digest, ids] : v.tokens_by_digest) {
            const Token* t = v.ActiveTokenByDigest(digest);
            if (t != nullptr && t->value_digest != digest) return false;
            if (ids.empty()) return false;
          }
          return v.history.size() >= v.state.tokens.size();
        });
        if (!ok) consistent = false;
        reads++;
      }
    });
  }
  while (reads.load() == 0) std::this_thread::yield();
  for (int i = 0; i < 300; ++i) {
    feed.Must(Tok("t" + std::to_string(i), "d" + std::to_string(i % 50)));
    if (i % 3 == 0) feed.Must(TokenDeleted{"t" + std::to_string(i)});
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(consistent.load());
  CHECK(reads.load() > 0);
  CHECK(p.last_seq() == 400);
  CHECK(Snapshot(p).state.tokens.size() == 200);
}

}  // namespace
}  // namespace iam::projections
