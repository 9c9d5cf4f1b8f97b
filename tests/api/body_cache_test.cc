// api/body_cache.h: the GET token body cache hits only the exact key it was
// filled with, forgets on delete/rotate, and keeps a racing Put out.
#include "api/body_cache.h"

#include <doctest/doctest.h>

#include <string>

namespace iam::api {
namespace {

TEST_CASE("token body cache - exact key, forget, epoch, bound") {
  TokenBodyCache cache;
  std::string body;
  uint64_t epoch = 0;
  const TokenBodyCache::Key v1{1, false, 0};
  CHECK_FALSE(cache.Get("tok-1", v1, &body, &epoch));
  cache.Put("tok-1", v1, "{\"token\":1}", epoch);
  CHECK(cache.Get("tok-1", v1, &body, &epoch));
  CHECK(body == "{\"token\":1}");
  // Another version, layout or last-used time is a miss.
  CHECK_FALSE(cache.Get("tok-1", {2, false, 0}, &body, &epoch));
  CHECK_FALSE(cache.Get("tok-1", {1, true, 0}, &body, &epoch));
  CHECK_FALSE(cache.Get("tok-1", {1, false, 7}, &body, &epoch));
  CHECK_FALSE(cache.Get("tok-2", v1, &body, &epoch));
  // A newer version replaces the entry.
  cache.Put("tok-1", {2, false, 0}, "{\"token\":2}", epoch);
  CHECK_FALSE(cache.Get("tok-1", v1, &body, &epoch));
  CHECK(cache.Get("tok-1", {2, false, 0}, &body, &epoch));
  CHECK(body == "{\"token\":2}");

  // Forget drops it; a Put that read before the Forget stays out.
  uint64_t before = 0;
  CHECK_FALSE(cache.Get("tok-3", v1, &body, &before));
  cache.Forget("tok-1");
  CHECK_FALSE(cache.Get("tok-1", {2, false, 0}, &body, &epoch));
  cache.Put("tok-3", v1, "stale", before);
  CHECK_FALSE(cache.Get("tok-3", v1, &body, &epoch));
  cache.Put("tok-3", v1, "fresh", epoch);
  CHECK(cache.Get("tok-3", v1, &body, &epoch));
  CHECK(body == "fresh");

  // Bounded: filling past the limit empties it first.
  for (size_t i = 0; i <= TokenBodyCache::kMaxEntries; ++i) {
    cache.Put("t" + std::to_string(i), v1, "b", epoch);
  }
  CHECK_FALSE(cache.Get("tok-3", v1, &body, &epoch));
  CHECK(cache.Get("t" + std::to_string(TokenBodyCache::kMaxEntries), v1, &body,
                  &epoch));
}

}  // namespace
}  // namespace iam::api
