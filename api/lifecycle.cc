#include "api/lifecycle.h"

#include <utility>

#include "api/json_codec.h"

namespace iam::api {

Lifecycle::Lifecycle(eventstore::EventStore* store,
                     const projections::Projections* projections,
                     const eventstore::TokenDigester* digester,
                     LifecycleOptions options, const Clock* clock)
    : projections_(projections),
      digester_(digester),
      options_(options),
      clock_(clock != nullptr ? clock : SystemClock::Get()),
      revoke_limiter_(options.revoke_limit, clock_),
      usage_(store, options.usage_interval, options.usage_flush_interval) {
  // Every existing token gets its usage slot now (eventstore/usage_store.h).
  projections_->Read([&](const projections::View& view) {
    for (const auto& [id, token] : view.state.tokens) usage_.Reserve(id);
    return 0;
  });
}

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
  const Micros now = clock_->Now();
  projections_->Read([&](const projections::View& view) {
    for (const std::string& digest : digests) {
      for (std::string& id : view.tokens_by_digest.at(digest)) {
        cmd.token_ids.push_back(std::move(id));
      }
      // A previous value still in its rotation grace authenticates: a leak
      // of it revokes the token too.
      auto prev = view.previous_digests.find(digest);
      if (prev != view.previous_digests.end() &&
          PreviousValueUsableAt(*prev->second, now)) {
        cmd.token_ids.push_back(prev->second->id);
      }
    }
    return 0;
  });
  return cmd;
}

StatusOr<TokenFilter> Lifecycle::ParseTokenFilter(const QueryParams& query) {
  TokenFilter f;
  auto time = [&](const char* key, std::optional<Micros>* out) -> Status {
    auto it = query.find(key);
    if (it == query.end()) return OkStatus();
    auto t = ParseRfc3339(it->second);
    if (!t.ok()) {
      return InvalidArgumentError(std::string(key) +
                                  " must be an RFC 3339 time such as "
                                  "2026-12-31T23:59:59Z");
    }
    *out = *t;
    return OkStatus();
  };
  if (auto it = query.find("active"); it != query.end()) {
    if (it->second != "true" && it->second != "false") {
      return InvalidArgumentError("active must be true or false");
    }
    f.active = it->second == "true";
  }
  auto [from, to] = query.equal_range("project");
  for (auto it = from; it != to; ++it) f.projects.push_back(it->second);
  IAM_RETURN_IF_ERROR(time("expires_before", &f.expires_before));
  IAM_RETURN_IF_ERROR(time("unused_since", &f.unused_since));
  return f;
}

}  // namespace iam::api
