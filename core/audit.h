// The audit queries of API.md ("Audit queries"), pure: a state (the state of
// the log at one point, however it was obtained) in, an answer out. `check`
// and `who` are decided by the evaluator the live server authorizes with
// (core/authorize.h, AuthorizeExplained); `diff` compares the grant model of
// two states.
//
// The grant model: a grant is a tuple (effect, action pattern, resource
// pattern, project) contributed to a subject by a statement of a stored
// policy with a member matching the subject, the statement's role expanded
// into the role's actions as they are in that state. A token subject that
// does not exist, or cannot authenticate (inactive), has no grants. The
// hidden system policies (core/defaults.h) never change, so they take part
// in `check` and `who` (through the evaluator) but not in `diff`.
//
// Contract: every function is a pure read of its states; thread-safe on
// shared states; nothing returned refers into a state.
#ifndef IAMLEDGER_CORE_AUDIT_H_
#define IAMLEDGER_CORE_AUDIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/authorize.h"
#include "core/events.h"
#include "core/model.h"

namespace iam::audit {

// Why a token subject can do nothing at a point in time (`state` the state
// then, `at` the time then): "" when it can authenticate
// (core/lifecycle.h TokenUsableAt); otherwise a sentence ("token \"x\" does
// not exist", "token \"x\" is inactive", "token \"x\" expired at T").
// Subjects that are not tokens always "".
std::string TokenUnusable(const IamState& state, std::string_view subject,
                          Micros at);

// GET /audit/check.
struct CheckQuery {
  std::string subject;   // "token:ci", "team:local:ops", "user:*", ...
  std::string action;    // "iam:tokens:get"
  std::string resource;  // "iam:tokens:ci"
  // The `project` parameters: empty = every project then existing plus
  // "(unassigned)", exactly like a request without a projects header.
  StringList projects;
  Micros at = 0;  // the time of the point (token expiry)
};

struct CheckResult {
  bool allowed = false;
  // AuthorizeExplained's reasons: the statements that allowed it, or the
  // denying ones when denied (empty when nothing allowed it).
  std::vector<DecidingStatement> reasons;
  std::string note;  // TokenUnusable's sentence, when not ""
};

// The live decision of `query` on `state` (Authorize with subjects
// {query.subject}), with its reasons; a token subject that cannot
// authenticate is not allowed.
CheckResult Check(const IamState& state, const CheckQuery& query);

// GET /audit/who.
struct WhoEntry {
  std::string subject;  // a member expression, or "token:<id>"
  std::vector<DecidingStatement> reasons;
};
struct WhoResult {
  // Every member expression of a stored or system policy that, taken as a
  // subject, would be allowed (a wildcard expression such as "token:*" is
  // allowed when every subject it matches is, by the policies naming it or
  // a wider wildcard), ascending.
  std::vector<WhoEntry> members;
  // Every token then existing and able to authenticate (at `at`) that would be
  // allowed, by id.
  std::vector<WhoEntry> tokens;
};
WhoResult Who(const IamState& state, std::string_view action,
              std::string_view resource, const StringList& projects, Micros at);

// The same answer, streamed: visit(token, subject, reasons, same_as) for
// every allowed member expression (token false), ascending, then every
// allowed token (token true, subject "token:<id>"), by id. A token whose
// subject is also a member expression ("token:<id>" named by a policy) is
// decided once: its visit has `same_as` = the index, counting the member
// visits from 0, of the visit of that member expression, and empty
// `reasons` (its reasons are that visit's); otherwise `same_as` is
// kNotShared. `subject` and `reasons` are valid only during the call.
inline constexpr size_t kNotShared = static_cast<size_t>(-1);
using WhoVisit = std::function<void(
    bool token, std::string_view subject,
    const std::vector<DecidingStatement>& reasons, size_t same_as)>;
void ForEachWho(const IamState& state, std::string_view action,
                std::string_view resource, const StringList& projects,
                Micros at, const WhoVisit& visit);

// One grant with the statement contributing it.
struct Grant {
  Effect effect = Effect::kAllow;
  std::string action;
  std::string resource;
  std::string project;
  // Provenance: the statement contributing it (the first one in policy id
  // order when several do).
  std::string policy_id;
  size_t statement = 0;
  std::string role;  // "" when the action is the statement's own
  friend bool operator==(const Grant&, const Grant&) = default;
};

// Every grant of `subject` in `state`, ordered by (effect, action,
// resource, project), each tuple once.
std::vector<Grant> GrantsOf(const IamState& state, std::string_view subject,
                            Micros at);

struct GrantChange {
  Grant grant;
  // The seqs, ascending, of the events between the two points on the
  // streams of the grant's provenance (its policy, its role) and of the
  // subject's token: the events that caused the change.
  std::vector<uint64_t> seqs;
};
struct SubjectDiff {
  std::string subject;
  std::vector<GrantChange> gained;  // in `to`, not in `from`
  std::vector<GrantChange> lost;    // in `from`, not in `to`
};

// The seqs of the events of `stream` between the two points (after `from`,
// up to and including `to`), ascending.
using StreamSeqs = std::function<std::vector<uint64_t>(const std::string&)>;

// The members that the event `seq` adds to or removes from a policy
// (PolicyMembersAdded, PolicyMembersRemoved), or null for any other event.
// A member change names the subjects it concerns: with it, the seqs of a
// grant leave out the changes of a policy's members that name no member
// matching the subject (another token joining the policy did not cause
// this subject's grant). The pointer stays valid for the duration of the
// diff.
using MemberChanges = std::function<const StringList*(uint64_t seq)>;

// GET /audit/diff: for each subject with a changed grant set, by subject:
// the subjects are every member expression of a stored policy and every
// token ("token:<id>") of either state, or only `only_subject` when not
// empty. Subjects without changes are left out. `from_time` and `to_time`
// are the times of the two points (a token that expired between them
// loses its grants).
std::vector<SubjectDiff> Diff(const IamState& from, Micros from_time,
                              const IamState& to, Micros to_time,
                              const StreamSeqs& seqs,
                              std::string_view only_subject = "",
                              const MemberChanges& member_changes = nullptr);

// The same diff, streamed: visit(subject, gained, lost) for each subject
// with a changed grant set, in the order Diff returns them. The grants and
// seqs pointed at are valid only during the call (they are shared between
// subjects, which is what makes a diff over millions of grants cheap).
struct GrantChangeRef {
  const Grant* grant;
  const std::vector<uint64_t>* seqs;
};
using DiffVisit = std::function<void(const std::string& subject,
                                     const std::vector<GrantChangeRef>& gained,
                                     const std::vector<GrantChangeRef>& lost)>;
void ForEachDiff(const IamState& from, Micros from_time, const IamState& to,
                 Micros to_time, const StreamSeqs& seqs,
                 const MemberChanges& member_changes,
                 std::string_view only_subject, const DiffVisit& visit);

// "ALLOW" / "DENY", as the API spells effects.
std::string_view EffectName(Effect effect);

}  // namespace iam::audit

#endif  // IAMLEDGER_CORE_AUDIT_H_
