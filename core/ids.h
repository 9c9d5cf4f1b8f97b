// Identifier, member and action grammars of Automate IAM v2
// (automate-iam-v2.md §6 and §9). The pattern strings are quoted verbatim in
// validation messages, so they are the regexes exactly as Automate prints
// them; the matchers below implement them by hand (RE2 semantics), without
// std::regex.
#ifndef IAMLEDGER_CORE_IDS_H_
#define IAMLEDGER_CORE_IDS_H_

#include <string>
#include <string_view>

namespace iam {

inline constexpr std::string_view kIdPattern = "^[a-z0-9-_]{1,64}$";
inline constexpr std::string_view kProjectIdPattern = "^[a-z0-9-_]{1,48}$";
inline constexpr std::string_view kRolePattern = "^$|^[a-z0-9-_]{1,64}$";
inline constexpr std::string_view kActionPattern =
    "^[*]$|^[*]:[a-z][-a-zA-Z]*$|^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[a-z][a-zA-Z]*$"
    "|^[a-z][a-zA-Z]*:[*]$|^[a-z][a-zA-Z]*:[*]:[a-z][a-zA-Z]*$"
    "|^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[*]$";
inline constexpr std::string_view kMemberPattern =
    "^(?:team|user):(?:local|ldap|saml):(?:[^:*]+|[*])$"
    "|^(?:(?:team|user|token|tls):)?[*]$|^token:[^:*]+$"
    "|^tls:service:(?:[^:*]+:)?(?:[^:*]+|[*])$";

// The meta projects. kAllProjects is the API spelling in statements.
inline constexpr std::string_view kAllProjects = "*";
inline constexpr std::string_view kUnassignedProject = "(unassigned)";

// ^[a-z0-9-_]{1,64}$: token, policy and role ids.
bool IsValidId(std::string_view id);
// ^[a-z0-9-_]{1,48}$: project ids.
bool IsValidProjectId(std::string_view id);
// ^$|^[a-z0-9-_]{1,64}$: a statement's role.
bool IsValidStatementRole(std::string_view role);
// kActionPattern.
bool IsValidAction(std::string_view action);
// kMemberPattern.
bool IsValidMember(std::string_view member);
// True when `s` is empty or only whitespace (Go's ^\s*$).
bool IsBlank(std::string_view s);

// API.md D2 / automate-iam-v2.md §12: lowercase, every code point outside
// [a-z0-9] becomes one '-', cut to 64 bytes. May return "" (caller: 400).
std::string DeriveIdFromName(std::string_view name);

}  // namespace iam

#endif  // IAMLEDGER_CORE_IDS_H_
