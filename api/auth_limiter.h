// Failed authentication limited per client address (issue 12 item 6,
// reliability.md §3 "brute force", goal S4): a token bucket per address on
// 401s; past it, every request of that address that needs authentication is
// answered 429 with Retry-After, without looking its credentials up.
//
// Contract:
//  - Admit(remote) before authenticating: refused while the address has no
//    failure left in its bucket (a valid token from that address waits too:
//    otherwise a limited address could go on testing guesses). Admit counts
//    nothing.
//  - Failed(remote) after an authentication failed: counts one failure;
//    refused when that failure is past the limit (answer 429, not 401), so
//    that exactly `limit` failures per window are answered 401. A refused
//    attempt is not counted: waiting Retry-After always suffices.
//  - Keys are client addresses (HttpRequest::remote); other addresses are
//    never slowed: nothing here blocks, each call is one hash-map lookup
//    under one of RateLimiter's shard mutexes.
//  - Memory is bounded: at most `max_addresses` addresses are tracked
//    (api/rate_limiter.h says which are forgotten first).
//  - limit 0 disables it (Admit and Failed always allow; failures are still
//    counted in the metrics).
//  - Thread-safe.
#ifndef IAMLEDGER_API_AUTH_LIMITER_H_
#define IAMLEDGER_API_AUTH_LIMITER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/rate_limiter.h"
#include "core/clock.h"

namespace iam::api {

struct AuthLimitOptions {
  // Failed authentications per client address (serve
  // --auth-failure-rate-limit): a burst of 100, then 100 a minute.
  RateLimit limit{100, 60'000'000};
  // Client addresses tracked at most (serve --rate-limit-addresses).
  size_t max_addresses = RateLimiter::kDefaultMaxKeys;
};

class AuthFailureLimiter {
 public:
  // `clock` must outlive the limiter; null means the system clock.
  explicit AuthFailureLimiter(AuthLimitOptions options,
                              const Clock* clock = nullptr);

  // Whether a request from `remote` may try to authenticate now.
  RateLimiter::Decision Admit(std::string_view remote);
  // Counts one failed authentication of `remote`; refused when past the
  // limit.
  RateLimiter::Decision Failed(std::string_view remote);

  // Prometheus text: failures (401), limited requests (429), addresses
  // tracked.
  void AppendMetrics(std::string* out) const;

  uint64_t failures() const { return failures_.load(); }
  uint64_t limited() const { return limited_.load(); }
  size_t tracked_addresses() const { return limiter_.TrackedKeys(); }
  const RateLimit& limit() const { return limiter_.limit(); }

 private:
  RateLimiter limiter_;
  std::atomic<uint64_t> failures_{0};  // answered 401
  std::atomic<uint64_t> limited_{0};   // answered 429
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_AUTH_LIMITER_H_
