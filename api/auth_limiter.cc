#include "api/auth_limiter.h"

namespace iam::api {

AuthFailureLimiter::AuthFailureLimiter(AuthLimitOptions options,
                                       const Clock* clock)
    : limiter_(options.limit, clock, options.max_addresses) {}

RateLimiter::Decision AuthFailureLimiter::Admit(std::string_view remote) {
  RateLimiter::Decision d = limiter_.Check(remote);
  if (!d.allowed) limited_.fetch_add(1, std::memory_order_relaxed);
  return d;
}

RateLimiter::Decision AuthFailureLimiter::Failed(std::string_view remote) {
  RateLimiter::Decision d = limiter_.Acquire(remote);
  if (d.allowed) {
    failures_.fetch_add(1, std::memory_order_relaxed);
  } else {
    limited_.fetch_add(1, std::memory_order_relaxed);
  }
  return d;
}

void AuthFailureLimiter::AppendMetrics(std::string* out) const {
  auto family = [&](const char* name, const char* type, const char* help,
                    uint64_t v) {
    out->append("# HELP ").append(name).append(" ").append(help);
    out->append("\n# TYPE ").append(name).append(" ").append(type);
    out->append("\n").append(name).append(" ");
    out->append(std::to_string(v)).append("\n");
  };
  family("iamledger_auth_failures_total", "counter",
         "Failed authentications answered 401.", failures());
  family("iamledger_auth_limited_total", "counter",
         "Requests answered 429 because their client address is past the "
         "failed-authentication limit.",
         limited());
  family("iamledger_auth_limiter_addresses", "gauge",
         "Client addresses the failed-authentication limiter tracks.",
         tracked_addresses());
}

}  // namespace iam::api
