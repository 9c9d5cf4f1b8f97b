// Decisions: a command, the current state and the caller in; the events that
// record the change (or the Automate error that refuses it) out. Pure: no
// clock, no I/O, no randomness (token values are generated and sealed by the
// service; only their digest, ciphertext and shape reach core).
//
// Behaviour, messages, codes and the order of checks are those of
// automate-iam-v2.md §4.5, §5, §6, §8, §9, §13 with the deviations of API.md
// D2, D3, D6 and D7. Authentication, route authorization and the chef-managed
// protection of §4.4 happen before a decision (the authorizer), not here.
//
// Contract: a Decide* function never fails for a reason other than the
// request (no Internal); on success the events, appended atomically with the
// `expected` stream versions, take `state` to the requested state. Every
// command struct is a full request: PUTs are full replacements (omitted
// fields are empty; omitted `active` is std::nullopt and means true).
#ifndef IAMLEDGER_CORE_DECIDE_H_
#define IAMLEDGER_CORE_DECIDE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/caller.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "core/model.h"
#include "core/status.h"

namespace iam {

// The number of CUSTOM projects at which CreateProject is refused (§5.5).
inline constexpr size_t kProjectLimit = 300;

struct Decision {
  // In append order; empty when the command changes nothing (e.g. a PUT
  // repeating the current values, members:add of present members).
  std::vector<Event> events;
  // Every stream the events touch, once, with its version in the decided
  // state (state.stream_versions; 0 for a stream never written). The append
  // must fail if any of them moved. Empty when `events` is: an If-Match on
  // a no-op write is for the caller to check against the object's version.
  std::vector<std::pair<std::string, uint64_t>> expected;
};

// ---------------------------------------------------------------- tokens

// What the service prepared about a token's secret value. The value itself
// never reaches core.
struct TokenSecret {
  // The client sent the value (else generated): proto messages then name
  // CreateTokenWithValueReq, as Automate's do.
  bool supplied = false;
  size_t length = 0;        // of the value, in bytes (for the error message)
  bool acceptable = false;  // 20..512 printable ASCII without whitespace
  std::string digest;       // HMAC-SHA256(pepper, value)
  std::string sealed;       // the value sealed under the token's data key
};

// POST /tokens. An empty `id` is derived from `name` (API.md D2); a given id
// is always validated (D3). `active` omitted -> true.
struct CreateToken {
  std::string id;
  std::string name;
  std::optional<bool> active;
  StringList projects;
  TokenSecret secret;
  // API.md "Token lifecycle" (core/lifecycle.h): nullopt when omitted,
  // kClearExpiry for "". `expiry` is set by the service.
  std::optional<Micros> expires_at;
  ExpiryContext expiry;
};
// PUT /tokens/{id}: full replacement; `active` omitted -> true; but an
// omitted `expires_at` keeps the expiry (core/lifecycle.h).
struct UpdateToken {
  std::string id;
  std::string name;
  std::optional<bool> active;
  StringList projects;
  std::optional<Micros> expires_at;
  ExpiryContext expiry;
};
struct DeleteToken {
  std::string id;
};

// ---------------------------------------------------------------- policies

// Statements as received: `resources` must be empty (400 otherwise); they are
// recorded with resources ["*"].
struct CreatePolicy {
  std::string id;
  std::string name;
  StringList members;
  std::vector<Statement> statements;
  StringList projects;
};
// PUT /policies/{id}: full replacement (members included).
struct UpdatePolicy {
  std::string id;
  std::string name;
  StringList members;
  std::vector<Statement> statements;
  StringList projects;
};
struct DeletePolicy {
  std::string id;
};
// PUT /policies/{id}/members.
struct ReplacePolicyMembers {
  std::string id;
  StringList members;
};
// POST /policies/{id}/members:add.
struct AddPolicyMembers {
  std::string id;
  StringList members;
};
// POST /policies/{id}/members:remove.
struct RemovePolicyMembers {
  std::string id;
  StringList members;
};

// ---------------------------------------------------------------- roles

struct CreateRole {
  std::string id;
  std::string name;
  StringList actions;
  StringList projects;
};
// PUT /roles/{id}: full replacement.
struct UpdateRole {
  std::string id;
  std::string name;
  StringList actions;
  StringList projects;
};
struct DeleteRole {
  std::string id;
};

// ---------------------------------------------------------------- projects

// `skip_policies` false -> the three <id>-project-{owners,editors,viewers}
// policies are created in the same decision.
struct CreateProject {
  std::string id;
  std::string name;
  bool skip_policies = false;
};
struct UpdateProject {
  std::string id;
  std::string name;
};
struct DeleteProject {
  std::string id;
};

using Command =
    std::variant<CreateToken, UpdateToken, DeleteToken, CreatePolicy,
                 UpdatePolicy, DeletePolicy, ReplacePolicyMembers,
                 AddPolicyMembers, RemovePolicyMembers, CreateRole, UpdateRole,
                 DeleteRole, CreateProject, UpdateProject, DeleteProject,
                 RevokeTokens, RotateToken>;

// ---------------------------------------------------------------- decisions

StatusOr<Decision> DecideCreateToken(const CreateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller);
StatusOr<Decision> DecideUpdateToken(const UpdateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller);
// Also removes "token:<id>" from every policy naming it exactly (D7).
StatusOr<Decision> DecideDeleteToken(const DeleteToken& cmd,
                                     const IamState& state,
                                     const Caller& caller);

StatusOr<Decision> DecideCreatePolicy(const CreatePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller);
StatusOr<Decision> DecideUpdatePolicy(const UpdatePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller);
StatusOr<Decision> DecideDeletePolicy(const DeletePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller);
StatusOr<Decision> DecideReplacePolicyMembers(const ReplacePolicyMembers& cmd,
                                              const IamState& state,
                                              const Caller& caller);
StatusOr<Decision> DecideAddPolicyMembers(const AddPolicyMembers& cmd,
                                          const IamState& state,
                                          const Caller& caller);
StatusOr<Decision> DecideRemovePolicyMembers(const RemovePolicyMembers& cmd,
                                             const IamState& state,
                                             const Caller& caller);

StatusOr<Decision> DecideCreateRole(const CreateRole& cmd,
                                    const IamState& state,
                                    const Caller& caller);
StatusOr<Decision> DecideUpdateRole(const UpdateRole& cmd,
                                    const IamState& state,
                                    const Caller& caller);
// Cascades into statements and custom policies (§5.4).
StatusOr<Decision> DecideDeleteRole(const DeleteRole& cmd,
                                    const IamState& state,
                                    const Caller& caller);

StatusOr<Decision> DecideCreateProject(const CreateProject& cmd,
                                       const IamState& state,
                                       const Caller& caller);
StatusOr<Decision> DecideUpdateProject(const UpdateProject& cmd,
                                       const IamState& state,
                                       const Caller& caller);
// Cascades into tokens, policies, statements and roles (§5.5, D6).
StatusOr<Decision> DecideDeleteProject(const DeleteProject& cmd,
                                       const IamState& state,
                                       const Caller& caller);

// A decision of `events` with the expected version of every stream they
// touch (as every Decide* builds it); for decisions outside this file
// (core/lifecycle.cc).
Decision DecisionOf(std::vector<Event> events, const IamState& state);

// Dispatches to the Decide* function of the command's type.
StatusOr<Decision> Decide(const Command& cmd, const IamState& state,
                          const Caller& caller);

// ---------------------------------------------------------------- reads
//
// Objects outside caller.filter are reported exactly like missing ones. The
// returned pointers point into `state` and live as long as it is unchanged.

// 404 "No token record found".
StatusOr<const Token*> GetVisibleToken(const IamState& state,
                                       const Caller& caller,
                                       std::string_view id);
// Blank id -> 400 "cannot get policy"; 404 `no policy with ID "<id>" found`.
StatusOr<const Policy*> GetVisiblePolicy(const IamState& state,
                                         const Caller& caller,
                                         std::string_view id);
// 404 `no role with ID "<id>" found`.
StatusOr<const Role*> GetVisibleRole(const IamState& state,
                                     const Caller& caller, std::string_view id);
// 404 `could not find project with ID "<id>"`. A project is visible when its
// own id passes the filter.
StatusOr<const Project*> GetVisibleProject(const IamState& state,
                                           const Caller& caller,
                                           std::string_view id);
// GET /policies/{id}/members: blank id -> 400 `a policy id is required and
// must contain at least one non-whitespace character`; missing/invisible ->
// 404; else the members sorted ascending (byte-wise).
StatusOr<StringList> GetVisiblePolicyMembers(const IamState& state,
                                             const Caller& caller,
                                             std::string_view id);

// The list endpoints: visible objects in id order (Automate guarantees none).
std::vector<const Token*> ListVisibleTokens(const IamState& state,
                                            const Caller& caller);
std::vector<const Policy*> ListVisiblePolicies(const IamState& state,
                                               const Caller& caller);
std::vector<const Role*> ListVisibleRoles(const IamState& state,
                                          const Caller& caller);
// Custom and chef-managed projects the filter lets through; the meta projects
// "~~ALL-PROJECTS~~" and "(unassigned)" are never listed.
std::vector<const Project*> ListVisibleProjects(const IamState& state,
                                                const Caller& caller);

// A copy of `members` sorted ascending, as every member endpoint answers.
StringList SortedMembers(const StringList& members);

}  // namespace iam

#endif  // IAMLEDGER_CORE_DECIDE_H_
