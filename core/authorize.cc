#include "core/authorize.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/defaults.h"
#include "core/ids.h"

namespace iam {

namespace {

// ---- action patterns, hashed ------------------------------------------------
//
// A requested action without "*" that has three segments svc:type:verb is
// matched (ActionMatches) exactly by the patterns equal to one of
//   "svc:type:verb", "*", "svc:*", "svc:type:*", "svc:*:verb", "*:verb",
// and one with another number of segments only by itself and "*". So each
// stored pattern gets a kind (which of these forms it has) and a hash of the
// segments that form compares, computed once when the policy is compiled;
// a query computes the same hash per kind once, and a pattern can match only
// when its hash equals the query's for its kind. Equal hashes are then
// confirmed on the strings, so hashing only skips work: every match found is
// one ActionMatches finds, and the other way round.

enum PatternKind : uint8_t {
  kExact = 0,    // no "*": equal to the action
  kAny = 1,      // "*"
  kService = 2,  // "svc:*"
  kVerb = 3,     // "*:verb"
  kSvcType = 4,  // "svc:type:*"
  kSvcVerb = 5,  // "svc:*:verb"
  kNever = 6,    // has a "*" but none of the forms: matches no such action
  kKinds = 7,
};

uint64_t Mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  return x;
}

uint64_t HashBytes(std::string_view s) {
  uint64_t h = 0x9e3779b97f4a7c15ULL ^ s.size();
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = Mix(h ^ w);
  }
  // The last 0..7 bytes, without a variable-length copy.
  const char* q = s.data() + i;
  const size_t r = s.size() - i;
  uint64_t w = 0;
  if (r >= 4) {
    uint32_t lo, hi;
    std::memcpy(&lo, q, 4);
    std::memcpy(&hi, q + r - 4, 4);
    w = (uint64_t{hi} << 32) | lo;
  } else if (r > 0) {
    w = (uint64_t{static_cast<unsigned char>(q[0])} << 16) |
        (uint64_t{static_cast<unsigned char>(q[r / 2])} << 8) |
        static_cast<unsigned char>(q[r - 1]);
  }
  return Mix(h ^ w ^ 0x5bd1e9955bd1e995ULL);
}

uint64_t Combine(PatternKind kind, uint64_t a, uint64_t b = 0) {
  return Mix(a * 0x9e3779b97f4a7c15ULL ^ ((b << 23) | (b >> 41)) ^
             (uint64_t{kind} << 56));
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

bool HasStar(std::string_view s) {
  return s.find('*') != std::string_view::npos;
}

// Byte equality of short strings without a call to memcmp (ids, actions
// and project names are a few dozen bytes at most).
inline bool SameBytes(const char* a, const char* b, size_t n) {
  for (; n >= 8; a += 8, b += 8, n -= 8) {
    uint64_t x, y;
    std::memcpy(&x, a, 8);
    std::memcpy(&y, b, 8);
    if (x != y) return false;
  }
  if (n >= 4) {
    uint32_t x, y, x2, y2;
    std::memcpy(&x, a, 4);
    std::memcpy(&y, b, 4);
    std::memcpy(&x2, a + n - 4, 4);
    std::memcpy(&y2, b + n - 4, 4);
    return x == y && x2 == y2;
  }
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}
inline bool Eq(std::string_view a, std::string_view b) {
  return a.size() == b.size() && SameBytes(a.data(), b.data(), a.size());
}
inline bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() &&
         SameBytes(s.data(), prefix.data(), prefix.size());
}

// The kind and hash of a stored pattern (see above).
std::pair<PatternKind, uint64_t> Classify(std::string_view pattern) {
  if (!HasStar(pattern)) return {kExact, HashBytes(pattern)};
  if (pattern == "*") return {kAny, 0};
  std::string_view p[3];
  const int n = SplitAction(pattern, p);
  if (n == 2) {
    if (p[1] == "*" && !HasStar(p[0])) {
      return {kService, Combine(kService, HashBytes(p[0]))};
    }
    if (p[0] == "*" && !HasStar(p[1])) {
      return {kVerb, Combine(kVerb, HashBytes(p[1]))};
    }
  } else if (n == 3) {
    if (p[2] == "*" && !HasStar(p[0]) && !HasStar(p[1])) {
      return {kSvcType, Combine(kSvcType, HashBytes(p[0]), HashBytes(p[1]))};
    }
    if (p[1] == "*" && !HasStar(p[0]) && !HasStar(p[2])) {
      return {kSvcVerb, Combine(kSvcVerb, HashBytes(p[0]), HashBytes(p[2]))};
    }
  }
  return {kNever, 0};
}

}  // namespace

namespace {

// Bump allocation inside one block of memory sized beforehand.
class BlockWriter {
 public:
  explicit BlockWriter(size_t bytes)
      : base_(static_cast<char*>(::operator new(bytes))),
        next_(base_),
        end_(base_ + bytes) {}
  char* base() const { return base_; }
  template <typename T>
  T* Take(size_t n) {
    next_ = base_ + ((next_ - base_ + alignof(T) - 1) & ~(alignof(T) - 1));
    T* p = reinterpret_cast<T*>(next_);
    next_ += n * sizeof(T);
    if (next_ > end_) std::abort();  // the size computed beforehand is wrong
    return p;
  }
  // An upper bound of what Take<T>(n) uses.
  template <typename T>
  static size_t Bound(size_t n) {
    return n * sizeof(T) + alignof(T);
  }

 private:
  char* base_;
  char* next_;
  char* end_;
};

}  // namespace

// An action list compiled: each pattern's kind and hash (see above), in two
// dense arrays for the scan, and its text for the confirmation.
struct CompiledText {
  const char* data;
  uint32_t size;
  std::string_view view() const { return std::string_view(data, size); }
};
struct ActionList {
  uint32_t count = 0;
  const uint64_t* hashes = nullptr;
  const uint8_t* kinds = nullptr;
  const CompiledText* texts = nullptr;

  static size_t Bound(const StringList& actions) {
    size_t bytes = 0;
    for (const auto& a : actions) bytes += a.size();
    return BlockWriter::Bound<uint64_t>(actions.size()) +
           BlockWriter::Bound<uint8_t>(actions.size()) +
           BlockWriter::Bound<CompiledText>(actions.size()) + bytes;
  }
  static ActionList Write(BlockWriter& w, const StringList& actions) {
    ActionList l;
    l.count = static_cast<uint32_t>(actions.size());
    auto* hashes = w.Take<uint64_t>(actions.size());
    auto* kinds = w.Take<uint8_t>(actions.size());
    auto* texts = w.Take<CompiledText>(actions.size());
    for (size_t i = 0; i < actions.size(); ++i) {
      auto [kind, hash] = Classify(actions[i]);
      hashes[i] = hash;
      kinds[i] = kind;
      char* text = w.Take<char>(actions[i].size());
      std::memcpy(text, actions[i].data(), actions[i].size());
      texts[i] = CompiledText{text, static_cast<uint32_t>(actions[i].size())};
    }
    l.hashes = hashes;
    l.kinds = kinds;
    l.texts = texts;
    return l;
  }
};

// A role's actions (model.h), in one block. Shared by the compiled policies
// of every statement naming the role, so its patterns stay in cache and one
// query matches them once.
struct CompiledActions {
  ActionList list;
};

// A stored policy's statements as authorization evaluates them (model.h):
// a statement matches an action when one of its own patterns does or one of
// its role's (as the role was when the policy was compiled: Evolve compiles
// the policies naming a role again when it changes), and a resource when
// one of its resource patterns does.
//
// One allocation holds the whole policy (this header, the statements, then
// per statement its patterns, projects and resources with their bytes), so
// evaluating a policy touches a few adjacent cache lines.
struct CompiledPolicy {
  template <typename T>
  struct Span {
    const T* first = nullptr;
    uint32_t count = 0;
    const T* begin() const { return first; }
    const T* end() const { return first + count; }
    size_t size() const { return count; }
  };
  struct Project {
    uint64_t hash;  // ProjectIndex::Hash
    CompiledText id;
  };
  struct Stmt {
    Effect effect;
    bool any_resource;  // resources hold "*"
    bool all_projects;  // projects hold "*"
    ActionList actions;
    const CompiledActions* role;  // null: none, or the role does not exist
    CompiledText role_id;         // the statement's role as stored ("" none)
    Span<Project> projects;
    Span<CompiledText> resources;  // empty when any_resource

    bool Names(std::string_view project) const {
      for (const Project& p : projects) {
        if (Eq(p.id.view(), project)) return true;
      }
      return false;
    }
  };
  Span<Stmt> statements;
  CompiledText id;  // the policy's id (for the reasons of a decision)
  // Keeps the statements' roles alive.
  std::vector<std::shared_ptr<const CompiledActions>> roles;
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

std::shared_ptr<const CompiledActions> CompileActionsBlock(
    const StringList& actions) {
  BlockWriter w(BlockWriter::Bound<CompiledActions>(1) +
                ActionList::Bound(actions));
  auto* c = new (w.Take<CompiledActions>(1)) CompiledActions;
  c->list = ActionList::Write(w, actions);
  static_assert(std::is_trivially_destructible_v<CompiledActions>);
  return std::shared_ptr<const CompiledActions>(
      c, [](const CompiledActions* p) {
        ::operator delete(const_cast<CompiledActions*>(p));
      });
}

// `roles` null: roles are left out (the system policies have none).
std::shared_ptr<const CompiledPolicy> CompileToBlock(
    const Policy& policy, const CompiledRoles* roles) {
  using C = CompiledPolicy;
  const size_t n = policy.statements.size();
  size_t bound = BlockWriter::Bound<C>(1) + BlockWriter::Bound<C::Stmt>(n) +
                 policy.id.size();
  for (const Statement& st : policy.statements) {
    bound += st.role.size() + ActionList::Bound(st.actions) +
             BlockWriter::Bound<C::Project>(st.projects.size()) +
             BlockWriter::Bound<CompiledText>(st.resources.size());
    for (const auto& p : st.projects) bound += p.size();
    for (const auto& r : st.resources) bound += r.size();
  }
  BlockWriter w(bound);
  auto put_text = [&](std::string_view s) {
    char* text = w.Take<char>(s.size());
    std::memcpy(text, s.data(), s.size());
    return CompiledText{text, static_cast<uint32_t>(s.size())};
  };
  C* c = new (w.Take<C>(1)) C;
  C::Stmt* stmts = w.Take<C::Stmt>(n);
  c->statements = {stmts, static_cast<uint32_t>(n)};
  c->id = put_text(policy.id);
  for (size_t i = 0; i < n; ++i) {
    const Statement& st = policy.statements[i];
    C::Stmt* s = new (stmts + i) C::Stmt{};
    s->effect = st.effect;
    s->any_resource = Contains(st.resources, "*");
    s->all_projects = NamesAllProjects(st.projects);
    s->actions = ActionList::Write(w, st.actions);
    s->role = nullptr;
    s->role_id = put_text(st.role);
    if (!st.role.empty() && roles != nullptr) {
      if (auto role = roles->find(st.role); role != nullptr) {
        s->role = role.get();
        c->roles.push_back(std::move(role));
      }
    }
    C::Project* projects = w.Take<C::Project>(st.projects.size());
    for (size_t k = 0; k < st.projects.size(); ++k) {
      projects[k] = C::Project{ProjectIndex::Hash(st.projects[k]),
                               put_text(st.projects[k])};
    }
    s->projects = {projects, static_cast<uint32_t>(st.projects.size())};
    if (!s->any_resource) {
      CompiledText* resources = w.Take<CompiledText>(st.resources.size());
      for (size_t k = 0; k < st.resources.size(); ++k) {
        resources[k] = put_text(st.resources[k]);
      }
      s->resources = {resources, static_cast<uint32_t>(st.resources.size())};
    }
  }
  static_assert(std::is_trivially_destructible_v<C::Stmt>);
  return std::shared_ptr<const C>(c, [](const C* p) {
    p->~C();
    ::operator delete(const_cast<C*>(p));
  });
}

// The requested action of one query: split and hashed once, then matched
// against compiled patterns exactly as ActionMatches would.
class RequestedAction {
 public:
  explicit RequestedAction(std::string_view action) : full_(action) {
    literal_star_ = HasStar(action);
    three_ = SplitAction(action, seg_) == 3;
    // Kinds that cannot match get a hash no pattern of theirs has (kNever
    // patterns hash to 0; confirmation keeps any collision harmless).
    for (uint64_t& h : hash_) h = 1;
    hash_[kExact] = HashBytes(full_);
    hash_[kAny] = 0;
    if (three_ && !literal_star_) {
      const uint64_t svc = HashBytes(seg_[0]);
      const uint64_t verb = HashBytes(seg_[2]);
      hash_[kService] = Combine(kService, svc);
      hash_[kVerb] = Combine(kVerb, verb);
      hash_[kSvcType] = Combine(kSvcType, svc, HashBytes(seg_[1]));
      hash_[kSvcVerb] = Combine(kSvcVerb, svc, verb);
    }
  }

  bool MatchesAny(const ActionList& l) const {
    if (literal_star_) {  // rare: the literal rules
      for (uint32_t i = 0; i < l.count; ++i) {
        if (ActionMatches(l.texts[i].view(), full_)) return true;
      }
      return false;
    }
    for (uint32_t i = 0; i < l.count; ++i) {
      if (l.hashes[i] == hash_[l.kinds[i]] && Matches(l.texts[i].view())) {
        return true;
      }
    }
    return false;
  }

  // Forgets the roles matched so far (a new query).
  void ResetMemo() const { roles_seen_ = 0; }

  // MatchesAny of a role's actions, remembered per role for this query.
  bool MatchesRole(const CompiledActions* role) const {
    for (int i = 0; i < roles_seen_; ++i) {
      if (role_[i] == role) return role_matches_[i];
    }
    const bool matches = MatchesAny(role->list);
    if (roles_seen_ < kRoleMemo) {
      role_[roles_seen_] = role;
      role_matches_[roles_seen_++] = matches;
    }
    return matches;
  }

 private:
  // ActionMatches(p, full_) for an action without "*", on the unsplit
  // pattern.
  bool Matches(std::string_view p) const {
    // The action has no "*", so a pattern equal to it has none either (the
    // rules' first case), and every wildcard form differs from it.
    if (Eq(p, full_)) return true;
    if (p.size() == 1) return p[0] == '*';
    if (!three_) return false;  // wildcard forms need three segments
    // "svc:*", "svc:type:*" and "svc:*:verb": after "svc:" (segments hold
    // no ':', so this prefix is exactly the pattern's first segment) comes
    // "*", "type:*" or "*:verb".
    const std::string_view svc = seg_[0];
    if (p.size() > svc.size() && p[svc.size()] == ':' && StartsWith(p, svc)) {
      const std::string_view rest = p.substr(svc.size() + 1);
      if (rest.size() == 1) return rest[0] == '*';
      if (rest.size() == seg_[1].size() + 2 && rest[rest.size() - 2] == ':' &&
          rest.back() == '*' && StartsWith(rest, seg_[1])) {
        return true;
      }
      return IsStarVerb(rest);
    }
    return IsStarVerb(p);  // "*:verb"
  }

  // "*:" followed by the action's verb.
  bool IsStarVerb(std::string_view s) const {
    return s.size() == seg_[2].size() + 2 && s[0] == '*' && s[1] == ':' &&
           Eq(s.substr(2), seg_[2]);
  }

  std::string_view full_;
  std::string_view seg_[3];
  bool three_ = false;
  bool literal_star_ = false;
  uint64_t hash_[kKinds];
  static constexpr int kRoleMemo = 8;
  mutable int roles_seen_ = 0;
  mutable const CompiledActions* role_[kRoleMemo];
  mutable bool role_matches_[kRoleMemo];
};

// The RequestedAction of a query. Queries on a thread mostly ask for the
// same few actions, so the last one is kept, split and hashed. Queries never
// nest.
const RequestedAction& QueryAction(std::string_view action) {
  thread_local std::string text;
  thread_local std::optional<RequestedAction> last;
  if (!last.has_value() || !Eq(text, action)) {
    text.assign(action);
    last.emplace(text);  // views into `text`
  }
  last->ResetMemo();
  return *last;
}

// What the matching statements of one query grant, per effect. Statements
// point into the state or the system policies, so a Grants value is only
// valid while the state it was collected from is unchanged.
struct Grants {
  bool allow_all = false;  // a matching ALLOW names "*"
  bool deny_all = false;   // a matching DENY names "*"
  bool any_allow = false;  // some ALLOW matched (projects ignored)
  bool any_deny = false;   // some DENY matched (projects ignored)
  using Stmt = CompiledPolicy::Stmt;
  std::vector<const Stmt*> allow;  // other matching ALLOWs (their projects)
  std::vector<const Stmt*> deny;   // other matching DENYs (their projects)
  // DecideAllProjects' scratch: projects with their hashes at hand.
  std::vector<std::pair<uint64_t, const CompiledPolicy::Project*>> named;
  // When set (AuthorizeExplained), every matching statement is recorded
  // here with its policy, and none is skipped: the skips below only leave
  // out statements that cannot change the decision, so the decision is the
  // same either way.
  std::vector<std::pair<const CompiledPolicy*, const Stmt*>>* matched = nullptr;

  void Clear() {
    allow_all = deny_all = any_allow = any_deny = false;
    allow.clear();
    deny.clear();
    matched = nullptr;
  }
  static bool In(const std::vector<const Stmt*>& statements,
                 std::string_view project) {
    for (const Stmt* st : statements) {
      if (st->Names(project)) return true;
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

bool StatementMatches(const CompiledPolicy::Stmt& st, std::string_view resource,
                      const RequestedAction& action) {
  // Actions first: they reject most statements, and cheaply.
  if (!action.MatchesAny(st.actions) &&
      (st.role == nullptr || !action.MatchesRole(st.role))) {
    return false;
  }
  if (st.any_resource) return true;
  for (const auto& r : st.resources) {
    if (ResourceMatches(r.view(), resource)) return true;
  }
  return false;
}

// Folds the statements of `policy` that match (resource, action) into `g`.
// Returns false once nothing more can change the outcome (a DENY on every
// project matched), so the caller may stop.
bool CollectPolicy(const CompiledPolicy& policy, std::string_view resource,
                   const RequestedAction& action, Grants& g) {
  const bool explain = g.matched != nullptr;
  for (const CompiledPolicy::Stmt& st : policy.statements) {
    const bool allow = st.effect == Effect::kAllow;
    // A statement that cannot add anything is not evaluated.
    if (!explain && (allow ? g.allow_all : g.deny_all)) continue;
    if (!StatementMatches(st, resource, action)) continue;
    if (explain) g.matched->emplace_back(&policy, &st);
    if (allow) {
      g.any_allow = true;
      if (st.all_projects) {
        g.allow_all = true;
      } else {
        g.allow.push_back(&st);
      }
    } else {
      g.any_deny = true;
      if (st.all_projects) {
        g.deny_all = true;
        if (!explain) return false;
        continue;
      }
      g.deny.push_back(&st);
    }
  }
  return true;
}

// Calls visit(policy) for every stored policy with a member matching one of
// `subjects`, in the order of the indexes (ids ascending per member): exact
// members through policies_by_member, wildcard members through the (small)
// policies_by_wildcard_member. A policy may be visited more than once
// (evaluation is idempotent). Stops when visit returns false; returns false
// then. The candidates are gathered first, and their memory requested
// ahead, so that the cache misses of a query overlap.
template <typename Visit>
bool ForEachStoredCandidate(const IamState& state, const StringList& subjects,
                            Visit&& visit) {
  thread_local std::vector<const CompiledPolicy*> candidates;
  candidates.clear();
  auto gather = [&](const PolicyRefs& refs) {
    refs.ForEachPolicy([&](const CompiledPolicy& p) {
      // The policy's header and first statements, requested at once.
      __builtin_prefetch(&p);
      __builtin_prefetch(reinterpret_cast<const char*>(&p) + 64);
      __builtin_prefetch(reinterpret_cast<const char*>(&p) + 128);
      candidates.push_back(&p);
      return true;
    });
  };
  for (const auto& subject : subjects) {
    auto it = state.policies_by_member.find(subject);
    if (it != state.policies_by_member.end()) gather(it->second);
  }
  for (const auto& [member, refs] : state.policies_by_wildcard_member) {
    for (const auto& subject : subjects) {
      if (MemberMatches(member, subject)) {
        gather(refs);
        break;
      }
    }
  }
  for (const CompiledPolicy* p : candidates) {
    if (!visit(*p)) return false;
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
const std::vector<std::shared_ptr<const CompiledPolicy>>&
CompiledSystemPolicies() {
  static const auto* compiled = [] {
    auto* out = new std::vector<std::shared_ptr<const CompiledPolicy>>;
    for (const Policy& p : SystemPolicies()) {
      out->push_back(CompileToBlock(p, /*roles=*/nullptr));
    }
    return out;
  }();
  return *compiled;
}

// Collects the grants of every policy, system ones first (their DENY on all
// projects settles a query early), for (resource, action).
void Collect(const IamState& state, const StringList& subjects,
             std::string_view resource, std::string_view action_text,
             Grants& g) {
  const RequestedAction& action = QueryAction(action_text);
  const std::vector<Policy>& system = SystemPolicies();
  const auto& compiled = CompiledSystemPolicies();
  for (size_t i = 0; i < system.size(); ++i) {
    if (IsMemberOf(system[i], subjects) &&
        !CollectPolicy(*compiled[i], resource, action, g)) {
      return;
    }
  }
  ForEachStoredCandidate(state, subjects, [&](const CompiledPolicy& p) {
    return CollectPolicy(p, resource, action, g);
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
    auto& named = g.named;
    named.clear();
    for (const Grants::Stmt* st : g.allow) {
      for (const auto& p : st->projects) {
        bool seen = false;
        for (const auto& [hash, n] : named) {
          if (hash == p.hash && Eq(n->id.view(), p.id.view())) {
            seen = true;
            break;
          }
        }
        if (!seen) named.emplace_back(p.hash, &p);
      }
    }
    out.reserve(named.size());
    for (const auto& [hash, p] : named) {
      const std::string_view id = p->id.view();
      if (!Eq(id, kUnassignedProject) &&
          !state.project_index.contains(id, hash)) {
        continue;
      }
      if (!g.Denied(id)) out.emplace_back(id);
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
  if (Eq(member, subject) || member == "*") return true;
  if (member.size() >= 2 && member.ends_with(":*")) {
    return StartsWith(subject, member.substr(0, member.size() - 1));
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
  if (pattern == "*" || Eq(pattern, resource)) return true;
  if (pattern.size() >= 2 && pattern.ends_with(":*")) {
    return StartsWith(resource, pattern.substr(0, pattern.size() - 1));
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

ExplainedDecision AuthorizeExplained(const IamState& state,
                                     const AuthzRequest& request) {
  Grants& g = ScratchGrants();
  thread_local std::vector<
      std::pair<const CompiledPolicy*, const Grants::Stmt*>>
      matched;
  matched.clear();
  g.matched = &matched;
  Collect(state, request.subjects, request.resource, request.action, g);
  const bool header =
      request.has_projects_header && !request.projects_header.empty();
  ExplainedDecision out;
  out.decision = header ? DecideHeader(request.projects_header, g)
                        : DecideAllProjects(state, g);
  // The requested projects (§4.1), and the authorized ones.
  auto requested = [&](std::string_view p) {
    if (header) return Contains(request.projects_header, p);
    return p == kUnassignedProject || state.projects.contains(std::string(p));
  };
  const ProjectFilter& f = out.decision.filter;
  auto authorized = [&](std::string_view p) {
    return f.all ? requested(p) || p == kAllProjects : Contains(f.projects, p);
  };
  // Allowed: the ALLOWs granting an authorized project. Denied: the DENYs
  // removing a requested project (none when nothing allowed it at all).
  const Effect deciding = out.decision.allowed ? Effect::kAllow : Effect::kDeny;
  std::set<std::pair<const CompiledPolicy*, const Grants::Stmt*>> seen;
  for (const auto& [policy, st] : matched) {
    if (st->effect != deciding || !seen.emplace(policy, st).second) continue;
    bool relevant = st->all_projects;
    for (const auto& p : st->projects) {
      if (relevant) break;
      relevant = deciding == Effect::kAllow ? authorized(p.id.view())
                                            : requested(p.id.view());
    }
    if (!relevant) continue;
    DecidingStatement r;
    r.policy_id = std::string(policy->id.view());
    r.statement = static_cast<size_t>(st - policy->statements.begin());
    r.effect = st->effect;
    r.role = std::string(st->role_id.view());
    // The member that made the policy apply.
    const Policy* source = nullptr;
    if (auto it = state.policies.find(r.policy_id);
        it != state.policies.end()) {
      source = &it->second;
    } else {
      for (const Policy& sp : SystemPolicies()) {
        if (sp.id == r.policy_id) source = &sp;
      }
    }
    if (source != nullptr) {
      for (const auto& m : source->members) {
        for (const auto& subject : request.subjects) {
          if (r.member.empty() && MemberMatches(m, subject)) r.member = m;
        }
        if (!r.member.empty()) break;
      }
    }
    out.reasons.push_back(std::move(r));
  }
  matched.clear();
  return out;
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
      for (const auto* st : g.allow) {
        for (const auto& p : st->projects) AddUnique(owned.allow, p.id.view());
      }
    }
    for (const auto* st : g.deny) {
      for (const auto& p : st->projects) AddUnique(owned.deny, p.id.view());
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

std::shared_ptr<const CompiledPolicy> CompilePolicy(const Policy& policy,
                                                    const IamState& state) {
  return CompileToBlock(policy, &state.compiled_roles);
}

std::shared_ptr<const CompiledActions> CompileActions(
    const StringList& actions) {
  return CompileActionsBlock(actions);
}

StringList IntrospectProjects(const IamState& state,
                              const StringList& subjects) {
  bool all = false;
  std::set<std::string_view> named;
  ForEachStoredCandidate(state, subjects, [&](const CompiledPolicy& p) {
    for (const CompiledPolicy::Stmt& st : p.statements) {
      if (st.effect != Effect::kAllow) continue;
      for (const auto& project : st.projects) {
        if (project.id.view() == kAllProjects) {
          all = true;
          return false;  // nothing can add more
        }
        named.insert(project.id.view());
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
