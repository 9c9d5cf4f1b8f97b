#include "core/ids.h"

#include <doctest/doctest.h>

#include <string>

namespace iam {
namespace {

TEST_CASE("ids: token/policy/role id pattern ^[a-z0-9-_]{1,64}$") {
  CHECK(IsValidId("a"));
  CHECK(IsValidId("underscores_are_not_allowed"));
  CHECK(IsValidId("-leading-dash"));
  CHECK(IsValidId(std::string(64, 'a')));
  CHECK_FALSE(IsValidId(std::string(65, 'a')));
  CHECK_FALSE(IsValidId(""));
  CHECK_FALSE(IsValidId("Upper"));
  CHECK_FALSE(IsValidId("has space"));
  CHECK_FALSE(IsValidId("dot.ted"));
  CHECK_FALSE(IsValidId("(unassigned)"));
  CHECK_FALSE(IsValidId("*"));
}

TEST_CASE("ids: project id pattern is limited to 48") {
  CHECK(IsValidProjectId(std::string(48, 'p')));
  CHECK_FALSE(IsValidProjectId(std::string(49, 'p')));
  CHECK_FALSE(IsValidProjectId("~~ALL-PROJECTS~~"));
}

TEST_CASE("ids: statement role may be empty") {
  CHECK(IsValidStatementRole(""));
  CHECK(IsValidStatementRole("owner"));
  CHECK_FALSE(IsValidStatementRole("Owner"));
}

TEST_CASE("ids: action grammar, the six forms") {
  for (const char* ok :
       {"*", "*:get", "*:get-all", "iam:*", "iam:*:get", "iam:tokens:*",
        "iam:tokens:get", "test:some:action", "iam:policyMembers:get"}) {
    CAPTURE(ok);
    CHECK(IsValidAction(ok));
  }
  for (const char* bad : {"", "action1", "iam:tokens", "iam", "Iam:tokens:get",
                          "iam:tokens:get:x", "iam:*:*", "*:*",
                          "iam:tok-ens:get", "iam:tokens:ge1", ":a:b", "**"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsValidAction(bad));
  }
}

TEST_CASE("ids: member grammar") {
  for (const char* ok :
       {"*", "user:*", "team:*", "token:*", "tls:*", "user:local:alice",
        "team:saml:Chef EMEA", "team:ldap:*", "token:tok-1",
        "tls:service:deployment-service", "tls:service:svc:*",
        "tls:service:svc:cert-1"}) {
    CAPTURE(ok);
    CHECK(IsValidMember(ok));
  }
  for (const char* bad : {"", "token:*foo", "user:local:a:b", "user:github:x",
                          "foo:bar", "user:local:", "token:", "token:a:b",
                          "tls:service:*:x", "user:local", "team:ldap:a*"}) {
    CAPTURE(bad);
    CHECK_FALSE(IsValidMember(bad));
  }
}

TEST_CASE("ids: id derived from a name (API.md D2)") {
  CHECK(DeriveIdFromName("ADMIN_TEST") == "admin-test");
  CHECK(DeriveIdFromName("aNewToken") == "anewtoken");
  CHECK(DeriveIdFromName("CI bot!") == "ci-bot-");
  CHECK(DeriveIdFromName("caf\xC3\xA9") == "caf-");  // one '-' per code point
  CHECK(DeriveIdFromName(std::string(100, 'x')).size() == 64);
  CHECK(DeriveIdFromName("") == "");
}

TEST_CASE("ids: blank") {
  CHECK(IsBlank(""));
  CHECK(IsBlank(" \t\n"));
  CHECK_FALSE(IsBlank(" a "));
}

}  // namespace
}  // namespace iam
