#include "api/lifecycle.h"

#include <utility>

#include "api/json_codec.h"

namespace iam::api {

Lifecycle::Lifecycle(const projections::Projections* projections,
                     const eventstore::TokenDigester* digester,
                     LifecycleOptions options, const Clock* clock)
    : projections_(projections),
      digester_(digester),
      options_(options),
      clock_(clock != nullptr ? clock : SystemClock::Get()),
      revoke_limiter_(options.revoke_limit, clock_) {}

RevokeTokens Lifecycle::PrepareRevoke(const HttpRequest& request, bool lax,
                                      Refusal* refusal) {
  RateLimiter::Decision d = revoke_limiter_.Acquire(request.remote);
  if (!d.allowed) {
    refusal->status = ResourceExhaustedError(
        "too many revocation requests from this address; retry in " +
        std::to_string(d.retry_after_seconds) + " seconds");
    refusal->retry_after_seconds = d.retry_after_seconds;
    return {};
  }
  auto decoded = DecodeRevokeTokens(request.body, lax);
  if (!decoded.ok()) {
    refusal->status = decoded.status();
    return {};
  }
  const StringList& values = decoded->values;
  if (values.empty() || values.size() > kMaxRevokeValues) {
    refusal->status = InvalidArgumentError(
        "\"values\" must hold 1 to " + std::to_string(kMaxRevokeValues) +
        " token values; it has " + std::to_string(values.size()));
    return {};
  }
  std::vector<std::string> digests;
  digests.reserve(values.size());
  for (const std::string& v : values) digests.push_back(digester_->Digest(v));
  RevokeTokens cmd;
  projections_->Read([&](const projections::View& view) {
    for (const std::string& digest : digests) {
      for (std::string& id : view.tokens_by_digest.at(digest)) {
        cmd.token_ids.push_back(std::move(id));
      }
    }
    return 0;
  });
  return cmd;
}

}  // namespace iam::api
