// Token lifecycle rules beyond Automate (API.md "Token lifecycle"):
// expiry with an optional maximum lifetime, rotation with an overlap,
// revocation of leaked values, the inventory filters. Pure like
// core/decide.h: the time of the request comes in the command (the service
// reads its clock); nothing here reads one.
//
// Rules:
//  - A token authenticates at `now` when it is active and now < expires_at
//    (or it has no expiry): from the first request at or after expires_at it
//    is refused exactly as an inactive one. No background job is needed.
//  - Its previous value (after a rotation) authenticates under the same
//    conditions and only while now < previous_value_expires_at.
//  - expires_at on create: omitted or "" -> none, or now + max lifetime when
//    one is enforced; at or before now -> 400; later than now + max -> 400
//    naming the limit.
//  - expires_at on update (PUT): omitted -> kept; equal to the current one
//    -> kept (whatever it is: a client echoing a GET must not fail); "" ->
//    cleared, or 400 when a maximum lifetime is enforced; otherwise the
//    create rules.
//  - Rotation: grace_seconds 0..604800 (default 0); a new value; the
//    previous one works until now + grace. A second rotation replaces the
//    previous value (the oldest stops at once).
#ifndef IAMLEDGER_CORE_LIFECYCLE_H_
#define IAMLEDGER_CORE_LIFECYCLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/caller.h"
#include "core/events.h"
#include "core/status.h"

namespace iam {

struct IamState;
struct Token;
struct Decision;

inline constexpr Micros kMicrosPerSecond = 1'000'000;

// The actor recorded for POST /tokens:revoke (holding a value is the proof;
// the client address is the event's source).
inline constexpr std::string_view kRevocationActor = "revocation";

// The most a rotation's grace may be: 7 days.
inline constexpr int64_t kMaxGraceSeconds = 604800;

// An `expires_at` of "" in a request: clear the expiry.
inline constexpr Micros kClearExpiry = INT64_MIN;

// What the service adds to a create or update: the time of the request and
// the enforced maximum lifetime (serve --max-token-lifetime; 0 = none).
struct ExpiryContext {
  Micros now = 0;
  Micros max_lifetime = 0;
};

// "90d", "12h", "30m", "45s" (a positive whole number and one unit) ->
// microseconds; anything else InvalidArgument.
StatusOr<Micros> ParseDuration(std::string_view text);
// The largest unit that divides `d` exactly: 7776000000000 -> "90d".
std::string FormatDuration(Micros d);

// Whether the token's current value authenticates at `now` (active, not
// expired).
bool TokenUsableAt(const Token& token, Micros now);
// Whether its previous value (after a rotation) authenticates at `now`.
bool PreviousValueUsableAt(const Token& token, Micros now);

// The expiry a create records (0: none), or the 400 refusing it.
// `requested`: nullopt when omitted, kClearExpiry for "".
StatusOr<Micros> ExpiryOnCreate(std::optional<Micros> requested,
                                const ExpiryContext& ctx);
// The expiry an update records when it changes (nullopt: unchanged), or the
// 400 refusing it.
StatusOr<std::optional<Micros>> ExpiryOnUpdate(std::optional<Micros> requested,
                                               Micros current,
                                               const ExpiryContext& ctx);

// POST /tokens/{id}:rotate. `secret` is the new (generated) value prepared
// by the service as for CreateToken.
struct RotateToken {
  std::string id;
  std::optional<int64_t> grace_seconds;  // omitted -> 0
  Micros now = 0;
  // The new value's digest and sealed form (no value reaches core).
  std::string value_digest;
  std::string sealed_value;
};
// 404 for an unknown or invisible token; 400 for a grace outside
// 0..kMaxGraceSeconds; else one TokenRotated.
StatusOr<Decision> DecideRotateToken(const RotateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller);

// POST /tokens:revoke after the service resolved the values' digests to the
// tokens holding them (current values, and previous values still in their
// rotation grace). Ids that are unknown or inactive are skipped.
struct RevokeTokens {
  std::string id;  // unused (every command has one); ""
  StringList token_ids;
};
// One TokenStatusToggled{active=false} per active token of cmd.token_ids, in
// id order; no events when none is active. Never fails.
StatusOr<Decision> DecideRevokeTokens(const RevokeTokens& cmd,
                                      const IamState& state,
                                      const Caller& caller);

// GET /tokens filters; every one optional, all must hold.
struct TokenFilter {
  std::optional<bool> active;            // active=true|false
  StringList projects;                   // project=ID (repeatable): any of
  std::optional<Micros> expires_before;  // has an expiry, before T
  std::optional<Micros> unused_since;    // never used, or last used before T
  bool empty() const {
    return !active && projects.empty() && !expires_before && !unused_since;
  }
};
// `last_used_at`: 0 when never used.
bool MatchesFilter(const Token& token, const TokenFilter& filter,
                   Micros last_used_at);

}  // namespace iam

#endif  // IAMLEDGER_CORE_LIFECYCLE_H_
