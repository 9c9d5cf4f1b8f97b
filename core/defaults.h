// Factory defaults (automate-iam-v2.md §8.5, §8.6) and the hidden system
// policies (§8.7, §4.4, DESIGN.md §6).
//
// Contract: factory defaults are ordinary events, appended once after
// LedgerInitialized when a ledger is created; afterwards they are data like
// any other (members can change, custom ones can be edited or deleted).
// System policies are never stored, listed or counted; the evaluator
// (core/authorize.h) always considers them.
#ifndef IAMLEDGER_CORE_DEFAULTS_H_
#define IAMLEDGER_CORE_DEFAULTS_H_

#include <string>
#include <string_view>
#include <vector>

#include "core/events.h"
#include "core/model.h"

namespace iam {

// Ids of the chef-managed defaults that other code refers to.
inline constexpr std::string_view kAdminPolicyId = "administrator-access";
inline constexpr std::string_view kAdminsTeamMember = "team:local:admins";
// The subject of the admin socket and of the CLI working on a stopped server.
inline constexpr std::string_view kLocalAdminSubject = "local:admin";

// The events that make a fresh ledger: LedgerInitialized{format_version 1,
// ledger_id}, then RoleCreated for the 7 roles of §8.6 (owner, editor,
// viewer, ingest, project-owner, compliance-viewer, compliance-editor; exact
// names, types and actions in stored order, projects []), then PolicyCreated
// for the 6 policies of §8.5 (administrator-access, editor-access,
// viewer-access, ingest-access, compliance-viewer-access,
// compliance-editor-access; top-level projects [], statement projects ["*"],
// resources ["*"] except the administrator's DENY statement, whose
// resources are ["iam:policies:administrator-access"]).
std::vector<Event> FactoryDefaultEvents(const std::string& ledger_id);

// The hidden system policies that apply to iamledger, in evaluation order:
//  - "System" (member "*"): ALLOW iam:introspect:* on iam:introspect,
//    system:serviceVersion:get/list on system:service:version,
//    system:telemetryConfig:get on system:config, system:license:get on
//    system:status, iam:policies:get on iam:policyVersion, iam:rules:status
//    on iam:rules;
//  - "System policy to protect Chef-managed entities" (member "*"): the DENY
//    statements of §4.4;
//  - "Local admin universal access" (member "local:admin"): ALLOW "*" on "*".
// All statements have projects ["*"]. Their ids contain '/', so they can
// never collide with a stored policy id. The tls:service policies and the
// local users policy of §8.7 are left out: iamledger has neither service
// certificates nor users.
const std::vector<Policy>& SystemPolicies();

}  // namespace iam

#endif  // IAMLEDGER_CORE_DEFAULTS_H_
