// The token lifecycle routes of API.md ("Token lifecycle") on the service's
// side: turning requests into core commands (core/lifecycle.h decides them)
// and what authentication needs to know about expiry and rotation.
//
// Contract:
//  - POST /tokens:revoke is unauthenticated; each client address (the
//    request's `remote`) is limited by a RateLimiter (429 with Retry-After
//    past it). Values are digested here and never kept, logged or quoted.
//  - Nothing here blocks or does I/O; it reads the projections under their
//    shared lock.
#ifndef IAMLEDGER_API_LIFECYCLE_H_
#define IAMLEDGER_API_LIFECYCLE_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "api/http_types.h"
#include "api/rate_limiter.h"
#include "api/router.h"
#include "core/clock.h"
#include "core/lifecycle.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "eventstore/usage_store.h"
#include "projections/projections.h"

namespace iam::api {

// At most this many values per revocation request (as GitHub's API).
inline constexpr size_t kMaxRevokeValues = 1000;

struct LifecycleOptions {
  // Revocation requests per client address (serve --revoke-rate-limit).
  RateLimit revoke_limit{60, 3'600'000'000};
  // serve --max-token-lifetime; 0 = none.
  Micros max_token_lifetime = 0;
  // last_used_at: recorded at most once per usage_interval per token,
  // written every usage_flush_interval (eventstore/usage_store.h).
  Micros usage_interval = eventstore::kUsageInterval;
  std::chrono::milliseconds usage_flush_interval{1000};
};

class Lifecycle {
 public:
  // Everything must outlive this object; `clock` null = the system clock;
  // `store` (may be null: no usage persisted) keeps the usage records.
  Lifecycle(eventstore::EventStore* store,
            const projections::Projections* projections,
            const eventstore::TokenDigester* digester, LifecycleOptions options,
            const Clock* clock = nullptr);

  // A refused request: the status to answer with and, for 429, the
  // Retry-After seconds (0: no header).
  struct Refusal {
    Status status;
    int64_t retry_after_seconds = 0;
  };

  // POST /tokens:revoke from `remote` with `body`: counts the attempt
  // against the address's limit, decodes {"values": [...]} (1..1000
  // values), and resolves the values to the ids of the tokens holding them.
  // On refusal, `refusal` is set and the command is empty.
  RevokeTokens PrepareRevoke(const HttpRequest& request, bool lax,
                             Refusal* refusal);

  // GET /tokens query: active=true|false, project=ID (repeatable),
  // expires_before=T, unused_since=T (RFC 3339). Other parameters are
  // ignored, as before; a malformed value is InvalidArgument.
  static StatusOr<TokenFilter> ParseTokenFilter(const QueryParams& query);

  // The expiry context of a create or update decided now.
  ExpiryContext Expiry() const {
    return ExpiryContext{clock_->Now(), options_.max_token_lifetime};
  }

  const Clock& clock() const { return *clock_; }
  eventstore::UsageStore& usage() { return usage_; }

 private:
  const projections::Projections* projections_;
  const eventstore::TokenDigester* digester_;
  const LifecycleOptions options_;
  const Clock* clock_;
  RateLimiter revoke_limiter_;
  eventstore::UsageStore usage_;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_LIFECYCLE_H_
