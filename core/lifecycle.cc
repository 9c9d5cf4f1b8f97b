#include "core/lifecycle.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/decide.h"
#include "core/model.h"

namespace iam {
namespace {

struct Unit {
  char name;
  Micros micros;
};
constexpr Unit kUnits[] = {{'d', 86400 * kMicrosPerSecond},
                           {'h', 3600 * kMicrosPerSecond},
                           {'m', 60 * kMicrosPerSecond},
                           {'s', kMicrosPerSecond}};

Status ExpiryInPast(Micros requested, Micros now) {
  return InvalidArgumentError("expires_at " + FormatRfc3339(requested, true) +
                              " is not in the future (now is " +
                              FormatRfc3339(now, true) + ")");
}

Status PastMaximum(Micros requested, const ExpiryContext& ctx) {
  return InvalidArgumentError(
      "expires_at " + FormatRfc3339(requested, true) +
      " is later than the maximum token lifetime of " +
      FormatDuration(ctx.max_lifetime) + " allows (at most " +
      FormatRfc3339(ctx.now + ctx.max_lifetime, true) + ")");
}

// A requested time (not omitted, not "") against now and the maximum.
Status CheckRequested(Micros requested, const ExpiryContext& ctx) {
  if (requested <= ctx.now) return ExpiryInPast(requested, ctx.now);
  if (ctx.max_lifetime > 0 && requested > ctx.now + ctx.max_lifetime) {
    return PastMaximum(requested, ctx);
  }
  return OkStatus();
}

}  // namespace

StatusOr<Micros> ParseDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgumentError(
        "duration \"" + std::string(text) +
        "\" must be a positive whole number and a unit: d, h, m or s (e.g. "
        "90d, 12h)");
  };
  if (text.size() < 2 || text.size() > 10) return bad();
  const std::string_view n = text.substr(0, text.size() - 1);
  if (n.find_first_not_of("0123456789") != std::string_view::npos) {
    return bad();
  }
  const int64_t count = std::stoll(std::string(n));
  if (count <= 0) return bad();
  for (const Unit& u : kUnits) {
    if (text.back() == u.name) {
      if (count > INT64_MAX / u.micros / 4) return bad();  // absurd
      return count * u.micros;
    }
  }
  return bad();
}

std::string FormatDuration(Micros d) {
  for (const Unit& u : kUnits) {
    if (d > 0 && d % u.micros == 0) {
      return std::to_string(d / u.micros) + std::string(1, u.name);
    }
  }
  return std::to_string(d) + "us";
}

bool TokenUsableAt(const Token& token, Micros now) {
  return token.active && (token.expires_at == 0 || now < token.expires_at);
}

bool PreviousValueUsableAt(const Token& token, Micros now) {
  return !token.previous_value_digest.empty() &&
         now < token.previous_value_expires_at && TokenUsableAt(token, now);
}

StatusOr<Micros> ExpiryOnCreate(std::optional<Micros> requested,
                                const ExpiryContext& ctx) {
  if (!requested || *requested == kClearExpiry) {
    return ctx.max_lifetime > 0 ? ctx.now + ctx.max_lifetime : 0;
  }
  IAM_RETURN_IF_ERROR(CheckRequested(*requested, ctx));
  return *requested;
}

StatusOr<std::optional<Micros>> ExpiryOnUpdate(std::optional<Micros> requested,
                                               Micros current,
                                               const ExpiryContext& ctx) {
  using Result = std::optional<Micros>;
  if (!requested) return Result();
  if (*requested == kClearExpiry) {
    if (current == 0) return Result();
    if (ctx.max_lifetime > 0) {
      return InvalidArgumentError(
          "expires_at cannot be cleared: a maximum token lifetime of " +
          FormatDuration(ctx.max_lifetime) + " is enforced");
    }
    return Result(0);
  }
  if (*requested == current) return Result();
  IAM_RETURN_IF_ERROR(CheckRequested(*requested, ctx));
  return Result(*requested);
}

StatusOr<Decision> DecideRotateToken(const RotateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller) {
  const int64_t grace = cmd.grace_seconds.value_or(0);
  if (grace < 0 || grace > kMaxGraceSeconds) {
    return InvalidArgumentError("grace_seconds must be between 0 and " +
                                std::to_string(kMaxGraceSeconds) +
                                " (7 days); it is " + std::to_string(grace));
  }
  IAM_ASSIGN_OR_RETURN(const Token* token,
                       GetVisibleToken(state, caller, cmd.id));
  std::vector<Event> events;
  events.push_back(TokenRotated{token->id, cmd.value_digest, cmd.sealed_value,
                                cmd.now + grace * kMicrosPerSecond});
  return DecisionOf(std::move(events), state);
}

StatusOr<Decision> DecideRevokeTokens(const RevokeTokens& cmd,
                                      const IamState& state,
                                      const Caller& /*caller*/) {
  std::set<std::string> ids(cmd.token_ids.begin(), cmd.token_ids.end());
  std::vector<Event> events;
  for (const std::string& id : ids) {
    auto it = state.tokens.find(id);
    if (it == state.tokens.end() || !it->second.active) continue;
    events.push_back(TokenStatusToggled{id, false});
  }
  return DecisionOf(std::move(events), state);
}

bool MatchesFilter(const Token& token, const TokenFilter& filter,
                   Micros last_used_at) {
  if (filter.active && token.active != *filter.active) return false;
  if (!filter.projects.empty() &&
      std::none_of(filter.projects.begin(), filter.projects.end(),
                   [&](const std::string& p) {
                     return std::find(token.projects.begin(),
                                      token.projects.end(),
                                      p) != token.projects.end();
                   })) {
    return false;
  }
  if (filter.expires_before &&
      (token.expires_at == 0 || token.expires_at >= *filter.expires_before)) {
    return false;
  }
  if (filter.unused_since && last_used_at != 0 &&
      last_used_at >= *filter.unused_since) {
    return false;
  }
  return true;
}

}  // namespace iam
