#include "api/console.h"

#include <string>

namespace iam::api {
namespace {

// Everything the page loads comes from this origin; nothing inline.
constexpr std::string_view kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
constexpr std::string_view kShellName = "index.html";

std::string_view ContentType(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() &&
           name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

void SecurityHeaders(HttpResponse& r) {
  r.headers.emplace("Content-Security-Policy", std::string(kCsp));
  r.headers.emplace("X-Frame-Options", "DENY");
  r.headers.emplace("X-Content-Type-Options", "nosniff");
  r.headers.emplace("Referrer-Policy", "no-referrer");
}

HttpResponse Plain(int status, std::string_view body) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace("Content-Type", "text/plain; charset=utf-8");
  r.body = std::string(body);
  SecurityHeaders(r);
  return r;
}

HttpResponse Redirect(std::string_view location) {
  HttpResponse r = Plain(302, "");
  r.headers.emplace("Location", std::string(location));
  return r;
}

const ConsoleAsset* Find(std::string_view name) {
  const ConsoleAssets& all = EmbeddedConsoleAssets();
  for (size_t i = 0; i < all.count; ++i) {
    if (all.assets[i].name == name) return &all.assets[i];
  }
  return nullptr;
}

// An asset with its validators; 304 when If-None-Match names its ETag.
HttpResponse AssetResponse(const HttpRequest& request, const ConsoleAsset& a,
                           bool immutable) {
  HttpResponse r;
  r.headers.emplace("ETag", std::string(a.etag));
  r.headers.emplace("Cache-Control", immutable
                                         ? "public, max-age=31536000, immutable"
                                         : "no-cache");
  SecurityHeaders(r);
  for (std::string_view inm : HeaderValues(request.headers, "if-none-match")) {
    if (inm.find(a.etag) != std::string_view::npos || inm == "*") {
      r.status = 304;
      return r;
    }
  }
  r.headers.emplace("Content-Type", std::string(ContentType(a.name)));
  r.body = std::string(a.body);
  return r;
}

// "/settings/tokens/{id}": one non-empty segment after `prefix`.
bool OneSegmentAfter(std::string_view path, std::string_view prefix) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  std::string_view rest = path.substr(prefix.size());
  return !rest.empty() && rest.find('/') == std::string_view::npos;
}

bool IsShellPath(std::string_view path) {
  return path == "/settings/tokens" || path == "/settings/policies" ||
         path == "/settings/activity" ||
         OneSegmentAfter(path, "/settings/tokens/") ||
         OneSegmentAfter(path, "/settings/policies/");
}

}  // namespace

std::optional<HttpResponse> ServeConsole(const HttpRequest& request) {
  std::string_view path = request.target;
  if (size_t q = path.find_first_of("?#"); q != std::string_view::npos) {
    path = path.substr(0, q);
  }
  const bool redirect =
      path == "/" || path == "/settings" || path == "/settings/";
  const bool shell = IsShellPath(path);
  const bool asset = path.substr(0, 9) == "/console/";
  if (!redirect && !shell && !asset) return std::nullopt;
  if (request.method != "GET") {
    HttpResponse r = Plain(405, "Method Not Allowed\n");
    r.headers.emplace("Allow", "GET");
    return r;
  }
  if (redirect) return Redirect("/settings/tokens");
  if (shell) {
    const ConsoleAsset* index = Find(kShellName);
    if (index == nullptr) return Plain(500, "console not built in\n");
    return AssetResponse(request, *index, /*immutable=*/false);
  }
  // /console/<build>/<file> or /console/<file>
  std::string_view rest = path.substr(9);
  const std::string_view build = EmbeddedConsoleAssets().build_id;
  bool immutable = false;
  if (rest.size() > build.size() && rest.substr(0, build.size()) == build &&
      rest[build.size()] == '/') {
    rest.remove_prefix(build.size() + 1);
    immutable = true;
  }
  const ConsoleAsset* a = rest.empty() ? nullptr : Find(rest);
  if (a == nullptr || a->name == kShellName) return Plain(404, "Not Found\n");
  return AssetResponse(request, *a, immutable);
}

}  // namespace iam::api
