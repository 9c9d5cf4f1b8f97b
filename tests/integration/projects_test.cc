// Projects, project filtering and introspection over the real server:
// automate-iam-v2.md §4.5, §4.6, §5.5, §5.6, §11.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

constexpr char kProjects[] = "/apis/iam/v2/projects";

std::set<std::string> Ids(const Json& list) {
  std::set<std::string> out;
  for (const auto& item : list) out.insert(item.value("id", ""));
  return out;
}

Json SortedById(Json list) {
  std::sort(list.begin(), list.end(), [](const Json& a, const Json& b) {
    return a.value("id", "") < b.value("id", "");
  });
  return list;
}

std::string SupportPolicy(const std::string& id, const std::string& name,
                          const std::string& kind, const std::string& role) {
  return R"({"policy":{"name":")" + name + " Project " + kind + R"(","id":")" +
         id + "-project-" +
         std::string(1, static_cast<char>(kind[0] - 'A' + 'a')) +
         kind.substr(1) +
         R"(","type":"CUSTOM","members":[],"statements":[{"effect":"ALLOW",)"
         R"("actions":[],"role":")" +
         role + R"(","resources":["*"],"projects":[")" + id +
         R"("]}],"projects":[")" + id + R"("]}})";
}

TEST_CASE("projects - create get list update delete") {
  START_ENV(env);
  const Api& admin = env.admin;

  // A fresh install has no custom projects; meta-projects are hidden.
  Response empty = admin.Get(kProjects);
  REQUIRE(empty.status == 200);
  CHECK(empty.body == R"({"projects":[]})");

  Response created =
      admin.Post(kProjects, Json{{"id", "proj-a"}, {"name", "Project A"}});
  REQUIRE(created.status == 200);
  CHECK(created.body ==
        R"({"project":{"name":"Project A","id":"proj-a","type":"CUSTOM",)"
        R"("status":"NO_RULES"}})");
  CHECK(!created.Header("X-Iam-Seq").empty());
  // The three support policies (§5.5).
  CHECK(admin.Get("/apis/iam/v2/policies/proj-a-project-owners").body ==
        SupportPolicy("proj-a", "Project A", "Owners", "project-owner"));
  CHECK(admin.Get("/apis/iam/v2/policies/proj-a-project-editors").body ==
        SupportPolicy("proj-a", "Project A", "Editors", "editor"));
  CHECK(admin.Get("/apis/iam/v2/policies/proj-a-project-viewers").body ==
        SupportPolicy("proj-a", "Project A", "Viewers", "viewer"));

  // skip_policies (and its lowerCamel spelling).
  CHECK(admin
            .Post(kProjects, Json{{"id", "proj-b"},
                                  {"name", "Project B"},
                                  {"skip_policies", true}})
            .status == 200);
  CHECK(admin
            .Post(kProjects, Json{{"id", "proj-c"},
                                  {"name", "Project C"},
                                  {"skipPolicies", true}})
            .status == 200);
  for (const char* p : {"proj-b-project-owners", "proj-b-project-editors",
                        "proj-b-project-viewers", "proj-c-project-owners"}) {
    CAPTURE(p);
    CHECK(admin.Get(std::string("/apis/iam/v2/policies/") + p).status == 404);
  }
  CHECK(admin.Get(kProjects).JsonBody()["projects"].size() == 3);
  CHECK(Ids(admin.Get(kProjects).JsonBody()["projects"]) ==
        std::set<std::string>{"proj-a", "proj-b", "proj-c"});

  // Errors.
  CHECK_ERR(admin.Post(kProjects, Json{{"id", "proj-a"}, {"name", "again"}}),
            409, 6, "project with ID \"proj-a\" already exists");
  for (const std::string& bad :
       std::vector<std::string>{std::string(49, 'p'), "(unassigned)",
                                "~~ALL-PROJECTS~~", "Proj", ""}) {
    CAPTURE(bad);
    CHECK_ERR(admin.Post(kProjects, Json{{"id", bad}, {"name", "n"}}), 400, 3,
              RegexError("CreateProjectReq.Id", kProjectIdPattern));
  }
  CHECK(admin.Post(kProjects, Json{{"id", std::string(48, 'p')}, {"name", "n"}})
            .status == 200);
  CHECK_ERR(admin.Post(kProjects, Json{{"id", "proj-d"}, {"name", " "}}), 400,
            3,
            "a project name is required and must contain at least one "
            "non-whitespace character");
  CHECK_ERR(admin.Get("/apis/iam/v2/projects/nope"), 404, 5,
            "could not find project with ID \"nope\"");
  CHECK_ERR(admin.Put("/apis/iam/v2/projects/nope", Json{{"name", "n"}}), 404,
            5, "project with ID \"nope\" not found");

  // Get / update.
  Response got = admin.Get("/apis/iam/v2/projects/proj-a");
  CHECK(got.body == created.body);
  CHECK(got.Header("ETag") == "\"1\"");
  Response renamed =
      admin.Put("/apis/iam/v2/projects/proj-a", Json{{"name", "Project A2"}});
  CHECK(renamed.status == 200);
  CHECK(renamed.body ==
        R"({"project":{"name":"Project A2","id":"proj-a","type":"CUSTOM",)"
        R"("status":"NO_RULES"}})");
  CHECK(admin.Get("/apis/iam/v2/projects/proj-a").body == renamed.body);

  REQUIRE(admin
              .Post("/apis/iam/v2/roles", Json{{"id", "role-a"},
                                               {"name", "n"},
                                               {"actions", {"a:b:c"}},
                                               {"projects", {"proj-a"}}})
              .status == 200);
  // Delete cascades (§5.5, D6): tokens lose the project, statements and
  // custom policies left empty go, top-level projects are cleaned.
  REQUIRE(!CreateToken(admin, "tok-a", {"proj-a", "proj-b"}).empty());
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    Json{{"id", "two-projects"},
                         {"name", "n"},
                         {"projects", {"proj-a", "proj-b"}},
                         {"statements",
                          {Json{{"actions", {"iam:tokens:get"}},
                                {"projects", {"proj-a"}}},
                           Json{{"actions", {"iam:tokens:list"}},
                                {"projects", {"proj-a", "proj-b"}}}}}})
              .status == 200);
  Response del = admin.Delete("/apis/iam/v2/projects/proj-a");
  CHECK(del.status == 200);
  CHECK(del.body == "{}");
  CHECK_ERR(admin.Get("/apis/iam/v2/projects/proj-a"), 404, 5,
            "could not find project with ID \"proj-a\"");
  CHECK_ERR(admin.Delete("/apis/iam/v2/projects/proj-a"), 404, 5,
            "could not find project with ID \"proj-a\"");
  CHECK(
      admin.Get("/apis/iam/v2/tokens/tok-a").JsonBody()["token"]["projects"] ==
      Json{"proj-b"});
  for (const char* p : {"proj-a-project-owners", "proj-a-project-editors",
                        "proj-a-project-viewers"}) {
    CAPTURE(p);
    CHECK(admin.Get(std::string("/apis/iam/v2/policies/") + p).status == 404);
  }
  CHECK(admin.Get("/apis/iam/v2/roles/role-a").JsonBody()["role"]["projects"] ==
        Json::array());
  Response two = admin.Get("/apis/iam/v2/policies/two-projects");
  REQUIRE(two.status == 200);
  CHECK(two.JsonBody()["policy"]["projects"] == Json{"proj-b"});
  CHECK(two.JsonBody()["policy"]["statements"] ==
        Json::parse(R"([{"effect":"ALLOW","actions":["iam:tokens:list"],)"
                    R"("role":"","resources":["*"],"projects":["proj-b"]}])"));
}

TEST_CASE("projects - filter header on lists and gets") {
  START_ENV(env);
  const Api& admin = env.admin;
  for (const char* p : {"p1", "p2"}) {
    REQUIRE(admin
                .Post(kProjects, Json{{"id", p},
                                      {"name", std::string("Project ") + p},
                                      {"skip_policies", true}})
                .status == 200);
  }
  REQUIRE(!CreateToken(admin, "t-p1", {"p1"}).empty());
  REQUIRE(!CreateToken(admin, "t-p2", {"p2"}).empty());
  REQUIRE(!CreateToken(admin, "t-both", {"p1", "p2"}).empty());
  REQUIRE(!CreateToken(admin, "t-none").empty());
  REQUIRE(admin
              .Post("/apis/iam/v2/roles", Json{{"id", "role-p1"},
                                               {"name", "n"},
                                               {"actions", {"a:b:c"}},
                                               {"projects", {"p1"}}})
              .status == 200);

  auto token_ids = [&](HeaderList headers) {
    Response r = admin.Get("/apis/iam/v2/tokens", std::move(headers));
    CHECK(r.status == 200);
    return Ids(r.JsonBody()["tokens"]);
  };
  using S = std::set<std::string>;
  CHECK(token_ids({}) == S{"admin", "t-p1", "t-p2", "t-both", "t-none"});
  CHECK(token_ids({{"projects", "p1"}}) == S{"t-p1", "t-both"});
  CHECK(token_ids({{"projects", "(unassigned)"}}) == S{"admin", "t-none"});
  CHECK(token_ids({{"projects", " p2 , (unassigned) ,p2"}}) ==
        S{"t-p2", "t-both", "admin", "t-none"});
  // Repeated header lines are merged.
  CHECK(token_ids({{"projects", "p1"}, {"projects", "p2"}}) ==
        S{"t-p1", "t-p2", "t-both"});
  CHECK(token_ids({{"projects", "*"}}) ==
        S{"admin", "t-p1", "t-p2", "t-both", "t-none"});
  // An unknown project id filters everything out.
  CHECK(token_ids({{"projects", "p-unknown"}}).empty());

  // Get/Update/Delete of a filtered-out object: 404 (§4.6, §13.20).
  CHECK_ERR(admin.Get("/apis/iam/v2/tokens/t-p2", {{"projects", "p1"}}), 404, 5,
            "No token record found");
  CHECK_ERR(admin.Put("/apis/iam/v2/tokens/t-p2", Json{{"name", "x"}},
                      {{"projects", "p1"}}),
            404, 5, "No token record found");
  CHECK_ERR(admin.Delete("/apis/iam/v2/tokens/t-p2", {{"projects", "p1"}}), 404,
            5, "No token record found");
  CHECK(admin.Get("/apis/iam/v2/tokens/t-p2", {{"projects", "p2"}}).status ==
        200);

  // Roles and policies are filtered on their top-level projects.
  Response roles = admin.Get("/apis/iam/v2/roles", {{"projects", "p1"}});
  CHECK(Ids(roles.JsonBody()["roles"]) == S{"role-p1"});
  CHECK(Ids(admin.Get("/apis/iam/v2/roles", {{"projects", "p2"}})
                .JsonBody()["roles"])
            .empty());
  Response pols = admin.Get("/apis/iam/v2/policies", {{"projects", "p1"}});
  CHECK(pols.status == 200);
  CHECK(pols.JsonBody()["policies"] == Json::array());
  Response unassigned_pols =
      admin.Get("/apis/iam/v2/policies", {{"projects", "(unassigned)"}});
  CHECK(unassigned_pols.JsonBody()["policies"].size() == 6);
  CHECK_ERR(admin.Get("/apis/iam/v2/roles/owner", {{"projects", "p1"}}), 404, 5,
            "no role with ID \"owner\" found");

  // PUT is full replacement: omitted projects -> [] (§13.12).
  Response cleared =
      admin.Put("/apis/iam/v2/tokens/t-both", Json{{"name", "t-both"}});
  CHECK(cleared.status == 200);
  CHECK(cleared.JsonBody()["token"]["projects"] == Json::array());
  Response role_cleared =
      admin.Put("/apis/iam/v2/roles/role-p1",
                Json{{"name", "n"}, {"actions", {"a:b:c"}}});
  CHECK(role_cleared.status == 200);
  CHECK(role_cleared.JsonBody()["role"]["projects"] == Json::array());
  REQUIRE(admin
              .Put("/apis/iam/v2/tokens/t-both",
                   Json{{"name", "t-both"}, {"projects", {"p1", "p2"}}})
              .status == 200);
  // Moving a token between projects.
  Response moved = admin.Put("/apis/iam/v2/tokens/t-none",
                             Json{{"name", "t-none"}, {"projects", {"p2"}}});
  CHECK(moved.status == 200);
  CHECK(moved.JsonBody()["token"]["projects"] == Json{"p2"});
  CHECK(token_ids({{"projects", "(unassigned)"}}) == S{"admin"});
}

TEST_CASE("introspection - all some one and projects") {
  START_ENV(env);
  const Api& admin = env.admin;
  const Json all_false = {{"get", false},
                          {"put", false},
                          {"post", false},
                          {"delete", false},
                          {"patch", false}};

  Response all = admin.Get("/apis/iam/v2/introspect");
  REQUIRE(all.status == 200);
  Json eps = all.JsonBody()["endpoints"];
  CHECK(eps["/apis/iam/v2/tokens"] == Json{{"get", true},
                                           {"put", false},
                                           {"post", true},
                                           {"delete", false},
                                           {"patch", false}});
  CHECK(eps["/apis/iam/v2/policies"]["post"] == true);
  CHECK(eps["/apis/iam/v2/projects"]["get"] == true);
  for (auto it = eps.begin(); it != eps.end(); ++it) {
    CAPTURE(it.key());
    CHECK(it.key().find('{') == std::string::npos);  // literal paths only
    CHECK(it.value().size() == 5);
  }

  // A token without policies: introspection is allowed for everyone, IAM
  // paths are listed with all flags false ("fully hydrated").
  const std::string plain = CreateToken(admin, "plain");
  REQUIRE(!plain.empty());
  Response mine = admin.WithToken(plain).Get("/apis/iam/v2/introspect");
  REQUIRE(mine.status == 200);
  Json mine_eps = mine.JsonBody()["endpoints"];
  CHECK(mine_eps.size() == eps.size());
  CHECK(mine_eps["/apis/iam/v2/tokens"] == all_false);
  CHECK(mine_eps["/apis/iam/v2/roles"] == all_false);
  CHECK(mine_eps["/apis/iam/v2/introspect"]["get"] == true);
  CHECK(mine_eps["/apis/iam/v2/introspect"]["post"] == true);

  // introspect_some: unknown and parameterized paths are ignored.
  Response some = admin.Post("/apis/iam/v2/introspect_some",
                             Json{{"paths",
                                   {"/apis/iam/v2/tokens", "/apis/iam/v2/nope",
                                    "/apis/iam/v2/tokens/{id}"}}});
  CHECK(some.status == 200);
  CHECK(some.body ==
        R"({"endpoints":{"/apis/iam/v2/tokens":{"get":true,"put":false,)"
        R"("post":true,"delete":false,"patch":false}}})");
  CHECK(admin.Post("/apis/iam/v2/introspect_some", Json::object()).body ==
        R"({"endpoints":{}})");

  // introspect one concrete path (tested for admin in Automate, §11).
  Response one = admin.Post("/apis/iam/v2/introspect",
                            Json{{"path", "/apis/iam/v2/policies/foo"}});
  CHECK(one.status == 200);
  CHECK(one.body ==
        R"({"endpoints":{"/apis/iam/v2/policies/foo":{"get":true,"put":true,)"
        R"("post":false,"delete":true,"patch":false}}})");
  // Chef-managed protection shows (§11: system policies included).
  Response protected_pol =
      admin.Post("/apis/iam/v2/introspect",
                 Json{{"path", "/apis/iam/v2/policies/administrator-access"}});
  CHECK(protected_pol.body ==
        R"({"endpoints":{"/apis/iam/v2/policies/administrator-access":)"
        R"({"get":true,"put":false,"post":false,"delete":false,)"
        R"("patch":false}}})");
  CHECK(admin
            .Post("/apis/iam/v2/introspect",
                  Json{{"path", "/apis/iam/v2/policies/foo/members"}})
            .JsonBody()["endpoints"]["/apis/iam/v2/policies/foo/members"] ==
        Json{{"get", true},
             {"put", true},
             {"post", false},
             {"delete", false},
             {"patch", false}});
  CHECK(admin.Post("/apis/iam/v2/introspect", Json{{"path", "/nothing/here"}})
            .body == R"({"endpoints":{}})");
  CHECK_ERR(admin.Post("/apis/iam/v2/introspect",
                       Json{{"path", "/apis/iam/v2/policies/foo"},
                            {"parameters", {"id="}}}),
            400, 3, "parameter \"id\" has empty value");
  CHECK_ERR(admin.Post("/apis/iam/v2/introspect",
                       Json{{"path", "/apis/iam/v2/tokens/"}}),
            400, 3, "parameter \"id\" has empty value");
  // `parameters` win over the path's values.
  Response with_params =
      admin.Post("/apis/iam/v2/introspect",
                 Json{{"path", "/apis/iam/v2/policies/foo"},
                      {"parameters", {"id=administrator-access"}}});
  CHECK(with_params.body ==
        R"({"endpoints":{"/apis/iam/v2/policies/foo":{"get":true,)"
        R"("put":false,"post":false,"delete":false,"patch":false}}})");
  Response plain_one = admin.WithToken(plain).Post(
      "/apis/iam/v2/introspect", Json{{"path", "/apis/iam/v2/tokens/x"}});
  CHECK(plain_one.JsonBody()["endpoints"]["/apis/iam/v2/tokens/x"] ==
        all_false);

  // introspect_projects (§11): admin sees every project plus (unassigned).
  for (const char* p : {"p1", "p2", "p3"}) {
    REQUIRE(admin
                .Post(kProjects, Json{{"id", p},
                                      {"name", std::string("Project ") + p},
                                      {"skip_policies", true}})
                .status == 200);
  }
  Response ip = admin.Get("/apis/iam/v2/introspect_projects");
  REQUIRE(ip.status == 200);
  Json projects = ip.JsonBody()["projects"];
  CHECK(Ids(projects) ==
        std::set<std::string>{"p1", "p2", "p3", "(unassigned)"});
  for (const auto& p : projects) {
    if (p["id"] == "(unassigned)") {
      CHECK(p == Json{{"name", "(unassigned)"},
                      {"id", "(unassigned)"},
                      {"type", "CHEF_MANAGED"},
                      {"status", "NO_RULES"}});
    }
  }
  // A caller whose only policy allows iam:teams:get on [p1, p2] sees those.
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    Json{{"id", "teams-p1-p2"},
                         {"name", "n"},
                         {"members", {"token:plain"}},
                         {"statements",
                          {Json{{"actions", {"iam:teams:get"}},
                                {"projects", {"p1", "p2"}}}}}})
              .status == 200);
  Response limited =
      admin.WithToken(plain).Get("/apis/iam/v2/introspect_projects");
  REQUIRE(limited.status == 200);
  CHECK(SortedById(limited.JsonBody()["projects"]) ==
        Json::parse(R"([{"name":"Project p1","id":"p1","type":"CUSTOM",)"
                    R"("status":"NO_RULES"},{"name":"Project p2","id":"p2",)"
                    R"("type":"CUSTOM","status":"NO_RULES"}])"));
}

TEST_CASE("projects - limit of 300 custom projects") {
  START_ENV(env);
  const Api& admin = env.admin;
  constexpr int kThreads = 6;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 300; i += kThreads) {
        Response r =
            admin.Post(kProjects, Json{{"id", "lp-" + std::to_string(i)},
                                       {"name", "n"},
                                       {"skip_policies", true}});
        if (r.status != 200) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(failures[t] == 0);
  CHECK(admin.Get(kProjects).JsonBody()["projects"].size() == 300);
  const uint64_t head = LogHead(admin);
  CHECK_ERR(admin.Post(kProjects, Json{{"id", "one-too-many"}, {"name", "n"}}),
            400, 9,
            "cannot create project: limit of 300 projects already reached");
  CHECK(LogHead(admin) == head);
  // Deleting one makes room again.
  REQUIRE(admin.Delete("/apis/iam/v2/projects/lp-0").status == 200);
  CHECK(admin.Post(kProjects, Json{{"id", "one-more"}, {"name", "n"}}).status ==
        200);
}

}  // namespace
}  // namespace iam::integration
