// Every change to iamledger's state, as a C++ value. One struct per event type,
// past tense, carrying everything needed to fold it into state; the on-disk
// encoding of these types is eventstore/schema/iam_events.fbs.
//
// Contract: events are facts. They never hold a token's secret value; a
// TokenCreated holds only the HMAC index of the value and the value sealed
// under a per-token data key (see DESIGN.md §5).
#ifndef IAMLEDGER_CORE_EVENTS_H_
#define IAMLEDGER_CORE_EVENTS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"

namespace iam {

// Unix time in microseconds, UTC.
using Micros = int64_t;
using Hash = std::array<uint8_t, 32>;
using StringList = std::vector<std::string>;

// Stored on disk as a ubyte: do not renumber.
enum class PolicyType : uint8_t { kChefManaged = 0, kCustom = 1 };
// Stored on disk as a ubyte: do not renumber.
enum class Effect : uint8_t { kAllow = 0, kDeny = 1 };

struct Statement {
  Effect effect = Effect::kAllow;
  StringList actions;
  std::string role;
  StringList resources;  // always ["*"] for statements made through the API
  StringList projects;   // "*" = all projects, "(unassigned)", or project ids
  friend bool operator==(const Statement&, const Statement&) = default;
};

struct LedgerInitialized {
  uint32_t format_version = 1;
  std::string ledger_id;  // random id naming this log, e.g. for checkpoints
  friend bool operator==(const LedgerInitialized&,
                         const LedgerInitialized&) = default;
};

struct TokenCreated {
  std::string id;
  std::string name;
  bool active = true;
  StringList projects;
  std::string value_digest;  // HMAC-SHA256(pepper, value): the auth index
  std::string sealed_value;  // AES-256-GCM(data key, value); key in `keys`
  Micros expires_at = 0;     // 0: never expires (API.md "Token lifecycle")
  friend bool operator==(const TokenCreated&, const TokenCreated&) = default;
};
struct TokenRenamed {
  std::string id;
  std::string name;
  friend bool operator==(const TokenRenamed&, const TokenRenamed&) = default;
};
struct TokenProjectsAssigned {
  std::string id;
  StringList projects;
  friend bool operator==(const TokenProjectsAssigned&,
                         const TokenProjectsAssigned&) = default;
};
struct TokenStatusToggled {
  std::string id;
  bool active = true;
  friend bool operator==(const TokenStatusToggled&,
                         const TokenStatusToggled&) = default;
};
struct TokenDeleted {
  std::string id;
  friend bool operator==(const TokenDeleted&, const TokenDeleted&) = default;
};

struct PolicyCreated {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList members;
  std::vector<Statement> statements;
  StringList projects;
  friend bool operator==(const PolicyCreated&, const PolicyCreated&) = default;
};
// Replaces name, type, statements and projects. Member changes are recorded
// as PolicyMembersAdded / PolicyMembersRemoved.
struct PolicyUpdated {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  std::vector<Statement> statements;
  StringList projects;
  friend bool operator==(const PolicyUpdated&, const PolicyUpdated&) = default;
};
struct PolicyMembersAdded {
  std::string id;
  StringList members;
  friend bool operator==(const PolicyMembersAdded&,
                         const PolicyMembersAdded&) = default;
};
struct PolicyMembersRemoved {
  std::string id;
  StringList members;
  friend bool operator==(const PolicyMembersRemoved&,
                         const PolicyMembersRemoved&) = default;
};
struct PolicyDeleted {
  std::string id;
  friend bool operator==(const PolicyDeleted&, const PolicyDeleted&) = default;
};

struct RoleCreated {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList actions;
  StringList projects;
  friend bool operator==(const RoleCreated&, const RoleCreated&) = default;
};
struct RoleUpdated {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList actions;
  StringList projects;
  friend bool operator==(const RoleUpdated&, const RoleUpdated&) = default;
};
struct RoleDeleted {
  std::string id;
  friend bool operator==(const RoleDeleted&, const RoleDeleted&) = default;
};

struct ProjectCreated {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  friend bool operator==(const ProjectCreated&,
                         const ProjectCreated&) = default;
};
struct ProjectRenamed {
  std::string id;
  std::string name;
  friend bool operator==(const ProjectRenamed&,
                         const ProjectRenamed&) = default;
};
struct ProjectDeleted {
  std::string id;
  friend bool operator==(const ProjectDeleted&,
                         const ProjectDeleted&) = default;
};

// Token lifecycle (API.md "Token lifecycle", core/lifecycle.h).
// The token's expiry changed: from then on it authenticates only before
// `expires_at`; 0 clears the expiry.
struct TokenExpirySet {
  std::string id;
  Micros expires_at = 0;
  friend bool operator==(const TokenExpirySet&,
                         const TokenExpirySet&) = default;
};
// The token has a new value (its digest and sealed form, as in
// TokenCreated; never the value). The previous value keeps authenticating
// until `previous_value_expires_at` (the rotation time when there is no
// grace). Memberships, id and everything else stay.
struct TokenRotated {
  std::string id;
  std::string value_digest;
  std::string sealed_value;
  Micros previous_value_expires_at = 0;
  friend bool operator==(const TokenRotated&, const TokenRotated&) = default;
};

// The order of alternatives is not a storage format (the .fbs union is), but
// keep it equal to the union's for readability.
using Event =
    std::variant<LedgerInitialized, TokenCreated, TokenRenamed,
                 TokenProjectsAssigned, TokenStatusToggled, TokenDeleted,
                 PolicyCreated, PolicyUpdated, PolicyMembersAdded,
                 PolicyMembersRemoved, PolicyDeleted, RoleCreated, RoleUpdated,
                 RoleDeleted, ProjectCreated, ProjectRenamed, ProjectDeleted,
                 TokenExpirySet, TokenRotated>;

// "TokenCreated", ... as used in history, export and the change feed.
std::string_view EventTypeName(const Event& event);
// Every event type name, in variant order.
const std::vector<std::string_view>& AllEventTypeNames();

// The stream an event belongs to: "token/<id>", "policy/<id>", "role/<id>",
// "project/<id>", or "ledger" for LedgerInitialized.
std::string StreamOf(const Event& event);

// Who caused a change, attached to every event of one append.
struct EventMetadata {
  std::string actor;       // "token:ci-bot", "local:admin", "system"
  std::string request_id;  // the request that caused it
  std::string source;      // client address, "" for local tools
  friend bool operator==(const EventMetadata&, const EventMetadata&) = default;
};

// An event as stored in the log.
struct RecordedEvent {
  uint64_t seq = 0;        // global, gapless, from 1
  Micros recorded_at = 0;  // when its batch was written
  EventMetadata meta;
  std::string stream;           // == StreamOf(event)
  uint64_t stream_version = 0;  // 1, 2, ... within its stream
  Hash prev_hash{};             // hash of seq-1; zeros for seq 1
  Hash hash{};                  // SHA-256 over prev_hash and all other fields
  Event event;
  friend bool operator==(const RecordedEvent&, const RecordedEvent&) = default;
};

// Receives events in log order: the projections, replay and the change feed.
// A non-OK return stops the delivery that called it.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual Status Apply(const RecordedEvent& event) = 0;
  // The same for events[0, n), consecutive in log order: applies them in
  // order and stops at the first failure, which it returns (the events
  // before it are applied). A reader that has events in batches calls this,
  // so that a sink can do per-batch work once (a lock) and look ahead (ask
  // for the memory later events touch). The default calls Apply for each.
  virtual Status ApplyBatch(const RecordedEvent* events, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      IAM_RETURN_IF_ERROR(Apply(events[i]));
    }
    return OkStatus();
  }
};

}  // namespace iam

#endif  // IAMLEDGER_CORE_EVENTS_H_
