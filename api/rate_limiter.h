// A per-key rate limiter: at most `limit` attempts per `window` for each key
// (a client address), answered with how long to wait when over it. Used by
// the unauthenticated revocation route (POST /tokens:revoke) and meant for
// any other per-address limit (e.g. failed authentications).
//
// Contract:
//  - Token bucket per key: a key starts with `limit` attempts and regains
//    them at limit/window per second, so a burst of `limit` is allowed, then
//    one attempt every window/limit. `limit` 0 disables the limiter (every
//    attempt is allowed).
//  - Thread-safe; cheap: the key is hashed to one of kShards shards, each
//    with its own mutex held for one hash-map lookup. Never blocks on I/O.
//  - Bounded memory: at most `max_keys` keys are tracked (split over the
//    shards). A shard that is full first forgets the keys whose bucket is
//    full again (they are indistinguishable from new keys), then, if still
//    full, the key idle the longest. A flood of distinct keys can therefore
//    reset the oldest keys' counts, never grow memory.
//  - Time comes from a core Clock (a FakeClock in tests).
#ifndef IAMLEDGER_API_RATE_LIMITER_H_
#define IAMLEDGER_API_RATE_LIMITER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/clock.h"
#include "core/status.h"

namespace iam::api {

struct RateLimit {
  uint64_t limit = 0;             // attempts per window; 0 = unlimited
  Micros window = 3'600'000'000;  // one hour
  friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

// "N/s", "N/m", "N/h", "N/d" (N attempts per second, minute, hour, day),
// or "0" for unlimited. Anything else is InvalidArgument.
StatusOr<RateLimit> ParseRateLimit(std::string_view text);
// The inverse of ParseRateLimit ("60/h", "0").
std::string FormatRateLimit(const RateLimit& limit);

class RateLimiter {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kDefaultMaxKeys = 65536;

  struct Decision {
    bool allowed = true;
    // When refused: whole seconds until the next attempt is allowed (>= 1),
    // for a Retry-After header. 0 when allowed.
    int64_t retry_after_seconds = 0;
  };

  // `clock` must outlive the limiter; null means the system clock.
  explicit RateLimiter(RateLimit limit, const Clock* clock = nullptr,
                       size_t max_keys = kDefaultMaxKeys);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one attempt of `key` and says whether it is allowed. A refused
  // attempt is not counted (waiting retry_after_seconds always suffices).
  Decision Acquire(std::string_view key);
  // Whether an attempt of `key` would be allowed now, without counting one
  // (for limits that count only failures: Check first, Acquire on failure).
  Decision Check(std::string_view key) const;

  const RateLimit& limit() const { return limit_; }
  // Keys tracked now (tests, metrics).
  size_t TrackedKeys() const;

 private:
  struct Bucket {
    double tokens = 0;  // attempts left, fractional while refilling
    Micros updated = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, Bucket> buckets;  // guarded by mu
  };

  Shard& ShardOf(std::string_view key) const;
  // The bucket's attempts at `now` (refilled, capped at the limit).
  double Refilled(const Bucket& b, Micros now) const;
  Decision Refuse(double tokens) const;
  void MakeRoom(Shard& shard, Micros now);

  const RateLimit limit_;
  const Clock* clock_;
  const size_t max_per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_RATE_LIMITER_H_
