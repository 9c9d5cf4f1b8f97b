// JSON on the wire, as Chef Automate's gateway writes and reads it
// (automate-iam-v2.md §2; API.md for the additions). The JSON library stays
// inside json_codec.cc: everything here is std::string in, std::string out.
//
// Encoding contract (jsonpb OrigName + EmitDefaults): snake_case names in
// proto declaration order, every field always present (empty strings, false,
// []), enums by name, `{}` for deletes; compact by default, 2-space indent
// when `pretty`; no trailing newline.
//
// Decoding contract (jsonpb strict unless lax):
//  - the body is decoded as JSON whatever its Content-Type; an empty or
//    whitespace-only body is the empty message;
//  - the top level must be an object; nesting deeper than kMaxJsonDepth,
//    a duplicate key, a string holding NUL, trailing data or invalid JSON or
//    UTF-8 -> InvalidArgument;
//  - strict: an unknown field -> InvalidArgument
//    `unknown field "<name>" in chef.automate.api.iam.v2.<Msg>`
//    (nested statements name chef.automate.api.iam.v2.Statement); lax
//    (Content-Type: application/json+lax) ignores unknown fields;
//  - a field is accepted under its proto name or its lowerCamel JSON name
//    (skip_policies / skipPolicies); both at once -> InvalidArgument;
//  - null means "unset" for every field (`active` null -> std::nullopt);
//  - a value of the wrong JSON type -> InvalidArgument naming the field;
//  - `effect` accepts "ALLOW"/"DENY" or 0/1;
//  - path parameters override same-named body fields (§1 step 3).
// Decoding validates shape only; content rules (regexes, uniqueness, blank
// names) belong to core/decide.
#ifndef IAMLEDGER_API_JSON_CODEC_H_
#define IAMLEDGER_API_JSON_CODEC_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/http_types.h"
#include "api/router.h"
#include "core/decide.h"
#include "core/events.h"
#include "core/model.h"
#include "core/status.h"

namespace iam::api {

inline constexpr int kMaxJsonDepth = 16;

// ------------------------------------------------------------------ errors

// grpc-gateway v1.16 HTTPStatusFromCode (§2.6): OK 200, Cancelled 408,
// Unknown 500, InvalidArgument 400, DeadlineExceeded 504, NotFound 404,
// AlreadyExists 409, PermissionDenied 403, ResourceExhausted 429,
// FailedPrecondition 400, Aborted 409, OutOfRange 400, Unimplemented 501,
// Internal 500, Unavailable 503, DataLoss 500, Unauthenticated 401.
int HttpStatusFromCode(StatusCode code);

// A stale `If-Match` (API.md): a FailedPrecondition whose message starts with
// kIfMatchFailedPrefix. It is answered with HTTP 412 and code 9 in the body;
// every other FailedPrecondition stays 400 as in Automate.
inline constexpr std::string_view kIfMatchFailedPrefix =
    "If-Match precondition failed";
// FailedPrecondition "If-Match precondition failed: <detail>" (or without
// ": <detail>" when detail is empty).
Status IfMatchFailedError(std::string_view detail);
bool IsIfMatchFailed(const Status& status);

// HTTP status for a non-OK status: HttpStatusFromCode plus 412 for
// IsIfMatchFailed.
int HttpStatusFor(const Status& status);

// The text a client sees for `status`: its message, except for Internal,
// Unknown and DataLoss, whose details stay in the server log and are
// replaced by "internal error".
std::string PublicMessage(const Status& status);

// {"error": m, "code": <int>, "message": m, "details": []} with
// m = PublicMessage(status) (§2.5).
std::string ErrorBody(const Status& status, bool pretty);

// HttpStatusFor + ErrorBody + Content-Type: application/json.
HttpResponse ErrorResponse(const Status& status, bool pretty);

// 200 with `body` and Content-Type: application/json.
HttpResponse JsonResponse(std::string body, int status = 200);

// ---------------------------------------------------------------- encoding

// "CHEF_MANAGED" / "CUSTOM"; "ALLOW" / "DENY".
std::string_view PolicyTypeName(PolicyType type);
std::string_view EffectName(Effect effect);

// A token as Automate shows it: id, name, value, active, created_at,
// updated_at (RFC 3339, seconds, UTC "Z"), projects. `value` is the opened
// secret, or "" when it is not revealed (show-once mode).
//
// API.md "Token lifecycle" appends, only when set: expires_at and
// last_used_at (RFC 3339 UTC; whole seconds like created_at, else with
// microseconds). A token that uses neither is byte-identical to Automate's.
struct TokenWithValue {
  const Token* token = nullptr;
  std::string value;
  Micros last_used_at = 0;  // 0: never used (or not known)
};

// {"token": Token}
std::string TokenJson(const Token& token, std::string_view value, bool pretty,
                      Micros last_used_at = 0);
// POST /tokens/{id}:rotate: {"token": Token, "previous_value_expires_at": T}.
std::string RotatedTokenJson(const Token& token, std::string_view value,
                             bool pretty, Micros last_used_at = 0);
// {"tokens": [Token...]}
std::string TokenListJson(const std::vector<TokenWithValue>& tokens,
                          bool pretty);
// {"policy": Policy}: name, id, type, members, statements (effect, actions,
// role, resources, projects), projects.
std::string PolicyJson(const Policy& policy, bool pretty);
// {"policies": [...]}
std::string PolicyListJson(const std::vector<const Policy*>& policies,
                           bool pretty);
// {"role": Role}: name, id, type, actions, projects.
std::string RoleJson(const Role& role, bool pretty);
// {"roles": [...]}
std::string RoleListJson(const std::vector<const Role*>& roles, bool pretty);
// {"project": Project}: name, id, type, status ("NO_RULES": iamledger has no
// ingest rules).
std::string ProjectJson(const Project& project, bool pretty);
// {"projects": [...]} (also GET /introspect_projects).
std::string ProjectListJson(const std::vector<const Project*>& projects,
                            bool pretty);
// {"members": [...]} in the given order (core sorts them).
std::string MembersJson(const StringList& members, bool pretty);
// {"version": {"major": "V2", "minor": "V1"}}
std::string PolicyVersionJson(bool pretty);
// {} (every delete).
std::string EmptyJson(bool pretty);

// Introspection (§11): {"endpoints": {path: {"get", "put", "post",
// "delete", "patch"}}}, paths in map order.
struct MethodsAllowed {
  bool get = false;
  bool put = false;
  bool post = false;
  bool del = false;
  bool patch = false;
  friend bool operator==(const MethodsAllowed&,
                         const MethodsAllowed&) = default;
};
std::string EndpointsJson(const std::map<std::string, MethodsAllowed>& eps,
                          bool pretty);

// One event as history, the feed and `replay export` show it: seq, type,
// recorded_at (RFC 3339 with microseconds), actor, request_id, source,
// stream (only when `with_stream`), stream_version, data. `data` carries the
// event's fields in snake_case (statements and enums as in policies) and
// never the secret's digest or ciphertext.
std::string EventJson(const RecordedEvent& event, bool with_stream,
                      bool pretty);
// GET .../{id}/history: {"events": [event without "stream"...]}
std::string HistoryJson(const std::vector<RecordedEvent>& events, bool pretty);
// GET /events: {"events": [event with "stream"...], "next": <seq>}
std::string EventFeedJson(const std::vector<RecordedEvent>& events,
                          uint64_t next, bool pretty);

// ---------------------------------------------------------------- decoding

// POST /tokens: CreateTokenReq {id, name, active, value, projects}. The
// client's `value` ("" when omitted) is returned beside the command: the
// service turns it into cmd.secret; it never reaches core.
struct CreateTokenRequest {
  CreateToken cmd;
  std::string value;
};
StatusOr<CreateTokenRequest> DecodeCreateToken(std::string_view body, bool lax);
// PUT /tokens/{id}: UpdateTokenReq {id, name, active, projects}.
StatusOr<UpdateToken> DecodeUpdateToken(std::string_view body, bool lax,
                                        std::string_view path_id);
// POST /policies: CreatePolicyReq {id, name, members, statements, projects}.
StatusOr<CreatePolicy> DecodeCreatePolicy(std::string_view body, bool lax);
// PUT /policies/{id}: UpdatePolicyReq {id, name, members, statements,
// projects}.
StatusOr<UpdatePolicy> DecodeUpdatePolicy(std::string_view body, bool lax,
                                          std::string_view path_id);
// PUT /policies/{id}/members: ReplacePolicyMembersReq {id, members}.
StatusOr<ReplacePolicyMembers> DecodeReplacePolicyMembers(
    std::string_view body, bool lax, std::string_view path_id);
// POST /policies/{id}/members:add: AddPolicyMembersReq {id, members}.
StatusOr<AddPolicyMembers> DecodeAddPolicyMembers(std::string_view body,
                                                  bool lax,
                                                  std::string_view path_id);
// POST /policies/{id}/members:remove: RemovePolicyMembersReq {id, members}.
StatusOr<RemovePolicyMembers> DecodeRemovePolicyMembers(
    std::string_view body, bool lax, std::string_view path_id);
// POST /roles: CreateRoleReq {id, name, actions, projects}.
StatusOr<CreateRole> DecodeCreateRole(std::string_view body, bool lax);
// PUT /roles/{id}: UpdateRoleReq {id, name, actions, projects}.
StatusOr<UpdateRole> DecodeUpdateRole(std::string_view body, bool lax,
                                      std::string_view path_id);
// POST /projects: CreateProjectReq {id, name, skip_policies}.
StatusOr<CreateProject> DecodeCreateProject(std::string_view body, bool lax);
// PUT /projects/{id}: UpdateProjectReq {id, name}.
StatusOr<UpdateProject> DecodeUpdateProject(std::string_view body, bool lax,
                                            std::string_view path_id);

// POST /introspect_some: IntrospectSomeReq {paths}.
struct IntrospectSomeRequest {
  StringList paths;
};
StatusOr<IntrospectSomeRequest> DecodeIntrospectSome(std::string_view body,
                                                     bool lax);
// POST /introspect: IntrospectReq {path, parameters}.
struct IntrospectRequest {
  std::string path;
  StringList parameters;
};
StatusOr<IntrospectRequest> DecodeIntrospect(std::string_view body, bool lax);

// POST /admin/v1/backup (admin socket only): {"to": directory}.
struct BackupRequest {
  std::string to;
};
StatusOr<BackupRequest> DecodeBackup(std::string_view body, bool lax);

// ------------------------------------------------- token lifecycle

// POST /tokens:revoke: {"values": [...]}. The values are secrets: no error
// message ever quotes one.
struct RevokeTokensRequest {
  StringList values;
};
StatusOr<RevokeTokensRequest> DecodeRevokeTokens(std::string_view body,
                                                 bool lax);
// POST /tokens/{id}:rotate: {"grace_seconds": N} (an integer, or a decimal
// string as jsonpb allows); the range is core's rule.
struct RotateTokenRequest {
  std::string id;
  std::optional<int64_t> grace_seconds;
};
StatusOr<RotateTokenRequest> DecodeRotateToken(std::string_view body, bool lax,
                                               std::string_view path_id);
// {"revoked": N}
std::string RevokedJson(size_t revoked, bool pretty);

// Any write route of the table in one call: the body of a POST/PUT decoded
// as above with the path's `id` applied, or the Delete* command of a DELETE
// route (whose body is ignored, as grpc-gateway does). `token_value` is the
// client's `value` for kCreateToken and "" otherwise. Introspection and read
// routes are not commands -> InvalidArgument("not a command route").
struct DecodedCommand {
  Command command;
  std::string token_value;
};
StatusOr<DecodedCommand> DecodeCommand(RouteId route, std::string_view body,
                                       bool lax, std::string_view path_id);

}  // namespace iam::api

#endif  // IAMLEDGER_API_JSON_CODEC_H_
