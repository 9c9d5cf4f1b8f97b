#include "core/audit.h"

#include <algorithm>
#include <cstdint>
#include <deque>
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

// TokenUnusable(state, subject, at).empty(), without the sentence.
bool Usable(const IamState& state, std::string_view subject, Micros at) {
  const std::string_view id = TokenIdOf(subject);
  if (id.empty()) return true;
  auto it = state.tokens.find(std::string(id));
  return it != state.tokens.end() && it->second.active &&
         TokenUsableAt(it->second, at);
}

std::vector<Grant> GrantsFrom(const IamState& state, Micros at,
                              std::string_view subject,
                              const std::vector<const PolicyRefs::Ref*>& refs,
                              GrantCache& cache) {
  std::vector<Grant> out;
  if (!Usable(state, subject, at)) return out;
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
  return Usable(from, subject, from_time) == Usable(to, subject, to_time);
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

namespace {

struct PointersHash {
  size_t operator()(const std::vector<const void*>& v) const {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ v.size();
    for (const void* p : v) {
      h ^= reinterpret_cast<uintptr_t>(p);
      h *= 0xd6e8feb86659fd93ULL;
      h ^= h >> 32;
    }
    return static_cast<size_t>(h);
  }
};

}  // namespace

namespace {

// A member expression and its entry of the exact member index (null: none).
using MemberEntry = std::pair<std::string_view, const PolicyRefs*>;

// Sorts `v` by member and dedups it (byte order, as std::sort on
// string_views does), keeping an entry's index pointer if any duplicate has
// one. The views point into a hash map's keys, scattered in memory:
// comparing them directly cost a cache miss per comparison (6% of a `who`
// over 100,000 token members), so each is sorted by its first 16 bytes held
// inline, and only ties on those look at the bytes.
void SortUnique(std::vector<MemberEntry>& v) {
  struct Keyed {
    uint64_t k0, k1;  // bytes 0-7 and 8-15, big-endian, zero-padded
    MemberEntry e;
  };
  auto word = [](std::string_view s, size_t at) {
    uint64_t w = 0;
    for (size_t i = 0; i < 8; ++i) {
      w <<= 8;
      if (at + i < s.size()) w |= static_cast<unsigned char>(s[at + i]);
    }
    return w;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(v.size());
  for (const MemberEntry& e : v) {
    keyed.push_back({word(e.first, 0), word(e.first, 8), e});
  }
  std::sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    if (a.k0 != b.k0) return a.k0 < b.k0;
    if (a.k1 != b.k1) return a.k1 < b.k1;
    return a.e.first < b.e.first;
  });
  v.clear();
  for (const Keyed& k : keyed) {
    if (v.empty() || v.back().first != k.e.first) {
      v.push_back(k.e);
    } else if (v.back().second == nullptr) {
      v.back().second = k.e.second;
    }
  }
}

}  // namespace

void ForEachWho(const IamState& state, std::string_view action,
                std::string_view resource, const StringList& projects,
                Micros at, const WhoVisit& visit) {
  // Subjects that the same policies name (the same compiled forms through
  // their exact-member entry, and the same wildcard members) share one
  // decision: the evaluator looks at nothing else. Only the reasons'
  // `member` differs, and it is found again per subject exactly as
  // AuthorizeExplained finds it (the first member of the policy that
  // matches).
  struct Decided {
    std::string subject;  // the one it was decided for
    ExplainedDecision decision;
  };
  std::unordered_map<std::vector<const void*>, Decided, PointersHash>
      by_sources;
  // The policies named by reasons, each with its wildcard members (index in
  // its list, member) in list order: the member a reason names for a
  // subject is the first of the policy's members matching it, and only the
  // subject itself or a wildcard can (MemberMatches), so it is found
  // without scanning a list of perhaps 100,000s of exact members.
  struct Source {
    const Policy* policy = nullptr;
    bool stored = false;  // in state.policies (its exact members indexed)
    std::vector<std::pair<size_t, std::string_view>> wildcards;
  };
  std::unordered_map<std::string_view, Source> sources;
  auto source_of = [&](const std::string& policy_id) -> const Source& {
    auto [it, fresh] = sources.try_emplace(policy_id);
    if (fresh) {
      Source& src = it->second;
      if (auto p = state.policies.find(policy_id); p != state.policies.end()) {
        src.policy = &p->second;
        src.stored = true;
      } else {
        for (const Policy& sp : SystemPolicies()) {
          if (sp.id == policy_id) src.policy = &sp;
        }
      }
      if (src.policy != nullptr) {
        const StringList& ms = src.policy->members;
        for (size_t i = 0; i < ms.size(); ++i) {
          if (IsWildcardMember(ms[i])) src.wildcards.emplace_back(i, ms[i]);
        }
      }
    }
    return it->second;
  };
  // The first member of `src`'s policy matching `subject` ("" when none);
  // `exact` is subject's entry of the exact member index (or null).
  auto first_match = [](const Source& src, std::string_view subject,
                        const PolicyRefs* exact) -> std::string_view {
    if (src.policy == nullptr) return {};
    const StringList& ms = src.policy->members;
    if (!src.stored) {  // a system policy: a short list, scanned
      for (const auto& m : ms) {
        if (MemberMatches(m, subject)) return m;
      }
      return {};
    }
    const bool named = exact != nullptr && exact->contains(src.policy->id);
    for (const auto& [i, m] : src.wildcards) {
      if (!MemberMatches(m, subject)) continue;
      if (named) {  // the subject itself, if it comes first
        for (size_t j = 0; j < i; ++j) {
          if (ms[j] == subject) return ms[j];
        }
      }
      return m;
    }
    return named ? subject : std::string_view();
  };
  // The wildcard member index as a flat list: it is walked for every
  // subject.
  std::vector<std::pair<std::string_view, const PolicyRefs*>> wildcard_index;
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    wildcard_index.emplace_back(member, &refs);
  }
  std::vector<const void*> key;
  std::vector<DecidingStatement> reasons;  // reused for every subject
  ExplainedDecision local;                 // the subject named by the system
  // The decision of `subject` (the evaluator's, or a shared one), with
  // `reasons` set for it when allowed.
  // `exact` is subject's entry of the exact member index (null: none).
  auto decide = [&](std::string_view subject, const PolicyRefs* exact) -> bool {
    const ExplainedDecision* d = nullptr;
    const std::string* decided_for = nullptr;
    if (subject == kLocalAdminSubject) {  // named by a system policy
      local = AuthorizeExplained(
          state, RequestFor(std::string(subject), action, resource, projects));
      d = &local;
    } else {
      key.clear();
      if (exact != nullptr) {
        for (const auto& ref : *exact) key.push_back(ref.policy.get());
      }
      key.push_back(nullptr);  // exact entries, then wildcard members
      for (const auto& [member, refs] : wildcard_index) {
        if (MemberMatches(member, subject)) key.push_back(refs);
      }
      auto [it, fresh] = by_sources.try_emplace(key);
      if (fresh) {
        it->second.subject = std::string(subject);
        it->second.decision = AuthorizeExplained(
            state,
            RequestFor(std::string(subject), action, resource, projects));
      }
      d = &it->second.decision;
      decided_for = &it->second.subject;
    }
    if (!d->decision.allowed) return false;
    reasons.resize(d->reasons.size());
    for (size_t i = 0; i < reasons.size(); ++i) {
      const DecidingStatement& r = d->reasons[i];
      DecidingStatement& out = reasons[i];
      out.policy_id = r.policy_id;
      out.statement = r.statement;
      out.effect = r.effect;
      out.role = r.role;
      if (decided_for == nullptr || *decided_for == subject) {
        out.member = r.member;
        continue;
      }
      out.member = first_match(source_of(r.policy_id), subject, exact);
    }
    return true;
  };
  // Every member expression, with its exact index entry at hand (not
  // looked up again: a miss per member).
  std::vector<MemberEntry> members;
  members.reserve(state.policies_by_member.size() +
                  state.policies_by_wildcard_member.size());
  for (const auto& [member, refs] : state.policies_by_member) {
    members.emplace_back(member, &refs);
  }
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    members.emplace_back(member, nullptr);
  }
  for (const Policy& p : SystemPolicies()) {
    for (const auto& m : p.members) members.emplace_back(m, nullptr);
  }
  SortUnique(members);
  // The member expressions starting with "token:", ascending (as the
  // tokens' subjects are: "token:" + id in id order), with the index of
  // their visit (kNotShared: not allowed).
  std::vector<std::pair<std::string_view, size_t>> token_members;
  size_t visits = 0;
  for (const auto& [m, exact] : members) {
    const bool allowed = decide(m, exact);
    if (m.starts_with(kTokenPrefix)) {
      token_members.emplace_back(m, allowed ? visits : kNotShared);
    }
    if (allowed) visit(/*token=*/false, m, reasons, kNotShared), ++visits;
  }
  const std::vector<DecidingStatement> none;
  auto next = token_members.begin();
  std::string subject(kTokenPrefix);
  for (const auto& [id, token] : state.tokens) {
    if (!TokenUsableAt(token, at)) continue;
    subject.resize(kTokenPrefix.size());
    subject += id;
    // The same subject string decides the same way: that visit's answer.
    while (next != token_members.end() && next->first < subject) ++next;
    if (next != token_members.end() && next->first == subject) {
      if (next->second != kNotShared) {
        visit(/*token=*/true, subject, none, next->second);
      }
      continue;
    }
    // Not a member expression: the exact index does not name it.
    if (decide(subject, nullptr)) {
      visit(/*token=*/true, subject, reasons, kNotShared);
    }
  }
}

WhoResult Who(const IamState& state, std::string_view action,
              std::string_view resource, const StringList& projects,
              Micros at) {
  WhoResult out;
  ForEachWho(
      state, action, resource, projects, at,
      [&](bool token, std::string_view subject,
          const std::vector<DecidingStatement>& reasons, size_t same_as) {
        (token ? out.tokens : out.members)
            .push_back(WhoEntry{std::string(subject),
                                same_as == kNotShared
                                    ? reasons
                                    : out.members[same_as].reasons});
      });
  return out;
}

std::vector<Grant> GrantsOf(const IamState& state, std::string_view subject,
                            Micros at) {
  GrantCache cache;
  return GrantsFrom(state, at, subject, PoliciesOf(state, subject), cache);
}

namespace {

// A subject's grants in one state by the policies contributing them: the
// merged list (GrantsFrom's order and provenance) computed once per set of
// compiled forms, as pointers into a GrantCache. Subjects named by the same
// policies (most tokens) share one list.
class MergedGrants {
 public:
  using List = std::vector<const Grant*>;
  MergedGrants(const IamState& state) : state_(state) {}

  const List& Of(const std::vector<const PolicyRefs::Ref*>& refs) {
    key_.clear();
    for (const auto* ref : refs) key_.push_back(ref->policy.get());
    auto [it, inserted] = lists_.try_emplace(key_);
    if (inserted) {
      List& out = it->second;
      for (const auto* ref : refs) {
        for (const Grant& g : cache_.Of(state_, *ref)) out.push_back(&g);
      }
      std::stable_sort(
          out.begin(), out.end(),
          [](const Grant* a, const Grant* b) { return KeyLess(*a, *b); });
      out.erase(std::unique(out.begin(), out.end(),
                            [](const Grant* a, const Grant* b) {
                              return KeyOf(*a) == KeyOf(*b);
                            }),
                out.end());
    }
    return it->second;
  }
  static const List& None() {
    static const List* none = new List;
    return *none;
  }

 private:
  const IamState& state_;
  GrantCache cache_;  // its vectors never move once filled
  std::vector<const CompiledPolicy*> key_;
  std::map<std::vector<const CompiledPolicy*>, List> lists_;
};

// The events of the streams between the two points, as the seqs of grant
// changes: a policy's stream split into the events every subject shares
// and its member changes by the member they name.
class CauseIndex {
 public:
  CauseIndex(const StreamSeqs& seqs, const MemberChanges& members)
      : seqs_(seqs), members_(members) {}

  const std::vector<uint64_t>& Stream(const std::string& stream) {
    auto [it, inserted] = streams_.try_emplace(stream);
    if (inserted) it->second = seqs_(stream);
    return it->second;
  }
  // Stream("<kind>/<id>"), looked up by id.
  const std::vector<uint64_t>& Object(std::string_view kind,
                                      std::string_view id) {
    auto& by_id = objects_[kind];
    auto it = by_id.find(id);
    if (it == by_id.end()) {
      std::string stream(kind);
      stream += '/';
      stream += id;
      it = by_id.emplace(std::string(id), &Stream(stream)).first;
    }
    return *it->second;
  }

  // The seqs of `policy_id`'s stream that bear on `subject`, appended.
  void AppendPolicy(const std::string& policy_id, const std::string& subject,
                    std::vector<uint64_t>& out) {
    auto [it, inserted] = policies_.try_emplace(policy_id);
    Split& split = it->second;
    if (inserted) {
      for (uint64_t seq : Stream("policy/" + policy_id)) {
        const StringList* named = members_ ? members_(seq) : nullptr;
        if (named == nullptr) {
          split.shared.push_back(seq);
          continue;
        }
        bool wild = false;
        for (const auto& m : *named) wild = wild || IsWildcardMember(m);
        if (wild) {
          split.wild.emplace_back(seq, named);
        } else {
          for (const auto& m : *named) split.exact[m].push_back(seq);
        }
      }
    }
    out.insert(out.end(), split.shared.begin(), split.shared.end());
    if (auto e = split.exact.find(subject); e != split.exact.end()) {
      out.insert(out.end(), e->second.begin(), e->second.end());
    }
    for (const auto& [seq, named] : split.wild) {
      for (const auto& m : *named) {
        if (MemberMatches(m, subject)) {
          out.push_back(seq);
          break;
        }
      }
    }
  }

 private:
  struct Split {
    std::vector<uint64_t> shared;  // every event but member changes
    std::unordered_map<std::string, std::vector<uint64_t>> exact;
    std::vector<std::pair<uint64_t, const StringList*>> wild;
  };
  const StreamSeqs& seqs_;
  const MemberChanges& members_;
  std::unordered_map<std::string, std::vector<uint64_t>> streams_;
  std::map<std::string_view,
           std::map<std::string, const std::vector<uint64_t>*, std::less<>>>
      objects_;
  std::unordered_map<std::string, Split> policies_;
};

}  // namespace

void ForEachDiff(const IamState& from, Micros from_time, const IamState& to,
                 Micros to_time, const StreamSeqs& seqs,
                 const MemberChanges& member_changes,
                 std::string_view only_subject, const DiffVisit& visit) {
  // Every subject of either state, ascending, once: views of the states'
  // member keys and of the tokens' subjects ("token:<id>", written once into
  // one buffer that never moves), sorted by SortUnique's inline keys rather
  // than as 400,000 strings of their own.
  std::vector<MemberEntry> subjects;
  std::string token_subjects;
  if (!only_subject.empty()) {
    subjects.emplace_back(only_subject, nullptr);
  } else {
    size_t bytes = 0, count = 0;
    for (const IamState* s : {&from, &to}) {
      for (const auto& [id, token] : s->tokens) {
        bytes += kTokenPrefix.size() + id.size();
      }
      count += s->policies_by_member.size() +
               s->policies_by_wildcard_member.size() + s->tokens.size();
    }
    token_subjects.reserve(bytes);
    subjects.reserve(count);
    for (const IamState* s : {&from, &to}) {
      for (const auto& [m, refs] : s->policies_by_member) {
        subjects.emplace_back(m, nullptr);
      }
      for (const auto& [m, refs] : s->policies_by_wildcard_member) {
        subjects.emplace_back(m, nullptr);
      }
      for (const auto& [id, token] : s->tokens) {
        const size_t at = token_subjects.size();
        token_subjects += kTokenPrefix;
        token_subjects += id;  // within the reserve: the views stay valid
        subjects.emplace_back(std::string_view(token_subjects).substr(at),
                              nullptr);
      }
    }
    SortUnique(subjects);
  }
  MergedGrants before_lists(from), after_lists(to);
  // The grants gained and lost between two merged lists, once per pair.
  struct Changes {
    std::vector<const Grant*> gained, lost;
  };
  std::map<std::pair<const void*, const void*>, Changes> changes_of;
  CauseIndex causes(seqs, member_changes);
  // Per subject: the seqs of each (policy, role) provenance (a subject's
  // grants come from a few), in slots reused from subject to subject.
  struct Provenance {
    std::string_view policy_id, role;
    std::vector<uint64_t> seqs;
  };
  std::deque<Provenance> provenances;  // the seqs never move
  size_t used = 0;
  const std::vector<uint64_t>* token_seqs = nullptr;
  std::vector<GrantChangeRef> gained, lost;
  auto refs_of = [&](const std::string& subject, const Grant* g) {
    for (size_t i = 0; i < used; ++i) {
      if (provenances[i].policy_id == g->policy_id &&
          provenances[i].role == g->role) {
        return GrantChangeRef{g, &provenances[i].seqs};
      }
    }
    if (used == provenances.size()) provenances.emplace_back();
    Provenance& p = provenances[used++];
    p.policy_id = g->policy_id;
    p.role = g->role;
    std::vector<uint64_t>& v = p.seqs;
    v.clear();
    causes.AppendPolicy(g->policy_id, subject, v);
    if (!g->role.empty()) {
      const auto& r = causes.Object("role", g->role);
      v.insert(v.end(), r.begin(), r.end());
    }
    if (token_seqs != nullptr) {
      v.insert(v.end(), token_seqs->begin(), token_seqs->end());
    }
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return GrantChangeRef{g, &v};
  };
  std::string subject;  // the one visited
  for (const auto& [view, unused] : subjects) {
    const auto a = PoliciesOf(from, view);
    const auto b = PoliciesOf(to, view);
    if (SameSources(from, from_time, to, to_time, view, a, b)) continue;
    const auto& before = Usable(from, view, from_time) ? before_lists.Of(a)
                                                       : MergedGrants::None();
    const auto& after =
        Usable(to, view, to_time) ? after_lists.Of(b) : MergedGrants::None();
    auto [it, fresh] = changes_of.try_emplace({&before, &after});
    Changes& c = it->second;
    if (fresh) {
      size_t i = 0, j = 0;
      while (i < before.size() || j < after.size()) {
        if (j == after.size() ||
            (i < before.size() && KeyLess(*before[i], *after[j]))) {
          c.lost.push_back(before[i++]);
        } else if (i == before.size() || KeyLess(*after[j], *before[i])) {
          c.gained.push_back(after[j++]);
        } else {
          ++i, ++j;
        }
      }
    }
    if (c.gained.empty() && c.lost.empty()) continue;
    subject.assign(view);
    used = 0;
    const std::string_view token_id = TokenIdOf(subject);
    token_seqs = token_id.empty() ? nullptr : &causes.Object("token", token_id);
    gained.clear();
    lost.clear();
    for (const Grant* g : c.gained) gained.push_back(refs_of(subject, g));
    for (const Grant* g : c.lost) lost.push_back(refs_of(subject, g));
    visit(subject, gained, lost);
  }
}

std::vector<SubjectDiff> Diff(const IamState& from, Micros from_time,
                              const IamState& to, Micros to_time,
                              const StreamSeqs& seqs,
                              std::string_view only_subject,
                              const MemberChanges& member_changes) {
  std::vector<SubjectDiff> out;
  ForEachDiff(
      from, from_time, to, to_time, seqs, member_changes, only_subject,
      [&](const std::string& subject, const std::vector<GrantChangeRef>& gained,
          const std::vector<GrantChangeRef>& lost) {
        SubjectDiff d;
        d.subject = subject;
        for (const auto& c : gained) {
          d.gained.push_back(GrantChange{*c.grant, *c.seqs});
        }
        for (const auto& c : lost) {
          d.lost.push_back(GrantChange{*c.grant, *c.seqs});
        }
        out.push_back(std::move(d));
      });
  return out;
}

}  // namespace iam::audit
