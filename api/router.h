// The route table of iamledger's HTTP API: every route of automate-iam-v2.md
// §5 and §10 plus the API.md additions, with the static (resource, action)
// pair each one is authorized by. Pure: no I/O, no Boost, no JSON library.
//
// Matching follows grpc-gateway v1 (automate-iam-v2.md §1 step 1, §2.5):
// unknown path -> 404 "Not Found", known path with another method -> 405
// "Method Not Allowed", both plain text. Before matching, the target is
// checked and decoded; a target that is not origin-form, has a bad or
// dangerous percent-encoding ("%2F" inside a segment, "%00", "%zz"), a "."
// or ".." segment, or a path that is not UTF-8, is refused with 400 (the
// standard JSON error body, code 3), so no id ever carries a '/' or a NUL.
//
// Deliberate choices: literals are case-sensitive; an empty segment (a
// trailing '/' or "//") never matches "{id}", so it is a 404; a query string
// is decoded like Go's url.ParseQuery ('+' is a space) but an invalid escape
// is a 400 instead of being dropped.
#ifndef IAMLEDGER_API_ROUTER_H_
#define IAMLEDGER_API_ROUTER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"
#include "core/status.h"

namespace iam::api {

enum class RouteId {
  kNone = 0,
  // tokens
  kCreateToken,
  kListTokens,
  kGetToken,
  kUpdateToken,
  kDeleteToken,
  kTokenHistory,
  // policies
  kCreatePolicy,
  kListPolicies,
  kGetPolicy,
  kUpdatePolicy,
  kDeletePolicy,
  kPolicyHistory,
  kGetPolicyVersion,
  // policy members
  kListPolicyMembers,
  kReplacePolicyMembers,
  kAddPolicyMembers,
  kRemovePolicyMembers,
  // roles
  kCreateRole,
  kListRoles,
  kGetRole,
  kUpdateRole,
  kDeleteRole,
  kRoleHistory,
  // projects
  kCreateProject,
  kListProjects,
  kGetProject,
  kUpdateProject,
  kDeleteProject,
  kProjectHistory,
  // introspection
  kIntrospectAllProjects,
  kIntrospectAll,
  kIntrospectSome,
  kIntrospect,
  // API.md additions
  kListEvents,
  kAuditCheck,
  kAuditWho,
  kAuditDiff,
  kAuditWhatIf,
  kHealthz,
  kReadyz,
  kMetrics,
  // API.md: token lifecycle
  kRotateToken,
  kRevokeTokens,
};

// One entry of the route table (also the introspection registry, §11).
struct RouteInfo {
  RouteId id = RouteId::kNone;
  std::string_view name;      // "Tokens/CreateToken" style, for logs/metrics
  std::string_view method;    // "GET", "POST", "PUT", "DELETE"
  std::string_view path;      // template, e.g. "/apis/iam/v2/tokens/{id}"
  std::string_view resource;  // template, e.g. "iam:tokens:{id}"; "" if none
  std::string_view action;    // e.g. "iam:tokens:get"; "" if none
  // The body is decoded into a request message (POST/PUT routes).
  bool has_body = false;
  // Needs an authenticated, authorized caller (every /apis/iam/v2 route);
  // false for /healthz, /readyz, /metrics.
  bool authenticated = true;
  // Listed by introspection (every authenticated route).
  bool introspectable = true;
};

// Every route, in §10 order followed by the additions.
const std::vector<RouteInfo>& AllRoutes();
// The entry of `id`; nullptr for kNone.
const RouteInfo* FindRoute(RouteId id);

// True for the routes that decide a command and append its events (the
// writes of tokens, policies, members, roles and projects, rotation included).
bool IsCommandRoute(RouteId id);

// Decoded path parameters: "id" -> "tok-1".
using PathParams = std::map<std::string, std::string>;
// Decoded query parameters in their order of appearance; a key without '='
// ("?pretty") has the value "".
using QueryParams = std::multimap<std::string, std::string>;

enum class MatchOutcome {
  kMatched,           // route, params, resource, action are set
  kBadTarget,         // 400: `status` says why (InvalidArgument)
  kNotFound,          // 404, plain text
  kMethodNotAllowed,  // 405, plain text
};

struct RouteMatch {
  // Path parameters a route may have (every route has at most one: {id}).
  static constexpr size_t kMaxParams = 2;

  MatchOutcome outcome = MatchOutcome::kNotFound;
  const RouteInfo* route = nullptr;  // set when kMatched
  // The matched route's path parameters: names from the route table,
  // decoded values; the first `num_params` entries are set.
  std::string_view param_names[kMaxParams];
  std::string param_values[kMaxParams];
  size_t num_params = 0;
  std::string resource;  // route's resource with {params} expanded
  std::string action;
  QueryParams query;
  Status status;  // kBadTarget: the InvalidArgument to answer with
  // kMethodNotAllowed: the methods the path accepts ("GET, PUT").
  std::string allow;

  bool ok() const { return outcome == MatchOutcome::kMatched; }
  RouteId id() const { return route ? route->id : RouteId::kNone; }
  // The decoded value of path parameter `name` ("" when absent).
  const std::string& Param(std::string_view name) const;
  // The first value of query parameter `key`, if present.
  std::optional<std::string> Query(std::string_view key) const;
  bool HasQuery(std::string_view key) const;
};

// Matches `method` and the raw request `target` ("/path?query"). A path
// without percent-escapes is matched in place (segments are views of
// `target`, the table is compared without copying); a matched route costs
// the strings of its parameter values and its expanded resource.
RouteMatch Match(std::string_view method, std::string_view target);

// The response for a match that is not kMatched: plain-text 404/405 as
// grpc-gateway writes them (`http.Error`: body "Not Found\n", Content-Type
// "text/plain; charset=utf-8", X-Content-Type-Options: nosniff; 405 also
// carries Allow), or the JSON error body for 400.
HttpResponse RoutingErrorResponse(const RouteMatch& match);

// Content negotiation of §2.1/§2.3 (grpc-gateway's MarshalerForRequest plus
// Automate's ?pretty): `lax` when the Content-Type media type is
// "application/json+lax"; `pretty` when an Accept value is exactly
// "application/json+pretty", or no Accept value names a registered marshaler
// and the Content-Type is "application/json+pretty", or the query has
// "pretty" and Accept is absent, empty or "*/*".
struct Negotiation {
  bool lax = false;
  bool pretty = false;
};
Negotiation Negotiate(const Headers& headers, const QueryParams& query);

// Percent-decodes `in`. With `plus_is_space`, '+' becomes ' ' (query
// strings). Fails on a truncated or non-hex escape.
std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_is_space);

// Parses a query string (without '?') like Go's url.ParseQuery, except that
// an invalid escape is an InvalidArgument. Keys and values may be empty.
StatusOr<QueryParams> ParseQuery(std::string_view raw);

// A non-negative decimal query parameter within [0, max]; absent ->
// `default_value`; anything else -> InvalidArgument naming `key`.
StatusOr<uint64_t> QueryUint(const QueryParams& query, std::string_view key,
                             uint64_t default_value, uint64_t max);

// ---------------------------------------------------------- introspection
// (automate-iam-v2.md §11; the handlers live in the service.)

// One template a concrete path matched, with the values its {params} took.
struct TemplateMatch {
  const RouteInfo* route = nullptr;
  PathParams params;  // may hold empty values: {param} is ([^/]*)
};

// Every introspectable route whose template matches `concrete_path` with each
// {param} as ([^/]*), anchored (POST /introspect). No decoding is applied.
std::vector<TemplateMatch> MatchTemplates(std::string_view concrete_path);

// Every introspectable route whose template is exactly `path` and has no
// {param} (GET /introspect and POST /introspect_some use these).
std::vector<const RouteInfo*> RoutesWithLiteralPath(std::string_view path);

// The literal (non-parameterized) introspectable paths, each once, in table
// order: the keys of GET /introspect's "endpoints".
std::vector<std::string_view> LiteralIntrospectablePaths();

// Replaces every {name} in `resource_template` with params[name]. Unknown
// names expand to "".
std::string ExpandResource(std::string_view resource_template,
                           const PathParams& params);

// The resource of `resource_template` for POST /introspect: each {name} takes
// the value given in `parameters` ("name=value" entries; the first '='
// splits; they win over path values) or else from `path_params`. A value
// that is empty -> InvalidArgument `parameter "<name>" has empty value`;
// placeholders left without a value -> InvalidArgument
// `missing parameter(s): <name>[, <name>...]`.
StatusOr<std::string> HydrateResource(
    std::string_view resource_template, const PathParams& path_params,
    const std::vector<std::string>& parameters);

}  // namespace iam::api

#endif  // IAMLEDGER_API_ROUTER_H_
