// X-Iam-Forwarded (api/forward.h): what the MAC covers, the clock window,
// and that a bad header is refused with a message naming no secret.
#include "api/forward.h"

#include <doctest/doctest.h>

namespace iam::api {
namespace {

HttpRequest Req() {
  HttpRequest r;
  r.method = "POST";
  r.target = "/apis/iam/v2/tokens";
  r.remote = "10.0.0.7";
  r.body = R"({"id":"a","name":"a"})";
  r.headers.emplace("api-token", "secret-token-value-123");
  r.headers.emplace("X-Request-Id", "rid-1");
  return r;
}

TEST_CASE("forward - a signed request verifies and names its client") {
  const std::string key = DeriveForwardKey(std::string(32, 'k'));
  ForwardSigner follower(key, "n1"), leader(key, "n0");
  HttpRequest r = Req();
  r.headers.emplace(kForwardedHeader, follower.Sign(r, "rid-1", 1000000));
  std::string remote, node;
  REQUIRE(leader.Verify(r, 1000500, &remote, &node).ok());
  CHECK(remote == "10.0.0.7");
  CHECK(node == "n1");
}

TEST_CASE("forward - tampering or a stale time or another key is refused") {
  const std::string key = DeriveForwardKey(std::string(32, 'k'));
  ForwardSigner signer(key, "n1");
  auto signed_req = [&](const HttpRequest& base) {
    HttpRequest r = base;
    r.headers.emplace(kForwardedHeader, signer.Sign(base, "rid-1", 1000000));
    return r;
  };
  std::string remote, node;
  auto refused = [&](const HttpRequest& r, int64_t now = 1000000) {
    Status s = signer.Verify(r, now, &remote, &node);
    CHECK(s.message().find("secret-token-value") == std::string::npos);
    return s.code() == StatusCode::kUnauthenticated;
  };
  HttpRequest body = signed_req(Req());
  body.body += " ";
  CHECK(refused(body));
  HttpRequest token = signed_req(Req());
  token.headers.find("api-token")->second = "another-token-value-456";
  CHECK(refused(token));
  HttpRequest target = signed_req(Req());
  target.target = "/apis/iam/v2/policies";
  CHECK(refused(target));
  HttpRequest rid = signed_req(Req());
  rid.headers.find("X-Request-Id")->second = "rid-2";
  CHECK(refused(rid));
  CHECK(refused(signed_req(Req()), 1000000 + 61000));  // outside the window
  ForwardSigner other(DeriveForwardKey(std::string(32, 'x')), "n1");
  HttpRequest foreign = Req();
  foreign.headers.emplace(kForwardedHeader,
                          other.Sign(foreign, "rid-1", 1000000));
  CHECK(refused(foreign));
  HttpRequest junk = Req();
  junk.headers.emplace(kForwardedHeader, "v1;node=n1;remote=unix");
  CHECK(refused(junk));
  HttpRequest twice = signed_req(Req());
  twice.headers.emplace(kForwardedHeader, "v1;x=y");
  CHECK(refused(twice));
}

}  // namespace
}  // namespace iam::api
