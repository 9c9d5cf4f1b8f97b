#include "api/digest_cache.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>

#include "eventstore/crypto.h"

namespace iam::api {
namespace {

TEST_CASE("digest cache: always the digester's digest") {
  eventstore::TokenDigester a(std::string(32, 'a'));
  eventstore::TokenDigester b(std::string(32, 'b'));
  DigestCache ca(&a);
  DigestCache cb(&b);
  const std::string v1 = eventstore::GenerateTokenValue();
  const std::string v2 = eventstore::GenerateTokenValue();
  for (int round = 0; round < 3; ++round) {  // misses, then hits
    CHECK(ca.Digest(v1) == a.Digest(v1));
    CHECK(ca.Digest(v2) == a.Digest(v2));
    // Another pepper in the same thread never gets a's entries.
    CHECK(cb.Digest(v1) == b.Digest(v1));
    CHECK(cb.Digest(v1) != a.Digest(v1));
  }
  // Values that differ in one byte, or only in length, or are too long to
  // be kept, or short.
  std::string v3 = v1;
  v3[10] = v3[10] == 'x' ? 'y' : 'x';
  CHECK(ca.Digest(v3) == a.Digest(v3));
  CHECK(ca.Digest(v1.substr(0, 52)) == a.Digest(v1.substr(0, 52)));
  const std::string long_value(300, 'z');
  CHECK(ca.Digest(long_value) == a.Digest(long_value));
  CHECK(ca.Digest("short") == a.Digest("short"));
  CHECK(ca.Digest(v1) == a.Digest(v1));
  // Each thread has its own table.
  std::string other;
  std::thread([&] { other = ca.Digest(v1); }).join();
  CHECK(other == a.Digest(v1));
}

TEST_CASE("digest cache: a new cache at a reused address starts empty") {
  const std::string v = eventstore::GenerateTokenValue();
  eventstore::TokenDigester a(std::string(32, 'a'));
  eventstore::TokenDigester b(std::string(32, 'b'));
  alignas(DigestCache) unsigned char storage[sizeof(DigestCache)];
  auto* c1 = new (storage) DigestCache(&a);
  CHECK(c1->Digest(v) == a.Digest(v));
  c1->~DigestCache();
  auto* c2 = new (storage) DigestCache(&b);
  CHECK(c2->Digest(v) == b.Digest(v));
  c2->~DigestCache();
}

}  // namespace
}  // namespace iam::api
