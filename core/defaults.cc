#include "core/defaults.h"

#include <string>
#include <utility>
#include <vector>

#include "core/ids.h"

namespace iam {
namespace {

const std::string kAll(kAllProjects);

RoleCreated MakeRole(std::string id, std::string name, PolicyType type,
                     StringList actions) {
  RoleCreated r;
  r.id = std::move(id);
  r.name = std::move(name);
  r.type = type;
  r.actions = std::move(actions);
  return r;
}

Statement RoleStatement(Effect effect, std::string role) {
  Statement s;
  s.effect = effect;
  s.role = std::move(role);
  s.resources = {"*"};
  s.projects = {kAll};
  return s;
}

Statement ActionStatement(Effect effect, StringList actions,
                          StringList resources) {
  Statement s;
  s.effect = effect;
  s.actions = std::move(actions);
  s.resources = std::move(resources);
  s.projects = {kAll};
  return s;
}

PolicyCreated MakePolicy(std::string id, std::string name, PolicyType type,
                         StringList members,
                         std::vector<Statement> statements) {
  PolicyCreated p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.type = type;
  p.members = std::move(members);
  p.statements = std::move(statements);
  return p;
}

Policy MakeSystemPolicy(std::string id, std::string name, StringList members,
                        std::vector<Statement> statements) {
  Policy p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.type = PolicyType::kChefManaged;
  p.members = std::move(members);
  p.statements = std::move(statements);
  return p;
}

}  // namespace

std::vector<Event> FactoryDefaultEvents(const std::string& ledger_id) {
  constexpr PolicyType kChef = PolicyType::kChefManaged;
  constexpr PolicyType kCustom = PolicyType::kCustom;
  std::vector<Event> events;
  events.reserve(14);
  LedgerInitialized init;
  init.format_version = 1;
  init.ledger_id = ledger_id;
  events.emplace_back(std::move(init));

  // §8.6, final state after all migrations; actions in stored order.
  events.emplace_back(MakeRole("owner", "Owner", kChef, {"*"}));
  events.emplace_back(MakeRole(
      "editor", "Editor", kChef,
      {"reportmanager:*", "infra:infraServers:list", "infra:infraServers:get",
       "infra:nodes:*", "infra:nodeManagers:*", "compliance:*", "event:*",
       "ingest:*", "secrets:*", "iam:projects:list", "iam:projects:get",
       "iam:projects:assign", "applications:*"}));
  events.emplace_back(MakeRole(
      "viewer", "Viewer", kChef,
      {"reportmanager:*", "infra:infraServers:list", "infra:infraServers:get",
       "secrets:*:get", "secrets:*:list", "infra:nodes:get", "infra:nodes:list",
       "infra:nodeManagers:get", "infra:nodeManagers:list", "compliance:*:get",
       "compliance:*:list", "event:*:get", "event:*:list", "ingest:*:get",
       "ingest:*:list", "iam:projects:list", "iam:projects:get",
       "applications:*:get", "applications:*:list"}));
  events.emplace_back(MakeRole(
      "ingest", "Ingest", kChef,
      {"ingest:*", "compliance:profiles:get", "compliance:profiles:list"}));
  events.emplace_back(
      MakeRole("project-owner", "Project Owner", kChef,
               {"reportmanager:*", "infra:nodes:*", "infra:nodeManagers:*",
                "compliance:*", "event:*", "ingest:*", "secrets:*",
                "iam:projects:list", "iam:projects:get", "iam:projects:assign",
                "iam:policies:list", "iam:policies:get", "iam:policyMembers:*",
                "iam:teams:list", "iam:teams:get", "iam:teamUsers:*",
                "iam:users:get", "iam:users:list", "applications:*"}));
  events.emplace_back(MakeRole("compliance-viewer", "Compliance Viewer",
                               kCustom,
                               {"compliance:*:get", "compliance:*:list"}));
  events.emplace_back(MakeRole("compliance-editor", "Compliance Editor",
                               kCustom, {"compliance:*"}));

  // §8.5.
  events.emplace_back(MakePolicy(
      "administrator-access", "Administrator", kChef,
      {std::string(kAdminsTeamMember)},
      {RoleStatement(Effect::kAllow, "owner"),
       ActionStatement(Effect::kDeny,
                       {"iam:policies:delete", "iam:policies:update"},
                       {"iam:policies:administrator-access"})}));
  events.emplace_back(MakePolicy("editor-access", "Editors", kChef,
                                 {"team:local:editors"},
                                 {RoleStatement(Effect::kAllow, "editor")}));
  events.emplace_back(MakePolicy("viewer-access", "Viewers", kChef,
                                 {"team:local:viewers"},
                                 {RoleStatement(Effect::kAllow, "viewer")}));
  events.emplace_back(MakePolicy("ingest-access", "Ingest", kChef, {},
                                 {RoleStatement(Effect::kAllow, "ingest")}));
  events.emplace_back(
      MakePolicy("compliance-viewer-access", "Compliance Viewers", kCustom, {},
                 {RoleStatement(Effect::kAllow, "compliance-viewer")}));
  events.emplace_back(
      MakePolicy("compliance-editor-access", "Compliance Editors", kCustom, {},
                 {RoleStatement(Effect::kAllow, "compliance-editor")}));
  return events;
}

const std::vector<Policy>& SystemPolicies() {
  static const auto* policies = new std::vector<Policy>{
      MakeSystemPolicy(
          "system/system", "System", {"*"},
          {ActionStatement(Effect::kAllow, {"iam:introspect:*"},
                           {"iam:introspect"}),
           ActionStatement(
               Effect::kAllow,
               {"system:serviceVersion:get", "system:serviceVersion:list"},
               {"system:service:version"}),
           ActionStatement(Effect::kAllow, {"system:telemetryConfig:get"},
                           {"system:config"}),
           ActionStatement(Effect::kAllow, {"system:license:get"},
                           {"system:status"}),
           ActionStatement(Effect::kAllow, {"iam:policies:get"},
                           {"iam:policyVersion"}),
           ActionStatement(Effect::kAllow, {"iam:rules:status"},
                           {"iam:rules"})}),
      MakeSystemPolicy(
          "system/chef-managed-protection",
          "System policy to protect Chef-managed entities", {"*"},
          {ActionStatement(
               Effect::kDeny, {"iam:policies:update", "iam:policies:delete"},
               {"iam:policies:administrator-access",
                "iam:policies:editor-access", "iam:policies:viewer-access",
                "iam:policies:ingest-access"}),
           ActionStatement(
               Effect::kDeny, {"iam:roles:update", "iam:roles:delete"},
               {"iam:roles:owner", "iam:roles:editor", "iam:roles:viewer",
                "iam:roles:ingest", "iam:roles:project-owner"}),
           ActionStatement(Effect::kDeny,
                           {"iam:projects:update", "iam:projects:delete"},
                           {"iam:projects:~~ALL-PROJECTS~~"})}),
      MakeSystemPolicy("system/local-admin", "Local admin universal access",
                       {std::string(kLocalAdminSubject)},
                       {ActionStatement(Effect::kAllow, {"*"}, {"*"})}),
  };
  return *policies;
}

}  // namespace iam
