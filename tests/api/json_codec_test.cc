#include "api/json_codec.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"

namespace iam::api {
namespace {

// 2020-04-01T12:00:00Z and 2020-04-02T08:30:15.250001Z.
constexpr Micros kCreated = 1585742400LL * 1'000'000;
constexpr Micros kUpdated = 1585816215LL * 1'000'000 + 250001;

Token SampleToken() {
  Token t;
  t.id = "tok-1";
  t.name = "Tok One";
  t.active = true;
  t.projects = {"p1"};
  t.value_digest = "DIGEST-MUST-NOT-APPEAR";
  t.sealed_value = "SEALED-MUST-NOT-APPEAR";
  t.created_at = kCreated;
  t.updated_at = kUpdated;
  t.version = 3;
  return t;
}

Policy SamplePolicy() {
  Policy p;
  p.id = "custom-viewer-policy";
  p.name = "My Viewer Policy";
  p.type = PolicyType::kCustom;
  p.members = {"team:ldap:*"};
  Statement s;
  s.effect = Effect::kAllow;
  s.role = "viewer";
  s.resources = {"*"};
  s.projects = {"project1", "project2"};
  p.statements = {s};
  return p;
}

// ---------------------------------------------------------------- encoding

TEST_CASE("codec: token JSON is Automate's") {
  const Token t = SampleToken();
  CHECK(TokenJson(t, "o2Q8iCbyvxX8W4393BvyyqmL-ug=", false) ==
        R"({"token":{"id":"tok-1","name":"Tok One",)"
        R"("value":"o2Q8iCbyvxX8W4393BvyyqmL-ug=","active":true,)"
        R"("created_at":"2020-04-01T12:00:00Z",)"
        R"("updated_at":"2020-04-02T08:30:15Z","projects":["p1"]}})");
  Token inactive = t;
  inactive.active = false;
  inactive.projects.clear();
  // Unrevealed value: still emitted, empty.
  CHECK(TokenJson(inactive, "", false) ==
        R"({"token":{"id":"tok-1","name":"Tok One","value":"","active":false,)"
        R"("created_at":"2020-04-01T12:00:00Z",)"
        R"("updated_at":"2020-04-02T08:30:15Z","projects":[]}})");
  CHECK(TokenJson(t, "v", true) ==
        "{\n"
        "  \"token\": {\n"
        "    \"id\": \"tok-1\",\n"
        "    \"name\": \"Tok One\",\n"
        "    \"value\": \"v\",\n"
        "    \"active\": true,\n"
        "    \"created_at\": \"2020-04-01T12:00:00Z\",\n"
        "    \"updated_at\": \"2020-04-02T08:30:15Z\",\n"
        "    \"projects\": [\n"
        "      \"p1\"\n"
        "    ]\n"
        "  }\n"
        "}");
  CHECK(TokenListJson({}, false) == R"({"tokens":[]})");
  const std::string list =
      TokenListJson({{&t, "a"}, {&inactive, "b"}, {nullptr, "c"}}, false);
  auto parsed = nlohmann::json::parse(list);
  REQUIRE(parsed["tokens"].size() == 2);
  CHECK(parsed["tokens"][0]["value"] == "a");
  CHECK(parsed["tokens"][1]["active"] == false);
  CHECK(list.find("MUST-NOT-APPEAR") == std::string::npos);
}

// The token encoder is hand-written (it runs on every GET); it must give
// the bytes nlohmann gives for the same object, escaping and all.
TEST_CASE(
    "codec: token JSON equals the DOM encoding for any strings and times") {
  auto dom = [](const Token& t, const std::string& value, bool pretty) {
    auto strings = [](const StringList& l) {
      nlohmann::ordered_json a = nlohmann::ordered_json::array();
      for (const auto& s : l) a.push_back(s);
      return a;
    };
    nlohmann::ordered_json o = nlohmann::ordered_json::object();
    o["id"] = t.id;
    o["name"] = t.name;
    o["value"] = value;
    o["active"] = t.active;
    o["created_at"] = FormatRfc3339(t.created_at, true);
    o["updated_at"] = FormatRfc3339(t.updated_at, true);
    o["projects"] = strings(t.projects);
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    j["token"] = o;
    return j.dump(pretty ? 2 : -1, ' ', false,
                  nlohmann::ordered_json::error_handler_t::replace);
  };
  const char* pieces[] = {"",      "a",
                          "\"",    "\\",
                          "\x01",  "\x1f",
                          "\x7f",  "\xc3\xa9",
                          "\xff",  "\xc3",
                          "\t\n",  "\xe2\x82\xac",
                          "/<>&'", "\xf0\x9f\x98\x80"};
  const Micros times[] = {0,
                          -1,
                          kUpdated,
                          -62135596800LL * 1'000'000,      // 0001-01-01
                          -30610224000LL * 1'000'000 - 1,  // before 1000
                          253402300799LL * 1'000'000,      // 9999-12-31
                          253402300800LL * 1'000'000};     // 10000-01-01
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    auto str = [&] {
      std::string s;
      for (int n = rng() % 4; n > 0; --n)
        s += pieces[rng() % std::size(pieces)];
      return s;
    };
    Token t = SampleToken();
    t.id = str();
    t.name = str();
    t.active = rng() % 2;
    t.projects.clear();
    for (int n = rng() % 3; n > 0; --n) t.projects.push_back(str());
    t.created_at = times[rng() % std::size(times)];
    t.updated_at = times[rng() % std::size(times)] + rng() % 1'000'000'000;
    const std::string value = str();
    for (bool pretty : {false, true}) {
      CAPTURE(i);
      CHECK(TokenJson(t, value, pretty) == dom(t, value, pretty));
    }
  }
}

TEST_CASE("codec: policy JSON is Automate's, in proto field order") {
  const Policy p = SamplePolicy();
  CHECK(PolicyJson(p, false) ==
        R"({"policy":{"name":"My Viewer Policy","id":"custom-viewer-policy",)"
        R"("type":"CUSTOM","members":["team:ldap:*"],"statements":[{)"
        R"("effect":"ALLOW","actions":[],"role":"viewer","resources":["*"],)"
        R"("projects":["project1","project2"]}],"projects":[]}})");
  Policy admin;
  admin.id = "administrator-access";
  admin.name = "Administrator";
  admin.type = PolicyType::kChefManaged;
  admin.members = {"team:local:admins"};
  Statement deny;
  deny.effect = Effect::kDeny;
  deny.actions = {"iam:policies:delete", "iam:policies:update"};
  deny.resources = {"iam:policies:administrator-access"};
  deny.projects = {"*"};
  admin.statements = {deny};
  CHECK(PolicyJson(admin, false) ==
        R"({"policy":{"name":"Administrator","id":"administrator-access",)"
        R"("type":"CHEF_MANAGED","members":["team:local:admins"],)"
        R"("statements":[{"effect":"DENY","actions":["iam:policies:delete",)"
        R"("iam:policies:update"],"role":"",)"
        R"("resources":["iam:policies:administrator-access"],)"
        R"("projects":["*"]}],"projects":[]}})");
  CHECK(PolicyListJson({}, false) == R"({"policies":[]})");
  auto inner = [](const std::string& s) { return s.substr(10, s.size() - 11); };
  CHECK(PolicyListJson({&p, &admin}, false) ==
        "{\"policies\":[" + inner(PolicyJson(p, false)) + "," +
            inner(PolicyJson(admin, false)) + "]}");
  // Pretty output (the shape of Automate's iam_apis.rb pretty test).
  Policy empty;
  empty.id = "p";
  empty.name = "n";
  empty.statements = {Statement{Effect::kAllow, {}, "viewer", {"*"}, {"*"}}};
  CHECK(PolicyJson(empty, true) ==
        "{\n"
        "  \"policy\": {\n"
        "    \"name\": \"n\",\n"
        "    \"id\": \"p\",\n"
        "    \"type\": \"CUSTOM\",\n"
        "    \"members\": [],\n"
        "    \"statements\": [\n"
        "      {\n"
        "        \"effect\": \"ALLOW\",\n"
        "        \"actions\": [],\n"
        "        \"role\": \"viewer\",\n"
        "        \"resources\": [\n"
        "          \"*\"\n"
        "        ],\n"
        "        \"projects\": [\n"
        "          \"*\"\n"
        "        ]\n"
        "      }\n"
        "    ],\n"
        "    \"projects\": []\n"
        "  }\n"
        "}");
}

TEST_CASE("codec: role, project, members, version, delete") {
  Role r;
  r.id = "owner";
  r.name = "Owner";
  r.type = PolicyType::kChefManaged;
  r.actions = {"*"};
  CHECK(RoleJson(r, false) ==
        R"({"role":{"name":"Owner","id":"owner","type":"CHEF_MANAGED",)"
        R"("actions":["*"],"projects":[]}})");
  CHECK(RoleListJson({&r}, false) ==
        R"({"roles":[{"name":"Owner","id":"owner","type":"CHEF_MANAGED",)"
        R"("actions":["*"],"projects":[]}]})");
  CHECK(RoleListJson({}, false) == R"({"roles":[]})");

  Project p;
  p.id = "p1";
  p.name = "Project One";
  CHECK(ProjectJson(p, false) ==
        R"({"project":{"name":"Project One","id":"p1","type":"CUSTOM",)"
        R"("status":"NO_RULES"}})");
  Project unassigned{"(unassigned)", "(unassigned)", PolicyType::kChefManaged,
                     1};
  CHECK(ProjectListJson({&unassigned}, false) ==
        R"j({"projects":[{"name":"(unassigned)","id":"(unassigned)",)j"
        R"j("type":"CHEF_MANAGED","status":"NO_RULES"}]})j");
  CHECK(ProjectListJson({}, false) == R"({"projects":[]})");

  CHECK(MembersJson({"team:local:admins", "token:a"}, false) ==
        R"({"members":["team:local:admins","token:a"]})");
  CHECK(MembersJson({}, false) == R"({"members":[]})");
  CHECK(MembersJson({}, true) == "{\n  \"members\": []\n}");
  CHECK(PolicyVersionJson(false) ==
        R"({"version":{"major":"V2","minor":"V1"}})");
  CHECK(EmptyJson(false) == "{}");
  CHECK(EmptyJson(true) == "{}");
}

TEST_CASE("codec: introspection endpoints") {
  std::map<std::string, MethodsAllowed> eps;
  eps["/apis/iam/v2/policies/foo"] = {true, true, false, true, false};
  eps["/apis/iam/v2/tokens"] = {};
  CHECK(
      EndpointsJson(eps, false) ==
      R"({"endpoints":{"/apis/iam/v2/policies/foo":{"get":true,"put":true,)"
      R"("post":false,"delete":true,"patch":false},"/apis/iam/v2/tokens":{)"
      R"("get":false,"put":false,"post":false,"delete":false,"patch":false}}})");
  CHECK(EndpointsJson({}, false) == R"({"endpoints":{}})");
}

TEST_CASE("codec: history and the change feed") {
  RecordedEvent e;
  e.seq = 812;
  e.recorded_at = 1795857243120511LL;  // 2026-11-28T09:14:03.120511Z
  e.meta = {"token:admin-tok", "5f0c", "127.0.0.1"};
  e.stream = "token/ci-bot";
  e.stream_version = 1;
  e.event = TokenCreated{"ci-bot", "CI bot", true, {}, "DIGEST", "SEALED"};
  CHECK(EventJson(e, false, false) ==
        R"({"seq":812,"type":"TokenCreated",)"
        R"("recorded_at":"2026-11-28T09:14:03.120511Z",)"
        R"("actor":"token:admin-tok","request_id":"5f0c",)"
        R"("source":"127.0.0.1","stream_version":1,)"
        R"("data":{"id":"ci-bot","name":"CI bot","active":true,)"
        R"("projects":[]}})");
  RecordedEvent renamed = e;
  renamed.seq = 815;
  renamed.stream_version = 2;
  renamed.event = TokenRenamed{"ci-bot", "CI robot"};
  CHECK(
      HistoryJson({e, renamed}, false)
          .find(
              R"("stream_version":2,"data":{"id":"ci-bot","name":"CI robot"}})") !=
      std::string::npos);
  const std::string feed = EventFeedJson({e, renamed}, 845, false);
  CHECK(feed.find(R"("source":"127.0.0.1","stream":"token/ci-bot",)"
                  R"("stream_version":1)") != std::string::npos);
  CHECK(feed.substr(feed.size() - 13) == R"(],"next":845})");
  CHECK(feed.find("DIGEST") == std::string::npos);
  CHECK(feed.find("SEALED") == std::string::npos);
  CHECK(HistoryJson({}, false) == R"({"events":[]})");
  CHECK(EventFeedJson({}, 7, false) == R"({"events":[],"next":7})");

  // Every event type encodes, with its payload fields.
  const std::vector<std::pair<Event, std::string>> payloads = {
      {LedgerInitialized{1, "L"}, R"({"format_version":1,"ledger_id":"L"})"},
      {TokenProjectsAssigned{"t", {"a"}}, R"({"id":"t","projects":["a"]})"},
      {TokenStatusToggled{"t", false}, R"({"id":"t","active":false})"},
      {TokenDeleted{"t"}, R"({"id":"t"})"},
      {PolicyCreated{"p", "P", PolicyType::kChefManaged, {"*"}, {}, {}},
       R"({"id":"p","name":"P","type":"CHEF_MANAGED","members":["*"],)"
       R"("statements":[],"projects":[]})"},
      {PolicyUpdated{"p",
                     "P",
                     PolicyType::kCustom,
                     {Statement{Effect::kDeny, {"a:b:c"}, "", {"*"}, {"*"}}},
                     {"x"}},
       R"({"id":"p","name":"P","type":"CUSTOM","statements":[{"effect":)"
       R"("DENY","actions":["a:b:c"],"role":"","resources":["*"],)"
       R"("projects":["*"]}],"projects":["x"]})"},
      {PolicyMembersAdded{"p", {"token:a"}},
       R"({"id":"p","members":["token:a"]})"},
      {PolicyMembersRemoved{"p", {"token:a"}},
       R"({"id":"p","members":["token:a"]})"},
      {PolicyDeleted{"p"}, R"({"id":"p"})"},
      {RoleCreated{"r", "R", PolicyType::kCustom, {"*"}, {}},
       R"({"id":"r","name":"R","type":"CUSTOM","actions":["*"],)"
       R"("projects":[]})"},
      {RoleUpdated{"r", "R", PolicyType::kCustom, {"*"}, {"p"}},
       R"({"id":"r","name":"R","type":"CUSTOM","actions":["*"],)"
       R"("projects":["p"]})"},
      {RoleDeleted{"r"}, R"({"id":"r"})"},
      {ProjectCreated{"p", "P", PolicyType::kCustom},
       R"({"id":"p","name":"P","type":"CUSTOM"})"},
      {ProjectRenamed{"p", "Q"}, R"({"id":"p","name":"Q"})"},
      {ProjectDeleted{"p"}, R"({"id":"p"})"},
      {TokenExpirySet{"t", 1'764'000'000'000'000},
       R"({"id":"t","expires_at":"2025-11-24T16:00:00.000000Z"})"},
      {TokenExpirySet{"t", 0}, R"({"id":"t","expires_at":""})"},
      {TokenRotated{"t", "DIGEST", "SEALED", 1'764'000'000'000'000},
       R"({"id":"t","previous_value_expires_at":")"
       R"(2025-11-24T16:00:00.000000Z"})"},
  };
  for (const auto& [event, data] : payloads) {
    RecordedEvent r = e;
    r.event = event;
    const std::string json = EventJson(r, true, false);
    CAPTURE(json);
    CHECK(json.find(R"("type":")" + std::string(EventTypeName(event)) + "\"") !=
          std::string::npos);
    CHECK(json.substr(json.size() - data.size() - 1) == data + "}");
  }
}

// ------------------------------------------------------------------ errors

TEST_CASE("codec: error body and HTTP status for every code") {
  struct Row {
    StatusCode code;
    int http;
  };
  const std::vector<Row> rows = {
      {StatusCode::kCancelled, 408},
      {StatusCode::kUnknown, 500},
      {StatusCode::kInvalidArgument, 400},
      {StatusCode::kDeadlineExceeded, 504},
      {StatusCode::kNotFound, 404},
      {StatusCode::kAlreadyExists, 409},
      {StatusCode::kPermissionDenied, 403},
      {StatusCode::kResourceExhausted, 429},
      {StatusCode::kFailedPrecondition, 400},
      {StatusCode::kAborted, 409},
      {StatusCode::kOutOfRange, 400},
      {StatusCode::kUnimplemented, 501},
      {StatusCode::kInternal, 500},
      {StatusCode::kUnavailable, 503},
      {StatusCode::kDataLoss, 500},
      {StatusCode::kUnauthenticated, 401},
  };
  CHECK(HttpStatusFromCode(StatusCode::kOk) == 200);
  for (const Row& row : rows) {
    CAPTURE(static_cast<int>(row.code));
    const Status s(row.code, "the \"detail\"");
    CHECK(HttpStatusFromCode(row.code) == row.http);
    CHECK(HttpStatusFor(s) == row.http);
    HttpResponse r = ErrorResponse(s, false);
    CHECK(r.status == row.http);
    CHECK(HeaderValue(r.headers, "Content-Type") == "application/json");
    const bool generic = row.code == StatusCode::kInternal ||
                         row.code == StatusCode::kUnknown ||
                         row.code == StatusCode::kDataLoss;
    const std::string m = generic ? "internal error" : "the \\\"detail\\\"";
    CHECK(r.body == "{\"error\":\"" + m + "\",\"code\":" +
                        std::to_string(static_cast<int>(row.code)) +
                        ",\"message\":\"" + m + "\",\"details\":[]}");
  }
  CHECK(ErrorBody(UnauthenticatedError("request not authenticated"), false) ==
        R"({"error":"request not authenticated","code":16,)"
        R"("message":"request not authenticated","details":[]})");
  CHECK(ErrorBody(PermissionDeniedError("Permission Denied"), true) ==
        "{\n"
        "  \"error\": \"Permission Denied\",\n"
        "  \"code\": 7,\n"
        "  \"message\": \"Permission Denied\",\n"
        "  \"details\": []\n"
        "}");
  // Internal details never leave the server.
  CHECK(ErrorBody(InternalError("rocksdb: /data/000012.log: I/O error"), false)
            .find("rocksdb") == std::string::npos);
  CHECK(PublicMessage(NotFoundError("No token record found")) ==
        "No token record found");
}

TEST_CASE("codec: If-Match failures are 412 with code 9") {
  const Status s = IfMatchFailedError("stream version is 4, not 3");
  CHECK(s.code() == StatusCode::kFailedPrecondition);
  CHECK(s.message() ==
        "If-Match precondition failed: stream version is 4, not 3");
  CHECK(IsIfMatchFailed(s));
  CHECK(IsIfMatchFailed(IfMatchFailedError("")));
  CHECK(IfMatchFailedError("").message() == "If-Match precondition failed");
  CHECK(HttpStatusFor(s) == 412);
  HttpResponse r = ErrorResponse(s, false);
  CHECK(r.status == 412);
  CHECK(r.body.find("\"code\":9") != std::string::npos);
  // Automate's own FailedPreconditions stay 400.
  const Status limit = FailedPreconditionError(
      "cannot create project: limit of 300 projects already reached");
  CHECK_FALSE(IsIfMatchFailed(limit));
  CHECK(HttpStatusFor(limit) == 400);
  CHECK_FALSE(IsIfMatchFailed(
      InvalidArgumentError("If-Match precondition failed: wrong code")));
  CHECK(JsonResponse("{}").status == 200);
  CHECK(JsonResponse("{}", 503).status == 503);
  CHECK(HeaderValue(JsonResponse("{}").headers, "content-type") ==
        "application/json");
}

// ---------------------------------------------------------------- decoding

TEST_CASE("codec: CreateTokenReq") {
  auto d = DecodeCreateToken(
      R"({"id":"t1","name":"T","active":false,"value":"v-123",)"
      R"("projects":["a","b"]})",
      false);
  REQUIRE(d.ok());
  CHECK(d->cmd.id == "t1");
  CHECK(d->cmd.name == "T");
  CHECK(d->cmd.active == false);
  CHECK(d->value == "v-123");
  CHECK(d->cmd.projects == StringList{"a", "b"});
  CHECK_FALSE(d->cmd.secret.supplied);

  d = DecodeCreateToken(R"({"name":"T","active":null})", false);
  REQUIRE(d.ok());
  CHECK_FALSE(d->cmd.active.has_value());
  CHECK(d->cmd.id.empty());
  CHECK(d->value.empty());
  CHECK(d->cmd.projects.empty());

  d = DecodeCreateToken(R"({"name":"T","policies":["x"]})", false);
  REQUIRE_FALSE(d.ok());
  CHECK(d.status() ==
        InvalidArgumentError("unknown field \"policies\" in "
                             "chef.automate.api.iam.v2.CreateTokenReq"));
  d = DecodeCreateToken(R"({"name":"T","policies":["x"]})", true);
  REQUIRE(d.ok());
  CHECK(d->cmd.name == "T");
}

TEST_CASE("codec: empty and blank bodies are the empty message") {
  for (const char* body : {"", " ", "\r\n\t ", "{}", " { } "}) {
    CAPTURE(body);
    auto d = DecodeCreateProject(body, false);
    REQUIRE(d.ok());
    CHECK(d->id.empty());
    CHECK(d->name.empty());
    CHECK_FALSE(d->skip_policies);
  }
}

TEST_CASE("codec: UpdateTokenReq takes its id from the path") {
  auto d = DecodeUpdateToken(R"({"id":"body-id","name":"N","projects":[]})",
                             false, "path-id");
  REQUIRE(d.ok());
  CHECK(d->id == "path-id");
  CHECK(d->name == "N");
  CHECK_FALSE(d->active.has_value());
  // The UI's lax update sends the whole token back.
  d = DecodeUpdateToken(
      R"({"id":"x","name":"N","value":"secret","active":true,)"
      R"("created_at":"2020-01-01T00:00:00Z","updated_at":"x","projects":["p"]})",
      true, "x");
  REQUIRE(d.ok());
  CHECK(d->active == true);
  CHECK(d->projects == StringList{"p"});
  d = DecodeUpdateToken(R"({"value":"secret"})", false, "x");
  CHECK(d.status() ==
        InvalidArgumentError("unknown field \"value\" in "
                             "chef.automate.api.iam.v2.UpdateTokenReq"));
}

TEST_CASE("codec: policies and statements") {
  const char* body = R"({
    "id": "pol", "name": "Pol", "members": ["token:a", "team:local:b"],
    "statements": [
      {"effect": "DENY", "actions": ["iam:tokens:get"], "projects": ["*"]},
      {"role": "viewer", "projects": ["p1"]},
      {"effect": 1, "actions": [], "role": "", "resources": ["x"],
       "projects": []},
      {"effect": 0, "projects": null, "actions": null}
    ],
    "projects": ["p1"]})";
  auto d = DecodeCreatePolicy(body, false);
  REQUIRE(d.ok());
  CHECK(d->id == "pol");
  CHECK(d->members == StringList{"token:a", "team:local:b"});
  REQUIRE(d->statements.size() == 4);
  CHECK(d->statements[0] ==
        Statement{Effect::kDeny, {"iam:tokens:get"}, "", {}, {"*"}});
  CHECK(d->statements[1] ==
        Statement{Effect::kAllow, {}, "viewer", {}, {"p1"}});
  CHECK(d->statements[2] == Statement{Effect::kDeny, {}, "", {"x"}, {}});
  CHECK(d->statements[3] == Statement{});
  CHECK(d->projects == StringList{"p1"});

  auto u = DecodeUpdatePolicy(body, false, "other");
  REQUIRE(u.ok());
  CHECK(u->id == "other");
  CHECK(u->statements.size() == 4);

  // Nested unknown fields name the nested message.
  auto bad = DecodeCreatePolicy(
      R"({"statements":[{"effect":"ALLOW","conditions":{}}]})", false);
  CHECK(bad.status() ==
        InvalidArgumentError("unknown field \"conditions\" in "
                             "chef.automate.api.iam.v2.Statement"));
  CHECK(DecodeCreatePolicy(
            R"({"statements":[{"effect":"ALLOW","conditions":{}}]})", true)
            .ok());
  CHECK(DecodeUpdatePolicy(R"({"type":"CUSTOM"})", false, "x").status() ==
        InvalidArgumentError("unknown field \"type\" in "
                             "chef.automate.api.iam.v2.UpdatePolicyReq"));

  // Effect: unknown names and numbers, wrong types.
  for (const char* effect : {R"("allow")", R"("MAYBE")", "2", "-1", "1.5",
                             "true", "[]", "9007199254740993"}) {
    CAPTURE(effect);
    auto e = DecodeCreatePolicy(
        std::string(R"({"statements":[{"effect":)") + effect + "}]}", false);
    REQUIRE_FALSE(e.ok());
    CHECK(e.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK_FALSE(DecodeCreatePolicy(R"({"statements":[1]})", false).ok());
  CHECK_FALSE(DecodeCreatePolicy(R"({"statements":{}})", false).ok());
  CHECK_FALSE(DecodeCreatePolicy(R"({"statements":[null]})", false).ok());
}

TEST_CASE("codec: members, roles, projects, introspection") {
  auto r = DecodeReplacePolicyMembers(R"({"members":[]})", false, "p");
  REQUIRE(r.ok());
  CHECK(r->id == "p");
  CHECK(r->members.empty());
  auto a =
      DecodeAddPolicyMembers(R"({"id":"q","members":["token:a"]})", false, "p");
  REQUIRE(a.ok());
  CHECK(a->id == "p");
  CHECK(a->members == StringList{"token:a"});
  auto rm =
      DecodeRemovePolicyMembers(R"({"members":["user:local:x"]})", false, "p");
  REQUIRE(rm.ok());
  CHECK(rm->members == StringList{"user:local:x"});
  CHECK(DecodeAddPolicyMembers(R"({"member":[]})", false, "p").status() ==
        InvalidArgumentError("unknown field \"member\" in "
                             "chef.automate.api.iam.v2.AddPolicyMembersReq"));
  CHECK(
      DecodeRemovePolicyMembers(R"({"x":1})", false, "p").status() ==
      InvalidArgumentError("unknown field \"x\" in "
                           "chef.automate.api.iam.v2.RemovePolicyMembersReq"));
  CHECK(
      DecodeReplacePolicyMembers(R"({"x":1})", false, "p").status() ==
      InvalidArgumentError("unknown field \"x\" in "
                           "chef.automate.api.iam.v2.ReplacePolicyMembersReq"));

  auto role = DecodeCreateRole(
      R"({"id":"r","name":"R","actions":["a:b:c"],"projects":["p"]})", false);
  REQUIRE(role.ok());
  CHECK(role->actions == StringList{"a:b:c"});
  CHECK(role->projects == StringList{"p"});
  auto urole = DecodeUpdateRole(R"({"name":"R2","actions":["*"]})", false, "r");
  REQUIRE(urole.ok());
  CHECK(urole->id == "r");
  CHECK(urole->name == "R2");
  CHECK(DecodeCreateRole(R"({"type":"CUSTOM"})", false).status() ==
        InvalidArgumentError("unknown field \"type\" in "
                             "chef.automate.api.iam.v2.CreateRoleReq"));

  auto proj = DecodeCreateProject(
      R"({"id":"p","name":"P","skip_policies":true})", false);
  REQUIRE(proj.ok());
  CHECK(proj->skip_policies);
  proj = DecodeCreateProject(R"({"id":"p","skipPolicies":true})", false);
  REQUIRE(proj.ok());
  CHECK(proj->skip_policies);
  proj = DecodeCreateProject(R"({"skipPolicies":null})", false);
  REQUIRE(proj.ok());
  CHECK_FALSE(proj->skip_policies);
  auto both = DecodeCreateProject(
      R"({"skip_policies":true,"skipPolicies":false})", false);
  REQUIRE_FALSE(both.ok());
  CHECK(both.status().code() == StatusCode::kInvalidArgument);
  CHECK(DecodeCreateProject(R"({"skip_policies":"true"})", false)
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(DecodeCreateProject(R"({"status":"NO_RULES"})", false).status() ==
        InvalidArgumentError("unknown field \"status\" in "
                             "chef.automate.api.iam.v2.CreateProjectReq"));
  auto uproj = DecodeUpdateProject(R"({"id":"z","name":"New"})", false, "p");
  REQUIRE(uproj.ok());
  CHECK(uproj->id == "p");
  CHECK(uproj->name == "New");
  CHECK(DecodeUpdateProject(R"({"skip_policies":true})", false, "p").status() ==
        InvalidArgumentError("unknown field \"skip_policies\" in "
                             "chef.automate.api.iam.v2.UpdateProjectReq"));

  auto some = DecodeIntrospectSome(R"({"paths":["/a","/b"]})", false);
  REQUIRE(some.ok());
  CHECK(some->paths == StringList{"/a", "/b"});
  auto one = DecodeIntrospect(
      R"({"path":"/apis/iam/v2/tokens/x","parameters":["id=y"]})", false);
  REQUIRE(one.ok());
  CHECK(one->path == "/apis/iam/v2/tokens/x");
  CHECK(one->parameters == StringList{"id=y"});
  CHECK(DecodeIntrospect(R"({"paths":[]})", false).status() ==
        InvalidArgumentError("unknown field \"paths\" in "
                             "chef.automate.api.iam.v2.IntrospectReq"));
}

TEST_CASE("codec: wrong JSON types are 400 naming the field") {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"projects":"p1"})", "projects"},
           {R"({"projects":[1]})", "projects"},
           {R"({"projects":[null]})", "projects"},
           {R"({"projects":{}})", "projects"},
           {R"({"name":5})", "name"},
           {R"({"name":["x"]})", "name"},
           {R"({"name":true})", "name"},
           {R"({"id":{}})", "id"},
           {R"({"active":"true"})", "active"},
           {R"({"active":1})", "active"},
           {R"({"value":1})", "value"},
       }) {
    CAPTURE(c.body);
    auto d = DecodeCreateToken(c.body, false);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == StatusCode::kInvalidArgument);
    CHECK(d.status().message().find(std::string("\"") + c.field + "\"") !=
          std::string::npos);
    // Lax mode does not relax types.
    CHECK_FALSE(DecodeCreateToken(c.body, true).ok());
  }
}

TEST_CASE("codec: malformed JSON is 400 and echoes nothing of the body") {
  for (const char* body : {
           R"({"name":"secret-value")",   // truncated
           R"({"name":"x",})",            // trailing comma
           R"({"name":NaN})",             // NaN
           R"({"name":"x"} trailing)",    // trailing data
           R"({"name":"x"}{})",           // two values
           R"([])",                       // top-level array
           R"("str")",                    // top-level string
           R"(null)",                     // top-level null
           R"(42)",                       // top-level number
           R"({'name':'x'})",             // single quotes
           R"({"name":"x" /* c */})",     // comments
           R"({"name":"a\u0000b"})",      // NUL
           R"({"na\u0000me":"a"})",       // NUL in a key
           "{\"name\":\"\xC0\xAF\"}",     // overlong UTF-8
           "{\"name\":\"\xFF\"}",         // not UTF-8
           R"({"name":"\ud800"})",        // lone surrogate
           R"({"name":"x","name":"y"})",  // duplicate key
           R"({"projects":[],"projects":[]})",
           R"({"x":1e400})",  // overflow
       }) {
    CAPTURE(body);
    auto d = DecodeCreateToken(body, true);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == StatusCode::kInvalidArgument);
    CHECK(d.status().message().find("secret-value") == std::string::npos);
  }
  CHECK(DecodeCreateToken(R"({"name":"x",})", false).status() ==
        InvalidArgumentError("invalid JSON body: syntax error at byte 13"));
  CHECK(DecodeCreateToken(R"({"name":"x","name":"y"})", false).status() ==
        InvalidArgumentError("invalid JSON body: duplicate key \"name\""));
  CHECK(DecodeCreateToken("[]", false).status() ==
        InvalidArgumentError(
            "invalid JSON body: the top level must be an object"));
  // Large numbers are fine where they are ignored (lax) but never crash.
  CHECK(DecodeCreateToken(R"({"x":18446744073709551616})", true).ok());
  CHECK(DecodeCreateToken(R"({"x":-9223372036854775809})", true).ok());
}

TEST_CASE("codec: nesting deeper than 16 is refused before building a DOM") {
  auto nested = [](int depth) {
    // One object level plus depth-1 array levels inside an ignored field.
    std::string s = "{\"x\":";
    s += std::string(depth - 1, '[');
    s += std::string(depth - 1, ']');
    s += "}";
    return s;
  };
  CHECK(DecodeCreateToken(nested(16), true).ok());
  auto too_deep = DecodeCreateToken(nested(17), true);
  CHECK(
      too_deep.status() ==
      InvalidArgumentError("invalid JSON body: nesting deeper than 16 levels"));
  // Depth is checked before unknown fields.
  CHECK(DecodeCreateToken(nested(17), false).status() == too_deep.status());
  // 10,000 levels, unterminated: refused at level 17.
  CHECK(DecodeCreateToken(std::string(10000, '['), false).status() ==
        too_deep.status());
  CHECK(DecodeCreateToken(
            "{\"x\":" + std::string(10000, '[') + std::string(10000, ']') + "}",
            true)
            .status() == too_deep.status());
  // Statements sit at depth 4: fine.
  CHECK(DecodeCreatePolicy(
            R"({"statements":[{"actions":["a:b:c"],"projects":["*"]}]})", false)
            .ok());
}

TEST_CASE("codec: DecodeCommand covers every write route") {
  auto cmd = DecodeCommand(RouteId::kCreateToken,
                           R"({"id":"t","name":"n","value":"vvv"})", false, "");
  REQUIRE(cmd.ok());
  REQUIRE(std::holds_alternative<CreateToken>(cmd->command));
  CHECK(std::get<CreateToken>(cmd->command).id == "t");
  CHECK(cmd->token_value == "vvv");

  struct Row {
    RouteId route;
    size_t index;  // in Command
  };
  const std::vector<Row> rows = {
      {RouteId::kUpdateToken, 1},      {RouteId::kDeleteToken, 2},
      {RouteId::kCreatePolicy, 3},     {RouteId::kUpdatePolicy, 4},
      {RouteId::kDeletePolicy, 5},     {RouteId::kReplacePolicyMembers, 6},
      {RouteId::kAddPolicyMembers, 7}, {RouteId::kRemovePolicyMembers, 8},
      {RouteId::kCreateRole, 9},       {RouteId::kUpdateRole, 10},
      {RouteId::kDeleteRole, 11},      {RouteId::kCreateProject, 12},
      {RouteId::kUpdateProject, 13},   {RouteId::kDeleteProject, 14},
  };
  for (const Row& row : rows) {
    CAPTURE(static_cast<int>(row.route));
    auto d = DecodeCommand(row.route, "", false, "the-id");
    REQUIRE(d.ok());
    CHECK(d->command.index() == row.index);
    CHECK(d->token_value.empty());
    std::visit(
        [&](const auto& c) {
          using T = std::decay_t<decltype(c)>;
          if constexpr (!std::is_same_v<T, CreatePolicy> &&
                        !std::is_same_v<T, CreateRole> &&
                        !std::is_same_v<T, CreateProject> &&
                        !std::is_same_v<T, CreateToken>) {
            CHECK(c.id == "the-id");
          }
        },
        d->command);
  }
  // DELETE bodies are not read; other bodies are.
  CHECK(DecodeCommand(RouteId::kDeleteToken, "garbage", false, "x").ok());
  CHECK_FALSE(DecodeCommand(RouteId::kUpdateRole, "garbage", false, "x").ok());
  CHECK(DecodeCommand(RouteId::kGetToken, "", false, "x").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK_FALSE(DecodeCommand(RouteId::kIntrospect, "{}", false, "").ok());
}

TEST_CASE("codec: random bodies decode or fail cleanly") {
  std::mt19937 rng(2024);
  const std::vector<std::string> pieces = {"{",
                                           "}",
                                           "[",
                                           "]",
                                           ",",
                                           ":",
                                           "\"id\"",
                                           "\"name\"",
                                           "\"projects\"",
                                           "\"statements\"",
                                           "\"effect\"",
                                           "\"members\"",
                                           "\"active\"",
                                           "\"skipPolicies\"",
                                           "\"x\"",
                                           "null",
                                           "true",
                                           "1",
                                           "-0",
                                           "1e999",
                                           "\"ALLOW\"",
                                           "\"\\u0000\"",
                                           "\"\xff\"",
                                           " ",
                                           "\"a\""};
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    const int n = static_cast<int>(rng() % 30);
    for (int k = 0; k < n; ++k) body += pieces[rng() % pieces.size()];
    const bool lax = rng() % 2 == 0;
    for (RouteId route :
         {RouteId::kCreateToken, RouteId::kUpdateToken, RouteId::kCreatePolicy,
          RouteId::kUpdatePolicy, RouteId::kAddPolicyMembers,
          RouteId::kCreateRole, RouteId::kCreateProject}) {
      auto d = DecodeCommand(route, body, lax, "id");
      if (!d.ok()) {
        CHECK(d.status().code() == StatusCode::kInvalidArgument);
      }
    }
    auto s1 = DecodeIntrospect(body, lax);
    auto s2 = DecodeIntrospectSome(body, lax);
    if (!s1.ok()) CHECK(s1.status().code() == StatusCode::kInvalidArgument);
    if (!s2.ok()) CHECK(s2.status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace iam::api
