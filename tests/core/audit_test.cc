// core/audit.h: check, who and diff on states folded from events, at points
// before and after grants, revokes, role changes, project changes, member
// wildcards, deny-overrides and deleted tokens and policies; and check ==
// live authorization on a random corpus.
#include "core/audit.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "core/authorize.h"
#include "core/defaults.h"
#include "core/model.h"

namespace iam::audit {
namespace {

Statement St(Effect effect, StringList actions, StringList projects,
             std::string role = "") {
  return Statement{
      effect, std::move(actions), std::move(role), {"*"}, std::move(projects)};
}

// Folds events and keeps the state after every seq, and the seqs of every
// stream, like the point-in-time timeline does.
class Timeline {
 public:
  Timeline() {
    states_.push_back(IamState{});
    for (const Event& e : FactoryDefaultEvents("ledger")) Must(e);
  }
  uint64_t Must(Event e) {
    IamState s = states_.back();
    RecordedEvent rec;
    rec.seq = s.last_seq + 1;
    rec.recorded_at = static_cast<Micros>(rec.seq);
    rec.stream = StreamOf(e);
    rec.stream_version = ++versions_[rec.stream];
    rec.event = std::move(e);
    REQUIRE(Evolve(s, rec).ok());
    history_[rec.stream].push_back(rec.seq);
    states_.push_back(std::move(s));
    return rec.seq;
  }
  uint64_t head() const { return states_.back().last_seq; }
  // The time of seq (recorded_at = seq microseconds here).
  static Micros Time(uint64_t seq) { return static_cast<Micros>(seq); }
  const IamState& At(uint64_t seq) const { return states_.at(seq); }
  StreamSeqs Seqs(uint64_t from, uint64_t to) const {
    return [this, from, to](const std::string& stream) {
      std::vector<uint64_t> out;
      auto it = history_.find(stream);
      if (it == history_.end()) return out;
      for (uint64_t s : it->second) {
        if (s > from && s <= to) out.push_back(s);
      }
      return out;
    };
  }
  std::vector<SubjectDiff> DiffOf(uint64_t from, uint64_t to,
                                  const std::string& subject = "") const {
    return Diff(At(from), Time(from), At(to), Time(to), Seqs(from, to),
                subject);
  }

 private:
  std::vector<IamState> states_;  // index = seq
  std::map<std::string, uint64_t> versions_;
  std::map<std::string, std::vector<uint64_t>> history_;
};

TokenCreated Tok(const std::string& id) {
  return TokenCreated{id, id, true, {}, "digest-" + id, "sealed"};
}

std::vector<std::string> PolicyIds(const std::vector<DecidingStatement>& r) {
  std::vector<std::string> out;
  for (const auto& d : r) out.push_back(d.policy_id);
  return out;
}

// The story every case below reads at some point of.
struct Story {
  Timeline t;
  uint64_t s0, s1, s2, s3, s4, s5, s6, s7, s8, s9;
  Story() {
    t.Must(ProjectCreated{"p1", "p1", PolicyType::kCustom});
    t.Must(ProjectCreated{"p2", "p2", PolicyType::kCustom});
    t.Must(Tok("alice"));
    s0 = t.Must(Tok("bob"));
    // grant: alice may get tokens in p1
    s1 = t.Must(PolicyCreated{"pa",
                              "pa",
                              PolicyType::kCustom,
                              {"token:alice"},
                              {St(Effect::kAllow, {"iam:tokens:get"}, {"p1"})},
                              {}});
    // a wildcard member with a role
    t.Must(RoleCreated{
        "reader", "reader", PolicyType::kCustom, {"iam:policies:get"}, {}});
    s2 = t.Must(PolicyCreated{"pb",
                              "pb",
                              PolicyType::kCustom,
                              {"token:*"},
                              {St(Effect::kAllow, {}, {"*"}, "reader")},
                              {}});
    // deny overrides allow, for bob only
    s3 = t.Must(PolicyCreated{"pdeny",
                              "pdeny",
                              PolicyType::kCustom,
                              {"token:bob"},
                              {St(Effect::kDeny, {"iam:policies:get"}, {"*"})},
                              {}});
    // role change
    s4 = t.Must(RoleUpdated{"reader",
                            "reader",
                            PolicyType::kCustom,
                            {"iam:policies:get", "iam:roles:get"},
                            {}});
    // project change: pa moves from p1 to p2
    s5 = t.Must(PolicyUpdated{"pa",
                              "pa",
                              PolicyType::kCustom,
                              {St(Effect::kAllow, {"iam:tokens:get"}, {"p2"})},
                              {}});
    // revoke: alice leaves pa
    s6 = t.Must(PolicyMembersRemoved{"pa", {"token:alice"}});
    // bob deleted (with the cascade of D7)
    t.Must(PolicyMembersRemoved{"pdeny", {"token:bob"}});
    s7 = t.Must(TokenDeleted{"bob"});
    // the wildcard policy deleted
    s8 = t.Must(PolicyDeleted{"pb"});
    // alice deactivated
    s9 = t.Must(TokenStatusToggled{"alice", false});
  }
};

TEST_CASE("audit check - table over the story") {
  Story st;
  struct Case {
    uint64_t seq;
    std::string subject, action;
    StringList projects;
    bool allowed;
    std::vector<std::string> reasons;  // policy ids
    std::string note;
  };
  const std::vector<Case> cases = {
      {st.s0, "token:alice", "iam:tokens:get", {"p1"}, false, {}, ""},
      {st.s1, "token:alice", "iam:tokens:get", {"p1"}, true, {"pa"}, ""},
      {st.s1, "token:alice", "iam:tokens:get", {"p2"}, false, {}, ""},
      {st.s1, "token:alice", "iam:tokens:get", {}, true, {"pa"}, ""},
      {st.s1, "token:bob", "iam:tokens:get", {}, false, {}, ""},
      // wildcard member through a role
      {st.s2, "token:bob", "iam:policies:get", {}, true, {"pb"}, ""},
      {st.s2,
       "token:anyone",
       "iam:policies:get",
       {},
       false,
       {},
       "token \"anyone\" does not exist"},
      {st.s2, "token:*", "iam:policies:get", {}, true, {"pb"}, ""},
      // deny overrides allow
      {st.s3, "token:bob", "iam:policies:get", {}, false, {"pdeny"}, ""},
      {st.s3, "token:alice", "iam:policies:get", {}, true, {"pb"}, ""},
      {st.s3, "token:bob", "iam:roles:get", {}, false, {}, ""},
      // role change
      {st.s4, "token:bob", "iam:roles:get", {}, true, {"pb"}, ""},
      {st.s4, "token:bob", "iam:policies:get", {"p1"}, false, {"pdeny"}, ""},
      // project change
      {st.s5, "token:alice", "iam:tokens:get", {"p1"}, false, {}, ""},
      {st.s5, "token:alice", "iam:tokens:get", {"p2"}, true, {"pa"}, ""},
      // revoke
      {st.s6, "token:alice", "iam:tokens:get", {"p2"}, false, {}, ""},
      // deleted token
      {st.s7,
       "token:bob",
       "iam:roles:get",
       {},
       false,
       {},
       "token \"bob\" does not exist"},
      {st.s6, "token:bob", "iam:roles:get", {}, true, {"pb"}, ""},
      // deleted policy
      {st.s7, "token:alice", "iam:roles:get", {}, true, {"pb"}, ""},
      {st.s8, "token:alice", "iam:roles:get", {}, false, {}, ""},
      // inactive token
      {st.s9,
       "token:alice",
       "iam:introspect:getAll",
       {},
       false,
       {},
       "token \"alice\" is inactive"},
      {st.s8,
       "token:alice",
       "iam:introspect:getAll",
       {},
       true,
       {"system/system"},
       ""},
      // chef-managed protection: the system DENY and the admin's own
      {st.s9,
       "team:local:admins",
       "iam:policies:delete",
       {},
       false,
       {"system/chef-managed-protection", "administrator-access"},
       ""},
      {st.s9,
       "team:local:admins",
       "iam:tokens:delete",
       {},
       true,
       {"administrator-access"},
       ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.seq);
    CAPTURE(c.subject);
    CAPTURE(c.action);
    const std::string resource =
        c.action == "iam:policies:delete" ? "iam:policies:administrator-access"
        : c.action == "iam:introspect:getAll" ? "iam:introspect"
                                              : "iam:things:x";
    CheckResult r = Check(st.t.At(c.seq), {c.subject, c.action, resource,
                                           c.projects, Timeline::Time(c.seq)});
    CHECK(r.allowed == c.allowed);
    CHECK(PolicyIds(r.reasons) == c.reasons);
    CHECK(r.note == c.note);
    for (const auto& reason : r.reasons) {
      CHECK(reason.effect == (c.allowed ? Effect::kAllow : Effect::kDeny));
      CHECK(MemberMatches(reason.member, c.subject));
    }
  }
}

TEST_CASE("audit check - reason fields") {
  Story st;
  CheckResult r = Check(st.t.At(st.s4),
                        {"token:alice", "iam:roles:get", "iam:roles:x", {}});
  REQUIRE(r.reasons.size() == 1);
  CHECK(r.reasons[0] ==
        DecidingStatement{"pb", 0, Effect::kAllow, "reader", "token:*"});
  r = Check(st.t.At(st.s4),
            {"token:bob", "iam:policies:get", "iam:policies:x", {}});
  REQUIRE(r.reasons.size() == 1);
  CHECK(r.reasons[0] ==
        DecidingStatement{"pdeny", 0, Effect::kDeny, "", "token:bob"});
}

bool Lists(const std::vector<WhoEntry>& list, const std::string& subject) {
  return std::any_of(list.begin(), list.end(),
                     [&](const WhoEntry& e) { return e.subject == subject; });
}

TEST_CASE("audit who - table over the story") {
  Story st;
  struct Case {
    uint64_t seq;
    std::string action;
    StringList projects;
    std::vector<std::string> members_in, members_out, tokens_in, tokens_out;
  };
  const std::vector<Case> cases = {
      {st.s0,
       "iam:tokens:get",
       {"p1"},
       {"team:local:admins", "local:admin"},
       {"token:alice"},
       {},
       {"token:alice", "token:bob"}},
      {st.s1,
       "iam:tokens:get",
       {"p1"},
       {"token:alice"},
       {},
       {"token:alice"},
       {"token:bob"}},
      {st.s2,
       "iam:policies:get",
       {},
       {"token:*", "token:alice"},
       {},
       {"token:alice", "token:bob"},
       {}},
      // bob's deny overrides the wildcard allow
      {st.s3,
       "iam:policies:get",
       {},
       {"token:*"},
       {"token:bob"},
       {"token:alice"},
       {"token:bob"}},
      {st.s4,
       "iam:roles:get",
       {},
       {"token:*"},
       {},
       {"token:alice", "token:bob"},
       {}},
      // deleted token: no longer listed
      {st.s7,
       "iam:roles:get",
       {},
       {"token:*"},
       {"token:bob"},
       {"token:alice"},
       {"token:bob"}},
      // deleted policy
      {st.s8, "iam:roles:get", {}, {}, {"token:*"}, {}, {"token:alice"}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.seq);
    CAPTURE(c.action);
    WhoResult r = Who(st.t.At(c.seq), c.action, "iam:x:y", c.projects,
                      Timeline::Time(c.seq));
    for (const auto& m : c.members_in) CHECK_MESSAGE(Lists(r.members, m), m);
    for (const auto& m : c.members_out) CHECK_MESSAGE(!Lists(r.members, m), m);
    for (const auto& m : c.tokens_in) CHECK_MESSAGE(Lists(r.tokens, m), m);
    for (const auto& m : c.tokens_out) CHECK_MESSAGE(!Lists(r.tokens, m), m);
    // Every entry is what check says.
    for (const auto* list : {&r.members, &r.tokens}) {
      for (const WhoEntry& e : *list) {
        CheckResult cr =
            Check(st.t.At(c.seq), {e.subject, c.action, "iam:x:y", c.projects,
                                   Timeline::Time(c.seq)});
        CHECK(cr.allowed);
        CHECK(cr.reasons == e.reasons);
      }
    }
  }
}

TEST_CASE("audit who - subjects sharing policies keep their own member") {
  Timeline t;
  t.Must(Tok("a"));
  t.Must(Tok("b"));
  t.Must(PolicyCreated{"shared",
                       "shared",
                       PolicyType::kCustom,
                       {"token:b", "token:*", "token:a"},
                       {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
                       {}});
  const IamState& s = t.At(t.head());
  WhoResult r = Who(s, "iam:tokens:get", "iam:tokens:x", {}, 0);
  std::map<std::string, std::string> member;
  for (const auto& e : r.tokens) {
    REQUIRE(e.reasons.size() == 1);
    member[e.subject] = e.reasons[0].member;
    CHECK(Check(s, {e.subject, "iam:tokens:get", "iam:tokens:x", {}, 0})
              .reasons == e.reasons);
  }
  CHECK(member == std::map<std::string, std::string>{{"token:a", "token:*"},
                                                     {"token:b", "token:b"}});
}

TEST_CASE("audit who - member expressions in byte order") {
  // Names alike in their first 16 bytes, one a prefix of another, bytes
  // past 0x7f and a NUL: the order is std::string's, whatever the sort
  // looks at first.
  const StringList names = {"team:local:group-b",
                            "team:local:group-a2",
                            "team:local:group-a",
                            "team:local:group-",
                            "team:local:group",
                            "team:local:gro\xc3\xa9",
                            std::string("team:local:group\0x", 18),
                            "team:a",
                            "user:local:z",
                            "team:local:group-a10"};
  Timeline t;
  t.Must(PolicyCreated{"p",
                       "p",
                       PolicyType::kCustom,
                       names,
                       {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
                       {}});
  WhoResult r = Who(t.At(t.head()), "iam:tokens:get", "iam:tokens:x", {}, 0);
  std::vector<std::string> got;
  for (const auto& m : r.members) {
    if (std::find(names.begin(), names.end(), m.subject) != names.end()) {
      got.push_back(m.subject);
    }
  }
  std::vector<std::string> want(names.begin(), names.end());
  std::sort(want.begin(), want.end());
  CHECK(got == want);
  std::vector<std::string> all;
  for (const auto& m : r.members) all.push_back(m.subject);
  CHECK(std::is_sorted(all.begin(), all.end()));
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE(
    "audit diff - subjects in byte order, each once, tokens named by no "
    "policy included") {
  // Token subjects alike in their first 16 bytes, one a prefix of another,
  // bytes past 0x7f; some named by a policy (a member key of the state),
  // some only through "token:*" (a subject made from the token's id), one
  // named in one state and not the other.
  const StringList ids = {"tok-aaaaaaaaaa-2",      "tok-aaaaaaaaaa-10",
                          "tok-aaaaaaaaaa-1",      "tok-aaaaaaaaaa",
                          "tok-aaaaaaaaa\xc3\xa9", "tok-b"};
  Timeline t;
  for (const auto& id : ids) t.Must(Tok(id));
  const uint64_t from = t.Must(PolicyCreated{
      "named",
      "named",
      PolicyType::kCustom,
      {"token:tok-aaaaaaaaaa-10", "token:tok-b", "team:local:group-a"},
      {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
      {}});
  t.Must(PolicyCreated{"everyone",
                       "everyone",
                       PolicyType::kCustom,
                       {"token:*"},
                       {St(Effect::kAllow, {"iam:roles:get"}, {"*"})},
                       {}});
  t.Must(PolicyMembersRemoved{"named", {"token:tok-b"}});
  t.Must(PolicyMembersAdded{"named", {"token:tok-aaaaaaaaaa-1"}});
  const std::vector<SubjectDiff> d = t.DiffOf(from - 1, t.head());
  std::vector<std::string> got;
  for (const auto& sd : d) got.push_back(sd.subject);
  CHECK(std::is_sorted(got.begin(), got.end()));
  CHECK(std::adjacent_find(got.begin(), got.end()) == got.end());
  // Every token gained iam:roles:get through token:* (and the member
  // expressions gained what their policies grant): each listed once.
  for (const auto& id : ids) {
    CAPTURE(id);
    CHECK(std::count(got.begin(), got.end(), "token:" + id) == 1);
  }
  CHECK(std::count(got.begin(), got.end(), "token:*") == 1);
  CHECK(std::count(got.begin(), got.end(), "team:local:group-a") == 1);
}

const GrantChange* Find(const std::vector<GrantChange>& list,
                        const std::string& action,
                        const std::string& project = "*") {
  for (const auto& c : list) {
    if (c.grant.action == action && c.grant.project == project) return &c;
  }
  return nullptr;
}

const SubjectDiff* Subject(const std::vector<SubjectDiff>& diff,
                           const std::string& subject) {
  for (const auto& d : diff) {
    if (d.subject == subject) return &d;
  }
  return nullptr;
}

TEST_CASE("audit diff - gained and lost with their causes") {
  Story st;
  const Timeline& t = st.t;
  SUBCASE("grant") {
    auto d = t.DiffOf(st.s0, st.s1);
    const SubjectDiff* a = Subject(d, "token:alice");
    REQUIRE(a != nullptr);
    REQUIRE(a->gained.size() == 1);
    CHECK(a->lost.empty());
    CHECK(a->gained[0].grant ==
          Grant{Effect::kAllow, "iam:tokens:get", "*", "p1", "pa", 0, ""});
    CHECK(a->gained[0].seqs == std::vector<uint64_t>{st.s1});
    CHECK(Subject(d, "token:bob") == nullptr);
  }
  SUBCASE("role change reaches the wildcard member and every token") {
    auto d = t.DiffOf(st.s3, st.s4);
    for (const char* s : {"token:*", "token:alice", "token:bob"}) {
      CAPTURE(s);
      const SubjectDiff* x = Subject(d, s);
      REQUIRE(x != nullptr);
      REQUIRE(x->gained.size() == 1);
      CHECK(x->gained[0].grant.action == "iam:roles:get");
      CHECK(x->gained[0].grant.role == "reader");
      CHECK(x->gained[0].seqs == std::vector<uint64_t>{st.s4});
      CHECK(x->lost.empty());
    }
  }
  SUBCASE("project change") {
    auto d = t.DiffOf(st.s4, st.s5, "token:alice");
    REQUIRE(d.size() == 1);
    REQUIRE(Find(d[0].lost, "iam:tokens:get", "p1") != nullptr);
    REQUIRE(Find(d[0].gained, "iam:tokens:get", "p2") != nullptr);
    CHECK(Find(d[0].gained, "iam:tokens:get", "p2")->seqs ==
          std::vector<uint64_t>{st.s5});
  }
  SUBCASE("revoke, over a longer span") {
    auto d = t.DiffOf(st.s1, st.s6, "token:alice");
    REQUIRE(d.size() == 1);
    const GrantChange* lost = Find(d[0].lost, "iam:tokens:get", "p1");
    REQUIRE(lost != nullptr);
    CHECK(lost->seqs == std::vector<uint64_t>{st.s5, st.s6});
    const GrantChange* gained = Find(d[0].gained, "iam:roles:get");
    REQUIRE(gained != nullptr);
    // the role's events and the policy's
    CHECK(gained->seqs == std::vector<uint64_t>{st.s2 - 1, st.s2, st.s4});
  }
  SUBCASE("deny statements are grants too") {
    auto d = t.DiffOf(st.s2, st.s3, "token:bob");
    REQUIRE(d.size() == 1);
    REQUIRE(d[0].gained.size() == 1);
    CHECK(d[0].gained[0].grant.effect == Effect::kDeny);
    CHECK(d[0].gained[0].grant.policy_id == "pdeny");
  }
  SUBCASE("deleted token loses everything") {
    auto d = t.DiffOf(st.s6, st.s7);
    const SubjectDiff* b = Subject(d, "token:bob");
    REQUIRE(b != nullptr);
    CHECK(b->gained.empty());
    CHECK(b->lost.size() == 3);  // policies:get, roles:get, the DENY
    for (const auto& c : b->lost) {
      CHECK(std::find(c.seqs.begin(), c.seqs.end(), st.s7) != c.seqs.end());
    }
    // The member expression itself left pdeny: lost its DENY.
    const SubjectDiff* m = Subject(d, "token:bob");
    CHECK(m != nullptr);
    CHECK(Subject(d, "token:alice") == nullptr);
  }
  SUBCASE("deleted policy") {
    auto d = t.DiffOf(st.s7, st.s8);
    for (const char* s : {"token:*", "token:alice"}) {
      CAPTURE(s);
      const SubjectDiff* x = Subject(d, s);
      REQUIRE(x != nullptr);
      CHECK(x->gained.empty());
      CHECK(x->lost.size() == 2);
      for (const auto& c : x->lost) {
        CHECK(c.seqs == std::vector<uint64_t>{st.s8});
      }
    }
  }
  SUBCASE("deactivated token") {
    auto d = t.DiffOf(st.s8, st.s9);
    REQUIRE(d.size() == 0);  // alice had nothing left to lose
    d = t.DiffOf(st.s1, st.s9, "token:alice");
    REQUIRE(d.size() == 1);
    CHECK(d[0].gained.empty());
    CHECK(d[0].lost.size() == 1);
  }
  SUBCASE("no change, and a span that adds and removes the same grant") {
    CHECK(t.DiffOf(st.s3, st.s3).empty());
    CHECK(t.DiffOf(st.s0, st.s9, "token:alice").empty());
  }
}

TEST_CASE("audit grants - the model of API.md") {
  Story st;
  auto g = GrantsOf(st.t.At(st.s4), "token:bob", 0);
  std::set<std::string> actions;
  for (const auto& x : g) {
    actions.insert(std::string(EffectName(x.effect)) + " " + x.action + " " +
                   x.project);
  }
  CHECK(actions == std::set<std::string>{"ALLOW iam:policies:get *",
                                         "ALLOW iam:roles:get *",
                                         "DENY iam:policies:get *"});
  CHECK(GrantsOf(st.t.At(st.s9), "token:alice", 0).empty());  // inactive
  CHECK(GrantsOf(st.t.At(st.s9), "token:nobody", 0).empty());
}

TEST_CASE("audit - an expired token can do nothing from its expiry on") {
  Timeline t;
  t.Must(Tok("carol"));
  const uint64_t grant =
      t.Must(PolicyCreated{"pc",
                           "pc",
                           PolicyType::kCustom,
                           {"token:carol"},
                           {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
                           {}});
  const uint64_t expiry = t.Must(TokenExpirySet{"carol", 5000});
  const IamState& s = t.At(expiry);
  const CheckQuery q{"token:carol", "iam:tokens:get", "iam:tokens:x", {}, 4999};
  CHECK(Check(s, q).allowed);
  CheckQuery later = q;
  later.at = 5000;
  CheckResult r = Check(s, later);
  CHECK(!r.allowed);
  CHECK(r.note == "token \"carol\" expired at 1970-01-01T00:00:00.005000Z");
  CHECK(Who(s, q.action, q.resource, {}, 4999).tokens.size() == 1);
  CHECK(Who(s, q.action, q.resource, {}, 5000).tokens.empty());
  // The same state at two times: the grant is lost at the expiry.
  auto d = Diff(s, 4999, s, 5000, t.Seqs(expiry, expiry), "token:carol");
  REQUIRE(d.size() == 1);
  CHECK(d[0].lost.size() == 1);
  // Over the span, caused by the grant and the expiry events.
  d = Diff(t.At(grant - 1), 0, s, 5000, t.Seqs(grant - 1, expiry),
           "token:carol");
  CHECK(d.empty());  // gained and lost again: nothing at the end
  d = Diff(t.At(grant), 4999, s, 5000, t.Seqs(grant, expiry), "token:carol");
  REQUIRE(d.size() == 1);
  REQUIRE(d[0].lost.size() == 1);
  CHECK(d[0].lost[0].seqs == std::vector<uint64_t>{expiry});
}

// ---------------------------------------------------------- random corpus

TEST_CASE(
    "audit check at now equals live authorization on 10,000 random "
    "requests over random policies") {
  std::mt19937 rng(20261201);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  const StringList projects = {"p0", "p1", "p2", "p3", "p4", "p5"};
  const StringList project_pool = {"p0", "p1", "p2",           "p3",  "p4",
                                   "p5", "*",  "(unassigned)", "gone"};
  const StringList actions = {"iam:tokens:get",
                              "iam:tokens:list",
                              "iam:tokens:*",
                              "iam:*",
                              "*",
                              "*:get",
                              "iam:*:get",
                              "iam:policies:get",
                              "iam:roles:delete",
                              "iam:roles:*",
                              "compliance:*"};
  const StringList requested = {"iam:tokens:get",       "iam:tokens:list",
                                "iam:policies:get",     "iam:roles:delete",
                                "iam:roles:get",        "compliance:x:get",
                                "iam:introspect:getAll"};
  StringList subjects;
  for (int i = 0; i < 20; ++i)
    subjects.push_back("token:t" + std::to_string(i));
  StringList members = subjects;
  for (const char* m : {"token:*", "*", "team:local:ops", "user:*"}) {
    members.push_back(m);
  }
  subjects.push_back("team:local:ops");
  subjects.push_back("user:local:alice");
  subjects.push_back("token:*");

  Timeline t;
  for (const auto& p : projects) {
    t.Must(ProjectCreated{p, p, PolicyType::kCustom});
  }
  for (int i = 0; i < 20; ++i) {
    const std::string id = "t" + std::to_string(i);
    t.Must(Tok(id));
    if (i % 7 == 3) t.Must(TokenStatusToggled{id, false});
  }
  for (int i = 0; i < 10; ++i) {
    StringList ra;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      ra.push_back(pick(actions));
    }
    t.Must(
        RoleCreated{"r" + std::to_string(i), "r", PolicyType::kCustom, ra, {}});
  }
  for (int i = 0; i < 200; ++i) {
    StringList ms;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      ms.push_back(pick(members));
    }
    std::sort(ms.begin(), ms.end());
    ms.erase(std::unique(ms.begin(), ms.end()), ms.end());
    std::vector<Statement> sts;
    for (int k = 0; k < 1 + static_cast<int>(rng() % 3); ++k) {
      StringList sa, sp;
      std::string role;
      if (rng() % 3 == 0) {
        role = "r" + std::to_string(rng() % 12);  // r10, r11 do not exist
      } else {
        sa.push_back(pick(actions));
      }
      for (int q = 0; q < 1 + static_cast<int>(rng() % 2); ++q) {
        sp.push_back(pick(project_pool));
      }
      // DENYs only for exact members (a DENY of "*" on everything for
      // every subject would leave nothing allowed to compare).
      const bool wildcard = std::any_of(
          ms.begin(), ms.end(), [](auto& m) { return m.ends_with("*"); });
      sts.push_back(
          St(!wildcard && rng() % 4 == 0 ? Effect::kDeny : Effect::kAllow, sa,
             sp, role));
    }
    t.Must(PolicyCreated{
        "pol" + std::to_string(i), "p", PolicyType::kCustom, ms, sts, {}});
  }
  const IamState& state = t.At(t.head());
  const Micros now = Timeline::Time(t.head());
  int allowed = 0, denied_with_reasons = 0;
  for (int i = 0; i < 10000; ++i) {
    CheckQuery q;
    q.at = now;
    q.subject = pick(subjects);
    q.action = pick(requested);
    q.resource = "iam:x:" + std::to_string(i % 5);
    const int n = static_cast<int>(rng() % 3);
    for (int k = 0; k < n; ++k) q.projects.push_back(pick(project_pool));
    std::sort(q.projects.begin(), q.projects.end());
    q.projects.erase(std::unique(q.projects.begin(), q.projects.end()),
                     q.projects.end());
    CAPTURE(q.subject);
    CAPTURE(q.action);
    std::string joined;
    for (const auto& p : q.projects) joined += p + ",";
    CAPTURE(joined);
    // The live path: authentication (an inactive token is 401), then
    // Authorize with the projects header.
    const bool usable = TokenUnusable(state, q.subject, now).empty();
    AuthzDecision live = Authorize(state, {q.subject}, q.resource, q.action,
                                   q.projects.empty() ? nullptr : &q.projects);
    CheckResult r = Check(state, q);
    REQUIRE(r.allowed == (usable && live.allowed));
    ExplainedDecision e =
        AuthorizeExplained(state, AuthzRequest{{q.subject},
                                               q.resource,
                                               q.action,
                                               !q.projects.empty(),
                                               q.projects});
    REQUIRE(e.decision.allowed == live.allowed);
    REQUIRE(e.decision.filter.all == live.filter.all);
    REQUIRE(e.decision.filter.projects == live.filter.projects);
    if (r.allowed) {
      ++allowed;
      REQUIRE(!r.reasons.empty());
      for (const auto& x : r.reasons) REQUIRE(x.effect == Effect::kAllow);
    } else if (!r.reasons.empty()) {
      ++denied_with_reasons;
      for (const auto& x : r.reasons) REQUIRE(x.effect == Effect::kDeny);
    }
  }
  // The corpus exercises both outcomes and the deny reasons.
  CHECK(allowed > 1000);
  CHECK(allowed < 9000);
  CHECK(denied_with_reasons > 100);
}

TEST_CASE(
    "audit who - over random member lists every entry's reasons are "
    "check's, and everyone check allows is listed") {
  // Lists long and short (past 16 the exact members are found through the
  // index, not a scan), exact members before and after wildcards, in no
  // order: the member a reason names is the first of its policy's list that
  // matches the subject, as check says.
  std::mt19937 rng(20261206);
  StringList subjects;
  for (int i = 0; i < 30; ++i) {
    subjects.push_back("token:t" + std::to_string(i));
  }
  for (const char* m : {"team:local:ops", "user:local:alice"}) {
    subjects.push_back(m);
  }
  StringList pool = subjects;
  for (const char* m : {"token:*", "*", "user:*", "team:*"}) pool.push_back(m);
  Timeline t;
  for (int i = 0; i < 30; ++i) t.Must(Tok("t" + std::to_string(i)));
  const StringList actions = {"iam:tokens:get", "iam:tokens:*", "iam:*"};
  for (int i = 0; i < 40; ++i) {
    StringList ms;
    const int n = rng() % 3 == 0 ? 17 + static_cast<int>(rng() % 20)
                                 : 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) {
      std::string m = pool[rng() % pool.size()];
      if (std::find(ms.begin(), ms.end(), m) == ms.end()) {
        ms.push_back(std::move(m));
      }
    }
    // DENYs only for exact members (one of "*" would deny everyone).
    const bool wildcard = std::any_of(ms.begin(), ms.end(),
                                      [](auto& m) { return m.ends_with("*"); });
    std::vector<Statement> sts = {
        St(!wildcard && rng() % 8 == 0 ? Effect::kDeny : Effect::kAllow,
           {actions[rng() % actions.size()]}, {"*"})};
    t.Must(PolicyCreated{
        "pol" + std::to_string(i), "p", PolicyType::kCustom, ms, sts, {}});
  }
  const IamState& state = t.At(t.head());
  const Micros now = Timeline::Time(t.head());
  WhoResult r = Who(state, "iam:tokens:get", "iam:tokens:x", {}, now);
  std::set<std::string> listed;
  size_t reasons = 0;
  for (const auto* list : {&r.members, &r.tokens}) {
    for (const WhoEntry& e : *list) {
      CAPTURE(e.subject);
      CheckResult cr =
          Check(state, {e.subject, "iam:tokens:get", "iam:tokens:x", {}, now});
      CHECK(cr.allowed);
      CHECK(cr.reasons == e.reasons);
      reasons += e.reasons.size();
      listed.insert(e.subject);
    }
  }
  for (const auto& subject : subjects) {
    CAPTURE(subject);
    CheckResult cr =
        Check(state, {subject, "iam:tokens:get", "iam:tokens:x", {}, now});
    CHECK(cr.allowed == (listed.count(subject) == 1));
  }
  CHECK(listed.size() > 10);  // the corpus lists many, with many reasons
  CHECK(reasons > 2 * listed.size());
}

}  // namespace
}  // namespace iam::audit
