// The IAM state that events fold into: tokens, policies, roles and projects,
// with the indexes that decisions and authorization need. Evolve() is the one
// fold used by live writes, start-up and replay (core/evolve.cc).
//
// Contract: IamState is a plain value; it is not thread-safe. The projections
// layer owns the live instance and guards it.
#ifndef IAMLEDGER_CORE_MODEL_H_
#define IAMLEDGER_CORE_MODEL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/events.h"

namespace iam {

struct Token {
  std::string id;
  std::string name;
  bool active = true;
  StringList projects;
  std::string value_digest;  // HMAC index of the value (never the value)
  std::string sealed_value;  // encrypted value; opened with the data key
  Micros created_at = 0;
  Micros updated_at = 0;
  uint64_t version = 0;  // stream version, the ETag
  friend bool operator==(const Token&, const Token&) = default;
};

struct Policy {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList members;  // in insertion order
  std::vector<Statement> statements;
  StringList projects;
  uint64_t version = 0;
  friend bool operator==(const Policy&, const Policy&) = default;
};

struct Role {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList actions;
  StringList projects;
  uint64_t version = 0;
  friend bool operator==(const Role&, const Role&) = default;
};

struct Project {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  uint64_t version = 0;
  friend bool operator==(const Project&, const Project&) = default;
};

// The evaluation form of a stored policy's statements (core/authorize.cc):
// what authorization needs, with the per-statement checks precomputed.
// Immutable; Evolve compiles a new one when a policy's statements change.
struct CompiledPolicy;
std::shared_ptr<const CompiledPolicy> CompilePolicy(const Policy& policy);

// One entry of a member index: the ids of the policies naming the member,
// ascending and unique (compares equal to a std::set<std::string> of them),
// each with its compiled form, so that authorization never looks a policy
// up by id. The compiled forms are shared, not pointers into a state, so a
// copied IamState is self-contained.
class PolicyRefs {
 public:
  struct Ref {
    std::string id;
    // Null when inserted without one; such an entry is never evaluated.
    std::shared_ptr<const CompiledPolicy> policy;
  };
  using const_iterator = std::vector<Ref>::const_iterator;

  const_iterator begin() const { return refs_.begin(); }
  const_iterator end() const { return refs_.end(); }
  size_t size() const { return refs_.size(); }
  bool empty() const { return refs_.empty(); }
  bool contains(std::string_view id) const { return find(id) != nullptr; }
  // The entry for `id`, or null.
  const Ref* find(std::string_view id) const;
  // Adds `id`, or replaces its compiled form when present.
  void insert(std::string id,
              std::shared_ptr<const CompiledPolicy> policy = nullptr);
  // Returns the number of ids erased (0 or 1).
  size_t erase(std::string_view id);

  // Ids only: the compiled forms follow from the policies.
  friend bool operator==(const PolicyRefs& a, const PolicyRefs& b);
  friend bool operator==(const PolicyRefs& a, const std::set<std::string>& b);

 private:
  std::vector<Ref> refs_;
};

struct IamState {
  std::map<std::string, Token> tokens;
  std::map<std::string, Policy> policies;
  std::map<std::string, Role> roles;
  std::map<std::string, Project> projects;
  // Member string -> policies naming it (ids ascending, with their compiled
  // forms). Members without a wildcard ("token:ci", "team:local:admins") are
  // looked up exactly...
  std::unordered_map<std::string, PolicyRefs> policies_by_member;
  // ...and the few wildcard members ("*", "token:*", "team:local:*") are
  // kept apart, so authorization never scans all policies.
  std::map<std::string, PolicyRefs> policies_by_wildcard_member;
  // Version of every stream ever written, deleted objects' included, so a
  // decision and its expected versions come from one consistent state.
  std::unordered_map<std::string, uint64_t> stream_versions;
  uint64_t last_seq = 0;
  Micros last_recorded_at = 0;
  std::string ledger_id;

  friend bool operator==(const IamState&, const IamState&) = default;
};

// Folds one recorded event into `state`. Events come from the log, which only
// holds decided (valid) events; an event that cannot apply (e.g. renaming a
// token that does not exist) is a DataLoss naming the seq.
Status Evolve(IamState& state, const RecordedEvent& event);

// A deterministic byte encoding of the whole state (every field, every
// index-free map in key order): equal states give equal bytes, however they
// were built (snapshot + tail or full replay). The state digest printed by
// the tools is SHA-256 over these bytes (core has no crypto).
std::string CanonicalEncoding(const IamState& state);

// The inverse of CanonicalEncoding, with the member indexes rebuilt: what a
// projection snapshot is loaded with. Malformed bytes are kDataLoss.
StatusOr<IamState> DecodeCanonicalEncoding(std::string_view bytes);

}  // namespace iam

#endif  // IAMLEDGER_CORE_MODEL_H_
