#include "core/audit.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/defaults.h"
#include "core/lifecycle.h"

namespace iam::audit {
namespace {

constexpr std::string_view kTokenPrefix = "token:";

std::string Quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// The id of a token subject ("token:<id>" without a wildcard), or "".
std::string_view TokenIdOf(std::string_view subject) {
  if (!subject.starts_with(kTokenPrefix) || subject.ends_with("*")) return {};
  return subject.substr(kTokenPrefix.size());
}

AuthzRequest RequestFor(std::string subject, std::string_view action,
                        std::string_view resource, const StringList& projects) {
  AuthzRequest r;
  r.subjects = {std::move(subject)};
  r.action = std::string(action);
  r.resource = std::string(resource);
  r.has_projects_header = !projects.empty();
  r.projects_header = projects;
  return r;
}

// The stored policies with a member matching `subject`, by id, with their
// compiled forms (which identify their statements and role actions: Evolve
// compiles a policy again whenever either changes).
std::vector<const PolicyRefs::Ref*> PoliciesOf(const IamState& state,
                                               std::string_view subject) {
  std::vector<const PolicyRefs::Ref*> out;
  auto add = [&](const PolicyRefs& refs) {
    for (const auto& ref : refs) out.push_back(&ref);
  };
  if (auto it = state.policies_by_member.find(subject);
      it != state.policies_by_member.end()) {
    add(it->second);
  }
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    if (MemberMatches(member, subject)) add(refs);
  }
  std::sort(out.begin(), out.end(),
            [](const auto* a, const auto* b) { return a->id < b->id; });
  out.erase(
      std::unique(out.begin(), out.end(),
                  [](const auto* a, const auto* b) { return a->id == b->id; }),
      out.end());
  return out;
}

using GrantKey =
    std::tuple<Effect, std::string_view, std::string_view, std::string_view>;
GrantKey KeyOf(const Grant& g) {
  return {g.effect, g.action, g.resource, g.project};
}
bool KeyLess(const Grant& a, const Grant& b) { return KeyOf(a) < KeyOf(b); }

// The grants of one policy, in statement order (unsorted, maybe repeated).
void AppendPolicyGrants(const IamState& state, const Policy& policy,
                        std::vector<Grant>& out) {
  for (size_t i = 0; i < policy.statements.size(); ++i) {
    const Statement& st = policy.statements[i];
    auto add = [&](const std::string& action, const std::string& role) {
      for (const auto& resource : st.resources) {
        for (const auto& project : st.projects) {
          out.push_back(
              Grant{st.effect, action, resource, project, policy.id, i, role});
        }
      }
    };
    for (const auto& action : st.actions) add(action, "");
    if (!st.role.empty()) {
      if (auto it = state.roles.find(st.role); it != state.roles.end()) {
        for (const auto& action : it->second.actions) add(action, st.role);
      }
    }
  }
}

// Grants per policy, computed once per compiled form.
class GrantCache {
 public:
  const std::vector<Grant>& Of(const IamState& state,
                               const PolicyRefs::Ref& ref) {
    auto [it, inserted] = cache_.try_emplace(ref.policy.get());
    if (inserted) {
      keep_.push_back(ref.policy);
      if (auto p = state.policies.find(ref.id); p != state.policies.end()) {
        AppendPolicyGrants(state, p->second, it->second);
      }
    }
    return it->second;
  }

 private:
  std::unordered_map<const CompiledPolicy*, std::vector<Grant>> cache_;
  std::vector<std::shared_ptr<const CompiledPolicy>> keep_;
};

std::vector<Grant> GrantsFrom(const IamState& state, Micros at,
                              std::string_view subject,
                              const std::vector<const PolicyRefs::Ref*>& refs,
                              GrantCache& cache) {
  std::vector<Grant> out;
  if (!TokenUnusable(state, subject, at).empty()) return out;
  for (const auto* ref : refs) {
    const auto& g = cache.Of(state, *ref);
    out.insert(out.end(), g.begin(), g.end());
  }
  // By key; the first provenance (policy id order, then statement order)
  // of each tuple is kept.
  std::stable_sort(out.begin(), out.end(), KeyLess);
  out.erase(std::unique(out.begin(), out.end(),
                        [](const Grant& a, const Grant& b) {
                          return KeyOf(a) == KeyOf(b);
                        }),
            out.end());
  return out;
}

// Whether `subject` has exactly the same contributing policies (same
// compiled forms) and authentication status in both states.
bool SameSources(const IamState& from, Micros from_time, const IamState& to,
                 Micros to_time, std::string_view subject,
                 const std::vector<const PolicyRefs::Ref*>& a,
                 const std::vector<const PolicyRefs::Ref*>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i]->policy != b[i]->policy) return false;
  }
  return TokenUnusable(from, subject, from_time).empty() ==
         TokenUnusable(to, subject, to_time).empty();
}

}  // namespace

std::string_view EffectName(Effect effect) {
  return effect == Effect::kAllow ? "ALLOW" : "DENY";
}

std::string TokenUnusable(const IamState& state, std::string_view subject,
                          Micros at) {
  const std::string_view id = TokenIdOf(subject);
  if (id.empty()) return "";
  auto it = state.tokens.find(std::string(id));
  if (it == state.tokens.end()) {
    return "token " + Quoted(id) + " does not exist";
  }
  if (!it->second.active) return "token " + Quoted(id) + " is inactive";
  if (!TokenUsableAt(it->second, at)) {
    return "token " + Quoted(id) + " expired at " +
           FormatRfc3339(it->second.expires_at);
  }
  return "";
}

CheckResult Check(const IamState& state, const CheckQuery& query) {
  CheckResult out;
  out.note = TokenUnusable(state, query.subject, query.at);
  if (!out.note.empty()) return out;
  ExplainedDecision d = AuthorizeExplained(
      state,
      RequestFor(query.subject, query.action, query.resource, query.projects));
  out.allowed = d.decision.allowed;
  out.reasons = std::move(d.reasons);
  return out;
}

WhoResult Who(const IamState& state, std::string_view action,
              std::string_view resource, const StringList& projects,
              Micros at) {
  // Each distinct subject is decided once, and subjects that the same
  // policies name (the same exact-member entry, compiled forms included,
  // and the same wildcard members) share one decision: the evaluator looks
  // at nothing else. Only the reasons' `member` differs, and it is found
  // again per subject exactly as AuthorizeExplained finds it (the first
  // member of the policy that matches).
  std::map<std::string, std::vector<DecidingStatement>> allowed;  // subject
  std::map<std::vector<const void*>, ExplainedDecision> by_sources;
  auto member_for = [&](const std::string& policy_id,
                        const std::string& subject) -> std::string {
    const Policy* source = nullptr;
    if (auto it = state.policies.find(policy_id); it != state.policies.end()) {
      source = &it->second;
    } else {
      for (const Policy& sp : SystemPolicies()) {
        if (sp.id == policy_id) source = &sp;
      }
    }
    if (source != nullptr) {
      for (const auto& m : source->members) {
        if (MemberMatches(m, subject)) return m;
      }
    }
    return "";
  };
  auto decide = [&](const std::string& subject) {
    if (allowed.contains(subject)) return;
    if (subject == kLocalAdminSubject) {  // named by a system policy
      ExplainedDecision d = AuthorizeExplained(
          state, RequestFor(subject, action, resource, projects));
      if (d.decision.allowed) allowed.emplace(subject, std::move(d.reasons));
      return;
    }
    std::vector<const void*> key;
    if (auto it = state.policies_by_member.find(subject);
        it != state.policies_by_member.end()) {
      for (const auto& ref : it->second) key.push_back(ref.policy.get());
    }
    key.push_back(nullptr);  // exact entries, then wildcard members
    for (const auto& [member, refs] : state.policies_by_wildcard_member) {
      if (MemberMatches(member, subject)) key.push_back(&refs);
    }
    auto [it, fresh] = by_sources.try_emplace(std::move(key));
    if (fresh) {
      it->second = AuthorizeExplained(
          state, RequestFor(subject, action, resource, projects));
    }
    if (!it->second.decision.allowed) return;
    std::vector<DecidingStatement> reasons = it->second.reasons;
    if (!fresh) {
      for (auto& r : reasons) r.member = member_for(r.policy_id, subject);
    }
    allowed.emplace(subject, std::move(reasons));
  };
  std::set<std::string> members;
  for (const auto& [member, refs] : state.policies_by_member) {
    members.insert(member);
  }
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    members.insert(member);
  }
  for (const Policy& p : SystemPolicies()) {
    for (const auto& m : p.members) members.insert(m);
  }
  WhoResult out;
  for (const auto& m : members) {
    decide(m);
    if (auto it = allowed.find(m); it != allowed.end()) {
      out.members.push_back(WhoEntry{m, it->second});
    }
  }
  for (const auto& [id, token] : state.tokens) {
    if (!TokenUsableAt(token, at)) continue;
    std::string subject = std::string(kTokenPrefix) + id;
    decide(subject);
    if (auto it = allowed.find(subject); it != allowed.end()) {
      out.tokens.push_back(WhoEntry{std::move(subject), it->second});
    }
  }
  return out;
}

std::vector<Grant> GrantsOf(const IamState& state, std::string_view subject,
                            Micros at) {
  GrantCache cache;
  return GrantsFrom(state, at, subject, PoliciesOf(state, subject), cache);
}

std::vector<SubjectDiff> Diff(const IamState& from, Micros from_time,
                              const IamState& to, Micros to_time,
                              const StreamSeqs& seqs,
                              std::string_view only_subject) {
  std::set<std::string> subjects;
  if (!only_subject.empty()) {
    subjects.emplace(only_subject);
  } else {
    for (const IamState* s : {&from, &to}) {
      for (const auto& [m, refs] : s->policies_by_member) subjects.insert(m);
      for (const auto& [m, refs] : s->policies_by_wildcard_member) {
        subjects.insert(m);
      }
      for (const auto& [id, token] : s->tokens) {
        subjects.insert(std::string(kTokenPrefix) + id);
      }
    }
  }
  GrantCache from_cache, to_cache;
  std::unordered_map<std::string, std::vector<uint64_t>> stream_seqs;
  auto seqs_of = [&](const std::string& stream) -> const auto& {
    auto [it, inserted] = stream_seqs.try_emplace(stream);
    if (inserted) it->second = seqs(stream);
    return it->second;
  };
  auto change = [&](const std::string& subject, const Grant& g) {
    GrantChange c{g, {}};
    std::vector<std::string> streams = {"policy/" + g.policy_id};
    if (!g.role.empty()) streams.push_back("role/" + g.role);
    if (const auto id = TokenIdOf(subject); !id.empty()) {
      streams.push_back("token/" + std::string(id));
    }
    for (const auto& s : streams) {
      const auto& v = seqs_of(s);
      c.seqs.insert(c.seqs.end(), v.begin(), v.end());
    }
    std::sort(c.seqs.begin(), c.seqs.end());
    c.seqs.erase(std::unique(c.seqs.begin(), c.seqs.end()), c.seqs.end());
    return c;
  };
  std::vector<SubjectDiff> out;
  for (const auto& subject : subjects) {
    const auto a = PoliciesOf(from, subject);
    const auto b = PoliciesOf(to, subject);
    if (SameSources(from, from_time, to, to_time, subject, a, b)) continue;
    const auto before = GrantsFrom(from, from_time, subject, a, from_cache);
    const auto after = GrantsFrom(to, to_time, subject, b, to_cache);
    SubjectDiff d;
    d.subject = subject;
    size_t i = 0, j = 0;
    while (i < before.size() || j < after.size()) {
      if (j == after.size() ||
          (i < before.size() && KeyLess(before[i], after[j]))) {
        d.lost.push_back(change(subject, before[i++]));
      } else if (i == before.size() || KeyLess(after[j], before[i])) {
        d.gained.push_back(change(subject, after[j++]));
      } else {
        ++i, ++j;
      }
    }
    if (!d.gained.empty() || !d.lost.empty()) out.push_back(std::move(d));
  }
  return out;
}

}  // namespace iam::audit
