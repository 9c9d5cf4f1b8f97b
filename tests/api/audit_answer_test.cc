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
  const uint64_t middle =
      f.Append({PolicyCreated{"pol\n1",
                              "newline",
                              PolicyType::kCustom,
                              {"token:t\xc3\xa9", "token:plain", "token:*"},
                              {St(Effect::kAllow, {"iam:tokens:get"}, {"p\"1"}),
                               St(Effect::kDeny, {}, {"*"}, "r\\1")},
                              {}}});
  // Past 8 bytes, each byte that needs escaping (or the library's UTF-8
  // check) inside a word of the writer's 8-byte scan, not only its tail.
  f.Append({PolicyCreated{
      "policy-\"quoted\"-long",
      "long",
      PolicyType::kCustom,
      {"team:local:back\\slash-member", "team:local:long-\x7f-del",
       "team:local:long-\x01-control", "team:local:long-\xff-bad-utf8"},
      {St(Effect::kAllow, {"iam:tokens:get"}, {"*"})},
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
  auto d = audit.Diff({{"from_seq", std::to_string(before)},
                       {"to_seq", std::to_string(middle)}},
                      false);
  REQUIRE(d.ok());
  Json j = Json::parse(*d);
  REQUIRE(j["subjects"].size() == 3);  // token:*, token:plain, token:té
  CHECK(j["subjects"][2]["subject"] == "token:t\xc3\xa9");
  CHECK(j["subjects"][2]["gained"][0]["project"] == "p\"1");
  auto w = audit.Who({{"action", "iam:tokens:get"}, {"resource", "x"}}, false);
  REQUIRE(w.ok());
  CHECK(w->find("long-\\u0001-control") != std::string::npos);
  CHECK(w->find("long-\x7f-del") != std::string::npos);  // as the library
  CHECK(w->find("policy-\\\"quoted\\\"-long") != std::string::npos);
  CHECK(w->find("back\\\\slash-member") != std::string::npos);
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

namespace iam::api {
namespace {

TEST_CASE(
    "audit answers - streamed in pieces: the same bytes, a gone reader "
    "stops the query") {
  // Reasons lists longer than the staging buffer (256 KiB): a member's
  // list, copied again for its token, is captured across flushes.
  Fixture f;
  f.Append(FactoryDefaultEvents("ledger"));
  std::vector<Event> events;
  for (int i = 0; i < 40; ++i) {
    const std::string id = "t" + std::to_string(i);
    events.push_back(TokenCreated{id, id, true, {}, "d" + id, "s" + id});
  }
  for (int i = 0; i < 1500; ++i) {
    events.push_back(PolicyCreated{
        "policy-" + std::to_string(i),
        "p",
        PolicyType::kCustom,
        {"token:t1", "token:t2", "token:*"},
        {St(Effect::kAllow, {"iam:tokens:get"}, {"*"}),
         // a grant of its own for the diff
         St(Effect::kAllow, {"iam:tokens:get"}, {"proj-" + std::to_string(i)})},
        {}});
  }
  f.Append(std::move(events));
  f.Append({PolicyDeleted{"policy-7"}});
  Audit audit(f.store.get(), {});
  const QueryParams who{{"action", "iam:tokens:get"},
                        {"resource", "iam:tokens:x"}};
  const QueryParams diff{{"from_seq", "1"}};
  for (bool pretty : {false, true}) {
    CAPTURE(pretty);
    for (const QueryParams* q : {&who, &diff}) {
      std::string joined;
      size_t pieces = 0;
      const AnswerSink sink = [&](std::string_view bytes) {
        joined.append(bytes);
        ++pieces;
        return true;
      };
      Status s = q == &who ? audit.Who(*q, pretty, sink)
                           : audit.Diff(*q, pretty, sink);
      REQUIRE(s.ok());
      CHECK(pieces > 4);
      CHECK(joined.size() > 1'000'000);
      CHECK(joined == Redump(joined, pretty));
      if (q == &who) {
        // A token that is a member expression too: the same reasons.
        Json j = Json::parse(joined);
        Json member, token;
        for (const auto& m : j["members"]) {
          if (m["member"] == "token:t2") member = m["reasons"];
        }
        for (const auto& t : j["tokens"]) {
          if (t["id"] == "t2") token = t["reasons"];
        }
        CHECK(member.size() == 1499);  // policy-7 is gone
        CHECK(token == member);
      }
    }
  }
  // The reader goes away after the first piece: Cancelled, no more bytes.
  size_t calls = 0;
  Status s = audit.Diff(diff, false, [&](std::string_view) {
    ++calls;
    return false;
  });
  CHECK(s.code() == StatusCode::kCancelled);
  CHECK(calls == 1);
}

}  // namespace
}  // namespace iam::api
