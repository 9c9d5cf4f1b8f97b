// History, the change feed (long-poll included), ETag / If-Match and
// X-Iam-Seq: API.md "Additions"; DESIGN.md §2, §3, §5.
#include <doctest/doctest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

const std::regex kRfc3339Micros(
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z$");

std::vector<std::string> Types(const Json& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.value("type", ""));
  return out;
}

// No secret material anywhere in a JSON document (API.md: no value, digest
// or ciphertext in history or the feed).
void CheckNoSecrets(const Response& r, const std::vector<std::string>& values) {
  Json j = r.JsonBody();
  REQUIRE(j.is_object());
  for (const char* key : {"value", "digest", "ciphertext", "sealed",
                          "sealed_value", "secret", "hmac", "token_value"}) {
    CAPTURE(key);
    CHECK_FALSE(JsonHasKey(j, key));
  }
  for (const auto& v : values) {
    CAPTURE(v);
    CHECK(r.body.find(v) == std::string::npos);
  }
}

TEST_CASE("history - tokens and policies readable after delete") {
  START_ENV(env);
  const Api& admin = env.admin;
  const std::string value = CreateToken(admin, "hist");
  REQUIRE(!value.empty());
  REQUIRE(admin.Put("/apis/iam/v2/tokens/hist", Json{{"name", "Hist Two"}})
              .status == 200);
  REQUIRE(admin
              .Put("/apis/iam/v2/tokens/hist",
                   Json{{"name", "Hist Two"}, {"active", false}})
              .status == 200);
  // A PUT that changes nothing appends nothing.
  REQUIRE(admin
              .Put("/apis/iam/v2/tokens/hist",
                   Json{{"name", "Hist Two"}, {"active", false}})
              .status == 200);
  REQUIRE(AddMember(admin, "viewer-access", "token:hist"));
  REQUIRE(admin.Delete("/apis/iam/v2/tokens/hist").status == 200);
  CHECK(admin.Get("/apis/iam/v2/tokens/hist").status == 404);

  Response hist = admin.Get("/apis/iam/v2/tokens/hist/history");
  REQUIRE(hist.status == 200);
  Json events = hist.JsonBody()["events"];
  CHECK(Types(events) ==
        std::vector<std::string>{"TokenCreated", "TokenRenamed",
                                 "TokenStatusToggled", "TokenDeleted"});
  uint64_t last_seq = 0;
  uint64_t version = 0;
  for (const auto& e : events) {
    CHECK(e["seq"].get<uint64_t>() > last_seq);
    last_seq = e["seq"].get<uint64_t>();
    CHECK(e["stream_version"].get<uint64_t>() == ++version);
    CHECK(e["actor"] == "token:admin");
    CHECK(e["source"] == "127.0.0.1");
    CHECK(!e.value("request_id", "").empty());
    CHECK(std::regex_match(e.value("recorded_at", ""), kRfc3339Micros));
    CHECK_FALSE(e.contains("stream"));
  }
  CHECK(events[0]["data"]["id"] == "hist");
  CHECK(events[0]["data"]["name"] == "hist name");
  CHECK(events[0]["data"]["active"] == true);
  CHECK(events[0]["data"]["projects"] == Json::array());
  CHECK(events[1]["data"]["name"] == "Hist Two");
  CHECK(events[2]["data"]["active"] == false);
  CheckNoSecrets(hist, {value});

  // The cascade shows in the policy's history; the feed carries no secrets.
  Response viewer = admin.Get("/apis/iam/v2/policies/viewer-access/history");
  REQUIRE(viewer.status == 200);
  Json vev = viewer.JsonBody()["events"];
  REQUIRE(vev.size() >= 3);
  CHECK(vev[0]["type"] == "PolicyCreated");
  CHECK(vev[0]["actor"] == "system");
  CHECK(vev[vev.size() - 2]["type"] == "PolicyMembersAdded");
  CHECK(vev[vev.size() - 1]["type"] == "PolicyMembersRemoved");
  CHECK(vev[vev.size() - 1]["data"]["members"] == Json{"token:hist"});
  // Token delete and purge are one atomic batch (D7): adjacent seqs.
  CHECK(vev[vev.size() - 1]["seq"].get<uint64_t>() == last_seq + 1);
  Response feed = admin.Get("/apis/iam/v2/events?after=0&limit=1000");
  REQUIRE(feed.status == 200);
  CheckNoSecrets(feed, {value, env.admin_token});

  // Policies, roles, projects.
  REQUIRE(admin
              .Post("/apis/iam/v2/policies",
                    Json{{"id", "pol-h"},
                         {"name", "H"},
                         {"statements",
                          {Json{{"actions", {"a:b:c"}}, {"projects", {"*"}}}}}})
              .status == 200);
  REQUIRE(AddMember(admin, "pol-h", "token:x"));
  REQUIRE(admin.Delete("/apis/iam/v2/policies/pol-h").status == 200);
  Response ph = admin.Get("/apis/iam/v2/policies/pol-h/history");
  REQUIRE(ph.status == 200);
  CHECK(Types(ph.JsonBody()["events"]) ==
        std::vector<std::string>{"PolicyCreated", "PolicyMembersAdded",
                                 "PolicyDeleted"});
  REQUIRE(admin
              .Post("/apis/iam/v2/projects",
                    Json{{"id", "pj"}, {"name", "PJ"}, {"skip_policies", true}})
              .status == 200);
  REQUIRE(admin.Put("/apis/iam/v2/projects/pj", Json{{"name", "PJ2"}}).status ==
          200);
  CHECK(
      Types(
          admin.Get("/apis/iam/v2/projects/pj/history").JsonBody()["events"]) ==
      std::vector<std::string>{"ProjectCreated", "ProjectRenamed"});
  Response owner = admin.Get("/apis/iam/v2/roles/owner/history");
  REQUIRE(owner.status == 200);
  CHECK(owner.JsonBody()["events"][0]["type"] == "RoleCreated");

  // Unknown objects that never existed: 404 with the usual messages.
  CHECK_ERR(admin.Get("/apis/iam/v2/tokens/never/history"), 404, 5,
            "No token record found");
  CHECK_ERR(admin.Get("/apis/iam/v2/policies/never/history"), 404, 5,
            "no policy with ID \"never\" found");
  CHECK_ERR(admin.Get("/apis/iam/v2/roles/never/history"), 404, 5,
            "no role with ID \"never\" found");
  CHECK_ERR(admin.Get("/apis/iam/v2/projects/never/history"), 404, 5,
            "could not find project with ID \"never\"");
  // History needs the object's get permission.
  const Api plain = admin.WithToken(CreateToken(admin, "plain"));
  CHECK_ERR(plain.Get("/apis/iam/v2/tokens/plain/history"), 403, 7,
            "Permission Denied");
}

TEST_CASE("feed - paging filters and next") {
  START_ENV(env);
  const Api& admin = env.admin;
  for (int i = 0; i < 3; ++i)
    REQUIRE(!CreateToken(admin, "f" + std::to_string(i)).empty());
  const uint64_t head = LogHead(admin);
  REQUIRE(head > 10);

  Response first = admin.Get("/apis/iam/v2/events?after=0&limit=5");
  REQUIRE(first.status == 200);
  Json j = first.JsonBody();
  REQUIRE(j["events"].size() == 5);
  CHECK(j["events"][0]["seq"] == 1);
  CHECK(j["events"][0]["type"] == "LedgerInitialized");
  CHECK(j["events"][0]["actor"] == "system");
  for (size_t i = 0; i < 5; ++i) {
    CHECK(j["events"][i]["seq"] == i + 1);
    CHECK(j["events"][i].contains("stream"));
    CHECK(j["events"][i].contains("stream_version"));
  }
  CHECK(j["next"] == 5);

  // `next` continues without gaps or repeats until the head.
  uint64_t after = j["next"];
  uint64_t expected = 6;
  int pages = 0;
  for (;;) {
    Response page = admin.Get(
        "/apis/iam/v2/events?after=" + std::to_string(after) + "&limit=4");
    REQUIRE(page.status == 200);
    Json pj = page.JsonBody();
    if (pj["events"].empty()) {
      CHECK(pj["next"] == after);
      break;
    }
    CHECK(pj["events"].size() <= 4);
    for (const auto& e : pj["events"]) CHECK(e["seq"] == expected++);
    after = pj["next"];
    REQUIRE(++pages < 100);
  }
  CHECK(after == head);
  CHECK(expected == head + 1);

  // Default limit 100.
  Response def = admin.Get("/apis/iam/v2/events");
  CHECK(def.status == 200);
  CHECK(def.JsonBody()["events"].size() == std::min<uint64_t>(head, 100));

  // type and stream filters.
  Response created = admin.Get("/apis/iam/v2/events?after=0&type=TokenCreated");
  REQUIRE(created.status == 200);
  Json cj = created.JsonBody();
  CHECK(cj["events"].size() == 4);  // admin, f0, f1, f2
  for (const auto& e : cj["events"]) CHECK(e["type"] == "TokenCreated");
  CHECK(cj["events"][3]["data"]["id"] == "f2");
  Response stream = admin.Get("/apis/iam/v2/events?after=0&stream=token/f1");
  REQUIRE(stream.status == 200);
  CHECK(stream.JsonBody()["events"].size() == 1);
  CHECK(stream.JsonBody()["events"][0]["stream"] == "token/f1");
  CHECK(stream.JsonBody()["events"][0]["type"] == "TokenCreated");
  Response both = admin.Get(
      "/apis/iam/v2/events?after=0&type=PolicyMembersAdded&stream=policy/"
      "administrator-access");
  CHECK(both.JsonBody()["events"].size() == 1);
  CHECK(both.JsonBody()["events"][0]["data"]["members"] == Json{"token:admin"});
  Response after_head =
      admin.Get("/apis/iam/v2/events?after=" + std::to_string(head));
  CHECK(after_head.body ==
        "{\"events\":[],\"next\":" + std::to_string(head) + "}");

  CHECK_ERR(admin.Get("/apis/iam/v2/events?type=Bogus"), 400, 3,
            "unknown event type \"Bogus\"");
  for (const char* q : {"after=abc", "after=-1", "limit=x", "wait=abc",
                        "wait=61", "limit=1001", "after=1e3"}) {
    CAPTURE(q);
    Response r = admin.Get(std::string("/apis/iam/v2/events?") + q);
    CHECK(r.status == 400);
    CHECK(r.JsonBody()["code"] == 3);
  }
}

TEST_CASE("feed - long poll wakes up on a new event") {
  START_ENV(env);
  const Api& admin = env.admin;
  const uint64_t head = LogHead(admin);
  REQUIRE(head > 0);

  // Nothing arrives: the wait ends after about `wait` seconds, empty.
  auto t0 = std::chrono::steady_clock::now();
  Response idle = Http(
      admin.ep, "GET",
      "/apis/iam/v2/events?after=" + std::to_string(head) + "&wait=1",
      {{"api-token", env.admin_token}}, {}, std::chrono::milliseconds(8000));
  const double idle_s = SecondsSince(t0);
  CHECK(idle.status == 200);
  CHECK(idle.body == "{\"events\":[],\"next\":" + std::to_string(head) + "}");
  CHECK(idle_s >= 0.8);
  CHECK(idle_s < 3.0);

  // Another thread writes while we wait.
  Response polled;
  double poll_s = 0;
  std::chrono::steady_clock::time_point returned;
  t0 = std::chrono::steady_clock::now();
  std::thread poller([&] {
    polled = Http(
        admin.ep, "GET",
        "/apis/iam/v2/events?after=" + std::to_string(head) + "&wait=10",
        {{"api-token", env.admin_token}}, {}, std::chrono::milliseconds(15000));
    returned = std::chrono::steady_clock::now();
    poll_s = SecondsSince(t0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  Response created =
      admin.Post("/apis/iam/v2/tokens", Json{{"id", "lp"}, {"name", "lp"}});
  const auto written = std::chrono::steady_clock::now();
  poller.join();
  REQUIRE(created.status == 200);
  CHECK(polled.status == 200);
  CHECK(poll_s < 3.0);  // well before the 10 s wait
  CHECK(std::chrono::duration<double>(returned - written).count() < 1.5);
  Json events = polled.JsonBody()["events"];
  REQUIRE(events.size() >= 1);
  CHECK(events[0]["seq"] == head + 1);
  CHECK(events[0]["type"] == "TokenCreated");
  CHECK(events[0]["data"]["id"] == "lp");
  CHECK(polled.JsonBody()["next"] == head + 1);
  CHECK(created.Header("X-Iam-Seq") == std::to_string(head + 1));

  // A filtered long-poll ignores other events and wakes on a matching one.
  Response filtered;
  t0 = std::chrono::steady_clock::now();
  std::thread poller2([&] {
    filtered = Http(admin.ep, "GET",
                    "/apis/iam/v2/events?after=" + std::to_string(head + 1) +
                        "&wait=10&type=TokenDeleted",
                    {{"api-token", env.admin_token}}, {},
                    std::chrono::milliseconds(15000));
    poll_s = SecondsSince(t0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(!CreateToken(admin, "lp2").empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  REQUIRE(admin.Delete("/apis/iam/v2/tokens/lp").status == 200);
  poller2.join();
  CHECK(filtered.status == 200);
  CHECK(poll_s < 3.0);
  REQUIRE(filtered.JsonBody()["events"].size() == 1);
  CHECK(filtered.JsonBody()["events"][0]["type"] == "TokenDeleted");
  CHECK(filtered.JsonBody()["events"][0]["stream"] == "token/lp");
}

TEST_CASE("feed - SIGTERM answers open long polls and exits 0") {
  START_ENV(env);
  const Api& admin = env.admin;
  const uint64_t head = LogHead(admin);
  Response polled;
  double poll_s = 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread poller([&] {
    polled = Http(
        admin.ep, "GET",
        "/apis/iam/v2/events?after=" + std::to_string(head) + "&wait=30",
        {{"api-token", env.admin_token}}, {}, std::chrono::milliseconds(20000));
    poll_s = SecondsSince(t0);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto stop_start = std::chrono::steady_clock::now();
  const int code = env.server.Stop(std::chrono::milliseconds(10000));
  const double stop_s = SecondsSince(stop_start);
  poller.join();
  CHECK(code == 0);
  CHECK(stop_s < 5.0);
  CHECK(poll_s < 6.0);
  // The waiting client got an answer (an empty page), not a reset.
  CHECK(polled.status == 200);
  CHECK(polled.body == "{\"events\":[],\"next\":" + std::to_string(head) + "}");
}

TEST_CASE("concurrency - ETag If-Match 412 and X-Iam-Seq") {
  START_ENV(env);
  const Api& admin = env.admin;
  REQUIRE(!CreateToken(admin, "e1").empty());

  Response got = admin.Get("/apis/iam/v2/tokens/e1");
  CHECK(got.Header("ETag") == "\"1\"");
  Response ok = admin.Put("/apis/iam/v2/tokens/e1", Json{{"name", "E1b"}},
                          {{"If-Match", "\"1\""}});
  CHECK(ok.status == 200);
  CHECK(ok.Header("X-Iam-Seq") == std::to_string(LogHead(admin)));
  CHECK(admin.Get("/apis/iam/v2/tokens/e1").Header("ETag") == "\"2\"");

  auto check_stale = [&](const Response& r) {
    CHECK(r.status == 412);
    Json j = r.JsonBody();
    CHECK(j["code"] == 9);
    CHECK(j["error"] == j["message"]);
    CHECK(!j.value("message", "").empty());
    CHECK(j["details"] == Json::array());
    CHECK_FALSE(r.HasHeader("X-Iam-Seq"));
  };
  const uint64_t head = LogHead(admin);
  check_stale(admin.Put("/apis/iam/v2/tokens/e1", Json{{"name", "E1c"}},
                        {{"If-Match", "\"1\""}}));
  check_stale(admin.Put("/apis/iam/v2/tokens/e1", Json{{"name", "E1c"}},
                        {{"If-Match", "\"3\""}}));
  check_stale(admin.Delete("/apis/iam/v2/tokens/e1", {{"If-Match", "\"1\""}}));
  CHECK(LogHead(admin) == head);
  CHECK(admin.Get("/apis/iam/v2/tokens/e1").JsonBody()["token"]["name"] ==
        "E1b");

  // Policies: GET ETag, member changes and PUT honour If-Match.
  const std::string pol = "/apis/iam/v2/policies/viewer-access";
  Response pget = admin.Get(pol);
  const std::string etag = pget.Header("ETag");
  REQUIRE(!etag.empty());
  check_stale(admin.Post(pol + "/members:add", Json{{"members", {"token:x"}}},
                         {{"If-Match", "\"999\""}}));
  check_stale(admin.Put(pol + "/members", Json{{"members", {"token:x"}}},
                        {{"If-Match", "\"999\""}}));
  check_stale(admin.Post(pol + "/members:remove",
                         Json{{"members", {"team:local:viewers"}}},
                         {{"If-Match", "\"999\""}}));
  CHECK(LogHead(admin) == head);
  Response madd =
      admin.Post(pol + "/members:add", Json{{"members", {"token:x"}}},
                 {{"If-Match", etag}});
  CHECK(madd.status == 200);
  CHECK(madd.Header("X-Iam-Seq") == std::to_string(head + 1));
  const std::string new_etag = admin.Get(pol).Header("ETag");
  CHECK(new_etag != etag);
  CHECK(!new_etag.empty());
  CHECK(admin.Get(pol + "/members").Header("ETag") == new_etag);
  check_stale(admin.Post(pol + "/members:remove",
                         Json{{"members", {"token:x"}}}, {{"If-Match", etag}}));

  // Roles and projects carry ETags too.
  REQUIRE(admin
              .Post("/apis/iam/v2/roles",
                    Json{{"id", "r"}, {"name", "r"}, {"actions", {"a:b:c"}}})
              .status == 200);
  CHECK(admin.Get("/apis/iam/v2/roles/r").Header("ETag") == "\"1\"");
  check_stale(admin.Put("/apis/iam/v2/roles/r",
                        Json{{"name", "r2"}, {"actions", {"a:b:c"}}},
                        {{"If-Match", "\"2\""}}));
  CHECK(admin
            .Put("/apis/iam/v2/roles/r",
                 Json{{"name", "r2"}, {"actions", {"a:b:c"}}},
                 {{"If-Match", "\"1\""}})
            .status == 200);
  REQUIRE(admin
              .Post("/apis/iam/v2/projects",
                    Json{{"id", "pj"}, {"name", "n"}, {"skip_policies", true}})
              .status == 200);
  CHECK(admin.Get("/apis/iam/v2/projects/pj").Header("ETag") == "\"1\"");
  check_stale(
      admin.Delete("/apis/iam/v2/projects/pj", {{"If-Match", "\"7\""}}));
  CHECK(admin.Get("/apis/iam/v2/projects/pj").status == 200);

  // Every kind of write returns X-Iam-Seq = the seq of its last event.
  struct Write {
    const char* method;
    std::string path;
    Json body;
  };
  const std::vector<Write> writes = {
      {"POST", "/apis/iam/v2/tokens", {{"id", "w"}, {"name", "w"}}},
      {"PUT", "/apis/iam/v2/tokens/w", {{"name", "w2"}, {"active", false}}},
      {"POST",
       "/apis/iam/v2/roles",
       {{"id", "wr"}, {"name", "wr"}, {"actions", {"a:b:c"}}}},
      {"PUT",
       "/apis/iam/v2/roles/wr",
       {{"name", "wr2"}, {"actions", {"a:b:d"}}}},
      {"POST", "/apis/iam/v2/projects", {{"id", "wp"}, {"name", "wp"}}},
      {"PUT", "/apis/iam/v2/projects/wp", {{"name", "wp2"}}},
      {"POST",
       "/apis/iam/v2/policies",
       {{"id", "wpol"},
        {"name", "n"},
        {"statements", {{{"role", "wr"}, {"projects", {"wp"}}}}}}},
      {"PUT",
       "/apis/iam/v2/policies/wpol",
       {{"name", "n2"},
        {"members", {"token:w"}},
        {"statements", {{{"role", "wr"}, {"projects", {"*"}}}}}}},
      {"PUT",
       "/apis/iam/v2/policies/wpol/members",
       {{"members", {"token:a", "token:b"}}}},
      {"POST",
       "/apis/iam/v2/policies/wpol/members:add",
       {{"members", {"token:c"}}}},
      {"POST",
       "/apis/iam/v2/policies/wpol/members:remove",
       {{"members", {"token:a"}}}},
      {"DELETE", "/apis/iam/v2/policies/wpol", nullptr},
      {"DELETE", "/apis/iam/v2/roles/wr", nullptr},
      {"DELETE", "/apis/iam/v2/projects/wp", nullptr},
      {"DELETE", "/apis/iam/v2/tokens/w", nullptr},
  };
  uint64_t previous = LogHead(admin);
  for (const auto& w : writes) {
    CAPTURE(w.method);
    CAPTURE(w.path);
    Response r = admin.Call(w.method, w.path,
                            w.body.is_null() ? std::string() : w.body.dump());
    CHECK(r.status == 200);
    const std::string seq = r.Header("X-Iam-Seq");
    REQUIRE(!seq.empty());
    CHECK(std::stoull(seq) > previous);
    CHECK(std::stoull(seq) == LogHead(admin));
    previous = std::stoull(seq);
  }
  // Reads carry no X-Iam-Seq.
  CHECK_FALSE(admin.Get("/apis/iam/v2/tokens").HasHeader("X-Iam-Seq"));
}

}  // namespace
}  // namespace iam::integration
