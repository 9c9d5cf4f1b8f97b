#include "api/router.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>

#include "api/json_codec.h"

namespace iam::api {
namespace {

// The table. Paths are spelled out in full so that it reads like §10.
const std::vector<RouteInfo>& Table() {
  static const std::vector<RouteInfo>* const table = [] {
    using R = RouteId;
    auto* t = new std::vector<RouteInfo>{
        // ------------------------------------------------------- tokens
        {R::kCreateToken, "Tokens/CreateToken", "POST", "/apis/iam/v2/tokens",
         "iam:tokens", "iam:tokens:create", true},
        {R::kListTokens, "Tokens/ListTokens", "GET", "/apis/iam/v2/tokens",
         "iam:tokens", "iam:tokens:list"},
        {R::kGetToken, "Tokens/GetToken", "GET", "/apis/iam/v2/tokens/{id}",
         "iam:tokens:{id}", "iam:tokens:get"},
        {R::kUpdateToken, "Tokens/UpdateToken", "PUT",
         "/apis/iam/v2/tokens/{id}", "iam:tokens:{id}", "iam:tokens:update",
         true},
        {R::kDeleteToken, "Tokens/DeleteToken", "DELETE",
         "/apis/iam/v2/tokens/{id}", "iam:tokens:{id}", "iam:tokens:delete"},
        // ----------------------------------------------------- policies
        {R::kCreatePolicy, "Policies/CreatePolicy", "POST",
         "/apis/iam/v2/policies", "iam:policies", "iam:policies:create", true},
        {R::kListPolicies, "Policies/ListPolicies", "GET",
         "/apis/iam/v2/policies", "iam:policies", "iam:policies:list"},
        {R::kGetPolicy, "Policies/GetPolicy", "GET",
         "/apis/iam/v2/policies/{id}", "iam:policies:{id}", "iam:policies:get"},
        {R::kUpdatePolicy, "Policies/UpdatePolicy", "PUT",
         "/apis/iam/v2/policies/{id}", "iam:policies:{id}",
         "iam:policies:update", true},
        {R::kDeletePolicy, "Policies/DeletePolicy", "DELETE",
         "/apis/iam/v2/policies/{id}", "iam:policies:{id}",
         "iam:policies:delete"},
        {R::kGetPolicyVersion, "Policies/GetPolicyVersion", "GET",
         "/apis/iam/v2/policy_version", "iam:policyVersion",
         "iam:policies:get"},
        // ---------------------------------------------- policy members
        {R::kListPolicyMembers, "Policies/ListPolicyMembers", "GET",
         "/apis/iam/v2/policies/{id}/members", "iam:policies:{id}:members",
         "iam:policyMembers:get"},
        {R::kReplacePolicyMembers, "Policies/ReplacePolicyMembers", "PUT",
         "/apis/iam/v2/policies/{id}/members", "iam:policies:{id}:members",
         "iam:policyMembers:update", true},
        {R::kAddPolicyMembers, "Policies/AddPolicyMembers", "POST",
         "/apis/iam/v2/policies/{id}/members:add", "iam:policies:{id}:members",
         "iam:policyMembers:create", true},
        {R::kRemovePolicyMembers, "Policies/RemovePolicyMembers", "POST",
         "/apis/iam/v2/policies/{id}/members:remove",
         "iam:policies:{id}:members", "iam:policyMembers:delete", true},
        // -------------------------------------------------------- roles
        {R::kCreateRole, "Policies/CreateRole", "POST", "/apis/iam/v2/roles",
         "iam:roles", "iam:roles:create", true},
        {R::kListRoles, "Policies/ListRoles", "GET", "/apis/iam/v2/roles",
         "iam:roles", "iam:roles:list"},
        {R::kGetRole, "Policies/GetRole", "GET", "/apis/iam/v2/roles/{id}",
         "iam:roles:{id}", "iam:roles:get"},
        {R::kUpdateRole, "Policies/UpdateRole", "PUT",
         "/apis/iam/v2/roles/{id}", "iam:roles:{id}", "iam:roles:update", true},
        {R::kDeleteRole, "Policies/DeleteRole", "DELETE",
         "/apis/iam/v2/roles/{id}", "iam:roles:{id}", "iam:roles:delete"},
        // ----------------------------------------------------- projects
        {R::kCreateProject, "Projects/CreateProject", "POST",
         "/apis/iam/v2/projects", "iam:projects", "iam:projects:create", true},
        {R::kListProjects, "Projects/ListProjects", "GET",
         "/apis/iam/v2/projects", "iam:projects", "iam:projects:list"},
        {R::kGetProject, "Projects/GetProject", "GET",
         "/apis/iam/v2/projects/{id}", "iam:projects:{id}", "iam:projects:get"},
        {R::kUpdateProject, "Projects/UpdateProject", "PUT",
         "/apis/iam/v2/projects/{id}", "iam:projects:{id}",
         "iam:projects:update", true},
        {R::kDeleteProject, "Projects/DeleteProject", "DELETE",
         "/apis/iam/v2/projects/{id}", "iam:projects:{id}",
         "iam:projects:delete"},
        // ------------------------------------------------ introspection
        {R::kIntrospectAllProjects, "Policies/IntrospectAllProjects", "GET",
         "/apis/iam/v2/introspect_projects", "iam:introspect",
         "iam:introspect:getAllProjects"},
        {R::kIntrospectAll, "Authorization/IntrospectAll", "GET",
         "/apis/iam/v2/introspect", "iam:introspect", "iam:introspect:getAll"},
        {R::kIntrospectSome, "Authorization/IntrospectSome", "POST",
         "/apis/iam/v2/introspect_some", "iam:introspect",
         "iam:introspect:getSome", true},
        {R::kIntrospect, "Authorization/Introspect", "POST",
         "/apis/iam/v2/introspect", "iam:introspect", "iam:introspect:get",
         true},
        // ---------------------------------------- API.md: history, feed
        {R::kTokenHistory, "History/TokenHistory", "GET",
         "/apis/iam/v2/tokens/{id}/history", "iam:tokens:{id}",
         "iam:tokens:get"},
        {R::kPolicyHistory, "History/PolicyHistory", "GET",
         "/apis/iam/v2/policies/{id}/history", "iam:policies:{id}",
         "iam:policies:get"},
        {R::kRoleHistory, "History/RoleHistory", "GET",
         "/apis/iam/v2/roles/{id}/history", "iam:roles:{id}", "iam:roles:get"},
        {R::kProjectHistory, "History/ProjectHistory", "GET",
         "/apis/iam/v2/projects/{id}/history", "iam:projects:{id}",
         "iam:projects:get"},
        {R::kListEvents, "Events/ListEvents", "GET", "/apis/iam/v2/events",
         "iam:events", "iam:events:list"},
        // -------------------------------------------- API.md: audit
        {R::kAuditCheck, "Audit/Check", "GET", "/apis/iam/v2/audit/check",
         "iam:audit", "iam:audit:read"},
        {R::kAuditWho, "Audit/Who", "GET", "/apis/iam/v2/audit/who",
         "iam:audit", "iam:audit:read"},
        {R::kAuditDiff, "Audit/Diff", "GET", "/apis/iam/v2/audit/diff",
         "iam:audit", "iam:audit:read"},
        {R::kAuditWhatIf, "Audit/WhatIf", "POST", "/apis/iam/v2/audit/what-if",
         "iam:audit", "iam:audit:read", true},
        // ------------------------------------------ API.md: operations
        {R::kHealthz, "Ops/Healthz", "GET", "/healthz", "", "", false, false,
         false},
        {R::kReadyz, "Ops/Readyz", "GET", "/readyz", "", "", false, false,
         false},
        {R::kMetrics, "Ops/Metrics", "GET", "/metrics", "", "", false, false,
         false},
        // ------------------------------------ API.md: token lifecycle
        {R::kRotateToken, "Tokens/RotateToken", "POST",
         "/apis/iam/v2/tokens/{id}:rotate", "iam:tokens:{id}",
         "iam:tokens:update", true},
        // Unauthenticated: holding the value is the proof (rate-limited).
        {R::kRevokeTokens, "Tokens/RevokeTokens", "POST",
         "/apis/iam/v2/tokens:revoke", "", "", true, false, false},
    };
    return t;
  }();
  return *table;
}

// Splits "/a/b" into {"a", "b"}; "/" into {""}; "/a/" into {"a", ""}.
// `path` starts with '/'.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (true) {
    const size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      out.push_back(path.substr(start));
      return out;
    }
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
}

// "{id}", or "{id}:verb" (a parameter followed by a literal suffix, as
// grpc-gateway's custom methods).
bool IsParam(std::string_view segment) {
  return segment.size() >= 2 && segment.front() == '{' &&
         segment.find('}') != std::string_view::npos;
}

std::string_view ParamName(std::string_view segment) {
  return segment.substr(1, segment.find('}') - 1);
}

// ":verb" of "{id}:verb"; "" for "{id}".
std::string_view ParamSuffix(std::string_view segment) {
  return segment.substr(segment.find('}') + 1);
}

struct CompiledRoute {
  const RouteInfo* info;
  std::vector<std::string_view> segments;
};

const std::vector<CompiledRoute>& Compiled() {
  static const std::vector<CompiledRoute>* const compiled = [] {
    auto* c = new std::vector<CompiledRoute>;
    for (const RouteInfo& r : Table()) {
      c->push_back({&r, SplitPath(r.path)});
    }
    return c;
  }();
  return *compiled;
}

// The longest route template, in segments.
constexpr size_t kMaxRouteSegments = 8;

// The compiled routes with `n` segments, in table order (so that Allow
// lists methods as before); empty beyond kMaxRouteSegments.
const std::vector<const CompiledRoute*>& RoutesWithSegments(size_t n) {
  static const auto* const by_count = [] {
    auto* v = new std::vector<std::vector<const CompiledRoute*>>(
        kMaxRouteSegments + 1);
    for (const CompiledRoute& r : Compiled()) {
      if (r.segments.size() > kMaxRouteSegments) std::abort();  // raise it
      (*v)[r.segments.size()].push_back(&r);
    }
    return v;
  }();
  return (*by_count)[n <= kMaxRouteSegments ? n : 0];
}

// `resource_template` with each {name} replaced by `value(name)` (a
// string_view; "" when there is no such parameter), appended to *out. The
// one expansion behind both the matcher's resource and ExpandResource.
template <typename Lookup>
void AppendExpanded(std::string_view resource_template, const Lookup& value,
                    std::string* out) {
  size_t i = 0;
  while (i < resource_template.size()) {
    const size_t open = resource_template.find('{', i);
    if (open == std::string_view::npos) break;
    const size_t close = resource_template.find('}', open);
    if (close == std::string_view::npos) break;
    out->append(resource_template.substr(i, open - i));
    out->append(value(resource_template.substr(open + 1, close - open - 1)));
    i = close + 1;
  }
  out->append(resource_template.substr(i));
}

// `resource_template` expanded with the match's parameters, into *out.
void ExpandInto(std::string_view resource_template, const RouteMatch& m,
                std::string* out) {
  out->clear();
  AppendExpanded(
      resource_template,
      [&m](std::string_view name) -> std::string_view { return m.Param(name); },
      out);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

RouteMatch BadTarget(std::string message) {
  RouteMatch m;
  m.outcome = MatchOutcome::kBadTarget;
  m.status =
      InvalidArgumentError("invalid request path: " + std::move(message));
  return m;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = HeaderNameLess::Lower(c);
  return out;
}

// Go's mime.ParseMediaType, reduced to what we need: the lowercased type
// before any ';'.
std::string MediaType(std::string_view value) {
  const size_t semi = value.find(';');
  if (semi != std::string_view::npos) value = value.substr(0, semi);
  return LowerAscii(Trim(value));
}

bool IsRegisteredMime(std::string_view v) {
  return v == "*" || v == "application/json+lax" ||
         v == "application/json+pretty";
}

}  // namespace

const std::vector<RouteInfo>& AllRoutes() { return Table(); }

const RouteInfo* FindRoute(RouteId id) {
  for (const RouteInfo& r : Table()) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const std::string& RouteMatch::Param(std::string_view name) const {
  static const std::string* const kEmpty = new std::string;
  for (size_t i = 0; i < num_params; ++i) {
    if (param_names[i] == name) return param_values[i];
  }
  return *kEmpty;
}

std::optional<std::string> RouteMatch::Query(std::string_view key) const {
  auto it = query.find(std::string(key));
  if (it == query.end()) return std::nullopt;
  return it->second;
}

bool RouteMatch::HasQuery(std::string_view key) const {
  return query.find(std::string(key)) != query.end();
}

std::optional<std::string> PercentDecode(std::string_view in,
                                         bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return std::nullopt;  // truncated escape
      const int hi = HexValue(in[i + 1]);
      const int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

StatusOr<QueryParams> ParseQuery(std::string_view raw) {
  QueryParams out;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t amp = raw.find('&', start);
    if (amp == std::string_view::npos) amp = raw.size();
    const std::string_view pair = raw.substr(start, amp - start);
    start = amp + 1;
    if (pair.empty()) {
      if (amp == raw.size()) break;
      continue;
    }
    // Go also splits on ';' historically; since Go 1.17 a ';' is an error.
    if (pair.find(';') != std::string_view::npos) {
      return InvalidArgumentError("invalid query string: ';' is not allowed");
    }
    const size_t eq = pair.find('=');
    const std::string_view raw_key = pair.substr(0, eq);
    const std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    auto key = PercentDecode(raw_key, true);
    auto value = PercentDecode(raw_value, true);
    if (!key || !value) {
      return InvalidArgumentError("invalid query string: bad percent-encoding");
    }
    if (key->find('\0') != std::string::npos ||
        value->find('\0') != std::string::npos) {
      return InvalidArgumentError("invalid query string: NUL character");
    }
    out.emplace(std::move(*key), std::move(*value));
    if (amp == raw.size()) break;
  }
  return out;
}

StatusOr<uint64_t> QueryUint(const QueryParams& query, std::string_view key,
                             uint64_t default_value, uint64_t max) {
  auto it = query.find(std::string(key));
  if (it == query.end()) return default_value;
  const std::string& v = it->second;
  auto bad = [&] {
    return InvalidArgumentError(
        "invalid value for query parameter \"" + std::string(key) +
        "\": must be an integer between 0 and " + std::to_string(max));
  };
  if (v.empty() || v.size() > 20) return bad();
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return bad();
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10) return bad();
    n = n * 10 + digit;
  }
  if (n > max) return bad();
  return n;
}

RouteMatch Match(std::string_view method, std::string_view target) {
  // Origin-form only: absolute-form ("http://h/p"), authority-form and "*"
  // are refused.
  if (target.empty() || target.front() != '/') {
    return BadTarget("the request target must start with '/'");
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '#') {
      return BadTarget("forbidden character in the request target");
    }
  }
  const size_t qmark = target.find('?');
  const std::string_view raw_path = target.substr(0, qmark);
  RouteMatch m;
  if (qmark != std::string_view::npos) {
    auto q = ParseQuery(target.substr(qmark + 1));
    if (!q.ok()) {
      RouteMatch bad;
      bad.outcome = MatchOutcome::kBadTarget;
      bad.status = q.status();
      return bad;
    }
    m.query = std::move(*q);
  }

  // The decoded segments: views of `target` where nothing was escaped,
  // else of `decoded` (reserved up front, so views into it stay valid).
  std::string_view segments[kMaxRouteSegments];
  size_t num_segments = 0;
  std::string decoded;
  if (raw_path.find('%') != std::string_view::npos) {
    decoded.reserve(raw_path.size());
  }
  for (size_t start = 1;;) {
    size_t slash = raw_path.find('/', start);
    if (slash == std::string_view::npos) slash = raw_path.size();
    const std::string_view raw = raw_path.substr(start, slash - start);
    std::string_view seg = raw;
    if (raw.find('%') != std::string_view::npos) {
      for (size_t i = 0; i + 2 < raw.size(); ++i) {
        if (raw[i] == '%' && raw[i + 1] == '2' &&
            (raw[i + 2] == 'F' || raw[i + 2] == 'f')) {
          return BadTarget("encoded '/' inside a path segment");
        }
      }
      auto d = PercentDecode(raw, false);
      if (!d) return BadTarget("bad percent-encoding");
      if (d->find('\0') != std::string::npos) {
        return BadTarget("NUL character");
      }
      const size_t at = decoded.size();
      decoded += *d;
      seg = std::string_view(decoded).substr(at, d->size());
    }
    if (seg == "." || seg == "..") {
      return BadTarget("'.' and '..' segments are not allowed");
    }
    if (!IsValidUtf8(seg)) return BadTarget("not valid UTF-8");
    // Longer paths match no route, but every segment is still checked.
    if (num_segments < kMaxRouteSegments) segments[num_segments] = seg;
    ++num_segments;
    if (slash == raw_path.size()) break;
    start = slash + 1;
  }
  if (num_segments > kMaxRouteSegments) {
    m.outcome = MatchOutcome::kNotFound;
    return m;
  }

  std::string allow;
  for (const CompiledRoute* route : RoutesWithSegments(num_segments)) {
    std::string_view values[RouteMatch::kMaxParams];
    std::string_view names[RouteMatch::kMaxParams];
    size_t num_params = 0;
    bool path_matches = true;
    for (size_t i = 0; i < num_segments && path_matches; ++i) {
      const std::string_view tmpl = route->segments[i];
      const std::string_view seg = segments[i];
      if (IsParam(tmpl)) {
        const std::string_view suffix = ParamSuffix(tmpl);
        if (seg.size() <= suffix.size() || !seg.ends_with(suffix) ||
            num_params == RouteMatch::kMaxParams) {
          path_matches = false;
          break;
        }
        names[num_params] = ParamName(tmpl);
        values[num_params] = seg.substr(0, seg.size() - suffix.size());
        ++num_params;
      } else if (tmpl != seg) {
        path_matches = false;
      }
    }
    if (!path_matches) continue;
    if (route->info->method == method) {
      m.outcome = MatchOutcome::kMatched;
      m.route = route->info;
      m.num_params = num_params;
      for (size_t i = 0; i < num_params; ++i) {
        m.param_names[i] = names[i];
        m.param_values[i].assign(values[i]);
      }
      ExpandInto(route->info->resource, m, &m.resource);
      m.action.assign(route->info->action);
      return m;
    }
    if (allow.find(route->info->method) == std::string::npos) {
      if (!allow.empty()) allow += ", ";
      allow += route->info->method;
    }
  }
  if (!allow.empty()) {
    m.outcome = MatchOutcome::kMethodNotAllowed;
    m.allow = std::move(allow);
  } else {
    m.outcome = MatchOutcome::kNotFound;
  }
  return m;
}

HttpResponse RoutingErrorResponse(const RouteMatch& match) {
  HttpResponse r;
  switch (match.outcome) {
    case MatchOutcome::kBadTarget:
      return ErrorResponse(match.status.ok()
                               ? InvalidArgumentError("invalid request path")
                               : match.status,
                           /*pretty=*/false);
    case MatchOutcome::kMethodNotAllowed:
      r.status = 405;
      r.body = "Method Not Allowed\n";
      r.headers.emplace("Allow", match.allow);
      break;
    case MatchOutcome::kNotFound:
    case MatchOutcome::kMatched:  // a caller bug; answer as unknown
      r.status = 404;
      r.body = "Not Found\n";
      break;
  }
  r.headers.emplace("Content-Type", "text/plain; charset=utf-8");
  r.headers.emplace("X-Content-Type-Options", "nosniff");
  return r;
}

Negotiation Negotiate(const Headers& headers, const QueryParams& query) {
  Negotiation n;
  std::string inbound;  // registered media type of Content-Type, or ""
  for (std::string_view v : HeaderValues(headers, "content-type")) {
    const std::string media = MediaType(v);
    if (IsRegisteredMime(media)) {
      inbound = media;
      break;
    }
  }
  n.lax = inbound == "application/json+lax";

  const std::vector<std::string_view> accepts = HeaderValues(headers, "accept");
  std::string outbound;
  for (std::string_view v : accepts) {
    if (IsRegisteredMime(v)) {
      outbound = std::string(v);
      break;
    }
  }
  // Automate's ?pretty: only when the client did not ask for a type.
  if (query.find("pretty") != query.end()) {
    const std::string_view accept = HeaderValue(headers, "accept");
    if (accept.empty() || accept == "*/*") {
      outbound = "application/json+pretty";
    }
  }
  if (outbound.empty()) outbound = inbound;  // grpc-gateway: outbound=inbound
  n.pretty = outbound == "application/json+pretty";
  return n;
}

std::vector<TemplateMatch> MatchTemplates(std::string_view concrete_path) {
  std::vector<TemplateMatch> out;
  if (concrete_path.empty() || concrete_path.front() != '/') return out;
  const std::vector<std::string_view> segments = SplitPath(concrete_path);
  for (const CompiledRoute& route : Compiled()) {
    if (!route.info->introspectable) continue;
    if (route.segments.size() != segments.size()) continue;
    TemplateMatch tm;
    tm.route = route.info;
    bool ok = true;
    for (size_t i = 0; i < segments.size() && ok; ++i) {
      const std::string_view tmpl = route.segments[i];
      if (IsParam(tmpl)) {
        const std::string_view suffix = ParamSuffix(tmpl);
        ok = segments[i].ends_with(suffix);
        tm.params[std::string(ParamName(tmpl))] = std::string(
            segments[i].substr(0, segments[i].size() - suffix.size()));
      } else {
        ok = tmpl == segments[i];
      }
    }
    if (ok) out.push_back(std::move(tm));
  }
  return out;
}

std::vector<const RouteInfo*> RoutesWithLiteralPath(std::string_view path) {
  std::vector<const RouteInfo*> out;
  for (const RouteInfo& r : Table()) {
    if (r.introspectable && r.path == path &&
        r.path.find('{') == std::string_view::npos) {
      out.push_back(&r);
    }
  }
  return out;
}

std::vector<std::string_view> LiteralIntrospectablePaths() {
  std::vector<std::string_view> out;
  for (const RouteInfo& r : Table()) {
    if (!r.introspectable || r.path.find('{') != std::string_view::npos) {
      continue;
    }
    if (std::find(out.begin(), out.end(), r.path) == out.end()) {
      out.push_back(r.path);
    }
  }
  return out;
}

std::string ExpandResource(std::string_view resource_template,
                           const PathParams& params) {
  std::string out;
  AppendExpanded(
      resource_template,
      [&params](std::string_view name) -> std::string_view {
        auto it = params.find(std::string(name));
        return it == params.end() ? std::string_view() : it->second;
      },
      &out);
  return out;
}

StatusOr<std::string> HydrateResource(
    std::string_view resource_template, const PathParams& path_params,
    const std::vector<std::string>& parameters) {
  PathParams explicit_params;
  for (const std::string& p : parameters) {
    const size_t eq = p.find('=');
    std::string name = p.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : p.substr(eq + 1);
    explicit_params.emplace(std::move(name), std::move(value));
  }
  std::string out;
  std::vector<std::string> missing;
  std::optional<std::string> first_empty;
  AppendExpanded(
      resource_template,
      [&](std::string_view name) -> std::string_view {
        const std::string key(name);
        const std::string* value = nullptr;
        if (auto it = explicit_params.find(key); it != explicit_params.end()) {
          value = &it->second;
        } else if (auto pit = path_params.find(key); pit != path_params.end()) {
          value = &pit->second;
        }
        if (value == nullptr) {
          missing.push_back(key);
          return {};
        }
        if (value->empty() && !first_empty) first_empty = key;
        return *value;
      },
      &out);
  if (first_empty) {
    return InvalidArgumentError("parameter \"" + *first_empty +
                                "\" has empty value");
  }
  if (!missing.empty()) {
    std::string names;
    for (const std::string& n : missing) {
      if (!names.empty()) names += ", ";
      names += n;
    }
    return InvalidArgumentError("missing parameter(s): " + names);
  }
  return out;
}

bool IsCommandRoute(RouteId r) {
  switch (r) {
    case RouteId::kCreateToken:
    case RouteId::kUpdateToken:
    case RouteId::kDeleteToken:
    case RouteId::kCreatePolicy:
    case RouteId::kUpdatePolicy:
    case RouteId::kDeletePolicy:
    case RouteId::kReplacePolicyMembers:
    case RouteId::kAddPolicyMembers:
    case RouteId::kRemovePolicyMembers:
    case RouteId::kCreateRole:
    case RouteId::kUpdateRole:
    case RouteId::kDeleteRole:
    case RouteId::kCreateProject:
    case RouteId::kUpdateProject:
    case RouteId::kDeleteProject:
    case RouteId::kRotateToken:
      return true;
    default:
      return false;
  }
}

}  // namespace iam::api
