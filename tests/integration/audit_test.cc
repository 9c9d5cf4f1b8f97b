// The audit queries over HTTP (API.md "Audit queries"): authorization of
// every route, points in time by seq and by time, bad parameters, what-if
// leaving the log byte-identical, and check at now equal to the live
// authorization of the same requests over random policies.
#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

constexpr char kAudit[] = "/apis/iam/v2/audit";

Json Body(const Response& r) { return Json::parse(r.body, nullptr, false); }

uint64_t SeqOf(const Response& r) {
  return std::stoull(std::string(r.Header("X-Iam-Seq")));
}

std::string Check(const std::string& subject, const std::string& action,
                  const std::string& resource, const std::string& extra = "") {
  return std::string(kAudit) + "/check?subject=" + subject +
         "&action=" + action + "&resource=" + resource + extra;
}

Json PolicyBody(const std::string& id, const Json& members,
                const Json& statements) {
  return Json{{"id", id},
              {"name", id},
              {"members", members},
              {"statements", statements},
              {"projects", Json::array()}};
}

Json Stmt(const std::string& effect, const Json& actions, const Json& projects,
          const std::string& role = "") {
  Json s{{"effect", effect}, {"actions", actions}, {"projects", projects}};
  if (!role.empty()) s["role"] = role;
  return s;
}

const char* const kWhatIf =
    R"({"requests":[{"method":"POST","path":"/apis/iam/v2/tokens","body":{"name":"ci"}}]})";

TEST_CASE("audit - iam:audit:read on iam:audit guards every route") {
  START_ENV(env);
  const Api& admin = env.admin;
  const std::string plain = CreateToken(admin, "plain");
  const std::string auditor = CreateToken(admin, "auditor");
  REQUIRE(!plain.empty());
  REQUIRE(!auditor.empty());
  // A custom role granting only the audit action.
  REQUIRE(admin
              .Post("/apis/iam/v2/roles", Json{{"id", "auditor"},
                                               {"name", "auditor"},
                                               {"actions", {"iam:audit:read"}}})
              .status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    PolicyBody("auditors", Json::array({"token:auditor"}),
                               Json::array({Stmt("ALLOW", Json::array(), {"*"},
                                                 "auditor")})))
              .status == 200);
  const std::vector<std::pair<std::string, std::string>> routes = {
      {"GET", Check("token:plain", "iam:tokens:get", "iam:tokens:x")},
      {"GET", std::string(kAudit) + "/who?action=iam:tokens:get&resource=x"},
      {"GET", std::string(kAudit) + "/diff"},
      {"POST", std::string(kAudit) + "/what-if"}};
  for (const auto& route : routes) {
    const std::string& method = route.first;  // CAPTURE: no binding (clang 14)
    const std::string& target = route.second;
    CAPTURE(target);
    const std::string body = method == "POST" ? kWhatIf : "";
    CHECK_ERR(env.admin.WithToken(plain).Call(method, target, body), 403, 7,
              "Permission Denied");
    CHECK_ERR(env.anon.Call(method, target, body), 401, 16,
              "request not authenticated");
    CHECK(env.admin.WithToken(auditor).Call(method, target, body).status ==
          200);
    CHECK(admin.Call(method, target, body).status == 200);  // owner's "*"
  }
  // A DENY of the audit action overrides the owner role.
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    PolicyBody(
                        "no-audit", Json::array({"token:admin"}),
                        Json::array({Stmt("DENY", {"iam:audit:read"}, {"*"})})))
              .status == 200);
  CHECK(admin.Get(routes[2].second).status == 403);
}

TEST_CASE("audit - check and who at points before and after changes") {
  START_ENV(env);
  const Api& admin = env.admin;
  REQUIRE(!CreateToken(admin, "ci").empty());
  const uint64_t before = LogHead(admin);
  Response grant = admin.Post(
      "/apis/iam/v2/policies",
      PolicyBody("ci-read", Json::array({"token:ci"}),
                 Json::array({Stmt("ALLOW", {"iam:tokens:get"}, {"*"})})));
  REQUIRE_MESSAGE(grant.status == 200, grant.body);
  const uint64_t granted = SeqOf(grant);
  Response revoke = admin.Post("/apis/iam/v2/policies/ci-read/members:remove",
                               Json{{"members", Json::array({"token:ci"})}});
  REQUIRE(revoke.status == 200);
  const uint64_t revoked = SeqOf(revoke);

  const std::string q = Check("token:ci", "iam:tokens:get", "iam:tokens:x");
  struct Case {
    std::string point;
    bool allowed;
    uint64_t at_seq;
  };
  for (const Case& c :
       std::vector<Case>{{"&at_seq=" + std::to_string(before), false, before},
                         {"&at_seq=" + std::to_string(granted), true, granted},
                         {"&at_seq=" + std::to_string(revoked), false, revoked},
                         {"", false, revoked}}) {
    CAPTURE(c.point);
    Response r = admin.Get(q + c.point);
    REQUIRE(r.status == 200);
    Json j = Body(r);
    CHECK(j["allowed"] == c.allowed);
    CHECK(j["at_seq"] == c.at_seq);
    if (c.allowed) {
      CHECK(j["reasons"] == Json::parse(R"([{"policy_id":"ci-read",
        "statement":0,"effect":"ALLOW","role":"","member":"token:ci"}])"));
    } else {
      CHECK(j["reasons"].empty());
    }
  }
  // at=RFC3339: the recorded_at of the grant's event names that point.
  Response feed = admin.Get(
      "/apis/iam/v2/events?after=" + std::to_string(granted - 1) + "&limit=1");
  REQUIRE(feed.status == 200);
  const std::string at = Body(feed)["events"][0]["recorded_at"];
  Response r = admin.Get(q + "&at=" + at);
  REQUIRE(r.status == 200);
  CHECK(Body(r)["at_seq"].get<uint64_t>() >= granted);
  CHECK(Body(r)["at_seq"].get<uint64_t>() < revoked);
  CHECK(Body(r)["allowed"] == true);
  r = admin.Get(q + "&at=2000-01-01T00:00:00Z");
  CHECK(Body(r)["at_seq"] == 0);

  // who, at the grant and now.
  const std::string who =
      std::string(kAudit) + "/who?action=iam:tokens:get&resource=iam:tokens:x";
  Json w = Body(admin.Get(who + "&at_seq=" + std::to_string(granted)));
  bool ci = false;
  for (const auto& t : w["tokens"]) ci |= t["id"] == "ci";
  CHECK(ci);
  w = Body(admin.Get(who));
  for (const auto& t : w["tokens"]) CHECK(t["id"] != "ci");
  CHECK(w["at_seq"] == revoked);

  // diff between the two points, narrowed to the subject.
  Json d = Body(admin.Get(
      std::string(kAudit) + "/diff?from_seq=" + std::to_string(granted) +
      "&to_seq=" + std::to_string(revoked) + "&subject=token:ci"));
  REQUIRE(d["subjects"].size() == 1);
  CHECK(d["subjects"][0]["subject"] == "token:ci");
  REQUIRE(d["subjects"][0]["lost"].size() == 1);
  CHECK(d["subjects"][0]["lost"][0]["action"] == "iam:tokens:get");
  CHECK(d["subjects"][0]["lost"][0]["seqs"] == Json{revoked});
  CHECK(d["subjects"][0]["gained"].empty());
}

TEST_CASE("audit - an expired token is not allowed from its expiry on") {
  START_ENV(env);
  const Api& admin = env.admin;
  const auto expires =
      std::chrono::system_clock::now() + std::chrono::seconds(2);
  const std::time_t tt = std::chrono::system_clock::to_time_t(expires) + 1;
  char at[32];
  std::strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  Response created =
      admin.Post("/apis/iam/v2/tokens",
                 Json{{"id", "brief"}, {"name", "brief"}, {"expires_at", at}});
  REQUIRE_MESSAGE(created.status == 200, created.body);
  const std::string value = Body(created)["token"]["value"];
  Response grant = admin.Post(
      "/apis/iam/v2/policies",
      PolicyBody("brief-read", Json::array({"token:brief"}),
                 Json::array({Stmt("ALLOW", {"iam:tokens:get"}, {"*"})})));
  REQUIRE(grant.status == 200);
  const std::string q = Check("token:brief", "iam:tokens:get", "iam:tokens:x");
  CHECK(Body(admin.Get(q))["allowed"] == true);
  CHECK(admin.WithToken(value).Get("/apis/iam/v2/tokens/brief").status == 200);
  std::this_thread::sleep_until(std::chrono::system_clock::from_time_t(tt) +
                                std::chrono::milliseconds(200));
  // Live: 401. Audit at now: not allowed, and why.
  CHECK(admin.WithToken(value).Get("/apis/iam/v2/tokens/brief").status == 401);
  Json j = Body(admin.Get(q));
  CHECK(j["allowed"] == false);
  CHECK(j["note"].get<std::string>().find("expired at") != std::string::npos);
  // At the grant's seq (recorded before the expiry) it was allowed.
  j = Body(admin.Get(q + "&at_seq=" + std::to_string(SeqOf(grant))));
  CHECK(j["allowed"] == true);
  // at=T judges expiry at T, on the same state.
  j = Body(admin.Get(q + "&at=" + at));
  CHECK(j["allowed"] == false);
}

TEST_CASE("audit - bad parameters are 400 and name the problem") {
  START_ENV(env);
  const Api& admin = env.admin;
  struct Case {
    std::string target;
    std::string message;
  };
  const std::string head = std::to_string(LogHead(admin));
  for (const Case& c : std::vector<Case>{
           {std::string(kAudit) + "/check?action=a:b:c&resource=x",
            "missing parameter \"subject\""},
           {std::string(kAudit) + "/who?resource=x",
            "missing parameter \"action\""},
           {Check("token:a", "a:b:c", "x", "&at=2026-01-01T00:00:00Z&at_seq=1"),
            "give at or at_seq, not both"},
           {Check("token:a", "a:b:c", "x", "&at=yesterday"),
            "at must be an RFC 3339 time, e.g. 2026-11-24T14:00:00Z"},
           {Check("token:a", "a:b:c", "x", "&at_seq=999999"),
            "at_seq 999999 is past the end of the log (seq " + head + ")"},
           {std::string(kAudit) + "/diff?from_seq=3&to_seq=2",
            "the from point (seq 3) is after the to point (seq 2)"}}) {
    CAPTURE(c.target);
    CHECK_ERR(admin.Get(c.target), 400, 3, c.message);
  }
  for (const char* body :
       {"", "[]", "{\"requests\":[]}", "{\"requests\":[{\"method\":\"GET\"}]}",
        "{\"x\":1}",
        R"({"requests":[{"method":"GET","path":"/apis/iam/v2/tokens"}]})"}) {
    CAPTURE(body);
    CHECK(admin.Post(std::string(kAudit) + "/what-if", body).status == 400);
  }
}

std::string Export(const Env& env) {
  CommandResult r =
      RunIamledger({"replay", "export", "--data-dir", env.server.data_dir()});
  REQUIRE(r.exit_code == 0);
  return r.out;
}

TEST_CASE(
    "audit - what-if decides on a copy and leaves the log "
    "byte-identical") {
  START_ENV(env);
  const Api& admin = env.admin;
  REQUIRE(!CreateToken(admin, "ci").empty());
  const uint64_t head = LogHead(admin);
  const std::string log_before = Export(env);
  const std::string feed_before =
      admin.Get("/apis/iam/v2/events?after=0&limit=1000").body;
  const std::string body =
      Json{{"requests",
            {{{"method", "POST"},
              {"path", "/apis/iam/v2/policies"},
              {"body", PolicyBody("ci-admin", Json::array({"token:ci"}),
                                  Json::array({Stmt("ALLOW", Json::array(),
                                                    {"*"}, "owner")}))}},
             {{"method", "DELETE"},
              {"path", "/apis/iam/v2/policies/viewer-access"}},
             {{"method", "POST"},
              {"path", "/apis/iam/v2/policies/ci-admin/members:remove"},
              {"body", {{"members", {"token:nobody"}}}}},
             {{"method", "POST"},
              {"path", "/apis/iam/v2/policies"},
              {"body", {{"name", 5}}}},
             {{"method", "PUT"}, {"path", "/apis/iam/v2/nope"}},
             {{"method", "DELETE"}, {"path", "/apis/iam/v2/tokens/ci"}}}}}
          .dump();
  Response r = admin.Post(std::string(kAudit) + "/what-if", body);
  REQUIRE(r.status == 200);
  Json j = Body(r);
  CHECK(j["at_seq"] == head);
  REQUIRE(j["results"].size() == 6);
  CHECK(j["results"][0]["status"] == 200);
  CHECK(j["results"][0]["seqs"] == Json{head + 1});
  CHECK(j["results"][1]["status"] == 403);  // chef-managed protection
  CHECK(j["results"][2]["status"] == 200);  // removes nothing: no events
  CHECK(j["results"][2]["seqs"].empty());
  CHECK(j["results"][3]["status"] == 400);
  CHECK(j["results"][4]["status"] == 404);
  CHECK(j["results"][5]["status"] == 200);  // deletes ci (and its member)
  CHECK(j["to_seq"].get<uint64_t>() > head + 1);
  // The diff: ci gained nothing in the end (created admin, then deleted);
  // the member expression token:ci did gain the owner grants.
  bool member = false;
  for (const auto& s : j["subjects"]) {
    CHECK(s["subject"] != "token:ci-admin");
    if (s["subject"] == "token:ci") {
      member = true;
    }
  }
  CHECK(!member);  // the token is deleted by the last request
  // A what-if without the delete shows the gained grants.
  Json one = Json::parse(body);
  one["requests"] = Json::array({one["requests"][0]});
  j = Body(admin.Post(std::string(kAudit) + "/what-if", one.dump()));
  REQUIRE(j["subjects"].size() >= 1);
  bool gained = false;
  for (const auto& s : j["subjects"]) {
    if (s["subject"] != "token:ci") continue;
    for (const auto& g : s["gained"]) {
      gained |= g["action"] == "*" && g["policy_id"] == "ci-admin" &&
                g["seqs"] == Json{head + 1};
    }
  }
  CHECK(gained);
  // Nothing was written: the log, the feed and the live state are as before.
  CHECK(LogHead(admin) == head);
  CHECK(admin.Get("/apis/iam/v2/events?after=0&limit=1000").body ==
        feed_before);
  CHECK(Export(env) == log_before);
  CHECK(admin.Get("/apis/iam/v2/policies/ci-admin").status == 404);
  CHECK(admin.Get("/apis/iam/v2/tokens/ci").status == 200);
}

TEST_CASE(
    "audit - check at now equals live authorization on 10,000 random "
    "requests over random policies") {
  START_ENV(env);
  const Api& admin = env.admin;
  std::mt19937 rng(11);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  for (const char* p : {"p0", "p1"}) {
    REQUIRE(admin
                .Post("/apis/iam/v2/projects",
                      Json{{"id", p}, {"name", p}, {"skip_policies", true}})
                .status == 200);
  }
  std::vector<std::string> ids, values;
  for (int i = 0; i < 6; ++i) {
    ids.push_back("t" + std::to_string(i));
    values.push_back(CreateToken(admin, ids.back()));
    REQUIRE(!values.back().empty());
  }
  const std::vector<std::string> actions = {
      "iam:tokens:get", "iam:tokens:list",  "iam:policies:list",
      "iam:roles:list", "iam:*:list",       "*:get",
      "iam:tokens:*",   "iam:projects:list"};
  const std::vector<std::string> projects = {"p0", "p1", "*", "(unassigned)"};
  for (int i = 0; i < 30; ++i) {
    Json members = Json::array();
    const bool wildcard = rng() % 5 == 0;
    members.push_back(wildcard ? std::string("token:*") : "token:" + pick(ids));
    if (const std::string m = "token:" + pick(ids); m != members[0]) {
      members.push_back(m);
    }
    Json statements = Json::array();
    for (int k = 0; k < 1 + static_cast<int>(rng() % 2); ++k) {
      Json ps = Json::array({pick(projects)});
      if (const std::string p = pick(projects); p != ps[0]) ps.push_back(p);
      const bool deny = !wildcard && rng() % 4 == 0;
      statements.push_back(Stmt(deny ? "DENY" : "ALLOW", {pick(actions)}, ps));
    }
    Response r =
        admin.Post("/apis/iam/v2/policies",
                   PolicyBody("pol" + std::to_string(i), members, statements));
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  struct Route {
    std::string path, resource, action;
  };
  const std::vector<Route> routes = {
      {"/apis/iam/v2/tokens", "iam:tokens", "iam:tokens:list"},
      {"/apis/iam/v2/tokens/t1", "iam:tokens:t1", "iam:tokens:get"},
      {"/apis/iam/v2/policies", "iam:policies", "iam:policies:list"},
      {"/apis/iam/v2/roles", "iam:roles", "iam:roles:list"},
      {"/apis/iam/v2/projects", "iam:projects", "iam:projects:list"},
      {"/apis/iam/v2/projects/p0", "iam:projects:p0", "iam:projects:get"}};
  const std::vector<std::vector<std::string>> headers = {
      {}, {"p0"}, {"p1"}, {"p0", "p1"}, {"(unassigned)"}};
  int allowed = 0;
  for (int i = 0; i < 10000; ++i) {
    const size_t t = rng() % ids.size();
    const Route& route = pick(routes);
    const auto& h = pick(headers);
    HeaderList hl;
    std::string extra;
    if (!h.empty()) {
      std::string joined;
      for (const auto& p : h) {
        joined += (joined.empty() ? "" : ",") + p;
        extra += "&project=" + p;
      }
      hl.push_back({"projects", joined});
    }
    CAPTURE(ids[t]);
    CAPTURE(route.path);
    CAPTURE(extra);
    Response live = admin.WithToken(values[t]).Get(route.path, hl);
    REQUIRE(live.status != 0);
    Response check = admin.Get(
        Check("token:" + ids[t], route.action, route.resource, extra));
    REQUIRE(check.status == 200);
    const bool live_allowed = live.status != 403;
    allowed += live_allowed;
    REQUIRE(Body(check)["allowed"] == live_allowed);
  }
  CHECK(allowed > 500);
  CHECK(allowed < 9500);
}

}  // namespace
}  // namespace iam::integration
