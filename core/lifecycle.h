// Token lifecycle rules beyond Automate (API.md "Token lifecycle"):
// revocation of leaked values, expiry with an optional maximum lifetime,
// rotation with an overlap. Pure like core/decide.h: the time of the request
// comes in the command (the service reads its clock), nothing here reads one.
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

// The actor recorded for POST /tokens:revoke (holding a value is the proof;
// the client address is the event's source).
inline constexpr std::string_view kRevocationActor = "revocation";

// POST /tokens:revoke after the service resolved the values' digests to the
// tokens holding them (current values, and previous values still in their
// rotation grace). Ids that are unknown or inactive are skipped.
struct RevokeTokens {
  std::string id;  // unused (every command has one); ""
  StringList token_ids;
};

// One TokenStatusToggled{active=false} per active token of cmd.token_ids, in
// id order; no events when none is active. Never fails for a known shape.
StatusOr<Decision> DecideRevokeTokens(const RevokeTokens& cmd,
                                      const IamState& state,
                                      const Caller& caller);

}  // namespace iam

#endif  // IAMLEDGER_CORE_LIFECYCLE_H_
