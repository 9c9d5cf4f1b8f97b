// The token lifecycle of API.md ("Token lifecycle") over the real server:
// revocation of leaked values, expiry, rotation, inventory filters.
#include <doctest/doctest.h>

#include <string>

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

}  // namespace
}  // namespace iam::integration
