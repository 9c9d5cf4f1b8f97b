// The token lifecycle through the whole service (decode -> authenticate ->
// decide -> append -> answer) on a fake clock: expiry edges, the maximum
// lifetime, PUT without expires_at, rotation grace edges, filters.
#include <doctest/doctest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "core/clock.h"
#include "tests/api/service_fixture.h"

namespace iam::api {
namespace {

using Json = nlohmann::json;
constexpr Micros kS = 1'000'000;
constexpr char kTokens[] = "/apis/iam/v2/tokens";

struct LifecycleFixture : testing::ServiceFixture {
  explicit LifecycleFixture(Micros max_lifetime = 0) {
    service_options.clock = &clock;
    service_options.lifecycle.max_token_lifetime = max_lifetime;
    service_options.lifecycle.usage_flush_interval =
        std::chrono::milliseconds(10);
    Open();
  }
  // The token's last_used_at once it equals `want` (the flusher takes a
  // first use in within milliseconds), else what it is after 5 s.
  std::string LastUsedOf(const std::string& id, const std::string& want) {
    std::string got;
    for (int i = 0; i < 500; ++i) {
      Json t = Get(std::string(kTokens) + "/" + id)["token"];
      got = t.value("last_used_at", "");
      if (got == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return got;
  }
  // 403: authenticates (but may do nothing); 401: refused.
  int Auth(const std::string& value) {
    return Call("GET", kTokens, "", "127.0.0.1", value).status;
  }
  Json Post(const std::string& target, const Json& body) {
    HttpResponse r = Call("POST", target, body.dump());
    last_status = r.status;
    return Json::parse(r.body);
  }
  Json Put(const std::string& target, const Json& body) {
    HttpResponse r = Call("PUT", target, body.dump());
    last_status = r.status;
    return Json::parse(r.body);
  }
  Json Get(const std::string& target) {
    HttpResponse r = Call("GET", target);
    last_status = r.status;
    return Json::parse(r.body);
  }
  std::string Rfc(Micros t) { return FormatRfc3339(t, true); }

  FakeClock clock{1'800'000'000 * kS};
  int last_status = 0;
};

TEST_CASE("lifecycle service: expiry edges, 1 s before and after") {
  LifecycleFixture fx;
  const Micros now = fx.clock.Now();
  Json created = fx.Post(
      kTokens,
      {{"id", "t"}, {"name", "T"}, {"expires_at", fx.Rfc(now + 10 * kS)}});
  REQUIRE(fx.last_status == 200);
  CHECK(created["token"]["expires_at"] == fx.Rfc(now + 10 * kS));
  const std::string value = created["token"]["value"];
  CHECK(fx.Auth(value) == 403);
  fx.clock.Set(now + 9 * kS);  // 1 s before
  CHECK(fx.Auth(value) == 403);
  fx.clock.Set(now + 10 * kS);  // at expires_at
  CHECK(fx.Auth(value) == 401);
  fx.clock.Set(now + 11 * kS);  // 1 s after
  CHECK(fx.Auth(value) == 401);
  // The token is still there, still active: an admin can extend it.
  Json got = fx.Get(std::string(kTokens) + "/t");
  CHECK(got["token"]["active"] == true);
  Json put = fx.Put(std::string(kTokens) + "/t",
                    {{"name", "T"}, {"expires_at", fx.Rfc(now + 100 * kS)}});
  REQUIRE(fx.last_status == 200);
  CHECK(put["token"]["expires_at"] == fx.Rfc(now + 100 * kS));
  CHECK(fx.Auth(value) == 403);

  // A PUT without expires_at (an Automate client renaming) keeps it.
  put = fx.Put(std::string(kTokens) + "/t", {{"name", "Renamed"}});
  REQUIRE(fx.last_status == 200);
  CHECK(put["token"]["name"] == "Renamed");
  CHECK(put["token"]["expires_at"] == fx.Rfc(now + 100 * kS));
  // "" clears it.
  put =
      fx.Put(std::string(kTokens) + "/t", {{"name", "R"}, {"expires_at", ""}});
  REQUIRE(fx.last_status == 200);
  CHECK_FALSE(put["token"].contains("expires_at"));

  // In the past, or malformed: 400, nothing changes.
  fx.Post(kTokens, {{"id", "u"}, {"name", "U"}, {"expires_at", fx.Rfc(now)}});
  CHECK(fx.last_status == 400);
  Json bad =
      fx.Post(kTokens, {{"id", "u"}, {"name", "U"}, {"expires_at", "soon"}});
  CHECK(fx.last_status == 400);
  CHECK(bad["message"].get<std::string>().find("expires_at") !=
        std::string::npos);
  fx.Get(std::string(kTokens) + "/u");
  CHECK(fx.last_status == 404);

  // History records the expiry events.
  Json h = fx.Get(std::string(kTokens) + "/t/history");
  std::vector<std::string> types;
  for (const auto& e : h["events"]) types.push_back(e["type"]);
  CHECK(types == std::vector<std::string>{"TokenCreated", "TokenExpirySet",
                                          "TokenRenamed", "TokenRenamed",
                                          "TokenExpirySet"});
  CHECK(h["events"][0]["data"]["expires_at"] == FormatRfc3339(now + 10 * kS));
  CHECK(h["events"][4]["data"]["expires_at"] == "");
}

TEST_CASE("lifecycle service: a token without expiry shows no new field") {
  LifecycleFixture fx;
  Json created = fx.Post(kTokens, {{"id", "plain"}, {"name", "P"}});
  REQUIRE(fx.last_status == 200);
  CHECK(created["token"].size() == 7);
  Json list = fx.Get(kTokens);
  for (const auto& t : list["tokens"]) CHECK(t.size() == 7);
}

TEST_CASE("lifecycle service: the maximum lifetime") {
  const Micros day = 86400 * kS;
  LifecycleFixture fx(30 * day);
  const Micros now = fx.clock.Now();
  Json created = fx.Post(kTokens, {{"id", "a"}, {"name", "A"}});
  REQUIRE(fx.last_status == 200);
  CHECK(created["token"]["expires_at"] == fx.Rfc(now + 30 * day));
  // At the limit: fine; 1 s past it: 400 naming it.
  fx.Post(kTokens,
          {{"id", "b"}, {"name", "B"}, {"expires_at", fx.Rfc(now + 30 * day)}});
  CHECK(fx.last_status == 200);
  Json refused =
      fx.Post(kTokens, {{"id", "c"},
                        {"name", "C"},
                        {"expires_at", fx.Rfc(now + 30 * day + kS)}});
  CHECK(fx.last_status == 400);
  CHECK(refused["message"].get<std::string>().find(
            "maximum token lifetime of 30d") != std::string::npos);
  // An extension past it, or clearing: 400; a PUT without expires_at: kept.
  fx.Put(std::string(kTokens) + "/a",
         {{"name", "A"}, {"expires_at", fx.Rfc(now + 31 * day)}});
  CHECK(fx.last_status == 400);
  fx.Put(std::string(kTokens) + "/a", {{"name", "A"}, {"expires_at", ""}});
  CHECK(fx.last_status == 400);
  Json kept = fx.Put(std::string(kTokens) + "/a", {{"name", "A2"}});
  REQUIRE(fx.last_status == 200);
  CHECK(kept["token"]["expires_at"] == fx.Rfc(now + 30 * day));
  // Tokens that are older than the flag keep no expiry; expires_before
  // lists the ones that have one.
  Json soon = fx.Get(std::string(kTokens) +
                     "?expires_before=" + fx.Rfc(now + 30 * day + kS));
  CHECK(soon["tokens"].size() == 2);
}

TEST_CASE("lifecycle service: rotation with a grace period") {
  LifecycleFixture fx;
  const Micros now = fx.clock.Now();
  Json created = fx.Post(kTokens, {{"id", "r"}, {"name", "R"}});
  const std::string old_value = created["token"]["value"];
  fx.Post("/apis/iam/v2/policies/viewer-access/members:add",
          {{"members", {"token:r"}}});
  REQUIRE(fx.last_status == 200);

  Json rotated =
      fx.Post(std::string(kTokens) + "/r:rotate", {{"grace_seconds", 60}});
  REQUIRE(fx.last_status == 200);
  const std::string new_value = rotated["token"]["value"];
  CHECK(new_value != old_value);
  CHECK(rotated["token"]["id"] == "r");
  CHECK(rotated["previous_value_expires_at"] == fx.Rfc(now + 60 * kS));
  // 403: authenticated (viewer-access does not list tokens); 401: not.
  CHECK(fx.Auth(new_value) == 403);
  CHECK(fx.Auth(old_value) == 403);
  fx.clock.Set(now + 59 * kS);
  CHECK(fx.Auth(old_value) == 403);
  fx.clock.Set(now + 60 * kS);
  CHECK(fx.Auth(old_value) == 401);
  CHECK(fx.Auth(new_value) == 403);
  // Memberships stay; GET reveals the new value.
  Json members = fx.Get("/apis/iam/v2/policies/viewer-access/members");
  CHECK(std::find(members["members"].begin(), members["members"].end(),
                  "token:r") != members["members"].end());
  CHECK(fx.Get(std::string(kTokens) + "/r")["token"]["value"] == new_value);

  // No grace: the old value stops at once.
  Json again = fx.Post(std::string(kTokens) + "/r:rotate", Json::object());
  REQUIRE(fx.last_status == 200);
  CHECK(fx.Auth(new_value) == 401);
  CHECK(fx.Auth(again["token"]["value"]) == 403);

  // Grace edges and unknown tokens.
  fx.Post(std::string(kTokens) + "/r:rotate", {{"grace_seconds", 604800}});
  CHECK(fx.last_status == 200);
  fx.Post(std::string(kTokens) + "/r:rotate", {{"grace_seconds", 604801}});
  CHECK(fx.last_status == 400);
  fx.Post(std::string(kTokens) + "/r:rotate", {{"grace_seconds", -1}});
  CHECK(fx.last_status == 400);
  fx.Post(std::string(kTokens) + "/r:rotate", {{"grace_seconds", "x"}});
  CHECK(fx.last_status == 400);
  fx.Post(std::string(kTokens) + "/nope:rotate", Json::object());
  CHECK(fx.last_status == 404);

  // The history records the rotation, never a value.
  HttpResponse h = fx.Call("GET", std::string(kTokens) + "/r/history");
  CHECK(h.body.find("TokenRotated") != std::string::npos);
  CHECK(h.body.find(old_value) == std::string::npos);
  CHECK(h.body.find(new_value) == std::string::npos);
}

TEST_CASE("lifecycle service: revoke reaches a previous value in its grace") {
  LifecycleFixture fx;
  Json created = fx.Post(kTokens, {{"id", "g"}, {"name", "G"}});
  const std::string old_value = created["token"]["value"];
  Json rotated =
      fx.Post(std::string(kTokens) + "/g:rotate", {{"grace_seconds", 600}});
  const std::string new_value = rotated["token"]["value"];
  HttpResponse r = fx.Call("POST", "/apis/iam/v2/tokens:revoke",
                           Json{{"values", {old_value}}}.dump(), "192.0.2.7");
  CHECK(r.body == "{\"revoked\":1}");
  CHECK(fx.Auth(old_value) == 401);
  CHECK(fx.Auth(new_value) == 401);
}

TEST_CASE("lifecycle service: inventory filters") {
  LifecycleFixture fx;
  const Micros now = fx.clock.Now();
  fx.Post("/apis/iam/v2/projects", {{"id", "p1"}, {"name", "P1"}});
  fx.Post("/apis/iam/v2/projects", {{"id", "p2"}, {"name", "P2"}});
  fx.Post(kTokens, {{"id", "a"}, {"name", "A"}, {"projects", {"p1"}}});
  fx.Post(kTokens, {{"id", "b"},
                    {"name", "B"},
                    {"projects", {"p2"}},
                    {"active", false},
                    {"expires_at", fx.Rfc(now + 3600 * kS)}});
  fx.Post(kTokens, {{"id", "c"}, {"name", "C"}});
  auto ids = [&](const std::string& query) {
    Json j = fx.Get(std::string(kTokens) + query);
    std::vector<std::string> out;
    for (const auto& t : j["tokens"]) out.push_back(t["id"]);
    return out;
  };
  using L = std::vector<std::string>;
  const L all = ids("");
  CHECK(all.size() >= 3);
  CHECK(ids("?active=false") == L{"b"});
  CHECK(ids("?project=p1") == L{"a"});
  CHECK(ids("?project=p1&project=p2") == L{"a", "b"});
  CHECK(ids("?expires_before=" + fx.Rfc(now + 3601 * kS)) == L{"b"});
  CHECK(ids("?expires_before=" + fx.Rfc(now + 3600 * kS)) == L{});
  CHECK(ids("?active=true&project=p2") == L{});
  CHECK(ids("?unused_since=" + fx.Rfc(now)) == all);  // none used yet
  // No filter: the same bytes as before the feature.
  CHECK(fx.Call("GET", kTokens).body ==
        fx.Call("GET", std::string(kTokens) + "?unrelated=1").body);
  fx.Get(std::string(kTokens) + "?active=yes");
  CHECK(fx.last_status == 400);
  fx.Get(std::string(kTokens) + "?expires_before=tomorrow");
  CHECK(fx.last_status == 400);
}

TEST_CASE("lifecycle service: last_used_at is coarse and survives a restart") {
  LifecycleFixture fx;
  const Micros t0 = fx.clock.Now();
  Json created = fx.Post(kTokens, {{"id", "u"}, {"name", "U"}});
  const std::string value = created["token"]["value"];
  fx.Post(kTokens, {{"id", "idle"}, {"name", "I"}});
  // Never used: no field (Automate's shape).
  CHECK_FALSE(created["token"].contains("last_used_at"));
  CHECK(fx.Auth(value) == 403);
  CHECK(fx.LastUsedOf("u", fx.Rfc(t0)) == fx.Rfc(t0));
  // Within 15 minutes: unchanged.
  fx.clock.Set(t0 + 14 * 60 * kS);
  CHECK(fx.Auth(value) == 403);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(fx.LastUsedOf("u", fx.Rfc(t0)) == fx.Rfc(t0));
  // At 15 minutes: recorded again.
  fx.clock.Set(t0 + 15 * 60 * kS);
  CHECK(fx.Auth(value) == 403);
  const std::string later = fx.Rfc(t0 + 15 * 60 * kS);
  CHECK(fx.LastUsedOf("u", later) == later);
  // Filters: unused_since.
  auto ids = [&](const std::string& query) {
    std::vector<std::string> out;
    const Json list = fx.Get(std::string(kTokens) + query);
    for (const auto& t : list["tokens"]) out.push_back(t["id"]);
    return out;
  };
  CHECK(ids("?unused_since=" + later) == std::vector<std::string>{"idle"});
  CHECK(ids("?unused_since=" + fx.Rfc(t0 + 15 * 60 * kS + kS)) ==
        std::vector<std::string>{"idle", "u"});
  // Persisted: a restart (service and ledger) keeps it.
  fx.Close();
  fx.Open();
  CHECK(fx.LastUsedOf("u", later) == later);
  CHECK_FALSE(
      fx.Get(std::string(kTokens) + "/idle")["token"].contains("last_used_at"));
  // Deleting the token drops its record; a new token with the id starts
  // unused.
  REQUIRE(fx.Call("DELETE", std::string(kTokens) + "/u").status == 200);
  fx.Post(kTokens, {{"id", "u"}, {"name", "U again"}});
  fx.Close();
  fx.Open();
  CHECK_FALSE(
      fx.Get(std::string(kTokens) + "/u")["token"].contains("last_used_at"));
}

}  // namespace
}  // namespace iam::api
