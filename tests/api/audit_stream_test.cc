// The audit routes through the service with a small inline limit: answers
// past it are streamed (api/body_stream.h) with the same bytes as the whole
// answer; errors found before the first byte are still ordinary responses.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "api/audit.h"
#include "tests/api/service_fixture.h"

namespace iam::api::testing {
namespace {

using Json = nlohmann::json;

TEST_CASE("audit over the service: long answers streamed, byte for byte") {
  ServiceFixture fx;
  fx.service_options.audit_inline_limit = 300;
  fx.Open();
  for (int i = 0; i < 40; ++i) {
    auto r = fx.Call("POST", "/apis/iam/v2/tokens",
                     R"({"name": "t)" + std::to_string(i) + R"(", "id": "t)" +
                         std::to_string(i) + R"("})");
    REQUIRE_MESSAGE(r.status == 200, r.body);
  }
  auto p = fx.Call("POST", "/apis/iam/v2/policies",
                   R"({"id": "readers", "name": "readers",
                       "members": ["token:*"],
                       "statements": [{"effect": "ALLOW",
                                       "actions": ["iam:tokens:get"],
                                       "projects": ["*"]}]})");
  REQUIRE_MESSAGE(p.status == 200, p.body);
  const std::string head = std::to_string(fx.ledger->store()->LastSeq());
  Audit whole(fx.ledger->store(), {});
  // A pair, not a structured binding: clang 14 refuses those inside
  // doctest's CAPTURE.
  for (const auto& query : std::vector<std::pair<std::string, QueryParams>>{
           {"/apis/iam/v2/audit/diff?from_seq=0&to_seq=" + head,
            {{"from_seq", "0"}, {"to_seq", head}}},
           {"/apis/iam/v2/audit/who?action=iam:tokens:get&resource=iam:"
            "tokens:x&at_seq=" +
                head,
            {{"action", "iam:tokens:get"},
             {"resource", "iam:tokens:x"},
             {"at_seq", head}}}}) {
    const std::string& target = query.first;
    const QueryParams& params = query.second;
    CAPTURE(target);
    auto r = fx.Call("GET", target);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    CHECK(fx.last_streamed);
    CHECK(HeaderValue(r.headers, "Content-Type") == "application/json");
    auto want = target.find("/diff") != std::string::npos
                    ? whole.Diff(params, false)
                    : whole.Who(params, false);
    REQUIRE(want.ok());
    CHECK(want->size() > 300);
    CHECK(r.body == *want);
  }
  // Short: whole, with its length.
  auto check = fx.Call("GET",
                       "/apis/iam/v2/audit/check?subject=token:t1&action=iam:"
                       "tokens:get&resource=iam:tokens:x");
  REQUIRE_MESSAGE(check.status == 200, check.body);
  CHECK_FALSE(fx.last_streamed);
  CHECK(Json::parse(check.body)["allowed"] == true);
  // A bad parameter, found before any byte: the Automate error body.
  auto bad = fx.Call("GET", "/apis/iam/v2/audit/diff?from_seq=x");
  CHECK(bad.status == 400);
  CHECK_FALSE(fx.last_streamed);
  CHECK(Json::parse(bad.body)["code"] == 3);
  auto past = fx.Call("GET",
                      "/apis/iam/v2/audit/who?action=iam:tokens:get&"
                      "resource=iam:tokens:x&at_seq=999999");
  CHECK(past.status == 400);
  CHECK_FALSE(fx.last_streamed);
}

}  // namespace
}  // namespace iam::api::testing
