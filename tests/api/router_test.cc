#include "api/router.h"

#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

namespace iam::api {
namespace {

struct Expect {
  const char* method;
  const char* target;
  RouteId route;
  const char* resource;
  const char* action;
  const char* id;  // "" when the route has no {id}
};

// automate-iam-v2.md §10 plus API.md, one concrete request each.
const std::vector<Expect>& Cases() {
  static const std::vector<Expect> cases = {
      {"POST", "/apis/iam/v2/tokens", RouteId::kCreateToken, "iam:tokens",
       "iam:tokens:create", ""},
      {"GET", "/apis/iam/v2/tokens", RouteId::kListTokens, "iam:tokens",
       "iam:tokens:list", ""},
      {"GET", "/apis/iam/v2/tokens/tok-1", RouteId::kGetToken,
       "iam:tokens:tok-1", "iam:tokens:get", "tok-1"},
      {"PUT", "/apis/iam/v2/tokens/tok-1", RouteId::kUpdateToken,
       "iam:tokens:tok-1", "iam:tokens:update", "tok-1"},
      {"DELETE", "/apis/iam/v2/tokens/tok-1", RouteId::kDeleteToken,
       "iam:tokens:tok-1", "iam:tokens:delete", "tok-1"},
      {"GET", "/apis/iam/v2/tokens/tok-1/history", RouteId::kTokenHistory,
       "iam:tokens:tok-1", "iam:tokens:get", "tok-1"},
      {"POST", "/apis/iam/v2/policies", RouteId::kCreatePolicy, "iam:policies",
       "iam:policies:create", ""},
      {"GET", "/apis/iam/v2/policies", RouteId::kListPolicies, "iam:policies",
       "iam:policies:list", ""},
      {"GET", "/apis/iam/v2/policies/p1", RouteId::kGetPolicy,
       "iam:policies:p1", "iam:policies:get", "p1"},
      {"PUT", "/apis/iam/v2/policies/p1", RouteId::kUpdatePolicy,
       "iam:policies:p1", "iam:policies:update", "p1"},
      {"DELETE", "/apis/iam/v2/policies/p1", RouteId::kDeletePolicy,
       "iam:policies:p1", "iam:policies:delete", "p1"},
      {"GET", "/apis/iam/v2/policies/p1/history", RouteId::kPolicyHistory,
       "iam:policies:p1", "iam:policies:get", "p1"},
      {"GET", "/apis/iam/v2/policy_version", RouteId::kGetPolicyVersion,
       "iam:policyVersion", "iam:policies:get", ""},
      {"GET", "/apis/iam/v2/policies/p1/members", RouteId::kListPolicyMembers,
       "iam:policies:p1:members", "iam:policyMembers:get", "p1"},
      {"PUT", "/apis/iam/v2/policies/p1/members",
       RouteId::kReplacePolicyMembers, "iam:policies:p1:members",
       "iam:policyMembers:update", "p1"},
      {"POST", "/apis/iam/v2/policies/p1/members:add",
       RouteId::kAddPolicyMembers, "iam:policies:p1:members",
       "iam:policyMembers:create", "p1"},
      {"POST", "/apis/iam/v2/policies/p1/members:remove",
       RouteId::kRemovePolicyMembers, "iam:policies:p1:members",
       "iam:policyMembers:delete", "p1"},
      {"POST", "/apis/iam/v2/roles", RouteId::kCreateRole, "iam:roles",
       "iam:roles:create", ""},
      {"GET", "/apis/iam/v2/roles", RouteId::kListRoles, "iam:roles",
       "iam:roles:list", ""},
      {"GET", "/apis/iam/v2/roles/r1", RouteId::kGetRole, "iam:roles:r1",
       "iam:roles:get", "r1"},
      {"PUT", "/apis/iam/v2/roles/r1", RouteId::kUpdateRole, "iam:roles:r1",
       "iam:roles:update", "r1"},
      {"DELETE", "/apis/iam/v2/roles/r1", RouteId::kDeleteRole, "iam:roles:r1",
       "iam:roles:delete", "r1"},
      {"GET", "/apis/iam/v2/roles/r1/history", RouteId::kRoleHistory,
       "iam:roles:r1", "iam:roles:get", "r1"},
      {"POST", "/apis/iam/v2/projects", RouteId::kCreateProject, "iam:projects",
       "iam:projects:create", ""},
      {"GET", "/apis/iam/v2/projects", RouteId::kListProjects, "iam:projects",
       "iam:projects:list", ""},
      {"GET", "/apis/iam/v2/projects/pr1", RouteId::kGetProject,
       "iam:projects:pr1", "iam:projects:get", "pr1"},
      {"PUT", "/apis/iam/v2/projects/pr1", RouteId::kUpdateProject,
       "iam:projects:pr1", "iam:projects:update", "pr1"},
      {"DELETE", "/apis/iam/v2/projects/pr1", RouteId::kDeleteProject,
       "iam:projects:pr1", "iam:projects:delete", "pr1"},
      {"GET", "/apis/iam/v2/projects/pr1/history", RouteId::kProjectHistory,
       "iam:projects:pr1", "iam:projects:get", "pr1"},
      {"GET", "/apis/iam/v2/introspect_projects",
       RouteId::kIntrospectAllProjects, "iam:introspect",
       "iam:introspect:getAllProjects", ""},
      {"GET", "/apis/iam/v2/introspect", RouteId::kIntrospectAll,
       "iam:introspect", "iam:introspect:getAll", ""},
      {"POST", "/apis/iam/v2/introspect_some", RouteId::kIntrospectSome,
       "iam:introspect", "iam:introspect:getSome", ""},
      {"POST", "/apis/iam/v2/introspect", RouteId::kIntrospect,
       "iam:introspect", "iam:introspect:get", ""},
      {"GET", "/apis/iam/v2/events", RouteId::kListEvents, "iam:events",
       "iam:events:list", ""},
      {"GET", "/apis/iam/v2/audit/check", RouteId::kAuditCheck, "iam:audit",
       "iam:audit:read", ""},
      {"GET", "/apis/iam/v2/audit/who", RouteId::kAuditWho, "iam:audit",
       "iam:audit:read", ""},
      {"GET", "/apis/iam/v2/audit/diff", RouteId::kAuditDiff, "iam:audit",
       "iam:audit:read", ""},
      {"POST", "/apis/iam/v2/audit/what-if", RouteId::kAuditWhatIf, "iam:audit",
       "iam:audit:read", ""},
      {"GET", "/healthz", RouteId::kHealthz, "", "", ""},
      {"GET", "/readyz", RouteId::kReadyz, "", "", ""},
      {"GET", "/metrics", RouteId::kMetrics, "", "", ""},
      {"POST", "/apis/iam/v2/tokens:revoke", RouteId::kRevokeTokens, "", "",
       ""},
      {"POST", "/apis/iam/v2/tokens/tok-1:rotate", RouteId::kRotateToken,
       "iam:tokens:tok-1", "iam:tokens:update", "tok-1"},
  };
  return cases;
}

TEST_CASE("router: every route matches with its expanded resource and action") {
  std::set<RouteId> seen;
  for (const Expect& e : Cases()) {
    CAPTURE(e.method);
    CAPTURE(e.target);
    RouteMatch m = Match(e.method, e.target);
    REQUIRE(m.ok());
    CHECK(m.id() == e.route);
    CHECK(m.resource == e.resource);
    CHECK(m.action == e.action);
    CHECK(m.Param("id") == e.id);
    seen.insert(e.route);
  }
  // The table has exactly the routes above, each once.
  CHECK(seen.size() == AllRoutes().size());
  CHECK(Cases().size() == AllRoutes().size());
}

TEST_CASE("router: table properties") {
  for (const RouteInfo& r : AllRoutes()) {
    CAPTURE(r.path);
    CHECK(FindRoute(r.id) == &r);
    CHECK(r.has_body == (r.method == "POST" || r.method == "PUT"));
    // POST /tokens:revoke is the one unauthenticated IAM route (API.md).
    const bool iam =
        r.path.rfind("/apis/iam/v2/", 0) == 0 && r.id != RouteId::kRevokeTokens;
    CHECK(r.authenticated == iam);
    CHECK(r.introspectable == iam);
    CHECK(r.resource.empty() == !iam);
    CHECK(r.action.empty() == !iam);
  }
  CHECK(FindRoute(RouteId::kNone) == nullptr);
}

TEST_CASE("router: path parameters are percent-decoded") {
  RouteMatch m = Match("GET", "/apis/iam/v2/tokens/a%20b%3Ac");
  REQUIRE(m.ok());
  CHECK(m.Param("id") == "a b:c");
  CHECK(m.resource == "iam:tokens:a b:c");
  // '+' is not a space in a path.
  m = Match("GET", "/apis/iam/v2/tokens/a+b");
  REQUIRE(m.ok());
  CHECK(m.Param("id") == "a+b");
  // Literals may be percent-encoded too (Go decodes the path first).
  m = Match("GET", "/apis/iam/v2/%74okens");
  REQUIRE(m.ok());
  CHECK(m.id() == RouteId::kListTokens);
  m = Match("POST", "/apis/iam/v2/policies/p1/members%3Aadd");
  REQUIRE(m.ok());
  CHECK(m.id() == RouteId::kAddPolicyMembers);
  // Double encoding decodes once.
  m = Match("GET", "/apis/iam/v2/tokens/%252e%252e");
  REQUIRE(m.ok());
  CHECK(m.Param("id") == "%2e%2e");
}

TEST_CASE("router: unknown paths are 404, wrong methods 405") {
  for (const char* t :
       {"/", "/apis", "/apis/iam/v2", "/apis/iam/v2/", "/apis/iam/v2/tokens/",
        "/apis/iam/v2//tokens", "/apis/iam/v2/tokens//", "/APIS/iam/v2/tokens",
        "/apis/iam/v2/Tokens", "/apis/iam/v1/tokens", "/apis/iam/v2/teams",
        "/apis/iam/v2/tokens/a/b", "/apis/iam/v2/policies/p1/members:frob",
        "/apis/iam/v2/policies//members", "/healthz/", "/apis/iam/v2/rules"}) {
    CAPTURE(t);
    RouteMatch m = Match("GET", t);
    CHECK(m.outcome == MatchOutcome::kNotFound);
  }
  RouteMatch m = Match("PATCH", "/apis/iam/v2/tokens/x");
  CHECK(m.outcome == MatchOutcome::kMethodNotAllowed);
  CHECK(m.allow == "GET, PUT, DELETE");
  m = Match("GET", "/apis/iam/v2/policies/p1/members:add");
  CHECK(m.outcome == MatchOutcome::kMethodNotAllowed);
  CHECK(m.allow == "POST");
  m = Match("DELETE", "/apis/iam/v2/tokens");
  CHECK(m.outcome == MatchOutcome::kMethodNotAllowed);
  CHECK(m.allow == "POST, GET");
  m = Match("get", "/apis/iam/v2/tokens");  // methods are case-sensitive
  CHECK(m.outcome == MatchOutcome::kMethodNotAllowed);
  m = Match("HEAD", "/healthz");
  CHECK(m.outcome == MatchOutcome::kMethodNotAllowed);
  m = Match("POST", "/apis/iam/v2/introspect");
  CHECK(m.id() == RouteId::kIntrospect);
  m = Match("PUT", "/apis/iam/v2/introspect");
  CHECK(m.allow == "GET, POST");

  HttpResponse r = RoutingErrorResponse(Match("GET", "/nope"));
  CHECK(r.status == 404);
  CHECK(r.body == "Not Found\n");
  CHECK(HeaderValue(r.headers, "content-type") == "text/plain; charset=utf-8");
  CHECK(HeaderValue(r.headers, "X-Content-Type-Options") == "nosniff");
  r = RoutingErrorResponse(Match("PATCH", "/apis/iam/v2/roles"));
  CHECK(r.status == 405);
  CHECK(r.body == "Method Not Allowed\n");
  CHECK(HeaderValue(r.headers, "allow") == "POST, GET");
}

TEST_CASE("router: dangerous targets are 400 with the JSON error body") {
  for (const char* t : {
           "/apis/iam/v2/tokens/a%2Fb",              // encoded slash
           "/apis/iam/v2/tokens/a%2fb",              // lower-case too
           "/apis/iam/v2/tokens/%2e%2e",             // encoded ..
           "/apis/iam/v2/tokens/..",                 // plain ..
           "/apis/iam/v2/tokens/.",                  // plain .
           "/apis/iam/v2/../v2/tokens",              // traversal
           "/apis/iam/v2/tokens/%2e%2e%2fetc",       // encoded ../
           "/apis/iam/v2/tokens/a%00",               // encoded NUL
           "/apis/iam/v2/tokens/%c0%af",             // overlong '/'
           "/apis/iam/v2/tokens/%ed%a0%80",          // surrogate
           "/apis/iam/v2/tokens/%ff",                // not UTF-8
           "/apis/iam/v2/tokens/%zz",                // bad escape
           "/apis/iam/v2/tokens/%4",                 // truncated escape
           "/apis/iam/v2/tokens/%",                  // truncated escape
           "http://example.com/apis/iam/v2/tokens",  // absolute-form
           "*",                                      // asterisk-form
           "example.com:443",                        // authority-form
           "",                                       // empty
           "/apis/iam/v2/tokens#frag",               // fragment
           "/apis/iam/v2/tokens?a=%zz",              // bad query escape
           "/apis/iam/v2/tokens?a=%00",              // NUL in query
           "/apis/iam/v2/tokens?a=1;b=2",            // ';' in query
       }) {
    CAPTURE(t);
    RouteMatch m = Match("GET", t);
    CHECK(m.outcome == MatchOutcome::kBadTarget);
    CHECK(m.status.code() == StatusCode::kInvalidArgument);
    HttpResponse r = RoutingErrorResponse(m);
    CHECK(r.status == 400);
    CHECK(HeaderValue(r.headers, "content-type") == "application/json");
    CHECK(r.body.find("\"code\":3") != std::string::npos);
  }
  // Raw control bytes and NUL never reach a handler.
  std::string with_nul = "/apis/iam/v2/tokens/a";
  with_nul.push_back('\0');
  CHECK(Match("GET", with_nul).outcome == MatchOutcome::kBadTarget);
  CHECK(Match("GET", "/apis/iam/v2/tokens/a b").outcome ==
        MatchOutcome::kBadTarget);
  CHECK(Match("GET", "/apis/iam/v2/tokens/a\r\nb").outcome ==
        MatchOutcome::kBadTarget);
  // Valid UTF-8 ids are routed (the id regex rejects them later).
  RouteMatch m = Match("GET", "/apis/iam/v2/tokens/%E2%80%AEabc");
  REQUIRE(m.ok());
  CHECK(m.Param("id") ==
        "\xE2\x80\xAE"
        "abc");
}

TEST_CASE("router: query strings") {
  RouteMatch m = Match(
      "GET", "/apis/iam/v2/events?after=12&limit=5&type=TokenCreated&pretty");
  REQUIRE(m.ok());
  CHECK(m.Query("after") == "12");
  CHECK(m.Query("limit") == "5");
  CHECK(m.Query("type") == "TokenCreated");
  CHECK(m.HasQuery("pretty"));
  CHECK(m.Query("pretty") == "");
  CHECK_FALSE(m.Query("wait").has_value());
  CHECK(m.id() == RouteId::kListEvents);

  auto q = ParseQuery("a=1&a=2&b=x+y%21&=v&k=&&c");
  REQUIRE(q.ok());
  CHECK(q->count("a") == 2);
  CHECK(q->find("a")->second == "1");
  CHECK(q->find("b")->second == "x y!");
  CHECK(q->find("")->second == "v");
  CHECK(q->find("k")->second == "");
  CHECK(q->count("c") == 1);
  CHECK(ParseQuery("").ok());
  CHECK(ParseQuery("")->empty());
  CHECK_FALSE(ParseQuery("a=%g0").ok());

  QueryParams params{{"after", "12"}, {"neg", "-1"},
                     {"big", "1001"}, {"empty", ""},
                     {"hex", "0x10"}, {"huge", "99999999999999999999999"},
                     {"max", "1000"}};
  CHECK(QueryUint(params, "after", 0, 1000).value() == 12);
  CHECK(QueryUint(params, "absent", 100, 1000).value() == 100);
  CHECK(QueryUint(params, "max", 0, 1000).value() == 1000);
  for (const char* bad : {"neg", "big", "empty", "hex", "huge"}) {
    CAPTURE(bad);
    auto v = QueryUint(params, bad, 0, 1000);
    REQUIRE_FALSE(v.ok());
    CHECK(v.status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("router: negotiation of lax and pretty") {
  auto n = [](Headers h, const char* query = "") {
    return Negotiate(h, ParseQuery(query).value());
  };
  CHECK_FALSE(n({}).lax);
  CHECK_FALSE(n({}).pretty);
  CHECK(n({{"Content-Type", "application/json+lax"}}).lax);
  CHECK(n({{"content-type", "Application/JSON+lax; charset=utf-8"}}).lax);
  CHECK_FALSE(n({{"Content-Type", "application/json"}}).lax);
  CHECK_FALSE(n({{"Content-Type", "application/json+lax"}}).pretty);
  CHECK(n({{"Accept", "application/json+pretty"}}).pretty);
  // Accept wins over the Content-Type's marshaler...
  CHECK(n({{"Accept", "application/json+pretty"},
           {"Content-Type", "application/json+lax"}})
            .pretty);
  CHECK(n({{"Accept", "application/json+pretty"},
           {"Content-Type", "application/json+lax"}})
            .lax);
  // ...and the inbound marshaler answers when Accept names none.
  CHECK(n({{"Content-Type", "application/json+pretty"}}).pretty);
  CHECK_FALSE(n({{"Content-Type", "application/json+pretty"}}).lax);
  CHECK_FALSE(n({{"Content-Type", "application/json+pretty"},
                 {"Accept", "application/json+lax"}})
                  .pretty);
  // ?pretty only when Accept is absent, empty or */*.
  CHECK(n({}, "pretty").pretty);
  CHECK(n({{"Accept", "*/*"}}, "pretty").pretty);
  CHECK(n({{"Accept", ""}}, "pretty").pretty);
  CHECK_FALSE(n({{"Accept", "application/json"}}, "pretty").pretty);
  CHECK(n({}, "pretty=false").pretty);  // presence is what counts
  CHECK_FALSE(n({}, "prettyx").pretty);
}

TEST_CASE("router: introspection registry") {
  // GET /introspect lists the literal paths once each.
  const std::vector<std::string_view> paths = LiteralIntrospectablePaths();
  const std::vector<std::string_view> expected = {
      "/apis/iam/v2/tokens",         "/apis/iam/v2/policies",
      "/apis/iam/v2/policy_version", "/apis/iam/v2/roles",
      "/apis/iam/v2/projects",       "/apis/iam/v2/introspect_projects",
      "/apis/iam/v2/introspect",     "/apis/iam/v2/introspect_some",
      "/apis/iam/v2/events",         "/apis/iam/v2/audit/check",
      "/apis/iam/v2/audit/who",      "/apis/iam/v2/audit/diff",
      "/apis/iam/v2/audit/what-if"};
  CHECK(paths == expected);

  auto routes = RoutesWithLiteralPath("/apis/iam/v2/tokens");
  REQUIRE(routes.size() == 2);
  CHECK(routes[0]->method == "POST");
  CHECK(routes[1]->method == "GET");
  CHECK(RoutesWithLiteralPath("/apis/iam/v2/tokens/{id}").empty());
  CHECK(RoutesWithLiteralPath("/healthz").empty());
  CHECK(RoutesWithLiteralPath("/nope").empty());

  // POST /introspect {"path": "/apis/iam/v2/policies/foo"}
  auto matches = MatchTemplates("/apis/iam/v2/policies/foo");
  std::set<std::string_view> methods;
  for (const TemplateMatch& tm : matches) {
    CHECK(tm.route->path == "/apis/iam/v2/policies/{id}");
    CHECK(tm.params.at("id") == "foo");
    methods.insert(tm.route->method);
    auto resource = HydrateResource(tm.route->resource, tm.params, {});
    REQUIRE(resource.ok());
    CHECK(*resource == "iam:policies:foo");
  }
  CHECK(methods == std::set<std::string_view>{"GET", "PUT", "DELETE"});
  CHECK(MatchTemplates("/apis/iam/v2/policies/foo/members:add").size() == 1);
  CHECK(MatchTemplates("/apis/iam/v2/tokens").size() == 2);
  CHECK(MatchTemplates("/healthz").empty());
  CHECK(MatchTemplates("/apis/iam/v2/nope").empty());
  CHECK(MatchTemplates("relative").empty());
  // {param} is ([^/]*): an empty value matches; hydration then refuses it.
  matches = MatchTemplates("/apis/iam/v2/tokens/");
  REQUIRE(matches.size() == 3);
  auto empty =
      HydrateResource(matches[0].route->resource, matches[0].params, {});
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.status() ==
        InvalidArgumentError("parameter \"id\" has empty value"));
  // Explicit parameters win over the path's.
  auto r = HydrateResource("iam:tokens:{id}", {{"id", "a"}}, {"id=b"});
  CHECK(r.value() == "iam:tokens:b");
  r = HydrateResource("iam:tokens:{id}", {}, {"id=x=y"});
  CHECK(r.value() == "iam:tokens:x=y");
  r = HydrateResource("iam:tokens:{id}", {}, {"id="});
  CHECK(r.status() == InvalidArgumentError("parameter \"id\" has empty value"));
  r = HydrateResource("iam:{a}:{b}", {}, {});
  CHECK(r.status() == InvalidArgumentError("missing parameter(s): a, b"));
  r = HydrateResource("iam:introspect", {}, {"unused=1"});
  CHECK(r.value() == "iam:introspect");
  CHECK(ExpandResource("iam:policies:{id}:members", {{"id", "p"}}) ==
        "iam:policies:p:members");
  CHECK(ExpandResource("iam:{nope}", {}) == "iam:");
}

TEST_CASE("router: PercentDecode") {
  CHECK(PercentDecode("a%41%62", false).value() == "aAb");
  CHECK(PercentDecode("a+b", false).value() == "a+b");
  CHECK(PercentDecode("a+b", true).value() == "a b");
  CHECK_FALSE(PercentDecode("%", false).has_value());
  CHECK_FALSE(PercentDecode("%1", false).has_value());
  CHECK_FALSE(PercentDecode("%1g", false).has_value());
  CHECK(PercentDecode("", false).value().empty());
}

TEST_CASE("router: random targets never yield a param with '/' or NUL") {
  std::mt19937 rng(12345);
  using namespace std::string_literals;
  const std::string alphabet = "/%2fF.e0aA:?&=+#{}\0\xc0\xaf -tokens"s;
  const std::vector<std::string> prefixes = {"", "/", "/apis/iam/v2/",
                                             "/apis/iam/v2/tokens/",
                                             "/apis/iam/v2/policies/"};
  for (int i = 0; i < 20000; ++i) {
    std::string t = prefixes[rng() % prefixes.size()];
    const int n = static_cast<int>(rng() % 24);
    for (int k = 0; k < n; ++k) t += alphabet[rng() % alphabet.size()];
    for (const char* method : {"GET", "POST", "PUT", "DELETE"}) {
      RouteMatch m = Match(method, t);
      if (!m.ok()) continue;
      for (size_t p = 0; p < m.num_params; ++p) {
        const std::string& value = m.param_values[p];
        CHECK(!value.empty());
        CHECK(value.find('/') == std::string::npos);
        CHECK(value.find('\0') == std::string::npos);
        CHECK(value != "..");
        CHECK(value != ".");
      }
    }
  }
}

TEST_CASE("router: long and escaped paths") {
  // More segments than any route: still checked, then 404.
  std::string deep = "/apis/iam/v2/tokens";
  for (int i = 0; i < 20; ++i) deep += "/x";
  CHECK(Match("GET", deep).outcome == MatchOutcome::kNotFound);
  CHECK(Match("GET", deep + "/..").outcome == MatchOutcome::kBadTarget);
  CHECK(Match("GET", deep + "/%2F").outcome == MatchOutcome::kBadTarget);
  // Escaped and plain segments side by side keep their own values.
  RouteMatch m = Match("GET", "/apis/iam/v2/pol%69cies/a%2Db/members");
  REQUIRE(m.ok());
  CHECK(m.id() == RouteId::kListPolicyMembers);
  CHECK(m.Param("id") == "a-b");
  CHECK(m.resource == "iam:policies:a-b:members");
  CHECK(m.Param("name").empty());
  // A match moved elsewhere keeps its parameters (they are owned).
  RouteMatch moved = std::move(m);
  CHECK(moved.Param("id") == "a-b");
  m = Match("POST", "/apis/iam/v2/tokens/t%31:rotate");
  REQUIRE(m.ok());
  CHECK(m.id() == RouteId::kRotateToken);
  CHECK(m.Param("id") == "t1");
}

}  // namespace
}  // namespace iam::api
