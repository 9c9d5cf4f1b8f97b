// Failed authentication limited per client address (api/auth_limiter.h,
// issue 12 item 6, reliability.md S4) through the whole service on a fake
// clock: 401 up to the limit, then 429 with Retry-After for every further
// request of that address (a valid token included), other addresses never
// refused, the limit refilled by time, memory bounded, /metrics counting.
#include "api/auth_limiter.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/clock.h"
#include "tests/api/service_fixture.h"

namespace iam::api {
namespace {

using Json = nlohmann::json;
constexpr Micros kS = 1'000'000;
constexpr char kTokens[] = "/apis/iam/v2/tokens";
// Has our prefix and length but a checksum that cannot match: the cheap
// refusal path. kWrong goes through the digest and the lookup.
constexpr char kBadChecksum[] =
    "iam_0000000000000000000000000000000000000000000000000";
constexpr char kWrong[] = "not-a-token-of-this-server-at-all";

struct AuthFixture : testing::ServiceFixture {
  explicit AuthFixture(RateLimit limit, size_t max_addresses = 65536) {
    service_options.clock = &clock;
    service_options.auth_limit.limit = limit;
    service_options.auth_limit.max_addresses = max_addresses;
    Open();
    HttpResponse r =
        Call("POST", kTokens, Json{{"id", "ok"}, {"name", "OK"}}.dump());
    REQUIRE(r.status == 200);
    valid = Json::parse(r.body)["token"]["value"];
  }
  // 403: authenticated (the token has no policy); 401; 429.
  HttpResponse From(const std::string& remote, const std::string& token) {
    return Call("GET", kTokens, "", remote, token);
  }
  // One metric's value from /metrics ("" when absent).
  std::string Metric(const std::string& name) {
    const std::string body = Call("GET", "/metrics").body;
    const std::string key = "\n" + name + " ";
    const size_t at = body.find(key);
    if (at == std::string::npos) return "";
    const size_t from = at + key.size();
    return body.substr(from, body.find('\n', from) - from);
  }

  FakeClock clock{1'800'000'000 * kS};
  std::string valid;
};

TEST_CASE("auth limiter: 401 up to the limit, then 429 with Retry-After") {
  AuthFixture fx(RateLimit{5, 60 * kS});  // a burst of 5, one per 12 s
  for (int i = 0; i < 5; ++i) {
    CHECK(fx.From("10.0.0.1", i % 2 ? kWrong : kBadChecksum).status == 401);
  }
  // Every further failure of that address is a 429, none a 401.
  for (int i = 0; i < 200; ++i) {
    HttpResponse r = fx.From("10.0.0.1", i % 2 ? kWrong : "");
    REQUIRE(r.status == 429);
    auto ra = r.headers.find("Retry-After");
    REQUIRE(ra != r.headers.end());
    CHECK(ra->second == "12");
    CHECK(Json::parse(r.body)["code"] == 8);  // ResourceExhausted
  }
  // A limited address is not even looked up: its valid token waits too.
  CHECK(fx.From("10.0.0.1", fx.valid).status == 429);
  // Another address is never refused: valid and wrong tokens as before.
  CHECK(fx.From("10.0.0.2", fx.valid).status == 403);
  CHECK(fx.From("10.0.0.2", kWrong).status == 401);
  // The admin socket is never limited.
  CHECK(fx.Call("GET", kTokens).status == 200);

  // Retry-After suffices: 11 s is not enough, 12 s gives one attempt back.
  fx.clock.Advance(11 * kS);
  CHECK(fx.From("10.0.0.1", fx.valid).status == 429);
  fx.clock.Advance(1 * kS);
  CHECK(fx.From("10.0.0.1", fx.valid).status == 403);  // success: free
  CHECK(fx.From("10.0.0.1", kWrong).status == 401);    // uses it
  HttpResponse r = fx.From("10.0.0.1", kWrong);
  CHECK(r.status == 429);
  CHECK(r.headers.find("Retry-After")->second == "12");
  // A full window refills the whole burst.
  fx.clock.Advance(60 * kS);
  for (int i = 0; i < 5; ++i) CHECK(fx.From("10.0.0.1", kWrong).status == 401);
  CHECK(fx.From("10.0.0.1", kWrong).status == 429);

  // /metrics counts both: 5 + 1 + 5 failures from 10.0.0.1 and one from
  // 10.0.0.2 answered 401; 200 + 1 + 1 + 1 + 1 answered 429.
  CHECK(fx.Metric("iamledger_auth_failures_total") == "12");
  CHECK(fx.Metric("iamledger_auth_limited_total") == "204");
  CHECK(fx.Metric("iamledger_auth_limiter_addresses") == "2");
}

TEST_CASE("auth limiter: successes are never counted or slowed") {
  AuthFixture fx(RateLimit{3, 3600 * kS});
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(fx.From("10.0.0.1", fx.valid).status == 403);
  }
  CHECK(fx.From("10.0.0.1", kWrong).status == 401);
  CHECK(fx.Metric("iamledger_auth_failures_total") == "1");
  CHECK(fx.Metric("iamledger_auth_limited_total") == "0");
}

TEST_CASE("auth limiter: 0 disables it, failures still counted") {
  AuthFixture fx(RateLimit{0, 60 * kS});
  for (int i = 0; i < 500; ++i) {
    REQUIRE(fx.From("10.0.0.1", kWrong).status == 401);
  }
  CHECK(fx.From("10.0.0.1", fx.valid).status == 403);
  CHECK(fx.Metric("iamledger_auth_failures_total") == "500");
  CHECK(fx.Metric("iamledger_auth_limited_total") == "0");
}

TEST_CASE("auth limiter: memory is bounded under a flood of addresses") {
  AuthFixture fx(RateLimit{2, 3600 * kS}, /*max_addresses=*/256);
  // 20,000 distinct addresses, each failing twice (its whole burst).
  for (int i = 0; i < 20000; ++i) {
    const std::string remote = "10." + std::to_string(i / 65536) + "." +
                               std::to_string(i / 256 % 256) + "." +
                               std::to_string(i % 256);
    REQUIRE(fx.From(remote, kWrong).status == 401);
    REQUIRE(fx.From(remote, kWrong).status == 401);
  }
  const int tracked = std::stoi(fx.Metric("iamledger_auth_limiter_addresses"));
  CHECK(tracked > 0);
  CHECK(tracked <= 256);
  // The most recent address is still limited (the oldest are forgotten
  // first).
  CHECK(fx.From("10.0.78.31", kWrong).status == 429);
}

TEST_CASE("auth limiter: the class alone, Admit counts nothing") {
  FakeClock clock(1000 * kS);
  AuthFailureLimiter limiter(AuthLimitOptions{RateLimit{2, 10 * kS}, 64},
                             &clock);
  for (int i = 0; i < 10; ++i) CHECK(limiter.Admit("a").allowed);
  CHECK(limiter.Failed("a").allowed);
  CHECK(limiter.Failed("a").allowed);
  CHECK_FALSE(limiter.Admit("a").allowed);
  CHECK(limiter.Admit("a").retry_after_seconds == 5);
  CHECK_FALSE(limiter.Failed("a").allowed);
  CHECK(limiter.Admit("b").allowed);
  CHECK(limiter.failures() == 2);
  CHECK(limiter.limited() == 3);
  clock.Advance(5 * kS);
  CHECK(limiter.Admit("a").allowed);
}

}  // namespace
}  // namespace iam::api
