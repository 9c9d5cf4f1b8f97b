// Policies, policy members and roles over the real server:
// automate-iam-v2.md §5.2-§5.4, §6, §8, §13.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

constexpr char kPolicies[] = "/apis/iam/v2/policies";
constexpr char kRoles[] = "/apis/iam/v2/roles";

std::set<std::string> Ids(const Json& list) {
  std::set<std::string> out;
  for (const auto& item : list) out.insert(item.value("id", ""));
  return out;
}

Json Statement(const std::string& effect, const Json& actions,
               const std::string& role, const Json& projects) {
  return Json{{"effect", effect},
              {"actions", actions},
              {"role", role},
              {"projects", projects}};
}

TEST_CASE("policies - create get list update delete") {
  START_ENV(env);
  const Api& admin = env.admin;

  // Factory defaults (§8.5): 6 policies, system policies hidden.
  Response list = admin.Get(kPolicies);
  REQUIRE(list.status == 200);
  CHECK(Ids(list.JsonBody()["policies"]) ==
        std::set<std::string>{"administrator-access", "editor-access",
                              "viewer-access", "ingest-access",
                              "compliance-viewer-access",
                              "compliance-editor-access"});
  CHECK(admin.Get("/apis/iam/v2/policies/editor-access").body ==
        R"({"policy":{"name":"Editors","id":"editor-access",)"
        R"("type":"CHEF_MANAGED","members":["team:local:editors"],)"
        R"("statements":[{"effect":"ALLOW","actions":[],"role":"editor",)"
        R"("resources":["*"],"projects":["*"]}],"projects":[]}})");
  CHECK(admin.Get("/apis/iam/v2/policies/compliance-viewer-access")
            .JsonBody()["policy"]["type"] == "CUSTOM");

  // Create: echo in request order, type CUSTOM, resources ["*"], omitted
  // effect = ALLOW, omitted projects = [] (exact bytes, §2.1 field order).
  Json body = {{"id", "pol-1"},
               {"name", "Pol One"},
               {"members", {"user:local:zed", "token:bob"}},
               {"statements",
                {Json{{"role", "viewer"}, {"projects", {"*"}}},
                 Statement("DENY", {"iam:tokens:delete"}, "", {"*"})}}};
  Response created = admin.Post(kPolicies, body);
  REQUIRE(created.status == 200);
  const std::string pol1 =
      R"({"policy":{"name":"Pol One","id":"pol-1","type":"CUSTOM",)"
      R"("members":["user:local:zed","token:bob"],"statements":[)"
      R"({"effect":"ALLOW","actions":[],"role":"viewer","resources":["*"],)"
      R"("projects":["*"]},{"effect":"DENY","actions":["iam:tokens:delete"],)"
      R"("role":"","resources":["*"],"projects":["*"]}],"projects":[]}})";
  CHECK(created.body == pol1);
  CHECK(!created.Header("X-Iam-Seq").empty());
  Response got = admin.Get("/apis/iam/v2/policies/pol-1");
  CHECK(got.status == 200);
  CHECK(got.JsonBody() == Json::parse(pol1));
  CHECK(got.Header("ETag") == "\"1\"");
  CHECK(Ids(admin.Get(kPolicies).JsonBody()["policies"]).count("pol-1") == 1);

  // Duplicate names are fine (§5.2); duplicate ids are not.
  CHECK(admin
            .Post(kPolicies, Json{{"id", "pol-2"},
                                  {"name", "Pol One"},
                                  {"statements",
                                   {Statement("ALLOW", {"iam:tokens:get"}, "",
                                              {"(unassigned)"})}}})
            .status == 200);
  CHECK_ERR(admin.Post(kPolicies, body), 409, 6,
            "policy with id \"pol-1\" already exists");

  // Update: full replacement (omitted members -> []), echo, CUSTOM.
  Response updated =
      admin.Put("/apis/iam/v2/policies/pol-1",
                Json{{"name", "Pol Uno"},
                     {"statements",
                      {Statement("ALLOW", {"iam:tokens:list", "iam:tokens:get"},
                                 "viewer", {"*"})}}});
  REQUIRE(updated.status == 200);
  CHECK(updated.body ==
        R"({"policy":{"name":"Pol Uno","id":"pol-1","type":"CUSTOM",)"
        R"("members":[],"statements":[{"effect":"ALLOW","actions":)"
        R"(["iam:tokens:list","iam:tokens:get"],"role":"viewer",)"
        R"("resources":["*"],"projects":["*"]}],"projects":[]}})");
  CHECK(admin.Get("/apis/iam/v2/policies/pol-1").body == updated.body);
  CHECK_ERR(
      admin.Put("/apis/iam/v2/policies/nope",
                Json{{"name", "n"},
                     {"statements",
                      {Statement("ALLOW", {"iam:tokens:get"}, "", {"*"})}}}),
      404, 5, "no policy with ID \"nope\" found");

  // Delete.
  Response deleted = admin.Delete("/apis/iam/v2/policies/pol-1");
  CHECK(deleted.status == 200);
  CHECK(deleted.body == "{}");
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/pol-1"), 404, 5,
            "no policy with ID \"pol-1\" found");
  CHECK_ERR(admin.Delete("/apis/iam/v2/policies/pol-1"), 404, 5,
            "no policy with ID \"pol-1\" found");
  // A default CUSTOM policy can be deleted.
  CHECK(admin.Delete("/apis/iam/v2/policies/compliance-editor-access").status ==
        200);

  // Enum inputs also accept numbers (§2.2): 1 is DENY, 0 is ALLOW.
  Response numeric = admin.Post(
      kPolicies,
      std::string(R"({"id":"pol-num","name":"n","statements":[)"
                  R"({"effect":1,"actions":["a:b:c"],"projects":["*"]},)"
                  R"({"effect":0,"actions":["a:b:d"],"projects":["*"]}]})"));
  CHECK(numeric.status == 200);
  CHECK(numeric.JsonBody()["policy"]["statements"][0]["effect"] == "DENY");
  CHECK(numeric.JsonBody()["policy"]["statements"][1]["effect"] == "ALLOW");

  // policy_version is constant.
  Response version = admin.Get("/apis/iam/v2/policy_version");
  CHECK(version.status == 200);
  CHECK(version.body == R"({"version":{"major":"V2","minor":"V1"}})");
}

TEST_CASE("policies - validation and chef-managed protection") {
  START_ENV(env);
  const Api& admin = env.admin;
  const uint64_t head = LogHead(admin);
  const Json ok_statement = Statement("ALLOW", {"iam:tokens:get"}, "", {"*"});
  auto policy = [&](Json patch) {
    Json p = {{"id", "pol-x"}, {"name", "X"}, {"statements", {ok_statement}}};
    if (patch.is_object()) p.merge_patch(patch);
    return p;
  };

  CHECK_ERR(
      admin.Post(kPolicies, policy({{"statements",
                                     {Json{{"actions", {"iam:tokens:get"}},
                                           {"resources", {"*"}},
                                           {"projects", {"*"}}}}}})),
      400, 3, "could not parse statements: cannot define resources on policy");
  CHECK_ERR(admin.Post(kPolicies, Json{{"id", "pol-x"}, {"name", "X"}}), 400, 3,
            "invalid CreatePolicyReq.Statements: value must contain at least "
            "1 item(s)");
  CHECK_ERR(admin.Post(kPolicies, policy({{"statements", Json::array()}})), 400,
            3,
            "invalid CreatePolicyReq.Statements: value must contain at least "
            "1 item(s)");
  CHECK_ERR(admin.Post(kPolicies, policy({{"id", "Pol-X"}})), 400, 3,
            RegexError("CreatePolicyReq.Id", kIdPattern));
  CHECK_ERR(admin.Post(kPolicies, policy({{"id", std::string(65, 'p')}})), 400,
            3, RegexError("CreatePolicyReq.Id", kIdPattern));
  CHECK_ERR(
      admin.Post(kPolicies,
                 policy({{"members", {"token:a", "token:b", "token:a"}}})),
      400, 3,
      "invalid CreatePolicyReq.Members[2]: repeated value must contain unique "
      "items");
  for (const char* bad : {"foo:bar", "token:*foo", "user:local:a:b",
                          "user:github:x", "", "user:local:"}) {
    CAPTURE(bad);
    CHECK_ERR(admin.Post(kPolicies, policy({{"members", {"token:ok", bad}}})),
              400, 3, RegexError("CreatePolicyReq.Members[1]", kMemberPattern));
  }
  CHECK_ERR(
      admin.Post(kPolicies,
                 policy({{"statements",
                          {Statement("ALLOW", {"iam:tokens:get", "action1"}, "",
                                     {"*"})}}})),
      400, 3,
      "invalid CreatePolicyReq.Statements[0]: embedded message failed "
      "validation | caused by: " +
          RegexError("Statement.Actions[1]", kActionPattern));
  CHECK_ERR(admin.Post(kPolicies, policy({{"name", " "}})), 400, 3,
            "a policy name is required and must contain at least one "
            "non-whitespace character");
  CHECK_ERR(admin.Post(kPolicies, policy({{"projects", {"(unassigned)"}}})),
            400, 3,
            "\"(unassigned)\" cannot explicitly be set; pass an empty projects "
            "array instead.");
  CHECK_ERR(
      admin.Post(kPolicies, policy({{"statements",
                                     {Statement("ALLOW", {"iam:tokens:get"}, "",
                                                Json::array())}}})),
      400, 3,
      "error parsing policy \"pol-x\": parse statement: policy "
      "statements must include projects");
  CHECK_ERR(
      admin.Post(kPolicies,
                 policy({{"statements",
                          {Statement("ALLOW", Json::array(), "", {"*"})}}})),
      400, 3,
      "error parsing policy \"pol-x\": parse statement: unsupported "
      "statement variant: you must pass a role, a non-empty array of "
      "actions, or both");
  CHECK_ERR(admin.Post(kPolicies, policy({{"statements",
                                           {Statement("ALLOW", Json::array(),
                                                      "nosuch", {"*"})}}})),
            400, 3, "role not found: nosuch");
  CHECK_ERR(
      admin.Post(
          kPolicies,
          policy({{"statements",
                   {Statement("ALLOW", {"iam:tokens:get"}, "", {"nosuch"})}}})),
      400, 3, "project not found: nosuch");
  CHECK_ERR(admin.Post(kPolicies, policy({{"projects", {"nosuch"}}})), 404, 5,
            "Projects cannot be modified because project [\"nosuch\"] does not "
            "exist");
  // Blank ids (§5.2, §5.3).
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/%20"), 400, 3,
            "cannot get policy");
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/%20%09/members"), 400, 3,
            "a policy id is required and must contain at least one "
            "non-whitespace character");
  CHECK_ERR(admin.Post("/apis/iam/v2/policies/%20/members:add",
                       Json{{"members", {"token:a"}}}),
            400, 3,
            "a policy id is required and must contain at least one "
            "non-whitespace character");
  // The id is checked first.
  CHECK_ERR(admin.Post(kPolicies, Json{{"id", "BAD ID"},
                                       {"name", ""},
                                       {"statements", Json::array()}}),
            400, 3, RegexError("CreatePolicyReq.Id", kIdPattern));
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/nope"), 404, 5,
            "no policy with ID \"nope\" found");
  // Authorization precedes validation: an invalid PUT of a chef-managed
  // policy is 403, not 400 (§5).
  CHECK_ERR(
      admin.Put("/apis/iam/v2/policies/viewer-access", Json{{"name", "X"}}),
      403, 7, "Permission Denied");
  CHECK(LogHead(admin) == head);

  // Chef-managed policies: PUT/DELETE 403 for everybody (§4.4, §13.2).
  const Json valid_update = {{"name", "Hijacked"},
                             {"members", {"token:admin"}},
                             {"statements", {ok_statement}}};
  for (const char* id : {"administrator-access", "editor-access",
                         "viewer-access", "ingest-access"}) {
    CAPTURE(id);
    const std::string path = std::string(kPolicies) + "/" + id;
    const std::string before = admin.Get(path).body;
    CHECK_ERR(admin.Put(path, valid_update), 403, 7, "Permission Denied");
    CHECK_ERR(admin.Delete(path), 403, 7, "Permission Denied");
    CHECK_ERR(env.local.Delete(path), 403, 7, "Permission Denied");
    CHECK(admin.Get(path).body == before);
  }
  CHECK(LogHead(admin) == head);

  // A custom policy in a valid update works; statement projects may hold
  // (unassigned) (§5.2).
  REQUIRE(admin.Post(kPolicies, policy(Json::object())).status == 200);
  // Update: same checks with UpdatePolicyReq and no "error parsing" prefix.
  CHECK_ERR(admin.Put("/apis/iam/v2/policies/pol-x", Json{{"name", "X"}}), 400,
            3,
            "invalid UpdatePolicyReq.Statements: value must contain at least "
            "1 item(s)");
  CHECK_ERR(admin.Put("/apis/iam/v2/policies/pol-x",
                      Json{{"name", "X"},
                           {"members", {"token:a", "token:a"}},
                           {"statements", {ok_statement}}}),
            400, 3,
            "invalid UpdatePolicyReq.Members[1]: repeated value must contain "
            "unique items");
  CHECK_ERR(admin.Put("/apis/iam/v2/policies/pol-x",
                      Json{{"name", ""}, {"statements", {ok_statement}}}),
            400, 3,
            "a policy name is required and must contain at least one "
            "non-whitespace character");
  CHECK_ERR(
      admin.Put(
          "/apis/iam/v2/policies/pol-x",
          Json{{"name", "X"},
               {"statements",
                {Statement("ALLOW", {"iam:tokens:get"}, "", Json::array())}}}),
      400, 3, "parse statement: policy statements must include projects");
  Response upd =
      admin.Put("/apis/iam/v2/policies/pol-x",
                Json{{"name", "X2"},
                     {"statements",
                      {Statement("DENY", {"iam:*"}, "", {"(unassigned)"})}}});
  CHECK(upd.status == 200);
  CHECK(upd.JsonBody()["policy"]["statements"][0]["projects"] ==
        Json{"(unassigned)"});
}

TEST_CASE("policies - members get replace add remove") {
  START_ENV(env);
  const Api& admin = env.admin;
  const std::string admins = "/apis/iam/v2/policies/administrator-access";

  Response members = admin.Get(admins + "/members");
  REQUIRE(members.status == 200);
  CHECK(members.body == R"({"members":["team:local:admins","token:admin"]})");

  REQUIRE(admin
              .Post(kPolicies,
                    Json{{"id", "pol-m"},
                         {"name", "M"},
                         {"members", {"user:local:zed", "token:bob"}},
                         {"statements",
                          {Statement("ALLOW", {"iam:tokens:get"}, "", {"*"})}}})
              .status == 200);
  const std::string pm = "/apis/iam/v2/policies/pol-m/members";
  // Sorted ascending (§5.3).
  CHECK(admin.Get(pm).body == R"({"members":["token:bob","user:local:zed"]})");

  Response added =
      admin.Post(pm + ":add", Json{{"members", {"team:ldap:*", "token:bob"}}});
  CHECK(added.status == 200);
  CHECK(added.body ==
        R"({"members":["team:ldap:*","token:bob","user:local:zed"]})");
  CHECK(!added.Header("X-Iam-Seq").empty());
  // Adding present members is a no-op, removing absent ones too (§13.21).
  CHECK(admin.Post(pm + ":add", Json{{"members", {"token:bob"}}}).body ==
        added.body);
  Response removed = admin.Post(
      pm + ":remove", Json{{"members", {"token:bob", "token:notthere"}}});
  CHECK(removed.status == 200);
  CHECK(removed.body == R"({"members":["team:ldap:*","user:local:zed"]})");
  CHECK(admin.Get(pm).body == removed.body);

  Response replaced = admin.Put(
      pm, Json{{"members", {"user:local:b", "*", "team:saml:Chef EMEA"}}});
  CHECK(replaced.status == 200);
  CHECK(replaced.body ==
        R"({"members":["*","team:saml:Chef EMEA","user:local:b"]})");
  CHECK(admin.Get("/apis/iam/v2/policies/pol-m")
            .JsonBody()["policy"]["members"]
            .size() == 3);
  Response emptied = admin.Put(pm, Json{{"members", Json::array()}});
  CHECK(emptied.status == 200);
  CHECK(emptied.body == R"({"members":[]})");

  // Errors.
  CHECK_ERR(admin.Post(pm + ":add", Json{{"members", Json::array()}}), 400, 3,
            "invalid AddPolicyMembersReq.Members: value must contain at least "
            "1 item(s)");
  CHECK_ERR(admin.Post(pm + ":add", Json::object()), 400, 3,
            "invalid AddPolicyMembersReq.Members: value must contain at least "
            "1 item(s)");
  CHECK_ERR(admin.Post(pm + ":remove", Json{{"members", Json::array()}}), 400,
            3,
            "invalid RemovePolicyMembersReq.Members: value must contain at "
            "least 1 item(s)");
  CHECK_ERR(admin.Post(pm + ":add", Json{{"members", {"user:github:x"}}}), 400,
            3, RegexError("AddPolicyMembersReq.Members[0]", kMemberPattern));
  CHECK_ERR(admin.Post(pm + ":add", Json{{"members", {"token:x", "token:x"}}}),
            400, 3,
            "invalid AddPolicyMembersReq.Members[1]: repeated value must "
            "contain unique items");
  CHECK_ERR(admin.Put(pm, Json{{"members", {"token:*x"}}}), 400, 3,
            RegexError("ReplacePolicyMembersReq.Members[0]", kMemberPattern));
  const std::string missing = "no policy with ID \"nope\" found";
  const std::string nope = "/apis/iam/v2/policies/nope/members";
  CHECK_ERR(admin.Get(nope), 404, 5, missing);
  CHECK_ERR(admin.Put(nope, Json{{"members", {"token:a"}}}), 404, 5, missing);
  CHECK_ERR(admin.Post(nope + ":add", Json{{"members", {"token:a"}}}), 404, 5,
            missing);
  CHECK_ERR(admin.Post(nope + ":remove", Json{{"members", {"token:a"}}}), 404,
            5, missing);

  // Members of chef-managed policies can be changed...
  Response viewers =
      admin.Post("/apis/iam/v2/policies/viewer-access/members:add",
                 Json{{"members", {"token:viewer"}}});
  CHECK(viewers.body == R"({"members":["team:local:viewers","token:viewer"]})");
  // ...but team:local:admins cannot be removed from administrator-access;
  // the whole request is refused (§5.3).
  const uint64_t head = LogHead(admin);
  CHECK_ERR(admin.Post(admins + "/members:remove",
                       Json{{"members", {"token:admin", "team:local:admins"}}}),
            403, 7,
            "cannot remove local team:\n\t\t\t\tadmins from Chef-managed "
            "policy: Admin");
  CHECK_ERR(env.local.Post(admins + "/members:remove",
                           Json{{"members", {"team:local:admins"}}}),
            403, 7,
            "cannot remove local team:\n\t\t\t\tadmins from Chef-managed "
            "policy: Admin");
  CHECK(LogHead(admin) == head);
  CHECK(admin.Get(admins + "/members").body ==
        R"({"members":["team:local:admins","token:admin"]})");
  // PUT members has no guard (§13.2).
  Response no_guard =
      admin.Put(admins + "/members", Json{{"members", {"token:admin"}}});
  CHECK(no_guard.status == 200);
  CHECK(no_guard.body == R"({"members":["token:admin"]})");
  CHECK(admin.Get(kPolicies).status == 200);
}

TEST_CASE("roles - create get list update delete and validation") {
  START_ENV(env);
  const Api& admin = env.admin;

  Response list = admin.Get(kRoles);
  REQUIRE(list.status == 200);
  CHECK(Ids(list.JsonBody()["roles"]) ==
        std::set<std::string>{"owner", "editor", "viewer", "ingest",
                              "project-owner", "compliance-viewer",
                              "compliance-editor"});
  CHECK(admin.Get("/apis/iam/v2/roles/owner").body ==
        R"({"role":{"name":"Owner","id":"owner","type":"CHEF_MANAGED",)"
        R"("actions":["*"],"projects":[]}})");
  CHECK(admin.Get("/apis/iam/v2/roles/ingest").body ==
        R"({"role":{"name":"Ingest","id":"ingest","type":"CHEF_MANAGED",)"
        R"("actions":["ingest:*","compliance:profiles:get",)"
        R"("compliance:profiles:list"],"projects":[]}})");

  Response created = admin.Post(
      kRoles, Json{{"id", "role-1"},
                   {"name", "Role One"},
                   {"actions", {"iam:tokens:list", "iam:tokens:get"}}});
  REQUIRE(created.status == 200);
  CHECK(created.body ==
        R"({"role":{"name":"Role One","id":"role-1","type":"CUSTOM",)"
        R"("actions":["iam:tokens:list","iam:tokens:get"],"projects":[]}})");
  CHECK(!created.Header("X-Iam-Seq").empty());
  Response got = admin.Get("/apis/iam/v2/roles/role-1");
  CHECK(got.body == created.body);
  CHECK(got.Header("ETag") == "\"1\"");
  CHECK(Ids(admin.Get(kRoles).JsonBody()["roles"]).count("role-1") == 1);
  // 64 characters and a leading '-' are valid (§5.4); every action form.
  const std::string id64 = "-" + std::string(63, 'r');
  CHECK(admin
            .Post(kRoles, Json{{"id", id64},
                               {"name", "long"},
                               {"actions",
                                {"*", "*:get", "svc:type:verb", "svc:*",
                                 "svc:*:verb", "svc:type:*"}}})
            .status == 200);

  CHECK_ERR(admin.Post(kRoles, Json{{"id", "role-1"},
                                    {"name", "again"},
                                    {"actions", {"iam:tokens:get"}}}),
            409, 6, "role with id \"role-1\" already exists");
  for (const std::string& bad :
       std::vector<std::string>{"Role", "", std::string(65, 'r'), "a b"}) {
    CAPTURE(bad);
    CHECK_ERR(admin.Post(kRoles, Json{{"id", bad},
                                      {"name", "n"},
                                      {"actions", {"iam:tokens:get"}}}),
              400, 3, RegexError("CreateRoleReq.Id", kIdPattern));
  }
  CHECK_ERR(admin.Post(kRoles, Json{{"id", "r2"}, {"name", "n"}}), 400, 3,
            "invalid CreateRoleReq.Actions: value must contain at least 1 "
            "item(s)");
  for (const std::string& bad :
       std::vector<std::string>{"iam:tokens", "action1", "", "Iam:tokens:get",
                                "iam:tokens:get:x", "iam:*:*"}) {
    CAPTURE(bad);
    CHECK_ERR(admin.Post(kRoles, Json{{"id", "r2"},
                                      {"name", "n"},
                                      {"actions", {"iam:tokens:get", bad}}}),
              400, 3, RegexError("CreateRoleReq.Actions[1]", kActionPattern));
  }
  CHECK_ERR(admin.Post(kRoles, Json{{"id", "r2"},
                                    {"name", "n"},
                                    {"actions", {"a:b:c", "a:b:c"}}}),
            400, 3,
            "invalid CreateRoleReq.Actions[1]: repeated value must contain "
            "unique items");
  CHECK_ERR(
      admin.Post(kRoles,
                 Json{{"id", "r2"}, {"name", ""}, {"actions", {"a:b:c"}}}),
      400, 3,
      "a role name is required and must contain at least one "
      "non-whitespace character");
  CHECK_ERR(admin.Post(kRoles, Json{{"id", "r2"},
                                    {"name", "n"},
                                    {"actions", {"a:b:c"}},
                                    {"projects", {"(unassigned)"}}}),
            400, 3,
            "\"(unassigned)\" cannot explicitly be set; pass an empty projects "
            "array instead.");
  CHECK_ERR(admin.Post(kRoles, Json{{"id", "r2"},
                                    {"name", "n"},
                                    {"actions", {"a:b:c"}},
                                    {"projects", {"ghost"}}}),
            404, 5,
            "Projects cannot be modified because project [\"ghost\"] does not "
            "exist");
  CHECK_ERR(admin.Get("/apis/iam/v2/roles/nope"), 404, 5,
            "no role with ID \"nope\" found");
  CHECK_ERR(admin.Put("/apis/iam/v2/roles/nope",
                      Json{{"name", "n"}, {"actions", {"a:b:c"}}}),
            404, 5, "no role with ID \"nope\" found");
  CHECK_ERR(admin.Delete("/apis/iam/v2/roles/nope"), 404, 5,
            "no role with ID \"nope\" found");

  // Update echoes; type CUSTOM.
  Response updated =
      admin.Put("/apis/iam/v2/roles/role-1",
                Json{{"name", "Role Uno"}, {"actions", {"iam:*"}}});
  CHECK(updated.status == 200);
  CHECK(updated.body ==
        R"({"role":{"name":"Role Uno","id":"role-1","type":"CUSTOM",)"
        R"("actions":["iam:*"],"projects":[]}})");

  // Chef-managed roles: 403 (§4.4).
  for (const char* id :
       {"owner", "editor", "viewer", "ingest", "project-owner"}) {
    CAPTURE(id);
    const std::string path = std::string(kRoles) + "/" + id;
    CHECK_ERR(admin.Put(path, Json{{"name", "n"}, {"actions", {"*"}}}), 403, 7,
              "Permission Denied");
    CHECK_ERR(admin.Delete(path), 403, 7, "Permission Denied");
  }
  CHECK(admin.Get("/apis/iam/v2/roles/owner").status == 200);

  // Deleting a role cascades (§5.4): statements left without actions go,
  // custom policies left without statements go.
  REQUIRE(
      admin
          .Post(kPolicies,
                Json{{"id", "only-role"},
                     {"name", "n"},
                     {"statements",
                      {Statement("ALLOW", Json::array(), "role-1", {"*"})}}})
          .status == 200);
  REQUIRE(
      admin
          .Post(
              kPolicies,
              Json{{"id", "mixed"},
                   {"name", "n"},
                   {"statements",
                    {Statement("ALLOW", Json::array(), "role-1", {"*"}),
                     Statement("ALLOW", {"iam:roles:get"}, "role-1", {"*"})}}})
          .status == 200);
  Response del = admin.Delete("/apis/iam/v2/roles/role-1");
  CHECK(del.status == 200);
  CHECK(del.body == "{}");
  CHECK_ERR(admin.Get("/apis/iam/v2/roles/role-1"), 404, 5,
            "no role with ID \"role-1\" found");
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/only-role"), 404, 5,
            "no policy with ID \"only-role\" found");
  Response mixed = admin.Get("/apis/iam/v2/policies/mixed");
  REQUIRE(mixed.status == 200);
  CHECK(mixed.JsonBody()["policy"]["statements"] ==
        Json::parse(R"([{"effect":"ALLOW","actions":["iam:roles:get"],)"
                    R"("role":"","resources":["*"],"projects":["*"]}])"));
}

}  // namespace
}  // namespace iam::integration
