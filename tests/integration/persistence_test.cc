// Restart, the admin socket and `iamledger iam token create`:
// DESIGN.md §3-§6, §8; automate-iam-v2.md §12.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <regex>
#include <string>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

const std::regex kValueLine("^iam_[0-9A-Za-z]{49}\n$");

struct Snapshot {
  int status = 0;
  std::string etag;
  std::string body;
};

std::vector<std::string> ReadPaths(const Api& admin) {
  std::vector<std::string> paths = {
      "/apis/iam/v2/tokens",
      "/apis/iam/v2/policies",
      "/apis/iam/v2/roles",
      "/apis/iam/v2/projects",
      "/apis/iam/v2/introspect_projects",
      "/apis/iam/v2/policy_version",
      "/apis/iam/v2/events?after=0&limit=1000",
      "/apis/iam/v2/tokens/t-del/history",
      "/apis/iam/v2/policies/pol-del/history",
      "/apis/iam/v2/tokens/t-del",
  };
  for (const char* kind : {"tokens", "policies", "roles", "projects"}) {
    Json list = admin.Get(std::string("/apis/iam/v2/") + kind).JsonBody();
    for (const auto& item : list[kind]) {
      const std::string id = item.value("id", "");
      const std::string base = std::string("/apis/iam/v2/") + kind + "/" + id;
      paths.push_back(base);
      paths.push_back(base + "/history");
      if (std::string(kind) == "policies") paths.push_back(base + "/members");
    }
  }
  return paths;
}

TEST_CASE("restart - state survives SIGTERM byte for byte") {
  START_ENV(env);
  const Api& admin = env.admin;
  // Build some state of every kind.
  REQUIRE(
      admin.Post("/apis/iam/v2/projects", Json{{"id", "p1"}, {"name", "P1"}})
          .status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/projects",
                    Json{{"id", "p2"}, {"name", "P2"}, {"skip_policies", true}})
              .status == 200);
  REQUIRE(admin.Put("/apis/iam/v2/projects/p2", Json{{"name", "P2 renamed"}})
              .status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/roles", Json{{"id", "r1"},
                                               {"name", "R1"},
                                               {"actions", {"iam:tokens:get"}},
                                               {"projects", {"p1"}}})
              .status == 200);
  REQUIRE(admin
              .Put("/apis/iam/v2/roles/r1",
                   Json{{"name", "R1b"},
                        {"actions", {"iam:tokens:get", "iam:tokens:list"}},
                        {"projects", {"p1"}}})
              .status == 200);
  const std::string t1 = CreateToken(admin, "t1", {"p1"});
  REQUIRE(!t1.empty());
  REQUIRE(AddMember(admin, "administrator-access", "token:t1"));
  const std::string t2_value = "supplied-value-for-t2-000";
  REQUIRE(admin
              .Post("/apis/iam/v2/tokens", Json{{"id", "t2"},
                                                {"name", "T2"},
                                                {"value", t2_value},
                                                {"active", false}})
              .status == 200);
  const std::string t3 = CreateToken(admin, "t3");
  REQUIRE(admin
              .Put("/apis/iam/v2/tokens/t3",
                   Json{{"name", "T3 renamed"}, {"projects", {"p2"}}})
              .status == 200);
  const std::string t_del = CreateToken(admin, "t-del");
  REQUIRE(AddMember(admin, "viewer-access", "token:t-del"));
  REQUIRE(admin.Delete("/apis/iam/v2/tokens/t-del").status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    Json{{"id", "pol-1"},
                         {"name", "Pol 1"},
                         {"members", {"token:t3", "team:ldap:*"}},
                         {"projects", {"p1"}},
                         {"statements",
                          {Json{{"effect", "DENY"},
                                {"actions", {"iam:roles:*"}},
                                {"projects", {"p1", "(unassigned)"}}},
                           Json{{"role", "r1"}, {"projects", {"*"}}}}}})
              .status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    Json{{"id", "pol-del"},
                         {"name", "D"},
                         {"statements",
                          {Json{{"actions", {"a:b:c"}}, {"projects", {"*"}}}}}})
              .status == 200);
  REQUIRE(admin.Delete("/apis/iam/v2/policies/pol-del").status == 200);
  REQUIRE(admin
              .Put("/apis/iam/v2/policies/editor-access/members",
                   Json{{"members", {"user:local:ed", "token:t3"}}})
              .status == 200);

  const std::vector<std::string> paths = ReadPaths(admin);
  REQUIRE(paths.size() > 50);
  std::vector<Snapshot> before;
  for (const auto& p : paths) {
    Response r = admin.Get(p);
    before.push_back({r.status, r.Header("ETag"), r.body});
  }
  const uint64_t head = LogHead(admin);
  REQUIRE(head > 20);

  // Clean stop: exit code 0.
  CHECK(env.server.Stop() == 0);
  CHECK(env.server.log().find("stopped cleanly") != std::string::npos);
  REQUIRE(env.server.Start());
  const Api admin2{env.server.tcp(), env.admin_token};
  for (size_t i = 0; i < paths.size(); ++i) {
    CAPTURE(paths[i]);
    Response r = admin2.Get(paths[i]);
    CHECK(r.status == before[i].status);
    CHECK(r.Header("ETag") == before[i].etag);
    CHECK(r.body == before[i].body);
  }
  CHECK(LogHead(admin2) == head);
  // Credentials: values still authenticate, revoked ones still do not.
  CHECK(admin2.WithToken(t1).Get("/apis/iam/v2/tokens").status == 200);
  CHECK(admin2.WithToken(t2_value).Get("/apis/iam/v2/tokens").status == 401);
  CHECK(admin2.WithToken(t_del).Get("/apis/iam/v2/tokens").status == 401);
  CHECK(admin2.WithToken(t3).Get("/apis/iam/v2/tokens").status == 200);
  CHECK(admin2.WithToken(t3).Get("/apis/iam/v2/policies").status == 403);
  CHECK(admin2.Get("/apis/iam/v2/tokens/t2").JsonBody()["token"]["value"] ==
        t2_value);
  {
    struct stat st {};
    REQUIRE(::stat(env.server.socket_path().c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
  }
  // The admin socket is back (the stale socket file was replaced). The
  // tokens used just above now show last_used_at (usage, not state: API.md
  // "Token lifecycle"), so that field is left out of this comparison.
  auto without_usage = [](const std::string& body) {
    Json j = Json::parse(body);
    for (auto& t : j["tokens"]) t.erase("last_used_at");
    return j;
  };
  CHECK(without_usage(env.local.Get("/apis/iam/v2/tokens").body) ==
        without_usage(before[0].body));
  // And the log continues where it stopped.
  Response next = admin2.Post("/apis/iam/v2/tokens",
                              Json{{"id", "after-restart"}, {"name", "n"}});
  CHECK(next.status == 200);
  CHECK(next.Header("X-Iam-Seq") == std::to_string(head + 1));

  // A second cycle (with a write after the first restart) is stable too.
  const std::string tokens_now = admin2.Get("/apis/iam/v2/tokens").body;
  CHECK(env.server.Stop() == 0);
  REQUIRE(env.server.Start());
  const Api admin3{env.server.tcp(), env.admin_token};
  CHECK(admin3.Get("/apis/iam/v2/tokens").body == tokens_now);
  CHECK(LogHead(admin3) == head + 1);
}

TEST_CASE("admin socket - local admin without a token and the CLI") {
  START_ENV(env);
  const Api& admin = env.admin;
  const std::string data_dir = env.server.data_dir();

  struct stat st {};
  REQUIRE(::stat(env.server.socket_path().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);

  // No token needed: the subject is local:admin.
  Response policies = env.local.Get("/apis/iam/v2/policies");
  CHECK(policies.status == 200);
  CHECK(policies.JsonBody()["policies"].size() == 6);
  CHECK(env.local.Get("/apis/iam/v2/tokens").status == 200);
  Response created = env.local.Post("/apis/iam/v2/tokens",
                                    Json{{"id", "by-socket"}, {"name", "n"}});
  CHECK(created.status == 200);
  Response hist = admin.Get("/apis/iam/v2/tokens/by-socket/history");
  REQUIRE(hist.status == 200);
  CHECK(hist.JsonBody()["events"][0]["actor"] == "local:admin");
  CHECK(hist.JsonBody()["events"][0]["source"] == "unix");
  CHECK(env.local.Get("/apis/iam/v2/nope").status == 404);
  // Validation still applies.
  CHECK_ERR(
      env.local.Post("/apis/iam/v2/tokens", Json{{"id", "BAD"}, {"name", "n"}}),
      400, 3, RegexError("CreateTokenReq.Id", kIdPattern));

  // The CLI goes through the socket while the server runs.
  CommandResult made = RunIamledger(
      {"iam", "token", "create", "CI Bot", "--admin", "--data-dir", data_dir},
      env.dir.path());
  CHECK(made.exit_code == 0);
  CHECK(std::regex_match(made.out, kValueLine));
  CHECK(made.err == "");
  const std::string value = made.out.substr(0, made.out.size() - 1);
  Response tok = admin.Get("/apis/iam/v2/tokens/ci-bot");
  REQUIRE(tok.status == 200);
  CHECK(tok.JsonBody()["token"]["name"] == "CI Bot");
  CHECK(tok.JsonBody()["token"]["value"] == value);
  CHECK(admin.WithToken(value).Get("/apis/iam/v2/policies").status == 200);
  CHECK(admin.Get("/apis/iam/v2/policies/administrator-access/members").body ==
        R"({"members":["team:local:admins","token:admin","token:ci-bot"]})");

  // --id, no --admin: a token without permissions.
  CommandResult plain =
      RunIamledger({"iam", "token", "create", "aNewToken", "--id",
                    "inspec-test-1", "--data-dir", data_dir},
                   env.dir.path());
  CHECK(plain.exit_code == 0);
  CHECK(std::regex_match(plain.out, kValueLine));
  CHECK(plain.err == "");
  const std::string plain_value = plain.out.substr(0, plain.out.size() - 1);
  CHECK(admin.Get("/apis/iam/v2/tokens/inspec-test-1")
            .JsonBody()["token"]["name"] == "aNewToken");
  CHECK(admin.WithToken(plain_value).Get("/apis/iam/v2/policies").status ==
        403);

  // Failures: message on stderr, nothing on stdout, non-zero exit.
  const uint64_t head = LogHead(admin);
  CommandResult dup =
      RunIamledger({"iam", "token", "create", "other", "--id", "ci-bot",
                    "--admin", "--data-dir", data_dir},
                   env.dir.path());
  CHECK(dup.exit_code != 0);
  CHECK(dup.out == "");
  CHECK(dup.err.find("Conflicting token ID") != std::string::npos);
  CommandResult bad = RunIamledger({"iam", "token", "create", "x", "--id",
                                    "Not Valid", "--data-dir", data_dir},
                                   env.dir.path());
  CHECK(bad.exit_code != 0);
  CHECK(bad.out == "");
  CHECK(bad.err.find("does not match regex pattern") != std::string::npos);
  CommandResult usage = RunIamledger(
      {"iam", "token", "create", "--data-dir", data_dir}, env.dir.path());
  CHECK(usage.exit_code == 2);
  CHECK(usage.out.find("iam_") == std::string::npos);
  CHECK(LogHead(admin) == head);
  CHECK(env.server.Alive());
}

TEST_CASE("admin CLI - works offline on the data directory") {
  START_ENV(env);
  const std::string data_dir = env.server.data_dir();
  CHECK(env.server.Stop() == 0);

  // No server: the CLI opens the store itself (key file at its default
  // place beside the data directory).
  CommandResult made = RunIamledger({"iam", "token", "create", "Offline Bot",
                                     "--admin", "--data-dir", data_dir},
                                    env.dir.path());
  CHECK(made.exit_code == 0);
  CHECK(std::regex_match(made.out, kValueLine));
  const std::string value =
      made.out.empty() ? "" : made.out.substr(0, made.out.size() - 1);
  CommandResult dup = RunIamledger({"iam", "token", "create", "again", "--id",
                                    "offline-bot", "--data-dir", data_dir},
                                   env.dir.path());
  CHECK(dup.exit_code != 0);
  CHECK(dup.out == "");
  CHECK(dup.err.find("Conflicting token ID") != std::string::npos);

  REQUIRE(env.server.Start());
  const Api admin{env.server.tcp(), env.admin_token};
  Response tok = admin.Get("/apis/iam/v2/tokens/offline-bot");
  REQUIRE(tok.status == 200);
  CHECK(tok.JsonBody()["token"]["value"] == value);
  CHECK(tok.JsonBody()["token"]["name"] == "Offline Bot");
  CHECK(admin.WithToken(value).Get("/apis/iam/v2/policies").status == 200);
  Response hist = admin.Get("/apis/iam/v2/tokens/offline-bot/history");
  CHECK(hist.JsonBody()["events"][0]["actor"] == "local:admin");
  // The store is writable again by the server afterwards.
  CHECK(admin.Post("/apis/iam/v2/tokens", Json{{"id", "x"}, {"name", "x"}})
            .status == 200);
}

}  // namespace
}  // namespace iam::integration
