// The bad-input catalogue (reliability.md §4.2, DESIGN.md §7): raw requests
// over TCP, each of which must get a 4xx (never a 5xx, never a hang over
// 2 s, never a close without a response unless the protocol is
// unrecoverable), must change nothing, and must leave the server healthy.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

using std::string_literals::operator""s;

constexpr char kTokens[] = "/apis/iam/v2/tokens";

struct Case {
  std::string name;
  std::string bytes;
  int expect = 0;            // exact status when non-zero, else any 4xx
  bool allow_close = false;  // unrecoverable framing: a close is acceptable
  bool half_close = false;   // shut down our write side after sending
};

// One request: request line, Host, the api-token (when non-empty), `extra`
// header lines (written verbatim, each without CRLF), Content-Length of
// `body` (unless `length` is false) and Connection: close.
std::string Req(std::string_view method, std::string_view target,
                const std::string& token, std::string_view body = {},
                const std::vector<std::string>& extra = {},
                bool length = true) {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  r += "Host: 127.0.0.1\r\n";
  if (!token.empty()) r += "api-token: " + token + "\r\n";
  for (const auto& h : extra) r += h + "\r\n";
  if (length) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  r += "Connection: close\r\n\r\n";
  r.append(body);
  return r;
}

// Runs every case on its own connection and checks the rules above; the log
// head must not move (checked after every case, to name the culprit).
void RunCatalogue(Env& env, const std::vector<Case>& cases) {
  const uint64_t initial_head = LogHead(env.admin);
  uint64_t head = initial_head;
  REQUIRE(head > 0);
  const std::string tokens_before = env.admin.Get(kTokens).body;
  const std::string policies_before =
      env.admin.Get("/apis/iam/v2/policies").body;
  for (const Case& c : cases) {
    CAPTURE(c.name);
    RawResult r = SendRaw(env.server.tcp(), c.bytes,
                          std::chrono::milliseconds(5000), c.half_close);
    CHECK_FALSE(r.connect_failed);
    CHECK_FALSE(r.timed_out);
    CHECK(r.seconds < 2.0);
    if (r.responded) {
      const int status = r.response.status;
      CAPTURE(status);
      CAPTURE(r.response.body.substr(0, 300));
      CHECK(status >= 400);
      CHECK(status < 500);
      if (c.expect != 0) CHECK(status == c.expect);
      if (r.response.Header("Content-Type") == "application/json") {
        Json j = r.response.JsonBody();
        CHECK(j.is_object());
        CHECK(j["error"] == j["message"]);
      }
    } else {
      CAPTURE(r.raw.substr(0, 300));
      CHECK(c.allow_close);
      CHECK(r.closed);
      CHECK(env.anon.Get("/healthz").status == 200);
    }
    // Nothing changed (report only the culprit, then go on from there).
    const uint64_t now = LogHead(env.admin);
    CHECK(now == head);
    head = now;
  }
  CHECK(LogHead(env.admin) == initial_head);
  CHECK(env.server.Alive());
  CHECK(env.anon.Get("/healthz").status == 200);
  CHECK(env.admin.Get(kTokens).body == tokens_before);
  CHECK(env.admin.Get("/apis/iam/v2/policies").body == policies_before);
  MESSAGE("bad-input cases run: " << cases.size());
}

TEST_CASE("bad input - JSON bodies") {
  START_ENV(env);
  const std::string& tok = env.admin_token;
  std::vector<Case> cases;
  auto post = [&](std::string name, std::string target, std::string body,
                  int expect = 400, std::vector<std::string> extra = {}) {
    cases.push_back(
        {std::move(name), Req("POST", target, tok, body, extra), expect});
  };
  auto token_body = [&](std::string name, std::string body, int expect = 400) {
    post(std::move(name), kTokens, std::move(body), expect);
  };
  const std::vector<std::string> lax = {"Content-Type: application/json+lax"};

  // Truncated and malformed JSON.
  token_body("lone brace", "{");
  token_body("truncated object", R"({"id":"j1","name":"y")");
  token_body("truncated after comma", R"({"id":"j1","name":"y",)");
  token_body("truncated string", R"({"id":"j1","name":"y)");
  token_body("truncated key", R"({"id":"j1","name")");
  token_body("missing value", R"({"id":"j1","name":})");
  token_body("trailing comma", R"({"id":"j1","name":"y",})");
  token_body("trailing comma in array",
             R"({"id":"j1","name":"y","projects":["a",]})");
  token_body("empty array slot", R"({"id":"j1","name":"y","projects":[,]})");
  token_body("missing comma", R"({"id":"j1" "name":"y"})");
  token_body("single quotes", R"({'id':'j1','name':'y'})");
  token_body("unquoted keys", R"({id:"j1",name:"y"})");
  token_body("line comment", "{\"id\":\"j1\", // c\n\"name\":\"y\"}");
  token_body("block comment", R"({/*c*/"id":"j1","name":"y"})");
  token_body("garbage after", R"({"id":"j1","name":"y"}x)");
  token_body("two objects", R"({"id":"j1","name":"y"}{})");
  token_body("stray bracket", R"({"id":"j1","name":"y"}])");
  token_body("NaN", R"({"id":"j1","name":"y","active":NaN})");
  token_body("Infinity", R"({"id":"j1","name":"y","active":Infinity})");
  token_body("leading zero", R"({"id":"j1","name":"y","active":01})");
  token_body("hex number", R"({"id":"j1","name":"y","active":0x1})");
  token_body("misspelled true", R"({"id":"j1","name":"y","active":tru})");
  token_body("bad escape", R"({"id":"j1","name":"\x41"})");
  token_body("short unicode escape", R"({"id":"j1","name":"\u12"})");
  token_body("non-hex unicode escape", R"({"id":"j1","name":"\uZZZZ"})");
  token_body("escaped NUL", R"({"id":"j1","name":"a\u0000b"})");
  token_body("raw NUL in string", "{\"id\":\"j1\",\"name\":\"a\0b\"}"s);
  token_body("raw control char", "{\"id\":\"j1\",\"name\":\"a\x01b\"}");
  token_body("raw newline in string", "{\"id\":\"j1\",\"name\":\"a\nb\"}");
  token_body("NUL then garbage after object",
             "{\"id\":\"j1\",\"name\":\"y\"}\0garbage {{{"s);
  token_body("invalid UTF-8", "{\"id\":\"j1\",\"name\":\"\xff\xfe\"}");
  token_body("overlong UTF-8", "{\"id\":\"j1\",\"name\":\"\xc0\xaf\"}");
  token_body("UTF-8 surrogate", "{\"id\":\"j1\",\"name\":\"\xed\xa0\x80\"}");
  token_body("truncated UTF-8", "{\"id\":\"j1\",\"name\":\"\xe2\x82\"}");
  token_body("invalid UTF-8 key", "{\"id\":\"j1\",\"name\":\"y\",\"\xff\":1}");
  token_body("duplicate key", R"({"id":"j1","id":"j2","name":"y"})");
  token_body("top-level array", R"([{"id":"j1","name":"y"}])");
  token_body("top-level string", R"("j1")");
  token_body("top-level number", "42");
  token_body("top-level true", "true");
  token_body("top-level null", "null");
  token_body("whitespace then garbage", "   \n x");
  // Wrong types.
  token_body("projects string", R"({"id":"j1","name":"y","projects":"p1"})");
  token_body("projects numbers", R"({"id":"j1","name":"y","projects":[1]})");
  token_body("projects nested", R"({"id":"j1","name":"y","projects":[["p"]]})");
  token_body("projects object", R"({"id":"j1","name":"y","projects":{"a":1}})");
  token_body("id number", R"({"id":5,"name":"y"})");
  token_body("name array", R"({"id":"j1","name":["y"]})");
  token_body("name object", R"({"id":"j1","name":{}})");
  token_body("active string", R"({"id":"j1","name":"y","active":"true"})");
  token_body("active number", R"({"id":"j1","name":"y","active":1})");
  token_body("active above 2^53",
             R"({"id":"j1","name":"y","active":9007199254740993})");
  token_body("active 1e999", R"({"id":"j1","name":"y","active":1e999})");
  token_body("value number", R"({"id":"j1","name":"y","value":1e30})");
  token_body("unknown field", R"({"id":"j1","name":"y","admin":true})");
  token_body("empty key", R"({"id":"j1","name":"y","":1})");
  // Nesting: depth 17 and 10,000, hidden in an unknown field of a lax body
  // (which would otherwise be ignored and create the token).
  post("depth 17 (lax)", kTokens,
       R"({"id":"deep","name":"y","x":)" + std::string(16, '[') +
           std::string(16, ']') + "}",
       400, lax);
  post(
      "depth 17 objects (lax)", kTokens,
      [] {
        std::string s = R"({"id":"deep2","name":"y","x":)";
        for (int i = 0; i < 16; ++i) s += R"({"a":)";
        s += "1";
        for (int i = 0; i < 16; ++i) s += "}";
        return s + "}";
      }(),
      400, lax);
  post("depth 10000 (lax)", kTokens,
       R"({"id":"deep3","name":"y","x":)" + std::string(10000, '[') +
           std::string(10000, ']') + "}",
       400, lax);
  token_body("depth 10000 top level", std::string(10000, '['), 400);
  post("lax still rejects bad JSON", kTokens, R"({"id":"j1","name":"y",)", 400,
       lax);
  // Size: one byte over 64 KiB, and a huge claimed length.
  {
    std::string big = R"({"id":"big","name":")";
    big += std::string(65537 - big.size() - 2, 'a');
    big += "\"}";
    REQUIRE(big.size() == 65537);
    token_body("body 64 KiB + 1", big, 413);
    std::string lax_big = R"({"id":"big2","name":"y","pad":")";
    lax_big += std::string(200000, 'b') + "\"}";
    post("body 200 KB (lax)", kTokens, lax_big, 413, lax);
  }
  cases.push_back(
      {"claimed 1 GB body",
       Req("POST", kTokens, tok, {}, {"Content-Length: 1000000000"}, false) +
           R"({"id":"j1","name":"y"})",
       413});
  // Other routes.
  const std::string pol = "/apis/iam/v2/policies";
  auto policy_with = [](std::string statement) {
    return R"({"id":"jp","name":"n","statements":[)" + statement + "]}";
  };
  post("statement effect MAYBE", pol,
       policy_with(
           R"({"effect":"MAYBE","actions":["a:b:c"],"projects":["*"]})"));
  post("statement effect lowercase", pol,
       policy_with(
           R"({"effect":"allow","actions":["a:b:c"],"projects":["*"]})"));
  post("statement effect 2", pol,
       policy_with(R"({"effect":2,"actions":["a:b:c"],"projects":["*"]})"));
  post("statement effect bool", pol,
       policy_with(R"({"effect":true,"actions":["a:b:c"],"projects":["*"]})"));
  post("statement effect 1.5", pol,
       policy_with(R"({"effect":1.5,"actions":["a:b:c"],"projects":["*"]})"));
  post(
      "statement unknown field", pol,
      policy_with(R"({"actions":["a:b:c"],"projects":["*"],"condition":"x"})"));
  post("statement resources", pol,
       policy_with(
           R"({"actions":["a:b:c"],"projects":["*"],"resources":["*"]})"));
  post("statement null", pol, policy_with("null"));
  post("statement array", pol, policy_with("[]"));
  post("statement string", pol, policy_with(R"("ALLOW")"));
  post("statements object", pol,
       R"({"id":"jp","name":"n","statements":{"actions":["a:b:c"]}})");
  post("members string", pol,
       R"({"id":"jp","name":"n","members":"token:x",)"
       R"("statements":[{"actions":["a:b:c"],"projects":["*"]}]})");
  post("members numbers", pol,
       R"({"id":"jp","name":"n","members":[1],)"
       R"("statements":[{"actions":["a:b:c"],"projects":["*"]}]})");
  post("actions string", "/apis/iam/v2/roles",
       R"({"id":"jr","name":"n","actions":"a:b:c"})");
  post("role actions nested", "/apis/iam/v2/roles",
       R"({"id":"jr","name":"n","actions":[["a:b:c"]]})");
  post("skip_policies string", "/apis/iam/v2/projects",
       R"({"id":"jproj","name":"n","skip_policies":"yes"})");
  post("skip_policies number", "/apis/iam/v2/projects",
       R"({"id":"jproj","name":"n","skip_policies":1})");
  post("both spellings", "/apis/iam/v2/projects",
       R"({"id":"jproj","name":"n","skip_policies":true,"skipPolicies":true})");
  post("members:add nested", "/apis/iam/v2/policies/viewer-access/members:add",
       R"({"members":[["token:x"]]})");
  post("members:add null item",
       "/apis/iam/v2/policies/viewer-access/members:add",
       R"({"members":[null]})");
  post("introspect path array", "/apis/iam/v2/introspect",
       R"({"path":["/apis/iam/v2/tokens"]})");
  post("introspect_some paths string", "/apis/iam/v2/introspect_some",
       R"({"paths":"/apis/iam/v2/tokens"})");
  cases.push_back({"PUT token active string",
                   Req("PUT", "/apis/iam/v2/tokens/admin", tok,
                       R"({"name":"renamed","active":"false"})"),
                   400});
  cases.push_back({"PUT token with value (strict)",
                   Req("PUT", "/apis/iam/v2/tokens/admin", tok,
                       R"({"name":"renamed","value":"x"})"),
                   400});
  cases.push_back({"PUT members wrong type",
                   Req("PUT", "/apis/iam/v2/policies/viewer-access/members",
                       tok, R"({"members":{"token:x":true}})"),
                   400});

  CHECK(cases.size() >= 80);
  RunCatalogue(env, cases);

  // Depth 16 in total is within the limit (DESIGN.md §7: depth 16).
  Response ok16 =
      env.admin.Post(kTokens,
                     R"({"id":"depth16","name":"y","x":)" +
                         std::string(15, '[') + std::string(15, ']') + "}",
                     {{"Content-Type", "application/json+lax"}});
  CHECK(ok16.status == 200);
}

TEST_CASE("bad input - HTTP framing and headers") {
  START_ENV(env);
  const std::string& tok = env.admin_token;
  const std::string create = R"({"id":"frame","name":"y"})";
  const std::string len = std::to_string(create.size());
  std::vector<Case> cases;
  auto raw = [&](std::string name, std::string bytes, int expect = 0,
                 bool allow_close = false, bool half_close = false) {
    cases.push_back(
        {std::move(name), std::move(bytes), expect, allow_close, half_close});
  };
  const std::string head_post =
      "POST "s + kTokens + " HTTP/1.1\r\nHost: 127.0.0.1\r\napi-token: " + tok +
      "\r\nConnection: close\r\n";

  // Content-Length and Transfer-Encoding tricks.
  raw("duplicate Content-Length (equal)",
      head_post + "Content-Length: " + len + "\r\nContent-Length: " + len +
          "\r\n\r\n" + create,
      400);
  raw("duplicate Content-Length (different)",
      head_post + "Content-Length: " + len + "\r\nContent-Length: 2\r\n\r\n" +
          create,
      400);
  raw("Content-Length list",
      head_post + "Content-Length: " + len + ", " + len + "\r\n\r\n" + create,
      400);
  raw("Content-Length negative",
      head_post + "Content-Length: -1\r\n\r\n" + create);
  raw("Content-Length not a number",
      head_post + "Content-Length: abc\r\n\r\n" + create);
  raw("Content-Length plus sign",
      head_post + "Content-Length: +" + len + "\r\n\r\n" + create);
  raw("Content-Length hex",
      head_post + "Content-Length: 0x19\r\n\r\n" + create);
  raw("Content-Length overflow",
      head_post + "Content-Length: 99999999999999999999999\r\n\r\n" + create);
  raw("Content-Length with inner space",
      head_post + "Content-Length: 1 9\r\n\r\n" + create);
  raw("Content-Length empty", head_post + "Content-Length: \r\n\r\n" + create);
  raw("Content-Length shorter than body",
      head_post + "Content-Length: 5\r\n\r\n" + create, 400);
  raw("Content-Length with chunked",
      head_post + "Content-Length: " + len +
          "\r\nTransfer-Encoding: chunked\r\n\r\n19\r\n" + create +
          "\r\n0\r\n\r\n",
      400);
  raw("chunked with Content-Length after",
      head_post + "Transfer-Encoding: chunked\r\nContent-Length: " + len +
          "\r\n\r\n19\r\n" + create + "\r\n0\r\n\r\n",
      400);
  raw("Transfer-Encoding gzip",
      head_post + "Transfer-Encoding: gzip\r\n\r\n" + create);
  raw("Transfer-Encoding identity",
      head_post + "Transfer-Encoding: identity\r\nContent-Length: " + len +
          "\r\n\r\n" + create);
  raw("Transfer-Encoding gzip, chunked",
      head_post + "Transfer-Encoding: gzip, chunked\r\n\r\n19\r\n" + create +
          "\r\n0\r\n\r\n");
  raw("Transfer-Encoding xchunked",
      head_post + "Transfer-Encoding: xchunked\r\n\r\n19\r\n" + create +
          "\r\n0\r\n\r\n");
  raw("Transfer-Encoding chunked twice",
      head_post +
          "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked"
          "\r\n\r\n19\r\n" +
          create + "\r\n0\r\n\r\n");
  raw("Transfer-Encoding chunked, chunked",
      head_post + "Transfer-Encoding: chunked, chunked\r\n\r\n19\r\n" + create +
          "\r\n0\r\n\r\n");
  raw("invalid chunk size",
      head_post + "Transfer-Encoding: chunked\r\n\r\nzz\r\n" + create +
          "\r\n0\r\n\r\n",
      400);
  raw("chunk size overflow",
      head_post +
          "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffffff\r\n" +
          create + "\r\n0\r\n\r\n");
  raw("chunk data without CRLF",
      head_post + "Transfer-Encoding: chunked\r\n\r\n19\r\n" + create +
          "XX0\r\n\r\n",
      400);
  raw("chunk size larger than data then EOF",
      head_post + "Transfer-Encoding: chunked\r\n\r\n30\r\n" + create, 0, true,
      true);
  raw("chunked without last chunk then EOF",
      head_post + "Transfer-Encoding: chunked\r\n\r\n19\r\n" + create + "\r\n",
      0, true, true);
  raw(
      "chunked body over 64 KiB",
      head_post + "Transfer-Encoding: chunked\r\n\r\n" +
          [] {
            std::string s;
            for (int i = 0; i < 20; ++i)
              s += "1000\r\n" + std::string(4096, ' ') + "\r\n";
            return s + "0\r\n\r\n";
          }(),
      413);
  raw("chunked valid framing, invalid JSON",
      head_post + "Transfer-Encoding: chunked\r\n\r\n5\r\n{\"id\"\r\n0\r\n\r\n",
      400);
  raw("body shorter than Content-Length then EOF",
      head_post + "Content-Length: 100\r\n\r\n" + create, 0, true, true);
  raw("smuggled second request",
      "POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
          Req("DELETE", "/apis/iam/v2/tokens/admin", tok),
      400);
  raw("Expect 100-continue over the limit",
      head_post + "Expect: 100-continue\r\nContent-Length: 70000\r\n\r\n", 413);

  // Header size and count limits.
  raw("header value over 8 KiB",
      Req("GET", "/healthz", "", {}, {"X-Big: " + std::string(9000, 'a')}),
      431);
  raw("request target over 8 KiB",
      Req("GET", "/healthz?x=" + std::string(9000, 'a'), ""));
  raw(
      "101 header fields",
      [] {
        std::vector<std::string> h;
        for (int i = 0; i < 101; ++i)
          h.push_back("X-H" + std::to_string(i) + ": v");
        return Req("GET", "/healthz", "", {}, h);
      }(),
      431);
  raw("5000 header fields", [] {
    std::vector<std::string> h;
    for (int i = 0; i < 5000; ++i) h.push_back("X: y");
    return Req("GET", "/healthz", "", {}, h);
  }());
  raw("api-token of 1 MiB", Req("GET", kTokens, std::string(1 << 20, 'k')),
      431);
  raw("method of 10 KiB", Req(std::string(10000, 'G'), "/healthz", ""));

  // CR, LF, NUL and malformed header lines (on requests that are 4xx
  // whichever way a lenient parser would read them).
  raw("CR in api-token value", Req("GET", kTokens, tok + "\rX-Evil: 1"));
  raw("LF in header value", Req("GET", kTokens, "", {}, {"X-A: a\nb"}));
  raw("NUL in api-token value", Req("GET", kTokens, tok + "\0x"s));
  raw("NUL in header name", Req("GET", kTokens, "", {}, {"X-\0A: 1"s}));
  raw("space in header name", Req("GET", kTokens, "", {}, {"Bad Header: 1"}));
  raw("space before colon",
      Req("GET", kTokens, "", {}, {"api-token : " + tok}));
  raw("header without colon", Req("GET", kTokens, "", {}, {"NoColonHere"}));
  raw("empty header name", Req("GET", kTokens, "", {}, {": value"}));
  raw("separator in header name", Req("GET", kTokens, "", {}, {"X(A): 1"}));
  raw("obs-fold in api-token",
      Req("GET", kTokens, tok.substr(0, 20) + "\r\n " + tok.substr(20)));
  raw("header line starting with space",
      "GET "s + kTokens +
          " HTTP/1.1\r\n Host: 127.0.0.1\r\nConnection: close\r\n\r\n");

  // Host.
  raw("HTTP/1.1 without Host",
      "GET "s + kTokens + " HTTP/1.1\r\napi-token: " + tok +
          "\r\nConnection: close\r\n\r\n",
      400);
  raw("two Host headers",
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: example.com\r\n"
      "Connection: close\r\n\r\n",
      400);
  raw("invalid Host value",
      "GET /healthz HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n", 400);

  // Request lines.
  raw("HTTP/0.9 style line", "GET /healthz\r\n\r\n");
  raw("method only", "GET\r\n\r\n");
  raw("no method", "/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  raw("extra token in request line",
      "GET /healthz HTTP/1.1 extra\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("lowercase version",
      "GET /healthz http/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("HTTPS version",
      "GET /healthz HTTPS/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("version without minor",
      "GET /healthz HTTP/1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("version with letters",
      "GET /healthz HTTP/1.x\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("double space in request line",
      "GET  "s + kTokens + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("tab separators",
      "GET\t"s + kTokens +
          "\tHTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  raw("bare LF line endings",
      "GET "s + kTokens + " HTTP/1.1\nHost: x\nConnection: close\n\n");
  raw("lowercase method", Req("get", "/healthz", ""), 405);
  raw("unknown method", Req("FOO", "/healthz", ""), 405);
  raw("PATCH on a route", Req("PATCH", kTokens, tok, "{}"), 405);
  raw("TRACE", Req("TRACE", "/healthz", ""), 405);
  raw("OPTIONS", Req("OPTIONS", kTokens, tok), 405);
  raw("invalid method characters", Req("G(E)T", "/healthz", ""));
  raw("CONNECT authority form",
      "CONNECT 127.0.0.1:80 HTTP/1.1\r\nHost: 127.0.0.1:80\r\n"
      "Connection: close\r\n\r\n");
  raw("OPTIONS asterisk", Req("OPTIONS", "*", ""));
  raw("TLS ClientHello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s +
                             std::string(40, '\x00') + "\r\n\r\n");
  raw("binary garbage", "\x00\xff\x13\x37\r\n\r\n"s);
  raw("only blank lines then EOF", "\r\n\r\n", 0, true, true);
  raw("headers without end then EOF", "GET /healthz HTTP/1.1\r\nHost: x\r\n", 0,
      true, true);

  CHECK(cases.size() >= 60);
  RunCatalogue(env, cases);
}

TEST_CASE("bad input - targets ids and credentials") {
  START_ENV(env);
  const std::string& tok = env.admin_token;
  std::vector<Case> cases;
  auto get = [&](std::string target, int expect = 0) {
    cases.push_back({"GET " + target, Req("GET", target, tok), expect});
  };
  auto call = [&](std::string method, std::string target, std::string body,
                  int expect = 0, std::vector<std::string> extra = {}) {
    cases.push_back({method + " " + target + " " + body,
                     Req(method, target, tok, body, extra), expect});
  };

  // Path tricks: encoded slashes, dot segments, NUL, bad escapes, UTF-8.
  const std::string t = std::string(kTokens) + "/";
  for (const char* p :
       {"%2F", "a%2Fb", "a%2fb", "..", ".", "%2e%2e", "%2E%2E", "%2e", "%00",
        "admin%00", "a%00b", "%zz", "%", "%2", "%c0%af", "%ff", "%ed%a0%80",
        "%c3", "admin%2F..%2Fadmin"}) {
    get(t + p, 400);
  }
  get("/apis/iam/v2/../v2/tokens", 400);
  get("/apis/iam/v2/%2e%2e/v2/tokens", 400);
  get("/apis/iam/v2/./tokens", 400);
  get("/apis%2Fiam%2Fv2%2Ftokens", 400);
  get("/apis/iam/v2/policies/%2Fadministrator-access", 400);
  get("/apis/iam/v2/tokens?x=%zz", 400);
  for (const std::string& p : std::vector<std::string>{
           "%252F", "%E2%80%AE", "ADMIN", "admin%20", "Admin", "admin.",
           std::string(65, 'a'), std::string(5000, 'a'), "%EF%BC%A1dmin",
           "%D0%B0dmin", "e%CC%81"}) {
    get(t + p, 404);
  }
  get("//apis/iam/v2/tokens", 404);
  get("/apis/iam/v2/tokens/", 404);
  get("/apis/iam/v2/tokens/admin/", 404);
  get("/apis/iam/v2/TOKENS", 404);
  cases.push_back({"raw NUL in target", Req("GET", t + "a\0b"s, tok)});
  cases.push_back({"raw non-ASCII in target", Req("GET", t + "\xc3\xa9", tok)});
  cases.push_back({"raw DEL in target", Req("GET", t + "a\x7f", tok)});
  cases.push_back(
      {"target without slash", Req("GET", "apis/iam/v2/tokens", tok), 400});
  cases.push_back({"authority-form target", Req("GET", "127.0.0.1:80", tok)});
  call("DELETE", t + "%2e%2e", "", 400);
  call("DELETE", t + "admin%2F..%2Fadmin", "", 400);
  call("DELETE", t + "admin%00", "", 400);
  call("PUT", t + "admin%2F", R"({"name":"x"})", 400);
  call("DELETE", "/apis/iam/v2/policies/administrator-access%00", "", 400);
  call("DELETE", "/apis/iam/v2/policies/viewer-access/..", "", 400);

  // Query parameters of the feed.
  for (const char* q :
       {"after=%zz", "after=-1", "after=abc", "limit=abc", "limit=1001",
        "wait=9999", "wait=-1", "after=18446744073709551616", "type=%00",
        "type=Nope"}) {
    get(std::string("/apis/iam/v2/events?") + q, 400);
  }

  // Ids in bodies: Unicode look-alikes, controls, sizes, separators.
  const std::string bad_ids[] = {"\\u202eabc",
                                 "tok\\u200d",
                                 "\\uff41dmin",
                                 "e\\u0301",
                                 "\\u0430dmin",
                                 "ADMIN",
                                 "a b",
                                 "a/b",
                                 "a:b",
                                 "a.b",
                                 "a*b",
                                 "a\\u0000b",
                                 "x\\u2028y",
                                 "\\ud83d\\ude00",
                                 "\xc3\xa9t\xc3\xa9",
                                 "a\\nb",
                                 "../x",
                                 "a%2Fb",
                                 "tab\\there",
                                 std::string(65, 'a'),
                                 std::string(60000, 'a')};
  for (const auto& id : bad_ids) {
    call("POST", kTokens, R"({"id":")" + id + R"(","name":"n"})", 400);
  }
  call("POST", "/apis/iam/v2/policies",
       R"({"id":"../x","name":"n","statements":[{"actions":["a:b:c"],)"
       R"("projects":["*"]}]})",
       400);
  call("POST", "/apis/iam/v2/roles",
       R"({"id":"r%2F","name":"n","actions":["a:b:c"]})", 400);
  call("POST", "/apis/iam/v2/projects", R"j({"id":"(unassigned)","name":"n"})j",
       400);
  call("POST", "/apis/iam/v2/projects",
       R"({"id":")" + std::string(49, 'p') + R"(","name":"n"})", 400);
  call("POST", "/apis/iam/v2/policies/viewer-access/members:add",
       R"({"members":["token:a:b"]})", 400);
  call("POST", "/apis/iam/v2/policies/viewer-access/members:add",
       R"({"members":["user:local:\u0000"]})", 400);

  // Protected objects and preconditions.
  call("DELETE", "/apis/iam/v2/policies/administrator-access", "", 403);
  call("PUT", "/apis/iam/v2/roles/owner", R"({"name":"x","actions":["*"]})",
       403);
  call("POST", "/apis/iam/v2/policies/administrator-access/members:remove",
       R"({"members":["team:local:admins"]})", 403);
  call("PUT", "/apis/iam/v2/tokens/admin", R"({"name":"renamed"})", 412,
       {"If-Match: \"999\""});
  call("PUT", "/apis/iam/v2/tokens/admin", R"({"name":"renamed"})", 412,
       {"If-Match: W/\"999\""});

  // Credentials.
  std::string wrong_last = tok;
  wrong_last.back() = wrong_last.back() == 'Z' ? 'Y' : 'Z';
  for (const std::string& bad : {std::string("   "), wrong_last, tok.substr(1),
                                 std::string("iam_") + std::string(49, '0'),
                                 std::string("\xc3\xa9") + std::string(30, 'x'),
                                 std::string(300, 'k')}) {
    cases.push_back({"bad token " + bad.substr(0, 12),
                     Req("DELETE", "/apis/iam/v2/tokens/admin", bad), 401});
  }
  cases.push_back(
      {"empty api-token",
       Req("DELETE", "/apis/iam/v2/tokens/admin", "", {}, {"api-token: "}),
       401});
  cases.push_back(
      {"two api-token headers, first wrong",
       Req("DELETE", "/apis/iam/v2/tokens/admin", "", {},
           {"api-token: wrong-value-000000000000", "api-token: " + tok}),
       401});
  cases.push_back({"data collector header wrong, api-token right",
                   Req("DELETE", "/apis/iam/v2/tokens/admin", tok, {},
                       {"x-data-collector-token: wrong-value-00000000000"}),
                   401});
  cases.push_back(
      {"token in the query string",
       Req("DELETE", "/apis/iam/v2/tokens/admin?api-token=" + tok, ""), 401});
  cases.push_back({"bearer token",
                   Req("DELETE", "/apis/iam/v2/tokens/admin", "", {},
                       {"Authorization: Bearer " + tok}),
                   401});

  // Last: a malformed If-Match must not be ignored.
  call("DELETE", "/apis/iam/v2/tokens/admin", "", 0, {"If-Match: abc"});

  CHECK(cases.size() >= 100);
  RunCatalogue(env, cases);

  // A method override header is ignored (reliability.md §4.2).
  Response overridden = env.admin.Get("/apis/iam/v2/tokens/admin",
                                      {{"X-HTTP-Method-Override", "DELETE"}});
  CHECK(overridden.status == 200);
  CHECK(env.admin.Get("/apis/iam/v2/tokens/admin").status == 200);
}

}  // namespace
}  // namespace iam::integration
