#include "core/authorize.h"

#include <algorithm>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/defaults.h"
#include "core/ids.h"

namespace iam {
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

// What the matching statements of one query grant, per effect. Project
// lists point into the state or the system policies, so a Grants value is
// only valid while the state it was collected from is unchanged.
struct Grants {
  bool allow_all = false;  // a matching ALLOW names "*"
  bool deny_all = false;   // a matching DENY names "*"
  bool any_allow = false;  // some ALLOW matched (projects ignored)
  bool any_deny = false;   // some DENY matched (projects ignored)
  std::vector<const StringList*> allow;  // other matching ALLOWs' projects
  std::vector<const StringList*> deny;   // other matching DENYs' projects

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

bool AnyActionMatches(const StringList& patterns, std::string_view action) {
  for (const auto& p : patterns) {
    if (ActionMatches(p, action)) return true;
  }
  return false;
}

bool StatementMatches(const IamState& state, const Statement& st,
                      std::string_view resource, std::string_view action) {
  bool resource_ok = false;
  for (const auto& r : st.resources) {
    if (ResourceMatches(r, resource)) {
      resource_ok = true;
      break;
    }
  }
  if (!resource_ok) return false;
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
bool CollectPolicy(const IamState& state, const Policy& policy,
                   std::string_view resource, std::string_view action,
                   Grants& g) {
  for (const Statement& st : policy.statements) {
    const bool allow = st.effect == Effect::kAllow;
    // A statement that cannot add anything is not evaluated.
    if (allow ? g.allow_all : g.deny_all) continue;
    if (!StatementMatches(state, st, resource, action)) continue;
    const bool all = NamesAllProjects(st.projects);
    if (allow) {
      g.any_allow = true;
      if (all) {
        g.allow_all = true;
      } else {
        g.allow.push_back(&st.projects);
      }
    } else {
      g.any_deny = true;
      if (all) {
        g.deny_all = true;
        return false;
      }
      g.deny.push_back(&st.projects);
    }
  }
  return true;
}

// Calls visit(policy) for every stored policy with a member matching one of
// `subjects`: exact members through policies_by_member, wildcard members
// through the (small) policies_by_wildcard_member. A policy may be visited
// more than once (evaluation is idempotent). Stops when visit returns false;
// returns false then.
template <typename Visit>
bool ForEachStoredCandidate(const IamState& state, const StringList& subjects,
                            Visit&& visit) {
  auto visit_ids = [&](const std::set<std::string>& ids) {
    for (const auto& id : ids) {
      auto it = state.policies.find(id);
      if (it != state.policies.end() && !visit(it->second)) return false;
    }
    return true;
  };
  for (const auto& subject : subjects) {
    auto it = state.policies_by_member.find(subject);
    if (it != state.policies_by_member.end() && !visit_ids(it->second)) {
      return false;
    }
  }
  for (const auto& [member, ids] : state.policies_by_wildcard_member) {
    for (const auto& subject : subjects) {
      if (MemberMatches(member, subject)) {
        if (!visit_ids(ids)) return false;
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

// Collects the grants of every policy, system ones first (their DENY on all
// projects settles a query early), for (resource, action).
void Collect(const IamState& state, const StringList& subjects,
             std::string_view resource, std::string_view action, Grants& g) {
  for (const Policy& p : SystemPolicies()) {
    if (IsMemberOf(p, subjects) &&
        !CollectPolicy(state, p, resource, action, g)) {
      return;
    }
  }
  ForEachStoredCandidate(state, subjects, [&](const Policy& p) {
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
AuthzDecision DecideAllProjects(const IamState& state, const Grants& g) {
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
    for (const StringList* list : g.allow) {
      for (const auto& p : *list) {
        if (p != kUnassignedProject && !state.projects.contains(p)) continue;
        if (!g.Denied(p)) AddUnique(out, p);
      }
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

StringList IntrospectProjects(const IamState& state,
                              const StringList& subjects) {
  bool all = false;
  std::set<std::string_view> named;
  ForEachStoredCandidate(state, subjects, [&](const Policy& p) {
    for (const Statement& st : p.statements) {
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
