// The web console (API.md "Console"): the app shell and its assets, served
// by `iamledger serve` on the same listener as the API (TLS included). The
// console is a static single-page app (plain ES modules and CSS under
// api/console/, compiled into the binary by api/embed_console.cmake); in the
// browser it calls only the public /apis/iam/v2 API with the token the person
// signed in with, so it can do exactly what that token may do.
//
// Routes (GET only; any other method on them -> 405 with Allow: GET):
//   /                                    302 to /settings/tokens
//   /settings, /settings/                302 to /settings/tokens
//   /settings/tokens, /settings/tokens/{id},
//   /settings/policies, /settings/policies/{id},
//   /settings/activity                   the app shell (index.html)
//   /console/<build>/<file>              an asset of this build; cached for a
//                                        year (immutable): <build> changes
//                                        whenever any asset does
//   /console/<file>                      the same asset, revalidated (ETag)
// The shell is answered with `Cache-Control: no-cache` and an ETag, so a
// browser revalidates it (304 on If-None-Match) and picks up a new build.
// Every console response carries a strict Content-Security-Policy (scripts,
// styles, fetches only from this origin; no inline script or style; no
// framing), X-Frame-Options: DENY, X-Content-Type-Options: nosniff and
// Referrer-Policy: no-referrer.
//
// No Boost, no JSON library here: the service includes this header.
#ifndef IAMLEDGER_API_CONSOLE_H_
#define IAMLEDGER_API_CONSOLE_H_

#include <cstddef>
#include <optional>
#include <string_view>

#include "api/http_types.h"

namespace iam::api {

// One embedded file (written by the generated console_assets.cc).
struct ConsoleAsset {
  std::string_view name;  // path under api/console/, e.g. "app.js"
  std::string_view etag;  // "\"<first 16 hex of SHA-256>\""
  std::string_view body;
};

// The embedded files, and the build id: the first 16 hex digits of the
// SHA-256 over every asset's name and hash.
struct ConsoleAssets {
  const ConsoleAsset* assets;
  size_t count;
  std::string_view build_id;
};
const ConsoleAssets& EmbeddedConsoleAssets();

// The console's answer to `request`, or nullopt when the target is none of
// the console's paths (the caller routes it to the API).
std::optional<HttpResponse> ServeConsole(const HttpRequest& request);

}  // namespace iam::api

#endif  // IAMLEDGER_API_CONSOLE_H_
