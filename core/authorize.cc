#include "core/authorize.h"

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/defaults.h"
#include "core/ids.h"

namespace iam {

// A stored policy's statements as authorization evaluates them (model.h).
struct CompiledPolicy {
  struct Stmt {
    Effect effect = Effect::kAllow;
    bool any_resource = false;  // resources hold "*"
    bool all_projects = false;  // projects hold "*"
    StringList actions;
    std::string role;
    StringList resources;  // unused when any_resource
    StringList projects;
  };
  std::vector<Stmt> statements;
};

namespace {

bool Contains(const StringList& list, std::string_view s) {
  for (const auto& x : list) {
    if (x == s) return true;
  }
  return false;
}

bool NamesAllProjects(const StringList& projects) {
  return Contains(projects, kAllProjects);
}

CompiledPolicy Compile(const Policy& policy) {
  CompiledPolicy c;
  c.statements.reserve(policy.statements.size());
  for (const Statement& st : policy.statements) {
    CompiledPolicy::Stmt& s = c.statements.emplace_back();
    s.effect = st.effect;
    s.any_resource = Contains(st.resources, "*");
    s.all_projects = NamesAllProjects(st.projects);
    s.actions = st.actions;
    s.role = st.role;
    if (!s.any_resource) s.resources = st.resources;
    s.projects = st.projects;
  }
  return c;
}

// Splits `s` at ':' into `parts`; returns the number of parts (1..3), or 4
// when there are more than three (no action form has more than three).
int SplitAction(std::string_view s, std::string_view (&parts)[3]) {
  int n = 0;
  while (true) {
    size_t colon = s.find(':');
    if (n == 3) return 4;
    if (colon == std::string_view::npos) {
      parts[n++] = s;
      return n;
    }
    parts[n++] = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
}

// The requested action of one query, split once, and matched against stored
// patterns exactly as ActionMatches would, without splitting them.
class RequestedAction {
 public:
  explicit RequestedAction(std::string_view action) : full_(action) {
    literal_star_ = action.find('*') != std::string_view::npos;
    three_ = SplitAction(action, seg_) == 3;
  }

  bool Matches(std::string_view p) const {
    // Rare: a requested action with a "*" in it takes the literal rules.
    if (literal_star_) return ActionMatches(p, full_);
    // Below, the action has no "*", so a pattern equal to it has none
    // either (the rules' first case), and every wildcard form differs from
    // it.
    if (p.size() == full_.size() && p == full_) return true;
    if (p.size() == 1) return p[0] == '*';
    if (!three_) return false;  // wildcard forms need three segments
    // "svc:*", "svc:type:*" and "svc:*:verb": after "svc:" (segments hold
    // no ':', so this prefix is exactly the pattern's first segment) comes
    // "*", "type:*" or "*:verb".
    const std::string_view svc = seg_[0];
    if (p.size() > svc.size() && p[svc.size()] == ':' && p.starts_with(svc)) {
      const std::string_view rest = p.substr(svc.size() + 1);
      if (rest.size() == 1) return rest[0] == '*';
      if (rest.size() == seg_[1].size() + 2 && rest.ends_with(":*") &&
          rest.starts_with(seg_[1])) {
        return true;
      }
      return IsStarVerb(rest);
    }
    return IsStarVerb(p);  // "*:verb"
  }

 private:
  // "*:" followed by the action's verb.
  bool IsStarVerb(std::string_view s) const {
    return s.size() == seg_[2].size() + 2 && s[0] == '*' && s[1] == ':' &&
           s.substr(2) == seg_[2];
  }

  std::string_view full_;
  std::string_view seg_[3];
  bool three_ = false;
  bool literal_star_ = false;
};

// What the matching statements of one query grant, per effect. Project
// lists point into the state or the system policies, so a Grants value is
// only valid while the state it was collected from is unchanged.
struct Grants {
  bool allow_all = false;  // a matching ALLOW names "*"
  bool deny_all = false;   // a matching DENY names "*"
  bool any_allow = false;  // some ALLOW matched (projects ignored)
  bool any_deny = false;   // some DENY matched (projects ignored)
  std::vector<const StringList*> allow;     // other matching ALLOWs' projects
  std::vector<const StringList*> deny;      // other matching DENYs' projects
  std::vector<const std::string*> scratch;  // for DecideAllProjects

  void Clear() {
    allow_all = deny_all = any_allow = any_deny = false;
    allow.clear();
    deny.clear();
  }
  static bool In(const std::vector<const StringList*>& lists,
                 std::string_view project) {
    for (const StringList* l : lists) {
      if (Contains(*l, project)) return true;
    }
    return false;
  }
  bool Allowed(std::string_view p) const { return allow_all || In(allow, p); }
  bool Denied(std::string_view p) const { return deny_all || In(deny, p); }
  bool Authorized(std::string_view p) const { return Allowed(p) && !Denied(p); }
};

// Scratch Grants reused by every query on this thread, so that queries do
// not allocate once the vectors have grown. Queries never nest.
Grants& ScratchGrants() {
  thread_local Grants grants;
  grants.Clear();
  return grants;
}

bool AnyActionMatches(const StringList& patterns,
                      const RequestedAction& action) {
  for (const auto& p : patterns) {
    if (action.Matches(p)) return true;
  }
  return false;
}

bool StatementMatches(const IamState& state, const CompiledPolicy::Stmt& st,
                      std::string_view resource,
                      const RequestedAction& action) {
  if (!st.any_resource) {
    bool resource_ok = false;
    for (const auto& r : st.resources) {
      if (ResourceMatches(r, resource)) {
        resource_ok = true;
        break;
      }
    }
    if (!resource_ok) return false;
  }
  if (AnyActionMatches(st.actions, action)) return true;
  if (st.role.empty()) return false;
  // Roles are resolved now, so a role change applies immediately (§4.2).
  auto role = state.roles.find(st.role);
  return role != state.roles.end() &&
         AnyActionMatches(role->second.actions, action);
}

// Folds the statements of `policy` that match (resource, action) into `g`.
// Returns false once nothing more can change the outcome (a DENY on every
// project matched), so the caller may stop.
bool CollectPolicy(const IamState& state, const CompiledPolicy& policy,
                   std::string_view resource, const RequestedAction& action,
                   Grants& g) {
  for (const CompiledPolicy::Stmt& st : policy.statements) {
    const bool allow = st.effect == Effect::kAllow;
    // A statement that cannot add anything is not evaluated.
    if (allow ? g.allow_all : g.deny_all) continue;
    if (!StatementMatches(state, st, resource, action)) continue;
    if (allow) {
      g.any_allow = true;
      if (st.all_projects) {
        g.allow_all = true;
      } else {
        g.allow.push_back(&st.projects);
      }
    } else {
      g.any_deny = true;
      if (st.all_projects) {
        g.deny_all = true;
        return false;
      }
      g.deny.push_back(&st.projects);
    }
  }
  return true;
}

// Calls visit(policy) for every stored policy with a member matching one of
// `subjects`, in the order of the indexes (ids ascending per member): exact
// members through policies_by_member, wildcard members through the (small)
// policies_by_wildcard_member. A policy may be visited more than once
// (evaluation is idempotent). Stops when visit returns false; returns false
// then.
template <typename Visit>
bool ForEachStoredCandidate(const IamState& state, const StringList& subjects,
                            Visit&& visit) {
  auto visit_refs = [&](const PolicyRefs& refs) {
    for (const auto& ref : refs) {
      if (ref.policy != nullptr && !visit(*ref.policy)) return false;
    }
    return true;
  };
  for (const auto& subject : subjects) {
    auto it = state.policies_by_member.find(subject);
    if (it != state.policies_by_member.end() && !visit_refs(it->second)) {
      return false;
    }
  }
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    for (const auto& subject : subjects) {
      if (MemberMatches(member, subject)) {
        if (!visit_refs(refs)) return false;
        break;
      }
    }
  }
  return true;
}

bool IsMemberOf(const Policy& policy, const StringList& subjects) {
  for (const auto& member : policy.members) {
    for (const auto& subject : subjects) {
      if (MemberMatches(member, subject)) return true;
    }
  }
  return false;
}

// SystemPolicies(), compiled once.
const std::vector<CompiledPolicy>& CompiledSystemPolicies() {
  static const auto* compiled = [] {
    auto* out = new std::vector<CompiledPolicy>;
    for (const Policy& p : SystemPolicies()) out->push_back(Compile(p));
    return out;
  }();
  return *compiled;
}

// Collects the grants of every policy, system ones first (their DENY on all
// projects settles a query early), for (resource, action).
void Collect(const IamState& state, const StringList& subjects,
             std::string_view resource, std::string_view action_text,
             Grants& g) {
  const RequestedAction action(action_text);
  const std::vector<Policy>& system = SystemPolicies();
  const std::vector<CompiledPolicy>& compiled = CompiledSystemPolicies();
  for (size_t i = 0; i < system.size(); ++i) {
    if (IsMemberOf(system[i], subjects) &&
        !CollectPolicy(state, compiled[i], resource, action, g)) {
      return;
    }
  }
  ForEachStoredCandidate(state, subjects, [&](const CompiledPolicy& p) {
    return CollectPolicy(state, p, resource, action, g);
  });
}

void AddUnique(StringList& out, std::string_view s) {
  if (!Contains(out, s)) out.emplace_back(s);
}

AuthzDecision NotAllowed() {
  AuthzDecision d;
  d.allowed = false;
  d.filter.all = false;
  return d;
}

AuthzDecision AllowedAll() {
  AuthzDecision d;
  d.allowed = true;
  d.filter.all = true;
  return d;
}

AuthzDecision AllowedProjects(StringList projects) {
  if (projects.empty()) return NotAllowed();
  AuthzDecision d;
  d.allowed = true;
  d.filter.all = false;
  d.filter.projects = std::move(projects);
  return d;
}

// No header: the requested projects are every project in the state plus
// "(unassigned)".
AuthzDecision DecideAllProjects(const IamState& state, Grants& g) {
  if (g.deny_all) return NotAllowed();
  const size_t requested = state.projects.size() + 1;
  StringList out;
  if (g.allow_all) {
    if (g.deny.empty()) return AllowedAll();  // the common admin case
    if (!g.Denied(kUnassignedProject)) out.emplace_back(kUnassignedProject);
    for (const auto& [id, project] : state.projects) {
      if (!g.Denied(id)) out.push_back(id);
    }
  } else {
    // The allowed projects in order of first mention, each once; then those
    // that exist (or are "(unassigned)") and are not denied.
    std::vector<const std::string*>& named = g.scratch;
    named.clear();
    for (const StringList* list : g.allow) {
      for (const auto& p : *list) {
        bool seen = false;
        for (const std::string* n : named) {
          if (*n == p) {
            seen = true;
            break;
          }
        }
        if (!seen) named.push_back(&p);
      }
    }
    for (const std::string* p : named) {
      if (*p != kUnassignedProject && !state.projects.contains(*p)) continue;
      if (!g.Denied(*p)) out.push_back(*p);
    }
  }
  if (out.size() == requested) return AllowedAll();
  return AllowedProjects(std::move(out));
}

// An explicit header: each entry is a project id as the engine sees it;
// the literal "*" is authorized only by all-projects statements and then
// means no filtering (§2.3).
AuthzDecision DecideHeader(const StringList& header, const Grants& g) {
  if (g.deny_all || (!g.allow_all && g.allow.empty())) return NotAllowed();
  StringList out;
  for (const auto& p : header) {
    if (!g.Authorized(p)) continue;
    if (p == kAllProjects) return AllowedAll();
    AddUnique(out, p);
  }
  return AllowedProjects(std::move(out));
}

// Allow/deny lists copied out of the state, for MayAssignFunc.
struct OwnedGrants {
  bool allow_all = false;
  bool deny_all = false;
  StringList allow;
  StringList deny;
  bool Authorized(std::string_view p) const {
    return (allow_all || Contains(allow, p)) &&
           !(deny_all || Contains(deny, p));
  }
};

constexpr std::string_view kAssignAction = "iam:projects:assign";
constexpr std::string_view kAssignResource = "*";

}  // namespace

bool MemberMatches(std::string_view member, std::string_view subject) {
  if (member == subject || member == "*") return true;
  if (member.size() >= 2 && member.ends_with(":*")) {
    return subject.starts_with(member.substr(0, member.size() - 1));
  }
  return false;
}

bool ActionMatches(std::string_view pattern, std::string_view action) {
  if (pattern.find('*') == std::string_view::npos) return pattern == action;
  if (pattern == "*") return true;
  // The rego rules, literally: the stored action split at ':' against the
  // requested one, which must have three segments.
  std::string_view p[3], a[3];
  const int np = SplitAction(pattern, p);
  if (SplitAction(action, a) != 3) return false;
  if (np == 2) {
    return (p[1] == "*" && p[0] == a[0]) ||  // svc:*
           (p[0] == "*" && p[1] == a[2]);    // *:verb
  }
  if (np == 3) {
    return (p[2] == "*" && p[0] == a[0] && p[1] == a[1]) ||  // svc:type:*
           (p[1] == "*" && p[0] == a[0] && p[2] == a[2]);    // svc:*:verb
  }
  return false;
}

bool ResourceMatches(std::string_view pattern, std::string_view resource) {
  if (pattern == "*" || pattern == resource) return true;
  if (pattern.size() >= 2 && pattern.ends_with(":*")) {
    return resource.starts_with(pattern.substr(0, pattern.size() - 1));
  }
  return false;
}

AuthzDecision Authorize(const IamState& state, const StringList& subjects,
                        std::string_view resource, std::string_view action,
                        const StringList* projects_header) {
  Grants& g = ScratchGrants();
  Collect(state, subjects, resource, action, g);
  if (projects_header != nullptr && !projects_header->empty()) {
    return DecideHeader(*projects_header, g);
  }
  return DecideAllProjects(state, g);
}

AuthzDecision Authorize(const IamState& state, const AuthzRequest& request) {
  return Authorize(
      state, request.subjects, request.resource, request.action,
      request.has_projects_header ? &request.projects_header : nullptr);
}

bool AuthorizePair(const IamState& state, const StringList& subjects,
                   std::string_view resource, std::string_view action) {
  Grants& g = ScratchGrants();
  Collect(state, subjects, resource, action, g);
  return g.any_allow && !g.any_deny;
}

bool MayAssignProject(const IamState& state, const StringList& subjects,
                      std::string_view project) {
  Grants& g = ScratchGrants();
  Collect(state, subjects, kAssignResource, kAssignAction, g);
  return g.Authorized(project);
}

std::function<bool(const std::string&)> MayAssignFunc(const IamState& state,
                                                      StringList subjects) {
  Grants& g = ScratchGrants();
  Collect(state, subjects, kAssignResource, kAssignAction, g);
  OwnedGrants owned;
  owned.allow_all = g.allow_all;
  owned.deny_all = g.deny_all;
  if (!g.deny_all) {
    if (!g.allow_all) {
      for (const StringList* l : g.allow) {
        for (const auto& p : *l) AddUnique(owned.allow, p);
      }
    }
    for (const StringList* l : g.deny) {
      for (const auto& p : *l) AddUnique(owned.deny, p);
    }
  }
  return [owned = std::move(owned)](const std::string& project) {
    return owned.Authorized(project);
  };
}

StringList ProjectsToAuthorize(const StringList& old_projects,
                               const StringList& new_projects, bool is_update) {
  StringList out;
  if (is_update && old_projects.empty() && new_projects.empty()) return out;
  for (const auto& p : old_projects) {
    if (!Contains(new_projects, p)) AddUnique(out, p);
  }
  for (const auto& p : new_projects) {
    if (!Contains(old_projects, p)) AddUnique(out, p);
  }
  if ((is_update && old_projects.empty()) ||
      (!is_update && new_projects.empty())) {
    AddUnique(out, kUnassignedProject);
  }
  return out;
}

std::shared_ptr<const CompiledPolicy> CompilePolicy(const Policy& policy) {
  return std::make_shared<const CompiledPolicy>(Compile(policy));
}

StringList IntrospectProjects(const IamState& state,
                              const StringList& subjects) {
  bool all = false;
  std::set<std::string_view> named;
  ForEachStoredCandidate(state, subjects, [&](const CompiledPolicy& p) {
    for (const CompiledPolicy::Stmt& st : p.statements) {
      if (st.effect != Effect::kAllow) continue;
      for (const auto& project : st.projects) {
        if (project == kAllProjects) {
          all = true;
          return false;  // nothing can add more
        }
        named.insert(project);
      }
    }
    return true;
  });
  StringList out;
  if (all || named.contains(kUnassignedProject)) {
    out.emplace_back(kUnassignedProject);
  }
  for (const auto& [id, project] : state.projects) {
    if (all || named.contains(id)) out.push_back(id);
  }
  return out;
}

}  // namespace iam
