#include "api/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace iam::api {

StatusOr<RateLimit> ParseRateLimit(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError("rate limit \"" + std::string(text) +
                                "\" must be N/s, N/m, N/h or N/d (N attempts "
                                "per second, minute, hour or day), or 0");
  };
  if (text == "0") return RateLimit{0, 3'600'000'000};
  const size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash > 9 ||
      slash + 2 != text.size()) {
    return bad();
  }
  const std::string_view n = text.substr(0, slash);
  if (n.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad();
  }
  RateLimit out;
  out.limit = std::stoull(std::string(n));
  switch (text.back()) {
    case 's':
      out.window = 1'000'000;
      break;
    case 'm':
      out.window = 60'000'000;
      break;
    case 'h':
      out.window = 3'600'000'000;
      break;
    case 'd':
      out.window = 86'400'000'000;
      break;
    default:
      return bad();
  }
  return out;
}

std::string FormatRateLimit(const RateLimit& limit) {
  if (limit.limit == 0) return "0";
  char unit = 'h';
  if (limit.window == 1'000'000) unit = 's';
  if (limit.window == 60'000'000) unit = 'm';
  if (limit.window == 86'400'000'000) unit = 'd';
  return std::to_string(limit.limit) + "/" + unit;
}

RateLimiter::RateLimiter(RateLimit limit, const Clock* clock, size_t max_keys)
    : limit_(limit),
      clock_(clock != nullptr ? clock : SystemClock::Get()),
      max_per_shard_(std::max<size_t>(1, max_keys / kShards)) {}

RateLimiter::Shard& RateLimiter::ShardOf(std::string_view key) const {
  return shards_[std::hash<std::string_view>()(key) % kShards];
}

double RateLimiter::Refilled(const Bucket& b, Micros now) const {
  const double per_micro =
      static_cast<double>(limit_.limit) / static_cast<double>(limit_.window);
  const double elapsed =
      static_cast<double>(std::max<Micros>(0, now - b.updated));
  return std::min(static_cast<double>(limit_.limit),
                  b.tokens + elapsed * per_micro);
}

RateLimiter::Decision RateLimiter::Refuse(double tokens) const {
  const double per_second = static_cast<double>(limit_.limit) * 1e6 /
                            static_cast<double>(limit_.window);
  const double wait = (1.0 - tokens) / per_second;
  Decision d;
  d.allowed = false;
  d.retry_after_seconds =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait - 1e-9)));
  return d;
}

void RateLimiter::MakeRoom(Shard& shard, Micros now) {
  // Full buckets carry no information: drop them all.
  std::erase_if(shard.buckets, [&](const auto& kv) {
    return Refilled(kv.second, now) >= static_cast<double>(limit_.limit);
  });
  if (shard.buckets.size() < max_per_shard_) return;
  auto oldest = std::min_element(shard.buckets.begin(), shard.buckets.end(),
                                 [](const auto& a, const auto& b) {
                                   return a.second.updated < b.second.updated;
                                 });
  shard.buckets.erase(oldest);
}

RateLimiter::Decision RateLimiter::Acquire(std::string_view key) {
  if (limit_.limit == 0) return {};
  const Micros now = clock_->Now();
  Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) {
    if (shard.buckets.size() >= max_per_shard_) MakeRoom(shard, now);
    Bucket b;
    b.tokens = static_cast<double>(limit_.limit) - 1;
    b.updated = now;
    shard.buckets.emplace(std::string(key), b);
    return {};
  }
  const double tokens = Refilled(it->second, now);
  if (tokens < 1.0) return Refuse(tokens);
  it->second.tokens = tokens - 1;
  it->second.updated = now;
  return {};
}

RateLimiter::Decision RateLimiter::Check(std::string_view key) const {
  if (limit_.limit == 0) return {};
  const Micros now = clock_->Now();
  const Shard& shard = ShardOf(key);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.buckets.find(std::string(key));
  if (it == shard.buckets.end()) return {};
  const double tokens = Refilled(it->second, now);
  if (tokens < 1.0) return Refuse(tokens);
  return {};
}

size_t RateLimiter::TrackedKeys() const {
  size_t n = 0;
  for (const Shard& s : shards_) {
    std::lock_guard<std::mutex> lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

}  // namespace iam::api
