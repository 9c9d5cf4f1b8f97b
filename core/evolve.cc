// Evolve (event -> state) and CanonicalEncoding, declared in core/model.h.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/model.h"

namespace iam {
namespace {

// The index entry of `member` (null: no policy names it).
const PolicyRefs* IndexOf(const IamState& state, std::string_view member) {
  if (IsWildcardMember(member)) {  // few: a std::map by std::string
    auto it = state.policies_by_wildcard_member.find(std::string(member));
    return it == state.policies_by_wildcard_member.end() ? nullptr
                                                         : &it->second;
  }
  auto it = state.policies_by_member.find(member);
  return it == state.policies_by_member.end() ? nullptr : &it->second;
}

void IndexMember(IamState& state, const std::string& member,
                 const std::string& policy_id,
                 const std::shared_ptr<const CompiledPolicy>& policy) {
  if (IsWildcardMember(member)) {
    state.policies_by_wildcard_member[member].insert(policy_id, policy);
  } else {
    state.policies_by_member[member].insert(policy_id, policy);
  }
}

template <typename Index>
void UnindexFrom(Index& index, const std::string& member,
                 const std::string& policy_id) {
  auto it = index.find(member);
  if (it == index.end()) return;
  it->second.erase(policy_id);
  if (it->second.empty()) index.erase(it);
}

void UnindexMember(IamState& state, const std::string& member,
                   const std::string& policy_id) {
  if (IsWildcardMember(member)) {
    UnindexFrom(state.policies_by_wildcard_member, member, policy_id);
  } else {
    UnindexFrom(state.policies_by_member, member, policy_id);
  }
}

}  // namespace

bool IsPolicyMember(const IamState& state, const Policy& policy,
                    std::string_view member) {
  // A short list is scanned: a few compares in one contiguous array beat a
  // hash lookup's cache miss (the common case: policies of a few members).
  constexpr size_t kScanUpTo = 16;
  if (state.partial_member_index || policy.members.size() <= kScanUpTo) {
    return std::find(policy.members.begin(), policy.members.end(), member) !=
           policy.members.end();
  }
  const PolicyRefs* refs = IndexOf(state, member);
  return refs != nullptr && refs->contains(policy.id);
}

namespace {

// The compiled form the member indexes hold for `policy`, or a new one when
// none does (a policy without members).
std::shared_ptr<const CompiledPolicy> CompiledOf(IamState& state,
                                                 const Policy& policy) {
  for (const auto& m : policy.members) {
    if (const PolicyRefs* refs = IndexOf(state, m)) {
      const PolicyRefs::Ref* ref = refs->find(policy.id);
      if (ref != nullptr && ref->policy != nullptr) return ref->policy;
    }
  }
  return CompilePolicy(policy, state);
}

// Compiled policies hold the actions of the roles they name: after `role`
// changes, the policies naming it are compiled again (role changes are rare;
// this scans the policies).
void RecompilePoliciesNaming(IamState& state, const std::string& role) {
  for (const auto& [id, p] : state.policies) {
    if (p.members.empty()) continue;  // not in any index
    bool names = false;
    for (const Statement& st : p.statements) names = names || st.role == role;
    if (!names) continue;
    const auto compiled = CompilePolicy(p, state);
    for (const auto& m : p.members) IndexMember(state, m, id, compiled);
  }
}

std::string Quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

// Applies one event to the state. Every handler checks everything that can
// fail before it changes anything, so a failure leaves the state untouched.
class Applier {
 public:
  Applier(IamState& state, const RecordedEvent& rec, const Token** created)
      : s_(state), rec_(rec), created_(created) {}

  Status operator()(const LedgerInitialized& e) {
    if (!s_.ledger_id.empty()) {
      return Fail("for already initialized ledger " + Quoted(s_.ledger_id));
    }
    s_.ledger_id = e.ledger_id;
    return OkStatus();
  }

  Status operator()(const TokenCreated& e) {
    // One descent of the token tree for the check and the insert.
    auto at = s_.tokens.lower_bound(e.id);
    if (at != s_.tokens.end() && at->first == e.id) {
      return Existing("token", e.id);
    }
    Token t;
    t.id = e.id;
    t.name = e.name;
    t.active = e.active;
    t.projects = e.projects;
    t.value_digest = e.value_digest;
    t.sealed_value = e.sealed_value;
    t.expires_at = e.expires_at;
    t.created_at = rec_.recorded_at;
    t.updated_at = rec_.recorded_at;
    t.version = rec_.stream_version;
    at = s_.tokens.emplace_hint(at, e.id, std::move(t));
    if (created_ != nullptr) *created_ = &at->second;
    return OkStatus();
  }
  Status operator()(const TokenRenamed& e) {
    return ChangeToken(e.id, [&](Token& t) { t.name = e.name; });
  }
  Status operator()(const TokenProjectsAssigned& e) {
    return ChangeToken(e.id, [&](Token& t) { t.projects = e.projects; });
  }
  Status operator()(const TokenStatusToggled& e) {
    return ChangeToken(e.id, [&](Token& t) { t.active = e.active; });
  }
  Status operator()(const TokenDeleted& e) {
    if (s_.tokens.erase(e.id) == 0) return Unknown("token", e.id);
    return OkStatus();
  }
  Status operator()(const TokenExpirySet& e) {
    return ChangeToken(e.id, [&](Token& t) { t.expires_at = e.expires_at; });
  }
  Status operator()(const TokenRotated& e) {
    return ChangeToken(e.id, [&](Token& t) {
      t.previous_value_digest = std::move(t.value_digest);
      t.previous_value_expires_at = e.previous_value_expires_at;
      t.value_digest = e.value_digest;
      t.sealed_value = e.sealed_value;
    });
  }

  Status operator()(const PolicyCreated& e) {
    if (s_.policies.contains(e.id)) return Existing("policy", e.id);
    Policy p;
    p.id = e.id;
    p.name = e.name;
    p.type = e.type;
    p.statements = e.statements;
    p.projects = e.projects;
    p.version = rec_.stream_version;
    const auto compiled = CompilePolicy(p, s_);
    for (const auto& m : e.members) {
      if (IsPolicyMember(s_, p, m)) continue;  // named twice
      p.members.push_back(m);
      IndexMember(s_, m, e.id, compiled);
    }
    s_.policies.emplace(e.id, std::move(p));
    return OkStatus();
  }
  Status operator()(const PolicyUpdated& e) {
    auto it = s_.policies.find(e.id);
    if (it == s_.policies.end()) return Unknown("policy", e.id);
    Policy& p = it->second;
    p.name = e.name;
    p.type = e.type;
    p.statements = e.statements;
    p.projects = e.projects;
    p.version = rec_.stream_version;
    // Every entry naming the policy gets the new compiled form.
    const auto compiled = CompilePolicy(p, s_);
    for (const auto& m : p.members) IndexMember(s_, m, p.id, compiled);
    return OkStatus();
  }
  Status operator()(const PolicyMembersAdded& e) {
    auto it = s_.policies.find(e.id);
    if (it == s_.policies.end()) return Unknown("policy", e.id);
    Policy& p = it->second;
    std::shared_ptr<const CompiledPolicy> compiled;
    for (const auto& m : e.members) {
      if (IsPolicyMember(s_, p, m)) continue;
      if (compiled == nullptr) compiled = CompiledOf(s_, p);
      p.members.push_back(m);
      IndexMember(s_, m, e.id, compiled);
    }
    p.version = rec_.stream_version;
    return OkStatus();
  }
  Status operator()(const PolicyMembersRemoved& e) {
    auto it = s_.policies.find(e.id);
    if (it == s_.policies.end()) return Unknown("policy", e.id);
    Policy& p = it->second;
    for (const auto& m : e.members) {
      // A member is listed once (added only when absent). The position
      // needs the scan anyway; decisions name only members (IsPolicyMember).
      auto listed = std::find(p.members.begin(), p.members.end(), m);
      if (listed == p.members.end()) continue;
      p.members.erase(listed);
      UnindexMember(s_, m, e.id);
    }
    p.version = rec_.stream_version;
    return OkStatus();
  }
  Status operator()(const PolicyDeleted& e) {
    auto it = s_.policies.find(e.id);
    if (it == s_.policies.end()) return Unknown("policy", e.id);
    for (const auto& m : it->second.members) UnindexMember(s_, m, e.id);
    s_.policies.erase(it);
    return OkStatus();
  }

  Status operator()(const RoleCreated& e) {
    if (s_.roles.contains(e.id)) return Existing("role", e.id);
    Role r;
    r.id = e.id;
    r.name = e.name;
    r.type = e.type;
    r.actions = e.actions;
    r.projects = e.projects;
    r.version = rec_.stream_version;
    s_.roles.emplace(e.id, std::move(r));
    s_.compiled_roles.insert_or_assign(e.id, CompileActions(e.actions));
    RecompilePoliciesNaming(s_, e.id);
    return OkStatus();
  }
  Status operator()(const RoleUpdated& e) {
    auto it = s_.roles.find(e.id);
    if (it == s_.roles.end()) return Unknown("role", e.id);
    Role& r = it->second;
    r.name = e.name;
    r.type = e.type;
    r.actions = e.actions;
    r.projects = e.projects;
    r.version = rec_.stream_version;
    s_.compiled_roles.insert_or_assign(e.id, CompileActions(e.actions));
    RecompilePoliciesNaming(s_, e.id);
    return OkStatus();
  }
  Status operator()(const RoleDeleted& e) {
    if (s_.roles.erase(e.id) == 0) return Unknown("role", e.id);
    s_.compiled_roles.erase(e.id);
    RecompilePoliciesNaming(s_, e.id);
    return OkStatus();
  }

  Status operator()(const ProjectCreated& e) {
    if (s_.projects.contains(e.id)) return Existing("project", e.id);
    Project p;
    p.id = e.id;
    p.name = e.name;
    p.type = e.type;
    p.version = rec_.stream_version;
    s_.projects.emplace(e.id, std::move(p));
    s_.project_index.insert(e.id);
    return OkStatus();
  }
  Status operator()(const ProjectRenamed& e) {
    auto it = s_.projects.find(e.id);
    if (it == s_.projects.end()) return Unknown("project", e.id);
    it->second.name = e.name;
    it->second.version = rec_.stream_version;
    return OkStatus();
  }
  Status operator()(const ProjectDeleted& e) {
    if (s_.projects.erase(e.id) == 0) return Unknown("project", e.id);
    s_.project_index.erase(e.id);
    return OkStatus();
  }

 private:
  template <typename F>
  Status ChangeToken(const std::string& id, F change) {
    auto it = s_.tokens.find(id);
    if (it == s_.tokens.end()) return Unknown("token", id);
    change(it->second);
    it->second.updated_at = rec_.recorded_at;
    it->second.version = rec_.stream_version;
    return OkStatus();
  }

  // "seq 12: TokenRenamed <what>"
  Status Fail(std::string_view what) const {
    std::string m = "seq " + std::to_string(rec_.seq) + ": ";
    m += EventTypeName(rec_.event);
    m += ' ';
    m += what;
    return DataLossError(std::move(m));
  }
  Status Unknown(std::string_view kind, const std::string& id) const {
    return Fail("for unknown " + std::string(kind) + " " + Quoted(id));
  }
  Status Existing(std::string_view kind, const std::string& id) const {
    return Fail("for existing " + std::string(kind) + " " + Quoted(id));
  }

  IamState& s_;
  const RecordedEvent& rec_;
  const Token** created_;
};

// CanonicalEncoding primitives: fixed-width little-endian integers, strings
// and lists prefixed with their length, so no two different values encode
// to the same bytes.
class Encoder {
 public:
  void U64(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void U8(uint8_t v) { out_ += static_cast<char>(v); }
  void Bool(bool v) { U8(v ? 1 : 0); }
  void Str(std::string_view s) {
    U64(s.size());
    out_ += s;
  }
  void List(const StringList& l) {
    U64(l.size());
    for (const auto& s : l) Str(s);
  }
  void Stmt(const Statement& st) {
    U8(static_cast<uint8_t>(st.effect));
    List(st.actions);
    Str(st.role);
    List(st.resources);
    List(st.projects);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// The reading side of Encoder: every read checks the remaining length.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool done() const { return in_.empty(); }
  uint64_t U64() {
    if (in_.size() < 8) return Bad();
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
      v |= static_cast<uint64_t>(static_cast<unsigned char>(in_[i])) << (8 * i);
    in_.remove_prefix(8);
    return v;
  }
  int64_t I64() { return static_cast<int64_t>(U64()); }
  uint8_t U8() {
    if (in_.empty()) return static_cast<uint8_t>(Bad());
    uint8_t v = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return v;
  }
  bool Bool() { return U8() != 0; }
  std::string Str() {
    uint64_t n = U64();
    if (!ok_ || n > in_.size()) return (Bad(), std::string());
    std::string s(in_.substr(0, n));
    in_.remove_prefix(n);
    return s;
  }
  // A count of items that each take at least one byte.
  uint64_t Count() {
    uint64_t n = U64();
    return n > in_.size() ? Bad() : n;
  }
  StringList List() {
    StringList l(Count());
    for (auto& s : l) s = Str();
    return l;
  }
  Statement Stmt() {
    Statement st;
    st.effect = static_cast<Effect>(U8());
    st.actions = List();
    st.role = Str();
    st.resources = List();
    st.projects = List();
    return st;
  }

 private:
  uint64_t Bad() {
    ok_ = false;
    in_ = {};
    return 0;
  }
  std::string_view in_;
  bool ok_ = true;
};
}  // namespace

namespace {

// calloc: a large block comes freshly mapped from the kernel (zero, its
// pages faulted in one by one as they are first touched), a small one is
// cleared. The block is aligned by hand to a cache line; the pointer calloc
// gave is kept in the 8 bytes before it.
class StdMemory final : public LargeMemory {
 public:
  void* Allocate(size_t bytes) override {
    void* raw = std::calloc(1, bytes + kLine);
    if (raw == nullptr) throw std::bad_alloc();
    const uintptr_t start =
        (reinterpret_cast<uintptr_t>(raw) + kLine) & ~uintptr_t{kLine - 1};
    std::memcpy(reinterpret_cast<void*>(start - sizeof(void*)), &raw,
                sizeof(void*));
    return reinterpret_cast<void*>(start);
  }
  void Free(void* p, size_t) override {
    if (p == nullptr) return;
    void* raw;
    std::memcpy(&raw, static_cast<char*>(p) - sizeof(void*), sizeof(void*));
    std::free(raw);
  }

 private:
  static constexpr size_t kLine = 64;
};

std::atomic<LargeMemory*>& CurrentMemory() {
  static std::atomic<LargeMemory*> current{StdLargeMemory()};
  return current;
}

}  // namespace

LargeMemory* StdLargeMemory() {
  static StdMemory* const memory = new StdMemory();  // never destroyed
  return memory;
}

LargeMemory* CurrentLargeMemory() {
  return CurrentMemory().load(std::memory_order_acquire);
}

void SetLargeMemory(LargeMemory* memory) {
  CurrentMemory().store(memory == nullptr ? StdLargeMemory() : memory,
                        std::memory_order_release);
}

uint64_t ProjectIndex::Hash(std::string_view id) {
  // FNV-1a, then a final mix: ids are short.
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : id) h = (h ^ c) * 0x100000001b3ULL;
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}

void ProjectIndex::insert(std::string id) {
  const uint64_t hash = Hash(id);
  if (Find(id, hash) != nullptr) return;
  if (2 * (size_ + 1) > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].used) i = (i + 1) & mask;
  slots_[i] = Slot{hash, true, std::move(id)};
  ++size_;
}

void ProjectIndex::erase(std::string_view id) {
  const Slot* found = Find(id, Hash(id));
  if (found == nullptr) return;
  // Backward-shift deletion: later slots of the run move up into the gap
  // when their home is not between the gap and themselves.
  const size_t mask = slots_.size() - 1;
  size_t gap = static_cast<size_t>(found - slots_.data());
  for (size_t i = (gap + 1) & mask; slots_[i].used; i = (i + 1) & mask) {
    const size_t home = slots_[i].hash & mask;
    if (((i - home) & mask) >= ((i - gap) & mask)) {
      slots_[gap] = std::move(slots_[i]);
      gap = i;
    }
  }
  slots_[gap] = Slot{};
  --size_;
}

void ProjectIndex::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(16, old.size() * 2), Slot{});
  const size_t mask = slots_.size() - 1;
  for (Slot& s : old) {
    if (!s.used) continue;
    size_t i = s.hash & mask;
    while (slots_[i].used) i = (i + 1) & mask;
    slots_[i] = std::move(s);
  }
}

bool operator==(const ProjectIndex& a, const ProjectIndex& b) {
  if (a.size_ != b.size_) return false;
  for (const auto& s : a.slots_) {
    if (s.used && !b.contains(s.id, s.hash)) return false;
  }
  return true;
}

const PolicyRefs::Ref* PolicyRefs::find(std::string_view id) const {
  auto it = std::lower_bound(
      refs_.begin(), refs_.end(), id,
      [](const Ref& r, std::string_view v) { return r.id < v; });
  return it != refs_.end() && it->id == id ? &*it : nullptr;
}

void PolicyRefs::insert(std::string id,
                        std::shared_ptr<const CompiledPolicy> policy) {
  // Ids mostly arrive in no particular order; the entries stay short.
  auto it = std::lower_bound(
      refs_.begin(), refs_.end(), id,
      [](const Ref& r, const std::string& v) { return r.id < v; });
  if (it != refs_.end() && it->id == id) {
    it->policy = std::move(policy);
  } else {
    refs_.insert(it, Ref{std::move(id), std::move(policy)});
  }
  SyncInline();
}

void PolicyRefs::SyncInline() {
  for (size_t i = 0; i < kInline; ++i) {
    inline_[i] = i < refs_.size() ? refs_[i].policy.get() : nullptr;
  }
}

size_t PolicyRefs::erase(std::string_view id) {
  auto it = std::lower_bound(
      refs_.begin(), refs_.end(), id,
      [](const Ref& r, std::string_view v) { return r.id < v; });
  if (it == refs_.end() || it->id != id) return 0;
  refs_.erase(it);
  SyncInline();
  return 1;
}

bool operator==(const PolicyRefs& a, const PolicyRefs& b) {
  return std::equal(a.refs_.begin(), a.refs_.end(), b.refs_.begin(),
                    b.refs_.end(),
                    [](const PolicyRefs::Ref& x, const PolicyRefs::Ref& y) {
                      return x.id == y.id;
                    });
}

bool operator==(const PolicyRefs& a, const std::set<std::string>& b) {
  return std::equal(
      a.refs_.begin(), a.refs_.end(), b.begin(), b.end(),
      [](const PolicyRefs::Ref& x, const std::string& y) { return x.id == y; });
}

Status Evolve(IamState& state, const RecordedEvent& rec,
              const Token** created) {
  if (created != nullptr) *created = nullptr;
  IAM_RETURN_IF_ERROR(std::visit(Applier(state, rec, created), rec.event));
  state.stream_versions[rec.stream] = rec.stream_version;
  state.last_seq = rec.seq;
  state.last_recorded_at = rec.recorded_at;
  return OkStatus();
}

namespace {
bool UsesLifecycle(const Token& t) {
  return t.expires_at != 0 || !t.previous_value_digest.empty() ||
         t.previous_value_expires_at != 0;
}
}  // namespace

// Version 1 has no lifecycle fields; version 2 (written only when some token
// has one, so states without them encode exactly as before) adds
// expires_at, previous_value_digest, previous_value_expires_at per token.
std::string CanonicalEncoding(const IamState& state) {
  Encoder e;
  const bool v2 =
      std::any_of(state.tokens.begin(), state.tokens.end(),
                  [](const auto& kv) { return UsesLifecycle(kv.second); });
  e.Str(v2 ? "iamledger-state/2" : "iamledger-state/1");
  e.Str(state.ledger_id);
  e.U64(state.last_seq);
  e.I64(state.last_recorded_at);

  e.U64(state.tokens.size());
  for (const auto& [id, t] : state.tokens) {
    e.Str(t.id);
    e.Str(t.name);
    e.Bool(t.active);
    e.List(t.projects);
    e.Str(t.value_digest);
    e.Str(t.sealed_value);
    e.I64(t.created_at);
    e.I64(t.updated_at);
    e.U64(t.version);
    if (v2) {
      e.I64(t.expires_at);
      e.Str(t.previous_value_digest);
      e.I64(t.previous_value_expires_at);
    }
  }
  e.U64(state.policies.size());
  for (const auto& [id, p] : state.policies) {
    e.Str(p.id);
    e.Str(p.name);
    e.U8(static_cast<uint8_t>(p.type));
    e.List(p.members);
    e.U64(p.statements.size());
    for (const auto& st : p.statements) e.Stmt(st);
    e.List(p.projects);
    e.U64(p.version);
  }
  e.U64(state.roles.size());
  for (const auto& [id, r] : state.roles) {
    e.Str(r.id);
    e.Str(r.name);
    e.U8(static_cast<uint8_t>(r.type));
    e.List(r.actions);
    e.List(r.projects);
    e.U64(r.version);
  }
  e.U64(state.projects.size());
  for (const auto& [id, p] : state.projects) {
    e.Str(p.id);
    e.Str(p.name);
    e.U8(static_cast<uint8_t>(p.type));
    e.U64(p.version);
  }

  std::vector<std::pair<std::string_view, uint64_t>> versions(
      state.stream_versions.begin(), state.stream_versions.end());
  std::sort(versions.begin(), versions.end());
  e.U64(versions.size());
  for (const auto& [stream, version] : versions) {
    e.Str(stream);
    e.U64(version);
  }
  return e.Take();
}

StatusOr<IamState> DecodeCanonicalEncoding(std::string_view bytes) {
  Decoder d(bytes);
  IamState state;
  const std::string version = d.Str();
  const bool v2 = version == "iamledger-state/2";
  if (!v2 && version != "iamledger-state/1") {
    return DataLossError("not an encoded state (or an unknown version)");
  }
  state.ledger_id = d.Str();
  state.last_seq = d.U64();
  state.last_recorded_at = d.I64();
  for (uint64_t n = d.Count(); n > 0 && d.ok(); --n) {
    Token t;
    t.id = d.Str();
    t.name = d.Str();
    t.active = d.Bool();
    t.projects = d.List();
    t.value_digest = d.Str();
    t.sealed_value = d.Str();
    t.created_at = d.I64();
    t.updated_at = d.I64();
    t.version = d.U64();
    if (v2) {
      t.expires_at = d.I64();
      t.previous_value_digest = d.Str();
      t.previous_value_expires_at = d.I64();
    }
    state.tokens.emplace(t.id, std::move(t));
  }
  for (uint64_t n = d.Count(); n > 0 && d.ok(); --n) {
    Policy p;
    p.id = d.Str();
    p.name = d.Str();
    p.type = static_cast<PolicyType>(d.U8());
    p.members = d.List();
    p.statements.resize(d.Count());
    for (auto& st : p.statements) st = d.Stmt();
    p.projects = d.List();
    p.version = d.U64();
    state.policies.emplace(p.id, std::move(p));
  }
  for (uint64_t n = d.Count(); n > 0 && d.ok(); --n) {
    Role r;
    r.id = d.Str();
    r.name = d.Str();
    r.type = static_cast<PolicyType>(d.U8());
    r.actions = d.List();
    r.projects = d.List();
    r.version = d.U64();
    state.compiled_roles.insert_or_assign(r.id, CompileActions(r.actions));
    state.roles.emplace(r.id, std::move(r));
  }
  for (uint64_t n = d.Count(); n > 0 && d.ok(); --n) {
    Project p;
    p.id = d.Str();
    p.name = d.Str();
    p.type = static_cast<PolicyType>(d.U8());
    p.version = d.U64();
    state.project_index.insert(p.id);
    state.projects.emplace(p.id, std::move(p));
  }
  for (uint64_t n = d.Count(); n > 0 && d.ok(); --n) {
    std::string stream = d.Str();
    state.stream_versions[stream] = d.U64();
  }
  if (!d.ok() || !d.done()) return DataLossError("encoded state is truncated");
  // The member indexes, with the policies compiled against the roles.
  for (const auto& [id, p] : state.policies) {
    if (p.members.empty()) continue;
    const auto compiled = CompilePolicy(p, state);
    for (const auto& m : p.members) IndexMember(state, m, id, compiled);
  }
  return state;
}

}  // namespace iam
