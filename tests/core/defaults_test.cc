#include "core/defaults.h"

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "core/ids.h"
#include "core/model.h"

namespace iam {
namespace {

IamState Fold(const std::vector<Event>& events) {
  IamState state;
  std::map<std::string, uint64_t> versions;
  uint64_t seq = 0;
  for (const Event& e : events) {
    RecordedEvent rec;
    rec.seq = ++seq;
    rec.recorded_at = 100;
    rec.stream = StreamOf(e);
    rec.stream_version = ++versions[rec.stream];
    rec.event = e;
    REQUIRE(Evolve(state, rec).ok());
  }
  return state;
}

Statement S(Effect effect, StringList actions, std::string role,
            StringList resources, StringList projects) {
  return Statement{effect, std::move(actions), std::move(role),
                   std::move(resources), std::move(projects)};
}

TEST_CASE("defaults: LedgerInitialized, then 7 roles, then 6 policies") {
  const auto events = FactoryDefaultEvents("ledger-x");
  REQUIRE(events.size() == 14);
  REQUIRE(std::holds_alternative<LedgerInitialized>(events[0]));
  CHECK(std::get<LedgerInitialized>(events[0]) ==
        LedgerInitialized{1, "ledger-x"});
  std::vector<std::string> order;
  for (size_t i = 1; i < events.size(); ++i) {
    order.push_back(StreamOf(events[i]));
    CHECK(EventTypeName(events[i]) ==
          (i <= 7 ? "RoleCreated" : "PolicyCreated"));
  }
  CHECK(order == std::vector<std::string>{
                     "role/owner", "role/editor", "role/viewer", "role/ingest",
                     "role/project-owner", "role/compliance-viewer",
                     "role/compliance-editor", "policy/administrator-access",
                     "policy/editor-access", "policy/viewer-access",
                     "policy/ingest-access", "policy/compliance-viewer-access",
                     "policy/compliance-editor-access"});
}

TEST_CASE("defaults: the roles of §8.6, exactly") {
  constexpr auto kChef = PolicyType::kChefManaged;
  constexpr auto kCustom = PolicyType::kCustom;
  const std::vector<RoleCreated> expected = {
      {"owner", "Owner", kChef, {"*"}, {}},
      {"editor",
       "Editor",
       kChef,
       {"reportmanager:*", "infra:infraServers:list", "infra:infraServers:get",
        "infra:nodes:*", "infra:nodeManagers:*", "compliance:*", "event:*",
        "ingest:*", "secrets:*", "iam:projects:list", "iam:projects:get",
        "iam:projects:assign", "applications:*"},
       {}},
      {"viewer",
       "Viewer",
       kChef,
       {"reportmanager:*", "infra:infraServers:list", "infra:infraServers:get",
        "secrets:*:get", "secrets:*:list", "infra:nodes:get",
        "infra:nodes:list", "infra:nodeManagers:get", "infra:nodeManagers:list",
        "compliance:*:get", "compliance:*:list", "event:*:get", "event:*:list",
        "ingest:*:get", "ingest:*:list", "iam:projects:list",
        "iam:projects:get", "applications:*:get", "applications:*:list"},
       {}},
      {"ingest",
       "Ingest",
       kChef,
       {"ingest:*", "compliance:profiles:get", "compliance:profiles:list"},
       {}},
      {"project-owner",
       "Project Owner",
       kChef,
       {"reportmanager:*", "infra:nodes:*", "infra:nodeManagers:*",
        "compliance:*", "event:*", "ingest:*", "secrets:*", "iam:projects:list",
        "iam:projects:get", "iam:projects:assign", "iam:policies:list",
        "iam:policies:get", "iam:policyMembers:*", "iam:teams:list",
        "iam:teams:get", "iam:teamUsers:*", "iam:users:get", "iam:users:list",
        "applications:*"},
       {}},
      {"compliance-viewer",
       "Compliance Viewer",
       kCustom,
       {"compliance:*:get", "compliance:*:list"},
       {}},
      {"compliance-editor", "Compliance Editor", kCustom, {"compliance:*"}, {}},
  };
  const auto events = FactoryDefaultEvents("l");
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(expected[i].id);
    REQUIRE(std::holds_alternative<RoleCreated>(events[1 + i]));
    CHECK(std::get<RoleCreated>(events[1 + i]) == expected[i]);
    for (const auto& a : expected[i].actions) CHECK(IsValidAction(a));
  }
}

TEST_CASE("defaults: the policies of §8.5, exactly") {
  constexpr auto kChef = PolicyType::kChefManaged;
  constexpr auto kCustom = PolicyType::kCustom;
  constexpr auto kAllow = Effect::kAllow;
  const std::vector<PolicyCreated> expected = {
      {"administrator-access",
       "Administrator",
       kChef,
       {"team:local:admins"},
       {S(kAllow, {}, "owner", {"*"}, {"*"}),
        S(Effect::kDeny, {"iam:policies:delete", "iam:policies:update"}, "",
          {"iam:policies:administrator-access"}, {"*"})},
       {}},
      {"editor-access",
       "Editors",
       kChef,
       {"team:local:editors"},
       {S(kAllow, {}, "editor", {"*"}, {"*"})},
       {}},
      {"viewer-access",
       "Viewers",
       kChef,
       {"team:local:viewers"},
       {S(kAllow, {}, "viewer", {"*"}, {"*"})},
       {}},
      {"ingest-access",
       "Ingest",
       kChef,
       {},
       {S(kAllow, {}, "ingest", {"*"}, {"*"})},
       {}},
      {"compliance-viewer-access",
       "Compliance Viewers",
       kCustom,
       {},
       {S(kAllow, {}, "compliance-viewer", {"*"}, {"*"})},
       {}},
      {"compliance-editor-access",
       "Compliance Editors",
       kCustom,
       {},
       {S(kAllow, {}, "compliance-editor", {"*"}, {"*"})},
       {}},
  };
  const auto events = FactoryDefaultEvents("l");
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(expected[i].id);
    REQUIRE(std::holds_alternative<PolicyCreated>(events[8 + i]));
    CHECK(std::get<PolicyCreated>(events[8 + i]) == expected[i]);
    for (const auto& m : expected[i].members) CHECK(IsValidMember(m));
  }
}

TEST_CASE("defaults: fold into the factory state") {
  const IamState s = Fold(FactoryDefaultEvents("ledger-y"));
  CHECK(s.ledger_id == "ledger-y");
  CHECK(s.roles.size() == 7);
  CHECK(s.policies.size() == 6);
  CHECK(s.projects.empty());
  CHECK(s.tokens.empty());
  CHECK(s.last_seq == 14);
  CHECK(s.policies_by_member.at("team:local:admins") ==
        std::set<std::string>{"administrator-access"});
  CHECK(s.policies_by_member.at("team:local:editors") ==
        std::set<std::string>{"editor-access"});
  CHECK(s.policies_by_member.at("team:local:viewers") ==
        std::set<std::string>{"viewer-access"});
  CHECK(s.policies_by_member.size() == 3);
  CHECK(s.policies_by_wildcard_member.empty());
  // Every statement's role exists.
  for (const auto& [id, p] : s.policies) {
    for (const auto& st : p.statements) {
      if (!st.role.empty()) CHECK(s.roles.contains(st.role));
    }
  }
  // Two ledgers differ only by their id.
  CHECK(CanonicalEncoding(s) !=
        CanonicalEncoding(Fold(FactoryDefaultEvents("ledger-z"))));
}

TEST_CASE("defaults: system policies") {
  const auto& sys = SystemPolicies();
  REQUIRE(sys.size() == 3);
  for (const auto& p : sys) {
    CAPTURE(p.id);
    // Never collides with a stored (valid) policy id.
    CHECK_FALSE(IsValidId(p.id));
    for (const auto& st : p.statements) CHECK(st.projects == StringList{"*"});
  }

  const Policy& system = sys[0];
  CHECK(system.name == "System");
  CHECK(system.members == StringList{"*"});
  CHECK(system.statements ==
        std::vector<Statement>{
            S(Effect::kAllow, {"iam:introspect:*"}, "", {"iam:introspect"},
              {"*"}),
            S(Effect::kAllow,
              {"system:serviceVersion:get", "system:serviceVersion:list"}, "",
              {"system:service:version"}, {"*"}),
            S(Effect::kAllow, {"system:telemetryConfig:get"}, "",
              {"system:config"}, {"*"}),
            S(Effect::kAllow, {"system:license:get"}, "", {"system:status"},
              {"*"}),
            S(Effect::kAllow, {"iam:policies:get"}, "", {"iam:policyVersion"},
              {"*"}),
            S(Effect::kAllow, {"iam:rules:status"}, "", {"iam:rules"}, {"*"}),
        });

  const Policy& protect = sys[1];
  CHECK(protect.name == "System policy to protect Chef-managed entities");
  CHECK(protect.members == StringList{"*"});
  CHECK(
      protect.statements ==
      std::vector<Statement>{
          S(Effect::kDeny, {"iam:policies:update", "iam:policies:delete"}, "",
            {"iam:policies:administrator-access", "iam:policies:editor-access",
             "iam:policies:viewer-access", "iam:policies:ingest-access"},
            {"*"}),
          S(Effect::kDeny, {"iam:roles:update", "iam:roles:delete"}, "",
            {"iam:roles:owner", "iam:roles:editor", "iam:roles:viewer",
             "iam:roles:ingest", "iam:roles:project-owner"},
            {"*"}),
          S(Effect::kDeny, {"iam:projects:update", "iam:projects:delete"}, "",
            {"iam:projects:~~ALL-PROJECTS~~"}, {"*"}),
      });

  const Policy& local = sys[2];
  CHECK(local.members == StringList{"local:admin"});
  CHECK(local.statements ==
        std::vector<Statement>{S(Effect::kAllow, {"*"}, "", {"*"}, {"*"})});
  // "local:admin" is not a valid member: no stored policy can name it.
  CHECK_FALSE(IsValidMember("local:admin"));
  CHECK(&SystemPolicies() == &sys);
}

}  // namespace
}  // namespace iam
