// api/rate_limiter.h: the per-address limit of POST /tokens:revoke (and of
// any other per-key limit), on a fake clock.
#include "api/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace iam::api {
namespace {

constexpr Micros kSecond = 1'000'000;

TEST_CASE("rate limiter - parse and format") {
  CHECK(ParseRateLimit("60/h").value() == RateLimit{60, 3600 * kSecond});
  CHECK(ParseRateLimit("3/s").value() == RateLimit{3, kSecond});
  CHECK(ParseRateLimit("10/m").value() == RateLimit{10, 60 * kSecond});
  CHECK(ParseRateLimit("5/d").value() == RateLimit{5, 86400 * kSecond});
  CHECK(ParseRateLimit("0").value().limit == 0);
  for (const char* bad : {"", "60", "/h", "60/x", "60/hh", "-1/h", "a/h",
                          "1234567890/h", "6 0/h"}) {
    CAPTURE(bad);
    CHECK(ParseRateLimit(bad).status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(FormatRateLimit(RateLimit{60, 3600 * kSecond}) == "60/h");
  CHECK(FormatRateLimit(RateLimit{0, kSecond}) == "0");
}

TEST_CASE("rate limiter - burst, refusal with retry-after, refill") {
  FakeClock clock;
  RateLimiter limiter(RateLimit{3, 60 * kSecond}, &clock);  // 1 per 20 s
  for (int i = 0; i < 3; ++i) CHECK(limiter.Acquire("10.0.0.1").allowed);
  RateLimiter::Decision refused = limiter.Acquire("10.0.0.1");
  CHECK_FALSE(refused.allowed);
  CHECK(refused.retry_after_seconds == 20);
  CHECK_FALSE(limiter.Check("10.0.0.1").allowed);
  // Another address is not affected.
  CHECK(limiter.Acquire("10.0.0.2").allowed);
  // A refused attempt is not counted: after retry_after, one is allowed.
  clock.Advance(19 * kSecond);
  RateLimiter::Decision almost = limiter.Acquire("10.0.0.1");
  CHECK_FALSE(almost.allowed);
  CHECK(almost.retry_after_seconds == 1);
  clock.Advance(1 * kSecond);
  CHECK(limiter.Check("10.0.0.1").allowed);
  CHECK(limiter.Acquire("10.0.0.1").allowed);
  CHECK_FALSE(limiter.Acquire("10.0.0.1").allowed);
  // A whole window refills the burst, not more.
  clock.Advance(3600 * kSecond);
  for (int i = 0; i < 3; ++i) CHECK(limiter.Acquire("10.0.0.1").allowed);
  CHECK_FALSE(limiter.Acquire("10.0.0.1").allowed);
}

TEST_CASE("rate limiter - check counts nothing, zero is unlimited") {
  FakeClock clock;
  RateLimiter limiter(RateLimit{1, 60 * kSecond}, &clock);
  for (int i = 0; i < 10; ++i) CHECK(limiter.Check("a").allowed);
  CHECK(limiter.TrackedKeys() == 0);
  CHECK(limiter.Acquire("a").allowed);
  CHECK_FALSE(limiter.Check("a").allowed);

  RateLimiter unlimited(RateLimit{0, kSecond}, &clock);
  for (int i = 0; i < 1000; ++i) CHECK(unlimited.Acquire("a").allowed);
  CHECK(unlimited.TrackedKeys() == 0);
}

TEST_CASE("rate limiter - memory stays bounded under a flood of keys") {
  FakeClock clock;
  const size_t max_keys = 256;
  RateLimiter limiter(RateLimit{2, 3600 * kSecond}, &clock, max_keys);
  for (int i = 0; i < 10000; ++i) {
    limiter.Acquire("addr-" + std::to_string(i));
    clock.Advance(1);
  }
  CHECK(limiter.TrackedKeys() <= max_keys);
  CHECK(limiter.TrackedKeys() > 0);
  // A key seen last is still limited.
  CHECK(limiter.Acquire("addr-9999").allowed);
  CHECK_FALSE(limiter.Acquire("addr-9999").allowed);
}

TEST_CASE("rate limiter - concurrent acquires never exceed the limit") {
  FakeClock clock;
  RateLimiter limiter(RateLimit{100, 3600 * kSecond}, &clock);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (limiter.Acquire("shared").allowed) allowed++;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(allowed.load() == 100);
}

}  // namespace
}  // namespace iam::api
