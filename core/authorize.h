// The policy evaluator of automate-iam-v2.md §4: who may perform which action
// on which resource, in which projects. Stored policies (found through the
// member indexes of IamState, never by scanning all policies) are evaluated
// together with the hidden system policies (core/defaults.h); roles are
// resolved by id at evaluation time; DENY overrides ALLOW per project.
//
// Contract: every function here is a pure read of `state` (no locking: the
// caller holds whatever guards the state for the duration of the call) and
// is safe to call from many threads at once on the same state. Nothing
// returned refers into `state` after the call returns.
#ifndef IAMLEDGER_CORE_AUTHORIZE_H_
#define IAMLEDGER_CORE_AUTHORIZE_H_

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/caller.h"
#include "core/events.h"
#include "core/model.h"

namespace iam {

// §4.3.1: `member` (as stored in a policy) matches `subject` (as
// authenticated) when they are equal, when member is "*", or when member
// ends with ":*" and subject starts with member minus the trailing "*"
// ("token:*" matches "token:ci", "user:*" matches "user:local:alice").
bool MemberMatches(std::string_view member, std::string_view subject);

// §4.3.3 (Automate's rego `action_matches`): a stored action `pattern`
// matches a requested `action` ("svc:type:verb") when the pattern has no
// "*" and equals it, or is one of "*", "svc:*", "svc:type:*", "svc:*:verb",
// "*:verb" and the corresponding segments of the three-segment action are
// equal. Nothing else matches ("*:*:verb", "iam:users:up*", "*:type:verb").
bool ActionMatches(std::string_view pattern, std::string_view action);

// §4.3.2: a stored resource `pattern` matches `resource` when it equals it,
// is "*", or ends with ":*" and resource starts with pattern minus the "*"
// ("a:*" matches "a:b" and "a:b:c", not "a"). `${a2:username}` expansion is
// not supported (only the users system policy, not part of iamledger, uses
// it).
bool ResourceMatches(std::string_view pattern, std::string_view resource);

// One authorization query (§4.1).
struct AuthzRequest {
  StringList subjects;   // e.g. {"token:ci-bot"} or {"local:admin"}
  std::string resource;  // expanded, e.g. "iam:tokens:ci-bot"
  std::string action;    // e.g. "iam:tokens:get"
  // The `projects` header, already split, trimmed and de-duplicated (§2.3).
  // A header that is absent, or present with no entries, both mean "all
  // existing projects plus (unassigned)".
  bool has_projects_header = false;
  StringList projects_header;
};

struct AuthzDecision {
  bool allowed = false;
  // Meaningful only when allowed. `filter.all` when no projects header was
  // given and every existing project plus "(unassigned)" is authorized, or
  // when the header's literal "*" entry is authorized (all-projects grant);
  // otherwise the authorized subset of the requested projects (it may hold
  // "(unassigned)"). When not allowed: all = false, projects empty.
  ProjectFilter filter;
};

// The project-aware query of §4.1/§4.3: requested projects = the header's
// entries, or every project in `state` plus "(unassigned)" when there is no
// header; a requested project P is authorized when a matching ALLOW
// statement names P or "*" and no matching DENY statement does. Allowed iff
// at least one requested project is authorized. Statement project "*"
// matches every project, "(unassigned)" included. Does not allocate in the
// common cases (all-projects ALLOW without a matching DENY, or nothing
// matches) once the calling thread has warmed up.
AuthzDecision Authorize(const IamState& state, const AuthzRequest& request);

// One statement that decided a query (API.md "Audit queries", `reasons`).
struct DecidingStatement {
  std::string policy_id;
  size_t statement = 0;  // index into the policy's statements
  Effect effect = Effect::kAllow;
  std::string role;    // the statement's role, "" when none
  std::string member;  // the policy member that matched a subject
  friend bool operator==(const DecidingStatement&,
                         const DecidingStatement&) = default;
};

struct ExplainedDecision {
  AuthzDecision decision;
  // When allowed: every matching ALLOW statement that grants one of the
  // authorized projects. When denied: every matching DENY statement naming
  // a requested project (or all projects); empty when no ALLOW matched at
  // all. Each statement once, system policies first, then stored ones in
  // the order of the member indexes.
  std::vector<DecidingStatement> reasons;
};

// Authorize, with the deciding statements. The decision is computed by the
// same collection and the same decision functions as Authorize (the only
// difference: no matching statement is skipped, and those skips never
// change a decision), so `decision` always equals Authorize(state, request).
ExplainedDecision AuthorizeExplained(const IamState& state,
                                     const AuthzRequest& request);

// The same query without building an AuthzRequest. `projects_header` null or
// empty = no header.
AuthzDecision Authorize(const IamState& state, const StringList& subjects,
                        std::string_view resource, std::string_view action,
                        const StringList* projects_header);

// §11 introspection pairs: true when some matching ALLOW statement and no
// matching DENY statement exists for (resource, action), projects ignored,
// system policies included.
bool AuthorizePair(const IamState& state, const StringList& subjects,
                   std::string_view resource, std::string_view action);

// §4.5: true when `subjects` hold `iam:projects:assign` on resource "*" for
// one project id (or "(unassigned)"), evaluated like Authorize with that
// project as the only requested one.
bool MayAssignProject(const IamState& state, const StringList& subjects,
                      std::string_view project);

// The same check as a self-contained function for Caller::may_assign: the
// grants are evaluated once, here, and captured by value, so the result
// stays valid (and keeps answering for this state) after `state` changes or
// goes away. Always returns a callable function.
std::function<bool(const std::string&)> MayAssignFunc(const IamState& state,
                                                      StringList subjects);

// §4.5 calculateProjectsToAuthorize. Returns the projects that need
// iam:projects:assign: [] for an update of an unassigned object that stays
// unassigned; otherwise the removed projects (old \ new, in old's order),
// then the added ones (new \ old, in new's order), then "(unassigned)" when
// an update leaves [] or a create makes an object with []. No duplicates.
StringList ProjectsToAuthorize(const StringList& old_projects,
                               const StringList& new_projects, bool is_update);

// §11 introspect_projects: the projects named by ALLOW statements (any
// action, any resource) of the stored policies `subjects` are members of;
// all projects in `state` plus "(unassigned)" when one of those statements
// names "*". Only ids of projects that exist, plus "(unassigned)" when named
// or implied; sorted ascending (so "(unassigned)" first). DENY statements
// and system policies do not count.
StringList IntrospectProjects(const IamState& state,
                              const StringList& subjects);

}  // namespace iam

#endif  // IAMLEDGER_CORE_AUTHORIZE_H_
