// api/console.h: which targets the console answers, and its headers.
#include "api/console.h"

#include <doctest/doctest.h>

#include <string>

namespace iam::api {
namespace {

HttpRequest Get(std::string target) {
  HttpRequest r;
  r.method = "GET";
  r.target = std::move(target);
  return r;
}

void CheckSecurityHeaders(const HttpResponse& r) {
  const std::string csp(HeaderValue(r.headers, "Content-Security-Policy"));
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(HeaderValue(r.headers, "X-Frame-Options") == "DENY");
  CHECK(HeaderValue(r.headers, "X-Content-Type-Options") == "nosniff");
}

TEST_CASE("console: API paths are not the console's") {
  for (const char* t :
       {"/apis/iam/v2/tokens", "/healthz", "/metrics", "/settings/tokens/a/b",
        "/settings/nope", "/consolex", "/settings/tokens/"}) {
    CAPTURE(t);
    CHECK_FALSE(ServeConsole(Get(t)).has_value());
  }
}

TEST_CASE("console: redirect, shell with ETag and 304, immutable assets") {
  auto root = ServeConsole(Get("/?a=b"));
  REQUIRE(root.has_value());
  CHECK(root->status == 302);
  CHECK(HeaderValue(root->headers, "Location") == "/settings/tokens");

  auto shell = ServeConsole(Get("/settings/policies/editor-access"));
  REQUIRE(shell.has_value());
  CHECK(shell->status == 200);
  CheckSecurityHeaders(*shell);
  CHECK(HeaderValue(shell->headers, "Cache-Control") == "no-cache");
  const std::string etag(HeaderValue(shell->headers, "ETag"));
  REQUIRE(etag.size() == 18);
  const std::string build(EmbeddedConsoleAssets().build_id);
  CHECK(shell->body.find("/console/" + build + "/app.js") != std::string::npos);
  CHECK(shell->body.find("@BUILD@") == std::string::npos);

  HttpRequest again = Get("/settings/tokens");
  again.headers.emplace("If-None-Match", etag);
  auto not_modified = ServeConsole(again);
  REQUIRE(not_modified.has_value());
  CHECK(not_modified->status == 304);
  CHECK(not_modified->body.empty());

  auto app = ServeConsole(Get("/console/" + build + "/app.js"));
  REQUIRE(app.has_value());
  CHECK(app->status == 200);
  CHECK(HeaderValue(app->headers, "Content-Type") ==
        "text/javascript; charset=utf-8");
  CHECK(HeaderValue(app->headers, "Cache-Control").find("immutable") !=
        std::string_view::npos);
  CheckSecurityHeaders(*app);

  auto stale = ServeConsole(Get("/console/0123456789abcdef/app.js"));
  REQUIRE(stale.has_value());
  CHECK(stale->status == 404);

  HttpRequest post = Get("/settings/tokens");
  post.method = "POST";
  auto refused = ServeConsole(post);
  REQUIRE(refused.has_value());
  CHECK(refused->status == 405);
  CHECK(HeaderValue(refused->headers, "Allow") == "GET");
}

TEST_CASE("console: every embedded file is served, with its own ETag") {
  const ConsoleAssets& all = EmbeddedConsoleAssets();
  REQUIRE(all.count >= 8);
  for (size_t i = 0; i < all.count; ++i) {
    const ConsoleAsset& a = all.assets[i];
    CAPTURE(std::string(a.name));
    CHECK(!a.body.empty());
    if (a.name == "index.html") continue;
    auto r = ServeConsole(Get("/console/" + std::string(a.name)));
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    CHECK(r->body == a.body);
    CHECK(HeaderValue(r->headers, "ETag") == a.etag);
  }
}

}  // namespace
}  // namespace iam::api
