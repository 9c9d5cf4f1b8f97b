#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/events.h"
#include "core/model.h"

namespace iam {
namespace {

// Folds events the way the log delivers them: consecutive seqs from 1,
// per-stream versions from 1, recorded_at advancing by 10 per event. A
// rejected event consumes nothing.
class TestLog {
 public:
  Status Append(Event e) {
    RecordedEvent rec = Next(std::move(e));
    Status s = Evolve(state, rec);
    if (s.ok()) {
      seq_ = rec.seq;
      now_ = rec.recorded_at;
      versions_[rec.stream] = rec.stream_version;
    }
    return s;
  }
  void Must(Event e) { REQUIRE(Append(std::move(e)).ok()); }
  RecordedEvent Next(Event e) const {
    RecordedEvent rec;
    rec.seq = seq_ + 1;
    rec.recorded_at = now_ + 10;
    rec.stream = StreamOf(e);
    auto it = versions_.find(rec.stream);
    rec.stream_version = it == versions_.end() ? 1 : it->second + 1;
    rec.event = std::move(e);
    return rec;
  }
  Micros now() const { return now_; }

  IamState state;

 private:
  uint64_t seq_ = 0;
  Micros now_ = 1000;
  std::map<std::string, uint64_t> versions_;
};

Statement Allow(StringList actions, StringList projects,
                std::string role = "") {
  Statement s;
  s.effect = Effect::kAllow;
  s.actions = std::move(actions);
  s.role = std::move(role);
  s.resources = {"*"};
  s.projects = std::move(projects);
  return s;
}

std::set<std::string> Ids(std::initializer_list<const char*> ids) {
  return std::set<std::string>(ids.begin(), ids.end());
}

TEST_CASE("evolve: LedgerInitialized sets the ledger id and positions") {
  TestLog log;
  log.Must(LedgerInitialized{1, "ledger-1"});
  CHECK(log.state.ledger_id == "ledger-1");
  CHECK(log.state.last_seq == 1);
  CHECK(log.state.last_recorded_at == 1010);
  CHECK(log.state.stream_versions.at("ledger") == 1);
}

TEST_CASE("evolve: token lifecycle") {
  TestLog log;
  log.Must(TokenCreated{"ci", "CI", true, {"p1"}, "digest", "sealed"});
  const Token& t = log.state.tokens.at("ci");
  CHECK(t.id == "ci");
  CHECK(t.name == "CI");
  CHECK(t.active);
  CHECK(t.projects == StringList{"p1"});
  CHECK(t.value_digest == "digest");
  CHECK(t.sealed_value == "sealed");
  CHECK(t.created_at == 1010);
  CHECK(t.updated_at == 1010);
  CHECK(t.version == 1);
  CHECK(log.state.stream_versions.at("token/ci") == 1);

  log.Must(TokenRenamed{"ci", "CI robot"});
  CHECK(log.state.tokens.at("ci").name == "CI robot");
  CHECK(log.state.tokens.at("ci").updated_at == 1020);
  CHECK(log.state.tokens.at("ci").created_at == 1010);
  CHECK(log.state.tokens.at("ci").version == 2);

  log.Must(TokenProjectsAssigned{"ci", {"p2", "p3"}});
  CHECK(log.state.tokens.at("ci").projects == StringList{"p2", "p3"});
  CHECK(log.state.tokens.at("ci").updated_at == 1030);
  CHECK(log.state.tokens.at("ci").version == 3);

  log.Must(TokenStatusToggled{"ci", false});
  CHECK_FALSE(log.state.tokens.at("ci").active);
  CHECK(log.state.tokens.at("ci").updated_at == 1040);
  CHECK(log.state.tokens.at("ci").version == 4);
  CHECK(log.state.tokens.at("ci").created_at == 1010);

  log.Must(TokenDeleted{"ci"});
  CHECK_FALSE(log.state.tokens.contains("ci"));
  // The stream's version outlives the object...
  CHECK(log.state.stream_versions.at("token/ci") == 5);
  CHECK(log.state.last_seq == 5);
  CHECK(log.state.last_recorded_at == 1050);

  // ...and continues when the id is reused.
  log.Must(TokenCreated{"ci", "again", true, {}, "d2", "s2"});
  CHECK(log.state.tokens.at("ci").version == 6);
  CHECK(log.state.tokens.at("ci").created_at == 1060);
  CHECK(log.state.tokens.at("ci").projects.empty());
}

TEST_CASE("evolve: policy lifecycle maintains the member indexes") {
  TestLog log;
  log.Must(PolicyCreated{"p",
                         "P",
                         PolicyType::kCustom,
                         {"token:a", "token:*", "*", "team:local:*"},
                         {Allow({"iam:tokens:get"}, {"*"})},
                         {"proj"}});
  const IamState& s = log.state;
  CHECK(s.policies.at("p").members ==
        StringList{"token:a", "token:*", "*", "team:local:*"});
  CHECK(s.policies.at("p").version == 1);
  CHECK(s.policies.at("p").projects == StringList{"proj"});
  CHECK(s.policies_by_member.size() == 1);
  CHECK(s.policies_by_member.at("token:a") == Ids({"p"}));
  CHECK(s.policies_by_wildcard_member.size() == 3);
  CHECK(s.policies_by_wildcard_member.at("*") == Ids({"p"}));
  CHECK(s.policies_by_wildcard_member.at("token:*") == Ids({"p"}));
  CHECK(s.policies_by_wildcard_member.at("team:local:*") == Ids({"p"}));

  log.Must(
      PolicyCreated{"q", "Q", PolicyType::kChefManaged, {"token:a"}, {}, {}});
  CHECK(s.policies_by_member.at("token:a") == Ids({"p", "q"}));

  // Adding keeps order, ignores members already present.
  log.Must(PolicyMembersAdded{"p", {"token:b", "token:a", "user:ldap:*"}});
  CHECK(s.policies.at("p").members == StringList{"token:a", "token:*", "*",
                                                 "team:local:*", "token:b",
                                                 "user:ldap:*"});
  CHECK(s.policies.at("p").version == 2);
  CHECK(s.policies_by_member.at("token:b") == Ids({"p"}));
  CHECK(s.policies_by_wildcard_member.at("user:ldap:*") == Ids({"p"}));

  // Removing erases emptied index entries, ignores non-members.
  log.Must(PolicyMembersRemoved{"p", {"token:b", "*", "token:zzz"}});
  CHECK(s.policies.at("p").members ==
        StringList{"token:a", "token:*", "team:local:*", "user:ldap:*"});
  CHECK(s.policies.at("p").version == 3);
  CHECK_FALSE(s.policies_by_member.contains("token:b"));
  CHECK_FALSE(s.policies_by_wildcard_member.contains("*"));
  CHECK(s.policies_by_member.at("token:a") == Ids({"p", "q"}));

  // Update replaces everything but the members.
  log.Must(PolicyUpdated{"p",
                         "P2",
                         PolicyType::kChefManaged,
                         {Allow({"iam:roles:list"}, {"x", "y"}, "owner")},
                         {}});
  const Policy& p = s.policies.at("p");
  CHECK(p.name == "P2");
  CHECK(p.type == PolicyType::kChefManaged);
  CHECK(p.statements ==
        std::vector<Statement>{Allow({"iam:roles:list"}, {"x", "y"}, "owner")});
  CHECK(p.projects.empty());
  CHECK(p.members ==
        StringList{"token:a", "token:*", "team:local:*", "user:ldap:*"});
  CHECK(p.version == 4);

  log.Must(PolicyDeleted{"p"});
  CHECK_FALSE(s.policies.contains("p"));
  CHECK(s.policies_by_member.at("token:a") == Ids({"q"}));
  CHECK(s.policies_by_wildcard_member.empty());
  CHECK(s.stream_versions.at("policy/p") == 5);

  log.Must(PolicyDeleted{"q"});
  CHECK(s.policies_by_member.empty());
}

// Membership is answered by the member indexes (IsPolicyMember), not a scan
// of the list: random member changes, including repeats, wildcards,
// absent members and a policy deleted and made again, must leave every
// list exactly as a list with scan semantics would be, in a full state and
// in one flagged partial_member_index (which scans).
TEST_CASE("evolve: member changes by index equal a scanned list") {
  for (bool partial : {false, true}) {
    CAPTURE(partial);
    TestLog log;
    log.state.partial_member_index = partial;
    std::mt19937 rng(partial ? 11 : 7);
    // Enough members that lists pass the 16 IsPolicyMember scans.
    StringList pool = {"token:*", "*", "team:local:*", "user:x"};
    for (int i = 0; i < 36; ++i) pool.push_back("token:m" + std::to_string(i));
    auto pick = [&](size_t max) {
      StringList out;
      for (size_t n = rng() % (max + 1); n > 0; --n) {
        out.push_back(pool[rng() % pool.size()]);
      }
      return out;
    };
    std::map<std::string, StringList> model;  // policy -> members, scanned
    auto listed = [](const StringList& l, const std::string& m) {
      return std::find(l.begin(), l.end(), m) != l.end();
    };
    size_t longest = 0;
    for (int step = 0; step < 2000; ++step) {
      const std::string id = "p" + std::to_string(rng() % 3);
      const bool exists = model.contains(id);
      const int op = rng() % 4;
      if (!exists) {
        StringList named = pick(30), members;
        for (const auto& m : named) {
          if (!listed(members, m)) members.push_back(m);
        }
        log.Must(PolicyCreated{id,
                               id,
                               PolicyType::kCustom,
                               named,
                               {Allow({"iam:tokens:get"}, {"*"})},
                               {}});
        model[id] = members;
      } else if (op == 0) {
        StringList named = pick(12);
        for (const auto& m : named) {
          if (!listed(model[id], m)) model[id].push_back(m);
        }
        log.Must(PolicyMembersAdded{id, named});
      } else if (op == 1 || op == 2) {
        StringList named = pick(6);
        for (const auto& m : named) std::erase(model[id], m);
        log.Must(PolicyMembersRemoved{id, named});
      } else {
        log.Must(PolicyDeleted{id});
        model.erase(id);
      }
      for (const auto& [pid, members] : model) {
        const Policy& p = log.state.policies.at(pid);
        longest = std::max(longest, members.size());
        REQUIRE(p.members == members);
        for (const auto& m : pool) {
          REQUIRE(IsPolicyMember(log.state, p, m) == listed(members, m));
        }
      }
    }
    CHECK(longest > 24);  // the index path ran, not only the short scan
  }
}

TEST_CASE("evolve: role lifecycle") {
  TestLog log;
  log.Must(
      RoleCreated{"r", "R", PolicyType::kCustom, {"iam:tokens:get"}, {"p1"}});
  CHECK(log.state.roles.at("r") ==
        Role{"r", "R", PolicyType::kCustom, {"iam:tokens:get"}, {"p1"}, 1});
  log.Must(RoleUpdated{"r", "R2", PolicyType::kChefManaged, {"*"}, {}});
  CHECK(log.state.roles.at("r") ==
        Role{"r", "R2", PolicyType::kChefManaged, {"*"}, {}, 2});
  log.Must(RoleDeleted{"r"});
  CHECK(log.state.roles.empty());
  CHECK(log.state.stream_versions.at("role/r") == 3);
}

TEST_CASE("evolve: project lifecycle") {
  TestLog log;
  log.Must(ProjectCreated{"p1", "One", PolicyType::kCustom});
  CHECK(log.state.projects.at("p1") ==
        Project{"p1", "One", PolicyType::kCustom, 1});
  log.Must(ProjectRenamed{"p1", "Uno"});
  CHECK(log.state.projects.at("p1") ==
        Project{"p1", "Uno", PolicyType::kCustom, 2});
  log.Must(ProjectDeleted{"p1"});
  CHECK(log.state.projects.empty());
  CHECK(log.state.stream_versions.at("project/p1") == 3);
  CHECK(log.state.last_seq == 3);
}

TEST_CASE("evolve: an event that cannot apply is DataLoss, state unchanged") {
  TestLog log;
  log.Must(LedgerInitialized{1, "L"});
  log.Must(TokenCreated{"tok", "T", true, {}, "d", "s"});
  log.Must(PolicyCreated{"pol",
                         "P",
                         PolicyType::kCustom,
                         {"token:tok", "*"},
                         {Allow({"*"}, {"*"})},
                         {}});
  log.Must(RoleCreated{"role", "R", PolicyType::kCustom, {"*"}, {}});
  log.Must(ProjectCreated{"proj", "P", PolicyType::kCustom});

  struct Case {
    Event event;
    std::string message;
  };
  const std::vector<Case> cases = {
      {TokenRenamed{"x", "n"}, "seq 6: TokenRenamed for unknown token \"x\""},
      {TokenProjectsAssigned{"x", {}},
       "seq 6: TokenProjectsAssigned for unknown token \"x\""},
      {TokenStatusToggled{"x", false},
       "seq 6: TokenStatusToggled for unknown token \"x\""},
      {TokenDeleted{"x"}, "seq 6: TokenDeleted for unknown token \"x\""},
      {TokenCreated{"tok", "T", true, {}, "d", "s"},
       "seq 6: TokenCreated for existing token \"tok\""},
      {PolicyCreated{"pol", "P", PolicyType::kCustom, {"token:new"}, {}, {}},
       "seq 6: PolicyCreated for existing policy \"pol\""},
      {PolicyUpdated{"x", "P", PolicyType::kCustom, {}, {}},
       "seq 6: PolicyUpdated for unknown policy \"x\""},
      {PolicyMembersAdded{"x", {"token:a"}},
       "seq 6: PolicyMembersAdded for unknown policy \"x\""},
      {PolicyMembersRemoved{"x", {"token:tok"}},
       "seq 6: PolicyMembersRemoved for unknown policy \"x\""},
      {PolicyDeleted{"x"}, "seq 6: PolicyDeleted for unknown policy \"x\""},
      {RoleCreated{"role", "R", PolicyType::kCustom, {"*"}, {}},
       "seq 6: RoleCreated for existing role \"role\""},
      {RoleUpdated{"x", "R", PolicyType::kCustom, {"*"}, {}},
       "seq 6: RoleUpdated for unknown role \"x\""},
      {RoleDeleted{"x"}, "seq 6: RoleDeleted for unknown role \"x\""},
      {ProjectCreated{"proj", "P", PolicyType::kCustom},
       "seq 6: ProjectCreated for existing project \"proj\""},
      {ProjectRenamed{"x", "P"},
       "seq 6: ProjectRenamed for unknown project \"x\""},
      {ProjectDeleted{"x"}, "seq 6: ProjectDeleted for unknown project \"x\""},
      {LedgerInitialized{1, "other"},
       "seq 6: LedgerInitialized for already initialized ledger \"L\""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.message);
    const IamState before = log.state;
    Status s = log.Append(c.event);
    CHECK(s.code() == StatusCode::kDataLoss);
    CHECK(s.message() == c.message);
    CHECK(log.state == before);
  }
}

TEST_CASE("evolve: the whole factory-style sequence folds, seq by seq") {
  TestLog log;
  log.Must(LedgerInitialized{1, "L"});
  for (int i = 0; i < 5; ++i) {
    log.Must(ProjectCreated{"p" + std::to_string(i), "P", PolicyType::kCustom});
  }
  CHECK(log.state.last_seq == 6);
  CHECK(log.state.projects.size() == 5);
  CHECK(log.state.stream_versions.size() == 6);
}

// ---- CanonicalEncoding ----

IamState SampleState() {
  TestLog log;
  log.Must(LedgerInitialized{1, "L"});
  log.Must(ProjectCreated{"p1", "One", PolicyType::kCustom});
  log.Must(
      RoleCreated{"r", "R", PolicyType::kCustom, {"iam:tokens:get"}, {"p1"}});
  log.Must(TokenCreated{"t1", "T1", true, {"p1"}, "d1", "s1"});
  log.Must(TokenCreated{"t2", "T2", false, {}, "d2", "s2"});
  log.Must(PolicyCreated{"pol",
                         "Pol",
                         PolicyType::kCustom,
                         {"token:t1", "token:*"},
                         {Allow({"iam:tokens:get"}, {"p1"}, "r")},
                         {"p1"}});
  return log.state;
}

TEST_CASE("canonical encoding: equal states give equal bytes") {
  CHECK(CanonicalEncoding(SampleState()) == CanonicalEncoding(SampleState()));
  CHECK(CanonicalEncoding(IamState{}) == CanonicalEncoding(IamState{}));

  // The same state built in a different order (stream_versions is an
  // unordered_map, so its iteration order may differ).
  IamState a;
  IamState b;
  b.stream_versions.reserve(1000);
  for (int i = 0; i < 50; ++i) {
    a.stream_versions["token/" + std::to_string(i)] = i + 1;
  }
  for (int i = 49; i >= 0; --i) {
    b.stream_versions["token/" + std::to_string(i)] = i + 1;
  }
  REQUIRE(a == b);
  CHECK(CanonicalEncoding(a) == CanonicalEncoding(b));
}

TEST_CASE("canonical encoding: derived indexes are not encoded") {
  IamState s = SampleState();
  const std::string bytes = CanonicalEncoding(s);
  s.policies_by_member.clear();
  s.policies_by_wildcard_member.clear();
  CHECK(CanonicalEncoding(s) == bytes);
}

TEST_CASE("canonical encoding: any change changes the bytes") {
  const IamState base = SampleState();
  const std::string base_bytes = CanonicalEncoding(base);
  using Mutation = std::function<void(IamState&)>;
  const std::vector<std::pair<const char*, Mutation>> mutations = {
      {"ledger_id", [](IamState& s) { s.ledger_id = "M"; }},
      {"last_seq", [](IamState& s) { ++s.last_seq; }},
      {"last_recorded_at", [](IamState& s) { ++s.last_recorded_at; }},
      {"stream version", [](IamState& s) { ++s.stream_versions["token/t1"]; }},
      {"stream added", [](IamState& s) { s.stream_versions["token/zz"] = 1; }},
      {"token name", [](IamState& s) { s.tokens["t1"].name = "X"; }},
      {"token active", [](IamState& s) { s.tokens["t2"].active = true; }},
      {"token projects", [](IamState& s) { s.tokens["t2"].projects = {"p1"}; }},
      {"token digest", [](IamState& s) { s.tokens["t1"].value_digest = "x"; }},
      {"token sealed", [](IamState& s) { s.tokens["t1"].sealed_value = "x"; }},
      {"token created", [](IamState& s) { ++s.tokens["t1"].created_at; }},
      {"token updated", [](IamState& s) { ++s.tokens["t1"].updated_at; }},
      {"token version", [](IamState& s) { ++s.tokens["t1"].version; }},
      {"token erased", [](IamState& s) { s.tokens.erase("t2"); }},
      {"policy name", [](IamState& s) { s.policies["pol"].name = "x"; }},
      {"policy type",
       [](IamState& s) { s.policies["pol"].type = PolicyType::kChefManaged; }},
      {"policy members",
       [](IamState& s) { s.policies["pol"].members.push_back("*"); }},
      {"policy member order",
       [](IamState& s) {
         std::swap(s.policies["pol"].members[0], s.policies["pol"].members[1]);
       }},
      {"policy projects",
       [](IamState& s) { s.policies["pol"].projects.clear(); }},
      {"policy version", [](IamState& s) { ++s.policies["pol"].version; }},
      {"statement effect",
       [](IamState& s) {
         s.policies["pol"].statements[0].effect = Effect::kDeny;
       }},
      {"statement actions",
       [](IamState& s) {
         s.policies["pol"].statements[0].actions.push_back("*");
       }},
      {"statement role",
       [](IamState& s) { s.policies["pol"].statements[0].role = "q"; }},
      {"statement resources",
       [](IamState& s) {
         s.policies["pol"].statements[0].resources = {"iam:x"};
       }},
      {"statement projects",
       [](IamState& s) { s.policies["pol"].statements[0].projects = {"*"}; }},
      {"statement added",
       [](IamState& s) {
         s.policies["pol"].statements.push_back(Allow({"*"}, {"*"}));
       }},
      {"role name", [](IamState& s) { s.roles["r"].name = "x"; }},
      {"role type",
       [](IamState& s) { s.roles["r"].type = PolicyType::kChefManaged; }},
      {"role actions", [](IamState& s) { s.roles["r"].actions = {"*"}; }},
      {"role projects", [](IamState& s) { s.roles["r"].projects = {}; }},
      {"role version", [](IamState& s) { ++s.roles["r"].version; }},
      {"project name", [](IamState& s) { s.projects["p1"].name = "x"; }},
      {"project type",
       [](IamState& s) { s.projects["p1"].type = PolicyType::kChefManaged; }},
      {"project version", [](IamState& s) { ++s.projects["p1"].version; }},
      {"project added",
       [](IamState& s) {
         s.projects["p2"] = Project{"p2", "", {}, 1};
       }},
      // Length prefixes keep adjacent strings apart.
      {"split list entry",
       [](IamState& s) {
         s.tokens["t1"].projects = {"p", "1"};
       }},
      {"moved characters",
       [](IamState& s) {
         s.policies["pol"].members = {"token:t1t", "oken:*"};
       }},
  };
  for (const auto& entry : mutations) {
    const auto& name = entry.first;  // not a binding: CAPTURE (clang 14)
    const auto& mutate = entry.second;
    CAPTURE(name);
    IamState changed = base;
    mutate(changed);
    REQUIRE_FALSE(changed == base);
    CHECK(CanonicalEncoding(changed) != base_bytes);
  }
}

}  // namespace
}  // namespace iam
