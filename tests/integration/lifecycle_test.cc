// The token lifecycle of API.md ("Token lifecycle") over the real server:
// revocation of leaked values, expiry, rotation, inventory filters.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

constexpr char kTokens[] = "/apis/iam/v2/tokens";
constexpr char kRevoke[] = "/apis/iam/v2/tokens:revoke";

// 403 for a token that authenticates but may do nothing; 401 for one that
// does not authenticate.
int StatusWith(const Api& api, const std::string& value) {
  return api.WithToken(value).Get(kTokens).status;
}

TEST_CASE("lifecycle - revoke leaked values without authentication") {
  START_ENV(env);
  const std::string v1 = "leaked-value-0123456789abc";
  REQUIRE(
      env.admin.Post(kTokens, Json{{"id", "t1"}, {"name", "T1"}, {"value", v1}})
          .status == 200);
  const std::string v2 = CreateToken(env.admin, "t2");
  REQUIRE(!v2.empty());
  CHECK(StatusWith(env.anon, v1) == 403);

  Response r =
      env.anon.Post(kRevoke, Json{{"values", {v1, "not-a-token-value"}}});
  REQUIRE(r.status == 200);
  CHECK(r.body == "{\"revoked\":1}");
  CHECK(r.body.find(v1) == std::string::npos);
  CHECK(StatusWith(env.anon, v1) == 401);
  CHECK(StatusWith(env.anon, v2) == 403);  // untouched

  // Already inactive: nothing to revoke, nothing appended.
  const uint64_t head = LogHead(env.admin);
  r = env.anon.Post(kRevoke, Json{{"values", {v1}}});
  CHECK(r.body == "{\"revoked\":0}");
  CHECK(LogHead(env.admin) == head);

  // The history names the actor `revocation` and the client address.
  Json h = env.admin.Get(std::string(kTokens) + "/t1/history").JsonBody();
  REQUIRE(h["events"].size() == 2);
  Json last = h["events"][1];
  CHECK(last["type"] == "TokenStatusToggled");
  CHECK(last["actor"] == "revocation");
  CHECK(last["source"] == "127.0.0.1");
  CHECK(last["data"] == Json{{"id", "t1"}, {"active", false}});
  CHECK(h.dump().find(v1) == std::string::npos);
  CHECK(env.admin.Get(std::string(kTokens) + "/t1")
            .JsonBody()["token"]["active"] == false);
}

TEST_CASE("lifecycle - revoke refuses bad bodies without quoting values") {
  START_ENV(env);
  const std::string secret = "some-secret-value-0123456789";
  CHECK_ERR(env.anon.Post(kRevoke, Json{{"values", Json::array()}}), 400, 3,
            "\"values\" must hold 1 to 1000 token values; it has 0");
  CHECK_ERR(env.anon.Post(kRevoke, "{}"), 400, 3,
            "\"values\" must hold 1 to 1000 token values; it has 0");
  Json many = Json::array();
  for (int i = 0; i < 1001; ++i) many.push_back(secret + std::to_string(i));
  Response r = env.anon.Post(kRevoke, Json{{"values", many}});
  CHECK_ERR(r, 400, 3,
            "\"values\" must hold 1 to 1000 token values; it has 1001");
  r = env.anon.Post(kRevoke, Json{{"values", secret}});
  CHECK(r.status == 400);
  CHECK(r.body.find(secret) == std::string::npos);
  r = env.anon.Post(kRevoke, Json{{"values", {secret}}, {"extra", 1}});
  CHECK(r.status == 400);
  CHECK(r.body.find(secret) == std::string::npos);
  CHECK(env.anon.Get(kRevoke).status == 405);
}

TEST_CASE("lifecycle - revoke is rate-limited per client address") {
  START_ENV(env, "--revoke-rate-limit", "3/h");
  const Json body{{"values", {"unknown-value-0123456789abcdef"}}};
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(env.anon.Post(kRevoke, body).status == 200);
  }
  Response limited = env.anon.Post(kRevoke, body);
  CHECK(limited.status == 429);
  CHECK(limited.JsonBody()["code"] == 8);
  // One attempt regained every 3600/3 = 1200 s.
  CHECK(limited.Header("Retry-After") == "1200");
  // Counted before the body is read: bad bodies count too.
  CHECK(env.anon.Post(kRevoke, "not json").status == 429);
  // The rest of the API is not limited.
  CHECK(env.admin.Get(kTokens).status == 200);
}

TEST_CASE("lifecycle - serve refuses a malformed --revoke-rate-limit") {
  TempDir dir;
  Server server(dir.path());
  CHECK_FALSE(server.Start({"--revoke-rate-limit", "lots"}));
  CHECK(server.log().find("--revoke-rate-limit") != std::string::npos);
}

// "2026-12-01T10:00:03Z" for now + `seconds` (rounded up to a second).
std::string InSeconds(int seconds) {
  using namespace std::chrono;
  const auto t = system_clock::now() + std::chrono::seconds(seconds + 1);
  const std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

TEST_CASE("lifecycle - an expired token is refused from expires_at on") {
  START_ENV(env);
  const std::string expires = InSeconds(3);
  Response created = env.admin.Post(
      kTokens, Json{{"id", "short"}, {"name", "S"}, {"expires_at", expires}});
  REQUIRE(created.status == 200);
  CHECK(created.JsonBody()["token"]["expires_at"] == expires);
  const std::string value = created.JsonBody()["token"]["value"];
  CHECK(StatusWith(env.anon, value) == 403);  // seconds before expires_at
  // No background job: the first request at or after expires_at is refused.
  std::this_thread::sleep_for(std::chrono::seconds(5));
  CHECK(StatusWith(env.anon, value) == 401);
  CHECK(env.admin.Get(std::string(kTokens) + "/short")
            .JsonBody()["token"]["active"] == true);
  // An expires_at in the past is a 400.
  CHECK(env.admin
            .Post(kTokens, Json{{"id", "late"},
                                {"name", "L"},
                                {"expires_at", "2001-01-01T00:00:00Z"}})
            .status == 400);
}

TEST_CASE("lifecycle - serve --max-token-lifetime") {
  START_ENV(env, "--max-token-lifetime", "2h");
  Response created = env.admin.Post(kTokens, Json{{"id", "m"}, {"name", "M"}});
  REQUIRE(created.status == 200);
  CHECK(created.JsonBody()["token"].contains("expires_at"));
  Response refused = env.admin.Post(
      kTokens,
      Json{{"id", "n"}, {"name", "N"}, {"expires_at", InSeconds(3 * 3600)}});
  CHECK(refused.status == 400);
  CHECK(refused.JsonBody()["message"].get<std::string>().find("2h") !=
        std::string::npos);

  TempDir dir;
  Server bad(dir.path());
  CHECK_FALSE(bad.Start({"--max-token-lifetime", "forever"}));
  CHECK(bad.log().find("--max-token-lifetime") != std::string::npos);
}

TEST_CASE(
    "lifecycle - rotate over HTTP, lifecycle events in export and rebuild") {
  START_ENV(env);
  const std::string old_value = CreateToken(env.admin, "rot");
  REQUIRE(!old_value.empty());
  REQUIRE(env.admin
              .Put(std::string(kTokens) + "/rot",
                   Json{{"name", "rot"}, {"expires_at", InSeconds(86400)}})
              .status == 200);
  Response rotated = env.admin.Post(std::string(kTokens) + "/rot:rotate",
                                    Json{{"grace_seconds", 30}});
  REQUIRE(rotated.status == 200);
  const std::string new_value = rotated.JsonBody()["token"]["value"];
  CHECK(rotated.JsonBody().contains("previous_value_expires_at"));
  CHECK(StatusWith(env.anon, old_value) == 403);
  CHECK(StatusWith(env.anon, new_value) == 403);
  // Without a token: 401; GET on the rotate path is not a route of its own.
  CHECK(env.anon.Post(std::string(kTokens) + "/rot:rotate", "{}").status ==
        401);

  Json feed = env.admin.Get("/apis/iam/v2/events?type=TokenRotated").JsonBody();
  REQUIRE(feed["events"].size() == 1);
  CHECK(feed["events"][0]["stream"] == "token/rot");

  CommandResult exported =
      RunIamledger({"replay", "export", "--data-dir", env.server.data_dir()});
  REQUIRE(exported.exit_code == 0);
  CHECK(exported.out.find("\"type\":\"TokenExpirySet\"") != std::string::npos);
  CHECK(exported.out.find("\"type\":\"TokenRotated\"") != std::string::npos);
  CHECK(exported.out.find(old_value) == std::string::npos);
  CHECK(exported.out.find(new_value) == std::string::npos);
  CommandResult rebuilt = RunIamledger(
      {"replay", "rebuild", "--data-dir", env.server.data_dir(), "--json"});
  REQUIRE(rebuilt.exit_code == 0);
  CHECK(rebuilt.out.find("\"expires_at\"") != std::string::npos);
  CHECK(rebuilt.out.find(new_value) == std::string::npos);
  CommandResult verified =
      RunIamledger({"replay", "verify", "--data-dir", env.server.data_dir()});
  CHECK(verified.exit_code == 0);

  // A restart folds the new events again (snapshot at stop, then log).
  env.server.Stop();
  REQUIRE(env.server.Start());
  const Api anon{env.server.tcp(), ""};  // a new port
  CHECK(StatusWith(anon, new_value) == 403);
  CHECK(StatusWith(anon, old_value) == 403);  // grace of 30 s not over
}

TEST_CASE("lifecycle - last_used_at is persisted and in backups") {
  START_ENV(env);
  const std::string value = CreateToken(env.admin, "used");
  REQUIRE(!value.empty());
  CHECK(StatusWith(env.anon, value) == 403);
  // The admin token itself is used by every call above.
  std::string last_used;
  for (int i = 0; i < 100 && last_used.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    last_used = env.admin.Get(std::string(kTokens) + "/used")
                    .JsonBody()["token"]
                    .value("last_used_at", "");
  }
  CHECK(!last_used.empty());
  // Written within a second (the flusher), then copied by the backup.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::string backup = env.dir.path() + "/backup";
  CommandResult b = RunIamledger({"backup", "create", "--data-dir",
                                  env.server.data_dir(), "--to", backup});
  REQUIRE_MESSAGE(b.exit_code == 0, b.err);
  Server restored(backup, env.server.key_file(), env.dir.path() + "/r.log");
  REQUIRE_MESSAGE(restored.Start(), restored.log());
  Api local{restored.admin_socket(), ""};
  CHECK(local.Get(std::string(kTokens) + "/used")
            .JsonBody()["token"]["last_used_at"] == last_used);
  restored.Stop();
}

}  // namespace
}  // namespace iam::integration
