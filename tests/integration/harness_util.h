// Helpers of the integration suite over the shared harness
// (tests/testutil/server_harness.h): each test case starts the real
// build/iamledger binary with its own temporary directory (Env, START_ENV),
// creates an admin token over the admin socket, and checks responses
// against the API's error and validation conventions.
#ifndef IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_
#define IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_

#include <doctest/doctest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tests/testutil/server_harness.h"

namespace iam::integration {

// The shared harness, by the names the suite has always used.
using ::iam::testutil::Api;
using ::iam::testutil::CommandResult;
using ::iam::testutil::Connection;
using ::iam::testutil::Endpoint;
using ::iam::testutil::HeaderList;
using ::iam::testutil::Http;
using ::iam::testutil::Json;
using ::iam::testutil::RawResult;
using ::iam::testutil::Response;
using ::iam::testutil::RunIamledger;
using ::iam::testutil::SecondsSince;
using ::iam::testutil::SendRaw;
using ::iam::testutil::Server;
using ::iam::testutil::TempDir;

// Validation patterns as they appear in error messages (spec §6, §9).
inline constexpr std::string_view kIdPattern = "^[a-z0-9-_]{1,64}$";
inline constexpr std::string_view kProjectIdPattern = "^[a-z0-9-_]{1,48}$";
inline constexpr std::string_view kMemberPattern =
    "^(?:team|user):(?:local|ldap|saml):(?:[^:*]+|[*])$|"
    "^(?:(?:team|user|token|tls):)?[*]$|^token:[^:*]+$|"
    "^tls:service:(?:[^:*]+:)?(?:[^:*]+|[*])$";
inline constexpr std::string_view kActionPattern =
    "^[*]$|^[*]:[a-z][-a-zA-Z]*$|^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[a-z][a-zA-Z]*$"
    "|"
    "^[a-z][a-zA-Z]*:[*]$|^[a-z][a-zA-Z]*:[*]:[a-z][a-zA-Z]*$|"
    "^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[*]$";

// "invalid <field>: value does not match regex pattern \"<pattern>\"".
inline std::string RegexError(std::string_view field,
                              std::string_view pattern) {
  return "invalid " + std::string(field) +
         ": value does not match regex pattern \"" + std::string(pattern) +
         "\"";
}

// A started server plus an admin token ("admin", member of
// administrator-access), created over the admin socket.
struct Env {
  TempDir dir;
  Server server{dir.path()};
  std::string admin_token;
  Api admin;  // TCP with the admin token
  Api anon;   // TCP without a token
  Api local;  // the admin socket (no token)

  // Starts the server with `extra_args` and creates the admin token; false
  // when anything failed (the reason is in `error`).
  bool Start(const std::vector<std::string>& extra_args = {});
  std::string error;
};

// Declares `Env env` and starts it (REQUIRE: the test stops when the server
// cannot start). Optional arguments are extra `serve` flags.
#define START_ENV(env, ...)    \
  ::iam::integration::Env env; \
  REQUIRE_MESSAGE(env.Start({__VA_ARGS__}), env.error)

// "" when `r` is the standard error body {"error": m, "code": code,
// "message": m, "details": []} with HTTP status `http`, else a description of
// the difference (for CHECK(... == "")).
std::string ErrorDiff(const Response& r, int http, int code,
                      std::string_view message);
#define CHECK_ERR(resp, http, code, msg) \
  CHECK(::iam::integration::ErrorDiff((resp), (http), (code), (msg)) == "")

// The `next` of GET /apis/iam/v2/events?after=0&limit=1000 (the log head
// while it holds fewer than 1000 events); 0 when the call failed.
uint64_t LogHead(const Api& admin);

// Creates a token (POST /tokens) and returns its value ("" on failure).
std::string CreateToken(const Api& admin, const std::string& id,
                        const Json& projects = Json::array());
// Adds `member` to policy `policy_id`; true on 200.
bool AddMember(const Api& admin, const std::string& policy_id,
               const std::string& member);

// A member of `j` anywhere (keys, recursively) named `key`.
bool JsonHasKey(const Json& j, std::string_view key);

// "<open>a,b,c<close>": the strings of `c` in order.
template <typename Strings>
std::string Joined(const Strings& c, char open, char close) {
  std::string out(1, open);
  for (const auto& v : c) out += (out.size() > 1 ? "," : "") + v;
  return out + close;
}

}  // namespace iam::integration

// Failed CHECKs show JSON values, id sets and string lists.
namespace doctest {
template <>
struct StringMaker<nlohmann::json> {
  static String convert(const nlohmann::json& j) {
    return String(j.dump().c_str());
  }
};
template <>
struct StringMaker<std::set<std::string>> {
  static String convert(const std::set<std::string>& s) {
    return String(::iam::integration::Joined(s, '{', '}').c_str());
  }
};
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& s) {
    return String(::iam::integration::Joined(s, '[', ']').c_str());
  }
};
}  // namespace doctest

#endif  // IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_
