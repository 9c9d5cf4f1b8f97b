#include "core/authorize.h"

#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/defaults.h"
#include "core/model.h"

namespace iam {
namespace {

// A factory-default state that further events are folded into.
class World {
 public:
  World() {
    for (const Event& e : FactoryDefaultEvents("ledger")) Must(e);
  }
  void Must(Event e) {
    RecordedEvent rec;
    rec.seq = ++seq_;
    rec.recorded_at = static_cast<Micros>(seq_);
    rec.stream = StreamOf(e);
    rec.stream_version = ++versions_[rec.stream];
    rec.event = std::move(e);
    REQUIRE(Evolve(state, rec).ok());
  }
  void Projects(const StringList& ids) {
    for (const auto& id : ids)
      Must(ProjectCreated{id, id, PolicyType::kCustom});
  }
  void AddPolicy(const std::string& id, StringList members,
                 std::vector<Statement> statements) {
    Must(PolicyCreated{id,
                       id,
                       PolicyType::kCustom,
                       std::move(members),
                       std::move(statements),
                       {}});
  }
  void MakeAdmin(const std::string& subject) {
    Must(PolicyMembersAdded{"administrator-access", {subject}});
  }

  IamState state;

 private:
  uint64_t seq_ = 0;
  std::map<std::string, uint64_t> versions_;
};

Statement St(Effect effect, StringList actions, StringList projects,
             std::string role = "", StringList resources = {"*"}) {
  return Statement{effect, std::move(actions), std::move(role),
                   std::move(resources), std::move(projects)};
}
Statement Allow(StringList actions, StringList projects = {"*"},
                std::string role = "") {
  return St(Effect::kAllow, std::move(actions), std::move(projects),
            std::move(role));
}
Statement Deny(StringList actions, StringList projects = {"*"},
               std::string role = "") {
  return St(Effect::kDeny, std::move(actions), std::move(projects),
            std::move(role));
}

AuthzDecision Ask(const IamState& s, StringList subjects, std::string resource,
                  std::string action,
                  std::optional<StringList> header = std::nullopt) {
  AuthzRequest r;
  r.subjects = std::move(subjects);
  r.resource = std::move(resource);
  r.action = std::move(action);
  r.has_projects_header = header.has_value();
  if (header) r.projects_header = *header;
  return Authorize(s, r);
}

bool Allowed(const IamState& s, StringList subjects, std::string resource,
             std::string action) {
  return Ask(s, std::move(subjects), std::move(resource), std::move(action))
      .allowed;
}

// ---- matchers ----

TEST_CASE("authorize: member matching (§4.3.1)") {
  struct Row {
    const char* member;
    const char* subject;
    bool match;
  };
  const Row rows[] = {
      {"token:a", "token:a", true},
      {"token:a", "token:ab", false},
      {"token:ab", "token:a", false},
      {"token:*", "token:a", true},
      {"token:*", "token:*", true},
      {"token:*", "tokens:a", false},
      {"token:*", "user:local:a", false},
      {"user:*", "user:local:alice", true},
      {"user:*", "user:ldap:bob", true},
      {"user:*", "team:local:admins", false},
      {"team:local:*", "team:local:admins", true},
      {"team:local:*", "team:ldap:admins", false},
      {"team:local:admins", "team:local:admins", true},
      {"team:local:admins", "team:local:Admins", false},
      {"tls:service:svc:*", "tls:service:svc:cert", true},
      {"tls:service:svc:*", "tls:service:other:cert", false},
      {"*", "token:a", true},
      {"*", "local:admin", true},
      {"user:local:alice", "user:local:*", false},  // subjects are literal
      {"token:*x", "token:ax", false},  // not a wildcard form: exact only
      {"token:*x", "token:*x", true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.member);
    CAPTURE(r.subject);
    CHECK(MemberMatches(r.member, r.subject) == r.match);
  }
}

TEST_CASE("authorize: action matching, the six forms (§4.3.3)") {
  struct Row {
    const char* pattern;
    const char* action;
    bool match;
  };
  const Row rows[] = {
      // Automate's TestActionsMatching, request "iam:users:update".
      {"iam:users:update", "iam:users:update", true},
      {"iam:users:*", "iam:users:update", true},
      {"iam:*", "iam:users:update", true},
      {"*", "iam:users:update", true},
      {"iam:*:update", "iam:users:update", true},
      {"*:update", "iam:users:update", true},
      {"infra:nodes:delete", "iam:users:update", false},
      {"infra:nodes:*", "iam:users:update", false},
      {"infra:*", "iam:users:update", false},
      {"infra:*:delete", "iam:users:update", false},
      {"*:delete", "iam:users:update", false},
      {"*:users:update", "iam:users:update", false},
      {"*:iam:update", "iam:users:update", false},
      {"*:*:update", "iam:users:update", false},
      {"*:*:*", "iam:users:update", false},
      {"iam:users:up*", "iam:users:update", false},
      {"iam:us*:update", "iam:users:update", false},
      {"ia*:users:update", "iam:users:update", false},
      {"*am:users:update", "iam:users:update", false},
      {"iam:*ers:update", "iam:users:update", false},
      {"iam:users:*ate", "iam:users:update", false},
      {"iam:users:update ", "iam:users:update", false},
      {" iam:users:update", "iam:users:update", false},
      // More non-matches.
      {"iam:*", "iamx:tokens:get", false},
      {"iam:tokens:*", "iam:tokensx:get", false},
      {"iam:tokens:*", "iam:token:get", false},
      {"*:get", "iam:tokens:getx", false},
      {"iam:*:get", "infra:tokens:get", false},
      {"iam:*:get", "iam:tokens:list", false},
      {"iam:*:*", "iam:tokens:get", false},
      {"iam:*", "iam:tokens", false},  // wildcards need three segments
      {"iam:*", "iam:a:b:c", false},
      {"*:get", "a:b:c:get", false},
      {"iam:tokens", "iam:tokens:get", false},
      {"iam:tokens:get", "iam:tokens:GET", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.pattern);
    CAPTURE(r.action);
    CHECK(ActionMatches(r.pattern, r.action) == r.match);
  }
}

TEST_CASE("authorize: resource matching (§4.3.2)") {
  struct Row {
    const char* pattern;
    const char* resource;
    bool match;
  };
  const Row rows[] = {
      {"*", "iam:tokens", true},
      {"*", "*", true},
      {"iam:tokens", "iam:tokens", true},
      {"iam:tokens", "iam:tokens:a", false},
      {"iam:policies:*", "iam:policies:foo", true},
      {"iam:policies:*", "iam:policies:foo:members", true},
      {"iam:policies:*", "iam:policies", false},
      {"iam:*", "iam:policies:foo", true},
      {"iam:policies:foo", "iam:policies:foo:members", false},
      {"iam:pol*", "iam:policies", false},  // not a wildcard: exact only
      {"iam:pol*", "iam:pol*", true},
      {"iam:policies:administrator-access", "*", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.pattern);
    CAPTURE(r.resource);
    CHECK(ResourceMatches(r.pattern, r.resource) == r.match);
  }
}

// ---- Authorize ----

TEST_CASE("authorize: admin through administrator-access, nobody else") {
  World w;
  w.MakeAdmin("token:adm");
  const IamState& s = w.state;

  AuthzDecision d = Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list");
  CHECK(d.allowed);
  CHECK(d.filter.all);
  CHECK(d.filter.projects.empty());

  CHECK(Allowed(s, {"user:local:admin", "team:local:admins"}, "iam:tokens",
                "iam:tokens:create"));
  d = Ask(s, {"token:nobody"}, "iam:tokens", "iam:tokens:list");
  CHECK_FALSE(d.allowed);
  CHECK_FALSE(d.filter.all);
  CHECK_FALSE(Allowed(s, {}, "iam:tokens", "iam:tokens:list"));
  // Default editors and viewers hold no token actions (§8.6).
  CHECK_FALSE(
      Allowed(s, {"team:local:editors"}, "iam:tokens", "iam:tokens:list"));
  CHECK(
      Allowed(s, {"team:local:editors"}, "iam:projects", "iam:projects:list"));
  CHECK(Allowed(s, {"team:local:viewers"}, "iam:projects", "iam:projects:get"));
  CHECK_FALSE(Allowed(s, {"team:local:viewers"}, "iam:projects:p",
                      "iam:projects:assign"));
}

TEST_CASE("authorize: every member form grants through the indexes") {
  World w;
  w.AddPolicy("exact", {"token:bob"}, {Allow({"iam:tokens:get"})});
  w.AddPolicy("kind", {"token:*"}, {Allow({"iam:tokens:list"})});
  w.AddPolicy("everyone", {"*"}, {Allow({"iam:roles:list"})});
  w.AddPolicy("provider", {"team:ldap:*"}, {Allow({"iam:projects:create"})});
  w.AddPolicy("users", {"user:*"}, {Allow({"iam:policies:list"})});
  const IamState& s = w.state;
  struct Row {
    StringList subjects;
    const char* action;
    bool allowed;
  };
  const Row rows[] = {
      {{"token:bob"}, "iam:tokens:get", true},
      {{"token:bobby"}, "iam:tokens:get", false},
      {{"token:alice"}, "iam:tokens:list", true},
      {{"token:bob"}, "iam:tokens:list", true},
      {{"user:local:bob"}, "iam:tokens:list", false},
      {{"token:alice"}, "iam:roles:list", true},
      {{"user:saml:x"}, "iam:roles:list", true},
      {{"local:admin"}, "iam:roles:list", true},
      {{"team:ldap:ops"}, "iam:projects:create", true},
      {{"team:local:ops"}, "iam:projects:create", false},
      {{"user:local:ann", "team:ldap:ops"}, "iam:projects:create", true},
      {{"user:ldap:ann"}, "iam:policies:list", true},
      {{"team:ldap:ops"}, "iam:policies:list", false},
      {{"token:alice"}, "iam:tokens:delete", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.subjects.front());
    CAPTURE(r.action);
    const std::string resource = "iam:x";
    CHECK(Allowed(s, r.subjects, resource, r.action) == r.allowed);
  }
}

TEST_CASE("authorize: statement action forms decide") {
  struct Row {
    const char* pattern;
    const char* action;
    bool allowed;
  };
  const Row rows[] = {
      {"iam:tokens:get", "iam:tokens:get", true},
      {"iam:tokens:get", "iam:tokens:list", false},
      {"*", "iam:tokens:delete", true},
      {"iam:*", "iam:roles:update", true},
      {"iam:*", "infra:nodes:get", false},
      {"iam:tokens:*", "iam:tokens:update", true},
      {"iam:tokens:*", "iam:roles:update", false},
      {"iam:*:get", "iam:roles:get", true},
      {"iam:*:get", "iam:roles:list", false},
      {"*:list", "iam:projects:list", true},
      {"*:list", "iam:projects:get", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.pattern);
    CAPTURE(r.action);
    World w;
    w.AddPolicy("p", {"token:t"}, {Allow({r.pattern})});
    CHECK(Allowed(w.state, {"token:t"}, "iam:tokens:t", r.action) == r.allowed);
    CHECK(AuthorizePair(w.state, {"token:t"}, "iam:tokens:t", r.action) ==
          r.allowed);
  }
}

TEST_CASE("authorize: statement resources decide") {
  World w;
  w.AddPolicy("p", {"token:t"},
              {St(Effect::kAllow, {"*"}, {"*"}, "", {"iam:tokens:*"}),
               St(Effect::kAllow, {"*"}, {"*"}, "", {"iam:roles:r1"})});
  const IamState& s = w.state;
  CHECK(Allowed(s, {"token:t"}, "iam:tokens:abc", "iam:tokens:get"));
  CHECK_FALSE(Allowed(s, {"token:t"}, "iam:tokens", "iam:tokens:list"));
  CHECK(Allowed(s, {"token:t"}, "iam:roles:r1", "iam:roles:get"));
  CHECK_FALSE(Allowed(s, {"token:t"}, "iam:roles:r2", "iam:roles:get"));
  CHECK_FALSE(Allowed(s, {"token:t"}, "iam:roles:r1:x", "iam:roles:get"));
}

TEST_CASE("authorize: deny overrides allow") {
  World w;
  w.AddPolicy("allow", {"token:t", "token:u"}, {Allow({"iam:tokens:*"})});
  w.AddPolicy("deny-t", {"token:t"}, {Deny({"iam:tokens:delete"})});
  w.AddPolicy("deny-all-tokens", {"token:*"}, {Deny({"iam:tokens:update"})});
  w.Must(RoleCreated{
      "deleter", "D", PolicyType::kCustom, {"iam:tokens:create"}, {}});
  w.AddPolicy("deny-role", {"token:u"}, {Deny({}, {"*"}, "deleter")});
  const IamState& s = w.state;
  struct Row {
    const char* subject;
    const char* action;
    bool allowed;
  };
  const Row rows[] = {
      {"token:t", "iam:tokens:get", true},
      {"token:t", "iam:tokens:delete", false},
      {"token:u", "iam:tokens:delete", true},
      {"token:t", "iam:tokens:update", false},
      {"token:u", "iam:tokens:update", false},
      {"token:u", "iam:tokens:create", false},
      {"token:t", "iam:tokens:create", true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.subject);
    CAPTURE(r.action);
    CHECK(Allowed(s, {r.subject}, "iam:tokens:x", r.action) == r.allowed);
    CHECK(AuthorizePair(s, {r.subject}, "iam:tokens:x", r.action) == r.allowed);
  }
  // A deny in one policy beats an allow in another for the same subject
  // set, even when the allow comes from another subject.
  CHECK_FALSE(
      Allowed(s, {"token:u", "token:t"}, "iam:tokens:x", "iam:tokens:delete"));
}

TEST_CASE("authorize: roles are resolved at evaluation time") {
  World w;
  w.Must(RoleCreated{
      "reader", "Reader", PolicyType::kCustom, {"iam:tokens:get"}, {}});
  w.AddPolicy("p", {"token:t"}, {Allow({}, {"*"}, "reader")});
  CHECK(Allowed(w.state, {"token:t"}, "iam:tokens:a", "iam:tokens:get"));
  CHECK_FALSE(Allowed(w.state, {"token:t"}, "iam:tokens", "iam:tokens:list"));

  w.Must(RoleUpdated{
      "reader", "Reader", PolicyType::kCustom, {"iam:tokens:*"}, {}});
  CHECK(Allowed(w.state, {"token:t"}, "iam:tokens", "iam:tokens:list"));

  w.Must(RoleUpdated{
      "reader", "Reader", PolicyType::kCustom, {"iam:roles:get"}, {}});
  CHECK_FALSE(Allowed(w.state, {"token:t"}, "iam:tokens:a", "iam:tokens:get"));

  w.Must(RoleDeleted{"reader"});
  CHECK_FALSE(Allowed(w.state, {"token:t"}, "iam:roles:a", "iam:roles:get"));
}

TEST_CASE("authorize: policies are found through the member indexes only") {
  World w;
  w.AddPolicy("p", {"token:t"}, {Allow({"*"})});
  REQUIRE(Allowed(w.state, {"token:t"}, "iam:tokens", "iam:tokens:list"));
  // A policy the indexes do not list is never evaluated...
  IamState s = w.state;
  s.policies_by_member.clear();
  CHECK_FALSE(Allowed(s, {"token:t"}, "iam:tokens", "iam:tokens:list"));
  // ...and an index entry pointing at a missing policy is harmless.
  s = w.state;
  s.policies_by_member["token:t"].insert("ghost");
  CHECK(Allowed(s, {"token:t"}, "iam:tokens", "iam:tokens:list"));
  // Membership changes take effect at once.
  w.Must(PolicyMembersRemoved{"p", {"token:t"}});
  CHECK_FALSE(Allowed(w.state, {"token:t"}, "iam:tokens", "iam:tokens:list"));
}

// ---- projects (§4.1, §4.6) ----

struct ProjectWorld : World {
  ProjectWorld() {
    Projects({"p1", "project2", "p3"});
    MakeAdmin("token:adm");
    AddPolicy("scoped", {"token:scoped"},
              {Allow({"iam:tokens:list"}, {"project2"})});
    AddPolicy("unassigned", {"token:unassigned"},
              {Allow({"iam:tokens:list"}, {"(unassigned)"})});
    AddPolicy("union", {"token:union"},
              {Allow({"iam:tokens:list"}, {"project2"}),
               Allow({"iam:tokens:list"}, {"(unassigned)", "ghost"})});
    AddPolicy("everything", {"token:everything"},
              {Allow({"iam:tokens:list"}, {"p1", "project2"}),
               Allow({"iam:tokens:list"}, {"p3", "(unassigned)"})});
  }
};

TEST_CASE("authorize: project filter without a projects header") {
  ProjectWorld w;
  const IamState& s = w.state;
  struct Row {
    const char* subject;
    bool all;
    StringList projects;
  };
  const Row rows[] = {
      {"token:adm", true, {}},
      {"token:scoped", false, {"project2"}},
      {"token:unassigned", false, {"(unassigned)"}},
      {"token:union", false, {"project2", "(unassigned)"}},  // ghost dropped
      // Every existing project and (unassigned), one by one: no filtering.
      {"token:everything", true, {}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.subject);
    AuthzDecision d = Ask(s, {r.subject}, "iam:tokens", "iam:tokens:list");
    CHECK(d.allowed);
    CHECK(d.filter.all == r.all);
    CHECK(d.filter.projects == r.projects);
  }
  // An empty header is no header.
  AuthzDecision d =
      Ask(s, {"token:scoped"}, "iam:tokens", "iam:tokens:list", StringList{});
  CHECK(d.allowed);
  CHECK(d.filter.projects == StringList{"project2"});

  // The filter applied to tokens (§4.6, TestGetTokens).
  const StringList tagged2 = {"project2"};
  const StringList untagged = {};
  const StringList tagged3 = {"p3"};
  d = Ask(s, {"token:scoped"}, "iam:tokens", "iam:tokens:list");
  CHECK(d.filter.Visible(tagged2));
  CHECK_FALSE(d.filter.Visible(untagged));
  CHECK_FALSE(d.filter.Visible(tagged3));
  d = Ask(s, {"token:unassigned"}, "iam:tokens", "iam:tokens:list");
  CHECK_FALSE(d.filter.Visible(tagged2));
  CHECK(d.filter.Visible(untagged));
  d = Ask(s, {"token:union"}, "iam:tokens", "iam:tokens:list");
  CHECK(d.filter.Visible(tagged2));
  CHECK(d.filter.Visible(untagged));
  CHECK_FALSE(d.filter.Visible(tagged3));
}

TEST_CASE("authorize: project filter with a projects header") {
  ProjectWorld w;
  const IamState& s = w.state;
  struct Row {
    const char* subject;
    StringList header;
    bool allowed;
    bool all;
    StringList projects;
  };
  const Row rows[] = {
      {"token:adm", {"project2"}, true, false, {"project2"}},
      {"token:adm",
       {"project2", "(unassigned)", "project-unknown"},
       true,
       false,
       {"project2", "(unassigned)", "project-unknown"}},
      {"token:adm", {"*"}, true, true, {}},
      {"token:adm", {"(unassigned)"}, true, false, {"(unassigned)"}},
      {"token:scoped", {"project2"}, true, false, {"project2"}},
      {"token:scoped", {"p3"}, false, false, {}},
      {"token:scoped", {"p3", "project2"}, true, false, {"project2"}},
      {"token:scoped", {"(unassigned)"}, false, false, {}},
      // '*' is authorized only by all-projects statements (§2.3).
      {"token:scoped", {"*"}, false, false, {}},
      {"token:scoped", {"*", "project2"}, true, false, {"project2"}},
      {"token:everything", {"*"}, false, false, {}},
      {"token:union", {"(unassigned)", "p1"}, true, false, {"(unassigned)"}},
      {"token:nobody", {"*"}, false, false, {}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.subject);
    CAPTURE(r.header.front());
    AuthzDecision d =
        Ask(s, {r.subject}, "iam:tokens", "iam:tokens:list", r.header);
    CHECK(d.allowed == r.allowed);
    CHECK(d.filter.all == r.all);
    CHECK(d.filter.projects == r.projects);
  }
  // §4.6: the header filter ["project2","(unassigned)","project-unknown"]
  // shows the union.
  AuthzDecision d =
      Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list",
          StringList{"project2", "(unassigned)", "project-unknown"});
  CHECK(d.filter.Visible(StringList{"project2"}));
  CHECK(d.filter.Visible(StringList{}));
  CHECK_FALSE(d.filter.Visible(StringList{"p3"}));
}

TEST_CASE("authorize: a deny on one project removes only that project") {
  ProjectWorld w;
  w.AddPolicy("deny-p1", {"token:adm"}, {Deny({"iam:tokens:list"}, {"p1"})});
  w.AddPolicy("deny-unassigned", {"token:union"},
              {Deny({"iam:tokens:*"}, {"(unassigned)"})});
  const IamState& s = w.state;

  AuthzDecision d = Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list");
  CHECK(d.allowed);
  CHECK_FALSE(d.filter.all);
  CHECK(d.filter.projects == StringList{"(unassigned)", "p3", "project2"});
  // Other actions are untouched.
  CHECK(Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:create").filter.all);

  // Explicitly asking for the denied project: 403 (project_filtering.rb).
  d = Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list", StringList{"p1"});
  CHECK_FALSE(d.allowed);
  d = Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list",
          StringList{"project2"});
  CHECK(d.allowed);
  CHECK(d.filter.projects == StringList{"project2"});
  d = Ask(s, {"token:adm"}, "iam:tokens", "iam:tokens:list",
          StringList{"p1", "p3"});
  CHECK(d.allowed);
  CHECK(d.filter.projects == StringList{"p3"});

  d = Ask(s, {"token:union"}, "iam:tokens", "iam:tokens:list");
  CHECK(d.allowed);
  CHECK(d.filter.projects == StringList{"project2"});

  // Introspection ignores projects: any matching deny makes the pair false.
  CHECK_FALSE(AuthorizePair(s, {"token:adm"}, "iam:tokens", "iam:tokens:list"));
  CHECK(AuthorizePair(s, {"token:adm"}, "iam:tokens", "iam:tokens:get"));
  CHECK(AuthorizePair(s, {"token:scoped"}, "iam:tokens", "iam:tokens:list"));

  // A deny on a project nobody has changes nothing.
  World v;
  v.Projects({"a"});
  v.MakeAdmin("token:adm");
  v.AddPolicy("deny-ghost", {"token:adm"}, {Deny({"iam:tokens:list"}, {"zz"})});
  CHECK(
      Ask(v.state, {"token:adm"}, "iam:tokens", "iam:tokens:list").filter.all);
}

TEST_CASE("authorize: a deny on all projects wins everywhere") {
  ProjectWorld w;
  w.AddPolicy("deny", {"*"}, {Deny({"iam:tokens:list"})});
  for (const char* subject : {"token:adm", "token:scoped", "local:admin"}) {
    CAPTURE(subject);
    CHECK_FALSE(Allowed(w.state, {subject}, "iam:tokens", "iam:tokens:list"));
    CHECK_FALSE(Ask(w.state, {subject}, "iam:tokens", "iam:tokens:list",
                    StringList{"*"})
                    .allowed);
  }
  CHECK(Allowed(w.state, {"token:adm"}, "iam:tokens", "iam:tokens:get"));
}

// ---- chef-managed protection, local admin, system ----

TEST_CASE("authorize: chef-managed protection holds even for admins") {
  World w;
  w.MakeAdmin("token:adm");
  struct Row {
    const char* resource;
    const char* action;
    bool allowed;
  };
  const Row rows[] = {
      {"iam:policies:administrator-access", "iam:policies:update", false},
      {"iam:policies:administrator-access", "iam:policies:delete", false},
      {"iam:policies:editor-access", "iam:policies:update", false},
      {"iam:policies:viewer-access", "iam:policies:delete", false},
      {"iam:policies:ingest-access", "iam:policies:delete", false},
      {"iam:roles:owner", "iam:roles:update", false},
      {"iam:roles:editor", "iam:roles:delete", false},
      {"iam:roles:viewer", "iam:roles:update", false},
      {"iam:roles:ingest", "iam:roles:delete", false},
      {"iam:roles:project-owner", "iam:roles:update", false},
      {"iam:projects:~~ALL-PROJECTS~~", "iam:projects:delete", false},
      // Reading them and managing their members stays allowed.
      {"iam:policies:administrator-access", "iam:policies:get", true},
      {"iam:policies:administrator-access:members", "iam:policyMembers:get",
       true},
      {"iam:policies:administrator-access:members", "iam:policyMembers:update",
       true},
      {"iam:policies:administrator-access:members", "iam:policyMembers:create",
       true},
      {"iam:policies:administrator-access:members", "iam:policyMembers:delete",
       true},
      {"iam:roles:owner", "iam:roles:get", true},
      // Custom defaults are not protected.
      {"iam:policies:compliance-viewer-access", "iam:policies:update", true},
      {"iam:policies:compliance-editor-access", "iam:policies:delete", true},
      {"iam:roles:compliance-viewer", "iam:roles:update", true},
      {"iam:projects:p1", "iam:projects:delete", true},
      {"iam:policies:foo", "iam:policies:delete", true},
  };
  const std::vector<StringList> admins = {
      {"token:adm"},
      {"local:admin"},
      {"user:local:admin", "team:local:admins"}};
  for (const StringList& subjects : admins) {
    for (const Row& r : rows) {
      CAPTURE(subjects.front());
      CAPTURE(r.resource);
      CAPTURE(r.action);
      CHECK(Allowed(w.state, subjects, r.resource, r.action) == r.allowed);
      CHECK(AuthorizePair(w.state, subjects, r.resource, r.action) ==
            r.allowed);
    }
  }
}

TEST_CASE("authorize: local:admin may do everything else, in all projects") {
  World w;
  w.Projects({"p1"});
  AuthzDecision d =
      Ask(w.state, {"local:admin"}, "iam:tokens", "iam:tokens:create");
  CHECK(d.allowed);
  CHECK(d.filter.all);
  d = Ask(w.state, {"local:admin"}, "iam:tokens", "iam:tokens:list",
          StringList{"p1"});
  CHECK(d.allowed);
  CHECK(d.filter.projects == StringList{"p1"});
  CHECK(Allowed(w.state, {"local:admin"}, "iam:events", "iam:events:list"));
  // Only the exact subject.
  CHECK_FALSE(
      Allowed(w.state, {"local:admins"}, "iam:tokens", "iam:tokens:create"));
  CHECK_FALSE(Allowed(w.state, {"token:local:admin"}, "iam:tokens",
                      "iam:tokens:create"));
}

TEST_CASE("authorize: the System policy lets everyone introspect") {
  World w;
  w.Projects({"p1"});
  const StringList anyone = {"token:nobody"};
  for (const char* action :
       {"iam:introspect:getAll", "iam:introspect:getSome", "iam:introspect:get",
        "iam:introspect:getAllProjects"}) {
    CAPTURE(action);
    AuthzDecision d = Ask(w.state, anyone, "iam:introspect", action);
    CHECK(d.allowed);
    CHECK(d.filter.all);
  }
  CHECK(Allowed(w.state, anyone, "iam:policyVersion", "iam:policies:get"));
  CHECK_FALSE(Allowed(w.state, anyone, "iam:policies:foo", "iam:policies:get"));
  CHECK_FALSE(Allowed(w.state, anyone, "iam:introspect", "iam:tokens:list"));
  CHECK_FALSE(
      Allowed(w.state, anyone, "iam:introspect:x", "iam:introspect:getAll"));
  // No subject at all matches no member, not even "*".
  CHECK_FALSE(Allowed(w.state, {}, "iam:introspect", "iam:introspect:getAll"));
}

TEST_CASE("authorize: introspection pairs for admin on policies/foo (§11)") {
  World w;
  w.MakeAdmin("token:adm");
  const StringList adm = {"token:adm"};
  CHECK(AuthorizePair(w.state, adm, "iam:policies:foo", "iam:policies:get"));
  CHECK(AuthorizePair(w.state, adm, "iam:policies:foo", "iam:policies:update"));
  CHECK(AuthorizePair(w.state, adm, "iam:policies:foo", "iam:policies:delete"));
  CHECK_FALSE(AuthorizePair(w.state, adm, "iam:policies:administrator-access",
                            "iam:policies:update"));
  CHECK_FALSE(AuthorizePair(w.state, adm, "iam:policies:administrator-access",
                            "iam:policies:delete"));
  CHECK_FALSE(AuthorizePair(w.state, {"token:x"}, "iam:policies:foo",
                            "iam:policies:get"));
  // A grant limited to one project still counts (projects ignored).
  w.AddPolicy("scoped", {"token:x"},
              {Allow({"iam:policies:get"}, {"(unassigned)"})});
  CHECK(AuthorizePair(w.state, {"token:x"}, "iam:policies:foo",
                      "iam:policies:get"));
}

// ---- project assignment (§4.5) ----

TEST_CASE("authorize: may assign projects") {
  World w;
  w.Projects({"p1", "p2"});
  w.MakeAdmin("token:adm");
  w.AddPolicy("po", {"token:po"},
              {Allow({}, {"p1"}, "project-owner"),
               Allow({"iam:projects:assign"}, {"(unassigned)"})});
  w.AddPolicy("denied", {"token:po"},
              {Deny({"iam:projects:*"}, {"(unassigned)"})});
  struct Row {
    StringList subjects;
    const char* project;
    bool may;
  };
  const Row rows[] = {
      {{"token:adm"}, "p1", true},
      {{"token:adm"}, "(unassigned)", true},
      {{"token:adm"}, "not-yet-a-project", true},
      {{"local:admin"}, "p2", true},
      {{"team:local:editors"}, "p2", true},  // editor role has assign
      {{"team:local:viewers"}, "p2", false},
      {{"token:po"}, "p1", true},
      {{"token:po"}, "p2", false},
      {{"token:po"}, "(unassigned)", false},  // allowed, but denied
      {{"token:nobody"}, "p1", false},
  };
  for (const Row& r : rows) {
    CAPTURE(r.subjects.front());
    CAPTURE(r.project);
    CHECK(MayAssignProject(w.state, r.subjects, r.project) == r.may);
    auto may = MayAssignFunc(w.state, r.subjects);
    REQUIRE(may);
    CHECK(may(r.project) == r.may);
  }

  // The function keeps its answer after the state moves on.
  auto may = MayAssignFunc(w.state, {"token:po"});
  {
    World other;
    other.Projects({"p1"});
    other.AddPolicy("x", {"token:q"}, {Allow({"iam:projects:assign"}, {"p1"})});
    auto q = MayAssignFunc(other.state, {"token:q"});
    CHECK(q("p1"));
    CHECK_FALSE(q("p2"));
    w.Must(PolicyDeleted{"po"});
    CHECK(may("p1"));
    CHECK_FALSE(MayAssignProject(w.state, {"token:po"}, "p1"));
    other.Must(PolicyDeleted{"x"});
    CHECK(q("p1"));  // `other` is about to go away; q copies what it needs
  }
}

TEST_CASE(
    "authorize: ProjectsToAuthorize (§4.5 calculateProjectsToAuthorize)") {
  struct Row {
    const char* name;
    StringList old_projects;
    StringList new_projects;
    bool is_update;
    StringList expected;
  };
  const Row rows[] = {
      {"rename an unassigned object", {}, {}, true, {}},
      {"create unassigned", {}, {}, false, {"(unassigned)"}},
      {"create in projects", {}, {"p1", "p2"}, false, {"p1", "p2"}},
      {"unassigned to P", {}, {"p1"}, true, {"p1", "(unassigned)"}},
      {"P to unassigned", {"p1"}, {}, true, {"p1"}},
      {"unchanged", {"p1", "p2"}, {"p2", "p1"}, true, {}},
      {"swap one", {"p1", "p2"}, {"p2", "p3"}, true, {"p1", "p3"}},
      {"move", {"p1"}, {"p2"}, true, {"p1", "p2"}},
      {"add one", {"p1"}, {"p1", "p2"}, true, {"p2"}},
  };
  for (const Row& r : rows) {
    CAPTURE(r.name);
    CHECK(ProjectsToAuthorize(r.old_projects, r.new_projects, r.is_update) ==
          r.expected);
  }
}

// ---- introspect_projects (§11) ----

TEST_CASE("authorize: IntrospectProjects") {
  World w;
  w.Projects({"p1", "p2", "p3"});
  w.MakeAdmin("token:adm");
  w.AddPolicy("teams", {"user:local:u"},
              {Allow({"iam:teams:get"}, {"p1", "p2"}),
               Deny({"iam:teams:get"}, {"p3"})});
  w.AddPolicy("unassigned", {"user:*"},
              {Allow({"iam:users:get"}, {"(unassigned)", "gone"})});
  w.AddPolicy("solo", {"token:solo"}, {Allow({"iam:teams:get"}, {"p1", "p2"})});
  const IamState& s = w.state;
  CHECK(IntrospectProjects(s, {"token:adm"}) ==
        StringList{"(unassigned)", "p1", "p2", "p3"});
  CHECK(IntrospectProjects(s, {"token:solo"}) == StringList{"p1", "p2"});
  CHECK(IntrospectProjects(s, {"user:local:u"}) ==
        StringList{"(unassigned)", "p1", "p2"});
  CHECK(IntrospectProjects(s, {"user:ldap:v"}) == StringList{"(unassigned)"});
  CHECK(IntrospectProjects(s, {"token:nobody"}).empty());
  // System policies do not count.
  CHECK(IntrospectProjects(s, {"local:admin"}).empty());
}

}  // namespace
}  // namespace iam
