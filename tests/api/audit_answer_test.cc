// api/audit.h answers: written byte for byte as the JSON library writes the
// same values (compact and pretty), strings that need escaping included;
// the diff's seqs leave out other members' changes of a policy.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/audit.h"
#include "core/defaults.h"
#include "eventstore/event_store.h"

namespace iam::api {
namespace {

using Json = nlohmann::ordered_json;

std::string Redump(const std::string& text, bool pretty) {
  Json j = Json::parse(text);
  return j.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace);
}

Statement St(Effect effect, StringList actions, StringList projects,
             std::string role = "") {
  return Statement{
      effect, std::move(actions), std::move(role), {"*"}, std::move(projects)};
}

struct Fixture {
  std::unique_ptr<eventstore::EventStore> store =
      eventstore::NewMemoryEventStore({});
  uint64_t Append(std::vector<Event> events) {
    eventstore::AppendRequest req;
    req.meta = {"token:test", "req", "127.0.0.1"};
    req.events = std::move(events);
    auto r = store->Append(std::move(req));
    REQUIRE(r.ok());
    return store->LastSeq();
  }
};

TEST_CASE("audit answers - the JSON library's bytes, compact and pretty") {
  Fixture f;
  f.Append(FactoryDefaultEvents("ledger"));
  const uint64_t before = f.Append(
      {ProjectCreated{"p\"1", "quote", PolicyType::kCustom},
       TokenCreated{"t\xc3\xa9", "accent", true, {}, "d1", "s1"},
       TokenCreated{"plain", "plain", true, {}, "d2", "s2"},
       RoleCreated{"r\\1", "backslash", PolicyType::kCustom, {"iam:*"}, {}}});
  f.Append({PolicyCreated{"pol\n1",
                          "newline",
                          PolicyType::kCustom,
                          {"token:t\xc3\xa9", "token:plain", "token:*"},
                          {St(Effect::kAllow, {"iam:tokens:get"}, {"p\"1"}),
                           St(Effect::kDeny, {}, {"*"}, "r\\1")},
                          {}}});
  Audit audit(f.store.get(), {});
  for (bool pretty : {false, true}) {
    CAPTURE(pretty);
    QueryParams check{{"subject", "token:t\xc3\xa9"},
                      {"action", "iam:tokens:get"},
                      {"resource", "iam:tokens:x"}};
    QueryParams who{{"action", "iam:tokens:get"}, {"resource", "iam:tokens:x"}};
    QueryParams diff{{"from_seq", std::to_string(before)}};
    QueryParams gone{{"subject", "token:nobody"},
                     {"action", "iam:tokens:get"},
                     {"resource", "iam:tokens:x"}};
    for (const auto& answer :
         {audit.Check(check, pretty), audit.Who(who, pretty),
          audit.Diff(diff, pretty), audit.Check(gone, pretty),
          audit.Diff(QueryParams{{"from_seq", "1"}, {"to_seq", "1"}},
                     pretty)}) {
      REQUIRE(answer.ok());
      CHECK(*answer == Redump(*answer, pretty));
    }
    auto what_if = audit.WhatIf(
        R"({"requests": [{"method": "DELETE",
                          "path": "/apis/iam/v2/policies/pol%0A1"}]})",
        {"local:admin"}, ExpiryContext{}, pretty);
    REQUIRE(what_if.ok());
    CHECK(*what_if == Redump(*what_if, pretty));
  }
  // The contents, once.
  auto d = audit.Diff({{"from_seq", std::to_string(before)}}, false);
  REQUIRE(d.ok());
  Json j = Json::parse(*d);
  REQUIRE(j["subjects"].size() == 3);  // token:*, token:plain, token:té
  CHECK(j["subjects"][2]["subject"] == "token:t\xc3\xa9");
  CHECK(j["subjects"][2]["gained"][0]["project"] == "p\"1");
}

TEST_CASE("audit diff - a grant's seqs leave out other members' changes") {
  Fixture f;
  f.Append(FactoryDefaultEvents("ledger"));
  f.Append({TokenCreated{"a", "a", true, {}, "da", "sa"},
            TokenCreated{"b", "b", true, {}, "db", "sb"}});
  const uint64_t from =
      f.Append({PolicyCreated{"pol",
                              "pol",
                              PolicyType::kCustom,
                              {},
                              {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
                              {}}});
  const uint64_t add_a = f.Append({PolicyMembersAdded{"pol", {"token:a"}}});
  const uint64_t add_b = f.Append({PolicyMembersAdded{"pol", {"token:b"}}});
  const uint64_t add_all = f.Append({PolicyMembersAdded{"pol", {"token:*"}}});
  Audit audit(f.store.get(), {});
  auto d = audit.Diff({{"from_seq", std::to_string(from)}}, false);
  REQUIRE(d.ok());
  Json j = Json::parse(*d);
  std::map<std::string, Json> seqs;
  for (const auto& s : j["subjects"]) {
    REQUIRE(s["gained"].size() == 1);
    seqs[s["subject"].get<std::string>()] = s["gained"][0]["seqs"];
  }
  CHECK(seqs["token:a"] == Json{add_a, add_all});
  CHECK(seqs["token:b"] == Json{add_b, add_all});
  CHECK(seqs["token:*"] == Json{add_all});
}

}  // namespace
}  // namespace iam::api
