#include "core/decide.h"

#include <algorithm>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <variant>

#include "core/authorize.h"
#include "core/defaults.h"
#include "core/ids.h"

namespace iam {
namespace {

// ------------------------------------------------------------ formatting

// Go's %q of one string (strconv.Quote): printable text as is, quotes,
// backslashes and control bytes escaped, invalid UTF-8 bytes as \x...
std::string GoQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\a':
          out += "\\a";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    bool valid = len != 0 && c < 0xF5 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      valid = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    }
    if (valid) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
      ++i;
    }
  }
  out += '"';
  return out;
}

// Go's %q of a []string: ["a" "b"].
std::string GoQuoteList(const StringList& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ' ';
    out += GoQuote(items[i]);
  }
  out += ']';
  return out;
}

bool Contains(const StringList& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// ------------------------------------------------------------ proto checks
//
// protoc-gen-validate's messages, first violation only. For a repeated
// field: min_items first, then per item (in order) uniqueness, then pattern.

using Matcher = bool (*)(std::string_view);

struct ItemPattern {
  std::string_view pattern;
  Matcher matches;
};

std::string PatternReason(std::string_view pattern) {
  return "value does not match regex pattern " + GoQuote(pattern);
}

// `field` is "CreatePolicyReq.Members" etc.; returns "" when valid, else
// the whole "invalid ..." text.
std::string CheckRepeated(std::string_view field, const StringList& items,
                          size_t min_items, bool unique,
                          const ItemPattern* pattern) {
  if (items.size() < min_items) {
    return "invalid " + std::string(field) + ": value must contain at least " +
           std::to_string(min_items) + " item(s)";
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string prefix =
        "invalid " + std::string(field) + "[" + std::to_string(i) + "]: ";
    if (unique && !seen.insert(items[i]).second) {
      return prefix + "repeated value must contain unique items";
    }
    if (pattern != nullptr && !pattern->matches(items[i])) {
      return prefix + PatternReason(pattern->pattern);
    }
  }
  return "";
}

constexpr ItemPattern kIdItems{kIdPattern, &IsValidId};
constexpr ItemPattern kMemberItems{kMemberPattern, &IsValidMember};
constexpr ItemPattern kActionItems{kActionPattern, &IsValidAction};

Status Invalid(std::string message) {
  return InvalidArgumentError(std::move(message));
}

// `a <kind> <field> is required and must contain at least one
// non-whitespace character` (lib/validate RequiredField).
Status RequiredField(std::string_view value, std::string_view field,
                     std::string_view kind) {
  if (!IsBlank(value)) return OkStatus();
  return Invalid("a " + std::string(kind) + " " + std::string(field) +
                 " is required and must contain at least one non-whitespace "
                 "character");
}

// Statement fields of the Statement message, then the embedding error.
std::string CheckStatements(std::string_view req,
                            const std::vector<Statement>& statements) {
  std::string field = std::string(req) + ".Statements";
  if (statements.empty()) {
    return "invalid " + field + ": value must contain at least 1 item(s)";
  }
  for (size_t i = 0; i < statements.size(); ++i) {
    const Statement& st = statements[i];
    std::string inner =
        CheckRepeated("Statement.Actions", st.actions, 0, true, &kActionItems);
    if (inner.empty() && !IsValidStatementRole(st.role)) {
      inner = "invalid Statement.Role: " + PatternReason(kRolePattern);
    }
    if (inner.empty()) {
      inner =
          CheckRepeated("Statement.Projects", st.projects, 0, true, nullptr);
    }
    if (!inner.empty()) {
      return "invalid " + field + "[" + std::to_string(i) +
             "]: embedded message failed validation | caused by: " + inner;
    }
  }
  return "";
}

// server/policy.go requiredProjects, for policy and role top-level projects.
Status RequiredProjects(const StringList& projects) {
  for (const auto& p : projects) {
    if (IsBlank(p)) {
      return Invalid(
          "projects must contain at least one non-whitespace "
          "character");
    }
    if (p == kUnassignedProject) {
      return Invalid(
          "\"(unassigned)\" cannot explicitly be set; pass an empty projects "
          "array instead.");
    }
  }
  return OkStatus();
}

// storage.NewStatement via statementFromAPI: the reason, or "".
std::string StatementParseError(const std::vector<Statement>& statements) {
  for (const auto& st : statements) {
    if (st.projects.empty()) return "policy statements must include projects";
    if (st.role.empty() && st.actions.empty()) {
      return "unsupported statement variant: you must pass a role, a "
             "non-empty array of actions, or both";
    }
  }
  return "";
}

// The statements as recorded: resources ["*"].
std::vector<Statement> NormalizeStatements(std::vector<Statement> statements) {
  for (auto& st : statements) st.resources = {"*"};
  return statements;
}

// The foreign-key checks of statement insertion: roles, then projects, per
// statement in order. "*" and "(unassigned)" always exist.
Status StatementReferencesExist(const IamState& state,
                                const std::vector<Statement>& statements) {
  for (const auto& st : statements) {
    if (!st.role.empty() && state.roles.count(st.role) == 0) {
      return Invalid("role not found: " + st.role);
    }
    for (const auto& p : st.projects) {
      if (p == kAllProjects || p == kUnassignedProject) continue;
      if (state.projects.count(p) == 0) {
        return Invalid("project not found: " + p);
      }
    }
  }
  return OkStatus();
}

// ------------------------------------------------------------ projects (§4.5)

// 404 when any of `projects` does not exist (request order).
Status ProjectsExist(const IamState& state, const StringList& projects) {
  StringList missing;
  for (const auto& p : projects) {
    if (state.projects.count(p) == 0 && !Contains(missing, p)) {
      missing.push_back(p);
    }
  }
  if (missing.empty()) return OkStatus();
  if (missing.size() == 1) {
    return NotFoundError("Projects cannot be modified because project " +
                         GoQuoteList(missing) + " does not exist");
  }
  return NotFoundError(
      "Projects cannot be modified because these projects do not exist: " +
      GoQuoteList(missing));
}

// 403 when the caller may not assign every project of the §4.5 diff.
Status AssignmentAuthorized(const Caller& caller,
                            const StringList& old_projects,
                            const StringList& new_projects, bool is_update) {
  if (!caller.may_assign) return OkStatus();
  StringList unauthorized;
  for (const auto& p :
       ProjectsToAuthorize(old_projects, new_projects, is_update)) {
    if (!caller.may_assign(p)) unauthorized.push_back(p);
  }
  if (unauthorized.empty()) return OkStatus();
  std::string sub = caller.subjects.size() > 1 ? "subjects are" : "subject is";
  if (caller.subjects.size() > 5) sub = "(truncated) subjects are";
  std::string proj =
      unauthorized.size() > 1 ? "these projects" : "this project";
  return PermissionDeniedError("Projects cannot be modified because the " +
                               GoQuoteList(caller.subjects) + " " + sub +
                               " missing iam:projects:assign on " + proj +
                               ": " + GoQuoteList(unauthorized));
}

// Existence of every new project, then assignment of the diff.
Status CheckProjectAssignment(const IamState& state, const Caller& caller,
                              const StringList& old_projects,
                              const StringList& new_projects, bool is_update) {
  IAM_RETURN_IF_ERROR(ProjectsExist(state, new_projects));
  return AssignmentAuthorized(caller, old_projects, new_projects, is_update);
}

// ------------------------------------------------------------ decisions

// Fills `expected` from the streams the events touch.
Decision Finish(std::vector<Event> events, const IamState& state) {
  Decision d;
  d.events = std::move(events);
  for (const auto& e : d.events) {
    std::string stream = StreamOf(e);
    bool seen = false;
    for (const auto& [s, v] : d.expected) seen = seen || s == stream;
    if (seen) continue;
    auto it = state.stream_versions.find(stream);
    d.expected.emplace_back(stream,
                            it == state.stream_versions.end() ? 0 : it->second);
  }
  return d;
}

StringList Without(const StringList& list, std::string_view item) {
  StringList out;
  for (const auto& s : list) {
    if (s != item) out.push_back(s);
  }
  return out;
}

// Members of `a` not in `b`, in `a`'s order. Hashes `b`: replacing the
// members of a policy of 100,000 must not compare every pair.
StringList Minus(const StringList& a, const StringList& b) {
  std::unordered_set<std::string_view> in_b(b.begin(), b.end());
  StringList out;
  for (const auto& s : a) {
    if (!in_b.contains(s)) out.push_back(s);
  }
  return out;
}

void AppendMemberDiff(const std::string& id, const StringList& old_members,
                      const StringList& new_members,
                      std::vector<Event>& events) {
  StringList added = Minus(new_members, old_members);
  StringList removed = Minus(old_members, new_members);
  if (!added.empty()) events.push_back(PolicyMembersAdded{id, added});
  if (!removed.empty()) events.push_back(PolicyMembersRemoved{id, removed});
}

// The recorded effect on `policy` of a cascade that rewrote its statements
// and projects: nothing, a PolicyUpdated, or (custom policy left without
// statements) a PolicyDeleted.
void AppendPolicyCascade(const Policy& policy,
                         std::vector<Statement> statements, StringList projects,
                         std::vector<Event>& events) {
  if (statements.empty() && policy.type == PolicyType::kCustom) {
    events.push_back(PolicyDeleted{policy.id});
    return;
  }
  if (statements == policy.statements && projects == policy.projects) return;
  events.push_back(PolicyUpdated{policy.id, policy.name, policy.type,
                                 std::move(statements), std::move(projects)});
}

const Policy* FindVisiblePolicy(const IamState& state, const Caller& caller,
                                std::string_view id) {
  auto it = state.policies.find(std::string(id));
  if (it == state.policies.end()) return nullptr;
  if (!caller.filter.Visible(it->second.projects)) return nullptr;
  return &it->second;
}

Status PolicyNotFound(std::string_view id) {
  return NotFoundError("no policy with ID " + GoQuote(id) + " found");
}
Status RoleNotFound(std::string_view id) {
  return NotFoundError("no role with ID " + GoQuote(id) + " found");
}
Status ProjectNotFound(std::string_view id) {
  return NotFoundError("could not find project with ID " + GoQuote(id));
}

bool ProjectVisible(const Caller& caller, const std::string& id) {
  return caller.filter.Visible(StringList{id});
}

// The checks shared by create and update of a policy up to (and including)
// statement parsing. `req` is "CreatePolicyReq" / "UpdatePolicyReq".
template <typename Cmd>
Status ValidatePolicyRequest(const Cmd& cmd, std::string_view req,
                             bool is_create) {
  for (const auto& st : cmd.statements) {
    if (!st.resources.empty()) {
      return Invalid(
          "could not parse statements: cannot define resources on policy");
    }
  }
  if (is_create && !IsValidId(cmd.id)) {
    return Invalid("invalid " + std::string(req) +
                   ".Id: " + PatternReason(kIdPattern));
  }
  std::string err = CheckRepeated(std::string(req) + ".Members", cmd.members, 0,
                                  true, &kMemberItems);
  if (err.empty()) err = CheckStatements(req, cmd.statements);
  if (err.empty()) {
    err = CheckRepeated(std::string(req) + ".Projects", cmd.projects, 0, true,
                        nullptr);
  }
  if (!err.empty()) return Invalid(err);
  IAM_RETURN_IF_ERROR(RequiredField(cmd.id, "id", "policy"));
  IAM_RETURN_IF_ERROR(RequiredField(cmd.name, "name", "policy"));
  IAM_RETURN_IF_ERROR(RequiredProjects(cmd.projects));
  std::string parse = StatementParseError(cmd.statements);
  if (!parse.empty()) {
    if (is_create) {
      return Invalid("error parsing policy " + GoQuote(cmd.id) +
                     ": parse statement: " + parse);
    }
    return Invalid("parse statement: " + parse);
  }
  return OkStatus();
}

// Proto checks of a member request, then the id.
Status ValidateMembersRequest(std::string_view req, const std::string& id,
                              const StringList& members, size_t min_items) {
  std::string err = CheckRepeated(std::string(req) + ".Members", members,
                                  min_items, true, &kMemberItems);
  if (!err.empty()) return Invalid(err);
  return RequiredField(id, "id", "policy");
}

StatusOr<const Policy*> LookUpMembersPolicy(const IamState& state,
                                            const Caller& caller,
                                            const std::string& id) {
  const Policy* policy = FindVisiblePolicy(state, caller, id);
  if (policy == nullptr) return PolicyNotFound(id);
  return policy;
}

template <typename Cmd>
Status ValidateRoleRequest(const Cmd& cmd, std::string_view req,
                           bool is_create) {
  if (is_create && !IsValidId(cmd.id)) {
    return Invalid("invalid " + std::string(req) +
                   ".Id: " + PatternReason(kIdPattern));
  }
  std::string err = CheckRepeated(std::string(req) + ".Actions", cmd.actions, 1,
                                  true, &kActionItems);
  if (err.empty()) {
    err = CheckRepeated(std::string(req) + ".Projects", cmd.projects, 0, true,
                        nullptr);
  }
  if (!err.empty()) return Invalid(err);
  IAM_RETURN_IF_ERROR(RequiredField(cmd.id, "id", "role"));
  IAM_RETURN_IF_ERROR(RequiredField(cmd.name, "name", "role"));
  return RequiredProjects(cmd.projects);
}

}  // namespace

// ---------------------------------------------------------------- tokens

StatusOr<Decision> DecideCreateToken(const CreateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller) {
  const std::string req =
      cmd.secret.supplied ? "CreateTokenWithValueReq" : "CreateTokenReq";
  // 1. Proto validation; the id is derived when omitted (D2) and always
  // validated (D3).
  std::string id = cmd.id.empty() ? DeriveIdFromName(cmd.name) : cmd.id;
  if (id.empty()) {
    return Invalid("invalid " + req +
                   ".Id: no id was given and none can be derived from the "
                   "name; give an id or a name");
  }
  if (!IsValidId(id)) {
    return Invalid("invalid " + req + ".Id: " + PatternReason(kIdPattern));
  }
  std::string err =
      CheckRepeated(req + ".Projects", cmd.projects, 0, true, &kIdItems);
  if (!err.empty()) return Invalid(err);
  // 2. The value; never quoted (no secret in any message).
  if (!cmd.secret.acceptable) {
    return Invalid("token value is invalid; it has " +
                   std::to_string(cmd.secret.length) +
                   " characters but must have 20 to 512 printable ASCII "
                   "characters without whitespace");
  }
  // 3. Name.
  if (IsBlank(cmd.name)) {
    return Invalid(
        "a token name is required and must contain at least one "
        "non-whitespace character");
  }
  // 4. Project assignment.
  IAM_RETURN_IF_ERROR(
      CheckProjectAssignment(state, caller, {}, cmd.projects, false));
  // 5. Expiry (core/lifecycle.h).
  IAM_ASSIGN_OR_RETURN(Micros expires_at,
                       ExpiryOnCreate(cmd.expires_at, cmd.expiry));
  // 6. Insert.
  if (state.tokens.count(id) != 0) {
    return AlreadyExistsError("Conflicting token ID");
  }
  std::vector<Event> events;
  events.push_back(TokenCreated{id, cmd.name, cmd.active.value_or(true),
                                cmd.projects, cmd.secret.digest,
                                cmd.secret.sealed, expires_at});
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideUpdateToken(const UpdateToken& cmd,
                                     const IamState& state,
                                     const Caller& caller) {
  std::string err = CheckRepeated("UpdateTokenReq.Projects", cmd.projects, 0,
                                  true, &kIdItems);
  if (!err.empty()) return Invalid(err);
  IAM_ASSIGN_OR_RETURN(const Token* token,
                       GetVisibleToken(state, caller, cmd.id));
  if (IsBlank(cmd.name)) {
    return Invalid(
        "a token name is required and must contain at least one "
        "non-whitespace character");
  }
  IAM_RETURN_IF_ERROR(CheckProjectAssignment(state, caller, token->projects,
                                             cmd.projects, true));
  IAM_ASSIGN_OR_RETURN(
      std::optional<Micros> expires_at,
      ExpiryOnUpdate(cmd.expires_at, token->expires_at, cmd.expiry));
  std::vector<Event> events;
  if (cmd.name != token->name) {
    events.push_back(TokenRenamed{token->id, cmd.name});
  }
  if (cmd.projects != token->projects) {
    events.push_back(TokenProjectsAssigned{token->id, cmd.projects});
  }
  bool active = cmd.active.value_or(true);
  if (active != token->active) {
    events.push_back(TokenStatusToggled{token->id, active});
  }
  if (expires_at) events.push_back(TokenExpirySet{token->id, *expires_at});
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideDeleteToken(const DeleteToken& cmd,
                                     const IamState& state,
                                     const Caller& caller) {
  IAM_ASSIGN_OR_RETURN(const Token* token,
                       GetVisibleToken(state, caller, cmd.id));
  std::vector<Event> events;
  events.push_back(TokenDeleted{token->id});
  const std::string member = "token:" + token->id;
  auto it = state.policies_by_member.find(member);
  if (it != state.policies_by_member.end()) {
    for (const auto& ref : it->second) {  // id order
      events.push_back(PolicyMembersRemoved{ref.id, {member}});
    }
  }
  return Finish(std::move(events), state);
}

// ---------------------------------------------------------------- policies

StatusOr<Decision> DecideCreatePolicy(const CreatePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller) {
  IAM_RETURN_IF_ERROR(ValidatePolicyRequest(cmd, "CreatePolicyReq", true));
  IAM_RETURN_IF_ERROR(
      CheckProjectAssignment(state, caller, {}, cmd.projects, false));
  if (state.policies.count(cmd.id) != 0) {
    return AlreadyExistsError("policy with id " + GoQuote(cmd.id) +
                              " already exists");
  }
  IAM_RETURN_IF_ERROR(StatementReferencesExist(state, cmd.statements));
  std::vector<Event> events;
  events.push_back(
      PolicyCreated{cmd.id, cmd.name, PolicyType::kCustom, cmd.members,
                    NormalizeStatements(cmd.statements), cmd.projects});
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideUpdatePolicy(const UpdatePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller) {
  IAM_RETURN_IF_ERROR(ValidatePolicyRequest(cmd, "UpdatePolicyReq", false));
  const Policy* policy = FindVisiblePolicy(state, caller, cmd.id);
  if (policy == nullptr) return PolicyNotFound(cmd.id);
  IAM_RETURN_IF_ERROR(CheckProjectAssignment(state, caller, policy->projects,
                                             cmd.projects, true));
  IAM_RETURN_IF_ERROR(StatementReferencesExist(state, cmd.statements));
  std::vector<Event> events;
  std::vector<Statement> statements = NormalizeStatements(cmd.statements);
  if (cmd.name != policy->name || policy->type != PolicyType::kCustom ||
      statements != policy->statements || cmd.projects != policy->projects) {
    events.push_back(PolicyUpdated{policy->id, cmd.name, PolicyType::kCustom,
                                   std::move(statements), cmd.projects});
  }
  AppendMemberDiff(policy->id, policy->members, cmd.members, events);
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideDeletePolicy(const DeletePolicy& cmd,
                                      const IamState& state,
                                      const Caller& caller) {
  IAM_RETURN_IF_ERROR(RequiredField(cmd.id, "id", "policy"));
  const Policy* policy = FindVisiblePolicy(state, caller, cmd.id);
  if (policy == nullptr) return PolicyNotFound(cmd.id);
  std::vector<Event> events;
  events.push_back(PolicyDeleted{policy->id});
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideReplacePolicyMembers(const ReplacePolicyMembers& cmd,
                                              const IamState& state,
                                              const Caller& caller) {
  IAM_RETURN_IF_ERROR(ValidateMembersRequest("ReplacePolicyMembersReq", cmd.id,
                                             cmd.members, 0));
  IAM_ASSIGN_OR_RETURN(const Policy* policy,
                       LookUpMembersPolicy(state, caller, cmd.id));
  std::vector<Event> events;
  AppendMemberDiff(policy->id, policy->members, cmd.members, events);
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideAddPolicyMembers(const AddPolicyMembers& cmd,
                                          const IamState& state,
                                          const Caller& caller) {
  IAM_RETURN_IF_ERROR(
      ValidateMembersRequest("AddPolicyMembersReq", cmd.id, cmd.members, 1));
  IAM_ASSIGN_OR_RETURN(const Policy* policy,
                       LookUpMembersPolicy(state, caller, cmd.id));
  std::vector<Event> events;
  StringList added;
  for (const auto& m : cmd.members) {
    if (!IsPolicyMember(state, *policy, m)) added.push_back(m);
  }
  if (!added.empty()) {
    events.push_back(PolicyMembersAdded{policy->id, std::move(added)});
  }
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideRemovePolicyMembers(const RemovePolicyMembers& cmd,
                                             const IamState& state,
                                             const Caller& caller) {
  IAM_RETURN_IF_ERROR(
      ValidateMembersRequest("RemovePolicyMembersReq", cmd.id, cmd.members, 1));
  if (cmd.id == kAdminPolicyId && Contains(cmd.members, kAdminsTeamMember)) {
    return PermissionDeniedError(
        "cannot remove local team:\n\t\t\t\tadmins from Chef-managed policy: "
        "Admin");
  }
  IAM_ASSIGN_OR_RETURN(const Policy* policy,
                       LookUpMembersPolicy(state, caller, cmd.id));
  std::vector<Event> events;
  StringList removed;
  for (const auto& m : cmd.members) {
    if (IsPolicyMember(state, *policy, m)) removed.push_back(m);
  }
  if (!removed.empty()) {
    events.push_back(PolicyMembersRemoved{policy->id, std::move(removed)});
  }
  return Finish(std::move(events), state);
}

// ---------------------------------------------------------------- roles

StatusOr<Decision> DecideCreateRole(const CreateRole& cmd,
                                    const IamState& state,
                                    const Caller& caller) {
  IAM_RETURN_IF_ERROR(ValidateRoleRequest(cmd, "CreateRoleReq", true));
  IAM_RETURN_IF_ERROR(
      CheckProjectAssignment(state, caller, {}, cmd.projects, false));
  if (state.roles.count(cmd.id) != 0) {
    return AlreadyExistsError("role with id " + GoQuote(cmd.id) +
                              " already exists");
  }
  std::vector<Event> events;
  events.push_back(RoleCreated{cmd.id, cmd.name, PolicyType::kCustom,
                               cmd.actions, cmd.projects});
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideUpdateRole(const UpdateRole& cmd,
                                    const IamState& state,
                                    const Caller& caller) {
  IAM_RETURN_IF_ERROR(ValidateRoleRequest(cmd, "UpdateRoleReq", false));
  IAM_ASSIGN_OR_RETURN(const Role* role, GetVisibleRole(state, caller, cmd.id));
  IAM_RETURN_IF_ERROR(CheckProjectAssignment(state, caller, role->projects,
                                             cmd.projects, true));
  std::vector<Event> events;
  if (cmd.name != role->name || role->type != PolicyType::kCustom ||
      cmd.actions != role->actions || cmd.projects != role->projects) {
    events.push_back(RoleUpdated{role->id, cmd.name, PolicyType::kCustom,
                                 cmd.actions, cmd.projects});
  }
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideDeleteRole(const DeleteRole& cmd,
                                    const IamState& state,
                                    const Caller& caller) {
  IAM_ASSIGN_OR_RETURN(const Role* role, GetVisibleRole(state, caller, cmd.id));
  std::vector<Event> events;
  events.push_back(RoleDeleted{role->id});
  // §5.4: statements lose the role; those left without actions go; custom
  // policies left without statements go.
  for (const auto& [policy_id, policy] : state.policies) {
    bool uses = false;
    for (const auto& st : policy.statements) uses = uses || st.role == role->id;
    if (!uses) continue;
    std::vector<Statement> statements;
    for (Statement st : policy.statements) {
      if (st.role == role->id) st.role.clear();
      if (st.role.empty() && st.actions.empty()) continue;
      statements.push_back(std::move(st));
    }
    AppendPolicyCascade(policy, std::move(statements), policy.projects, events);
  }
  return Finish(std::move(events), state);
}

// ---------------------------------------------------------------- projects

StatusOr<Decision> DecideCreateProject(const CreateProject& cmd,
                                       const IamState& state,
                                       const Caller& caller) {
  (void)caller;
  if (!IsValidProjectId(cmd.id)) {
    return Invalid("invalid CreateProjectReq.Id: " +
                   PatternReason(kProjectIdPattern));
  }
  IAM_RETURN_IF_ERROR(RequiredField(cmd.name, "name", "project"));
  size_t custom = 0;
  for (const auto& [id, project] : state.projects) {
    if (project.type == PolicyType::kCustom) ++custom;
  }
  if (custom >= kProjectLimit) {
    return FailedPreconditionError("cannot create project: limit of " +
                                   std::to_string(kProjectLimit) +
                                   " projects already reached");
  }
  struct Support {
    const char* suffix;
    const char* title;
    const char* role;
  };
  static constexpr Support kSupport[] = {
      {"project-owners", "Project Owners", "project-owner"},
      {"project-editors", "Project Editors", "editor"},
      {"project-viewers", "Project Viewers", "viewer"},
  };
  const Status conflict = AlreadyExistsError(
      "project with ID " + GoQuote(cmd.id) + " already exists");
  if (state.projects.count(cmd.id) != 0) return conflict;
  std::vector<Event> events;
  events.push_back(ProjectCreated{cmd.id, cmd.name, PolicyType::kCustom});
  if (!cmd.skip_policies) {
    for (const auto& s : kSupport) {
      std::string policy_id = cmd.id + "-" + s.suffix;
      // Automate's insert would hit the policy's unique id: same 409.
      if (state.policies.count(policy_id) != 0) return conflict;
      Statement st;
      st.effect = Effect::kAllow;
      st.role = s.role;
      st.resources = {"*"};
      st.projects = {cmd.id};
      events.push_back(PolicyCreated{std::move(policy_id),
                                     cmd.name + " " + s.title,
                                     PolicyType::kCustom,
                                     {},
                                     {std::move(st)},
                                     {cmd.id}});
    }
  }
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideUpdateProject(const UpdateProject& cmd,
                                       const IamState& state,
                                       const Caller& caller) {
  IAM_RETURN_IF_ERROR(RequiredField(cmd.id, "id", "project"));
  IAM_RETURN_IF_ERROR(RequiredField(cmd.name, "name", "project"));
  auto it = state.projects.find(cmd.id);
  if (it == state.projects.end() || !ProjectVisible(caller, cmd.id)) {
    return NotFoundError("project with ID " + GoQuote(cmd.id) + " not found");
  }
  std::vector<Event> events;
  if (cmd.name != it->second.name) {
    events.push_back(ProjectRenamed{cmd.id, cmd.name});
  }
  return Finish(std::move(events), state);
}

StatusOr<Decision> DecideDeleteProject(const DeleteProject& cmd,
                                       const IamState& state,
                                       const Caller& caller) {
  IAM_ASSIGN_OR_RETURN(const Project* project,
                       GetVisibleProject(state, caller, cmd.id));
  const std::string& id = project->id;
  std::vector<Event> events;
  events.push_back(ProjectDeleted{id});
  // §5.5 and D6: tokens, policies (top-level and statements), roles.
  for (const auto& [token_id, token] : state.tokens) {
    if (Contains(token.projects, id)) {
      events.push_back(
          TokenProjectsAssigned{token_id, Without(token.projects, id)});
    }
  }
  for (const auto& [policy_id, policy] : state.policies) {
    bool uses = Contains(policy.projects, id);
    for (const auto& st : policy.statements) {
      uses = uses || Contains(st.projects, id);
    }
    if (!uses) continue;
    std::vector<Statement> statements;
    for (Statement st : policy.statements) {
      st.projects = Without(st.projects, id);
      if (st.projects.empty()) continue;
      statements.push_back(std::move(st));
    }
    AppendPolicyCascade(policy, std::move(statements),
                        Without(policy.projects, id), events);
  }
  for (const auto& [role_id, role] : state.roles) {
    if (Contains(role.projects, id)) {
      events.push_back(RoleUpdated{role_id, role.name, role.type, role.actions,
                                   Without(role.projects, id)});
    }
  }
  return Finish(std::move(events), state);
}

Decision DecisionOf(std::vector<Event> events, const IamState& state) {
  return Finish(std::move(events), state);
}

StatusOr<Decision> Decide(const Command& cmd, const IamState& state,
                          const Caller& caller) {
  return std::visit(
      [&](const auto& c) -> StatusOr<Decision> {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CreateToken>) {
          return DecideCreateToken(c, state, caller);
        } else if constexpr (std::is_same_v<T, UpdateToken>) {
          return DecideUpdateToken(c, state, caller);
        } else if constexpr (std::is_same_v<T, DeleteToken>) {
          return DecideDeleteToken(c, state, caller);
        } else if constexpr (std::is_same_v<T, CreatePolicy>) {
          return DecideCreatePolicy(c, state, caller);
        } else if constexpr (std::is_same_v<T, UpdatePolicy>) {
          return DecideUpdatePolicy(c, state, caller);
        } else if constexpr (std::is_same_v<T, DeletePolicy>) {
          return DecideDeletePolicy(c, state, caller);
        } else if constexpr (std::is_same_v<T, ReplacePolicyMembers>) {
          return DecideReplacePolicyMembers(c, state, caller);
        } else if constexpr (std::is_same_v<T, AddPolicyMembers>) {
          return DecideAddPolicyMembers(c, state, caller);
        } else if constexpr (std::is_same_v<T, RemovePolicyMembers>) {
          return DecideRemovePolicyMembers(c, state, caller);
        } else if constexpr (std::is_same_v<T, CreateRole>) {
          return DecideCreateRole(c, state, caller);
        } else if constexpr (std::is_same_v<T, UpdateRole>) {
          return DecideUpdateRole(c, state, caller);
        } else if constexpr (std::is_same_v<T, DeleteRole>) {
          return DecideDeleteRole(c, state, caller);
        } else if constexpr (std::is_same_v<T, CreateProject>) {
          return DecideCreateProject(c, state, caller);
        } else if constexpr (std::is_same_v<T, UpdateProject>) {
          return DecideUpdateProject(c, state, caller);
        } else if constexpr (std::is_same_v<T, RevokeTokens>) {
          return DecideRevokeTokens(c, state, caller);
        } else if constexpr (std::is_same_v<T, RotateToken>) {
          return DecideRotateToken(c, state, caller);
        } else {
          static_assert(std::is_same_v<T, DeleteProject>);
          return DecideDeleteProject(c, state, caller);
        }
      },
      cmd);
}

// ---------------------------------------------------------------- reads

StatusOr<const Token*> GetVisibleToken(const IamState& state,
                                       const Caller& caller,
                                       std::string_view id) {
  auto it = state.tokens.find(std::string(id));
  if (it == state.tokens.end() || !caller.filter.Visible(it->second.projects)) {
    return NotFoundError("No token record found");
  }
  return &it->second;
}

StatusOr<const Policy*> GetVisiblePolicy(const IamState& state,
                                         const Caller& caller,
                                         std::string_view id) {
  if (IsBlank(id)) return Invalid("cannot get policy");
  const Policy* policy = FindVisiblePolicy(state, caller, id);
  if (policy == nullptr) return PolicyNotFound(id);
  return policy;
}

StatusOr<const Role*> GetVisibleRole(const IamState& state,
                                     const Caller& caller,
                                     std::string_view id) {
  IAM_RETURN_IF_ERROR(RequiredField(id, "id", "role"));
  auto it = state.roles.find(std::string(id));
  if (it == state.roles.end() || !caller.filter.Visible(it->second.projects)) {
    return RoleNotFound(id);
  }
  return &it->second;
}

StatusOr<const Project*> GetVisibleProject(const IamState& state,
                                           const Caller& caller,
                                           std::string_view id) {
  IAM_RETURN_IF_ERROR(RequiredField(id, "id", "project"));
  auto it = state.projects.find(std::string(id));
  if (it == state.projects.end() || !ProjectVisible(caller, it->first)) {
    return ProjectNotFound(id);
  }
  return &it->second;
}

StatusOr<StringList> GetVisiblePolicyMembers(const IamState& state,
                                             const Caller& caller,
                                             std::string_view id) {
  IAM_RETURN_IF_ERROR(RequiredField(id, "id", "policy"));
  const Policy* policy = FindVisiblePolicy(state, caller, id);
  if (policy == nullptr) return PolicyNotFound(id);
  return SortedMembers(policy->members);
}

std::vector<const Token*> ListVisibleTokens(const IamState& state,
                                            const Caller& caller) {
  std::vector<const Token*> out;
  for (const auto& [id, token] : state.tokens) {
    if (caller.filter.Visible(token.projects)) out.push_back(&token);
  }
  return out;
}

std::vector<const Policy*> ListVisiblePolicies(const IamState& state,
                                               const Caller& caller) {
  std::vector<const Policy*> out;
  for (const auto& [id, policy] : state.policies) {
    if (caller.filter.Visible(policy.projects)) out.push_back(&policy);
  }
  return out;
}

std::vector<const Role*> ListVisibleRoles(const IamState& state,
                                          const Caller& caller) {
  std::vector<const Role*> out;
  for (const auto& [id, role] : state.roles) {
    if (caller.filter.Visible(role.projects)) out.push_back(&role);
  }
  return out;
}

std::vector<const Project*> ListVisibleProjects(const IamState& state,
                                                const Caller& caller) {
  std::vector<const Project*> out;
  for (const auto& [id, project] : state.projects) {
    if (id == kUnassignedProject || id == "~~ALL-PROJECTS~~") continue;
    if (ProjectVisible(caller, id)) out.push_back(&project);
  }
  return out;
}

StringList SortedMembers(const StringList& members) {
  StringList sorted = members;
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

}  // namespace iam
