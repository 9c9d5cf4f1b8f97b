// The HMAC digest of a token value (eventstore::TokenDigester) remembered per
// I/O thread, so that a client sending the same api-token on every request
// is authenticated without computing HMAC-SHA256(pepper, value) again each
// time (issue 13: 4.7k of 40k instructions per authenticated GET).
//
// Contract: DigestInto(value) gives digester.DigestInto(value), always. The
// digest is a pure function of the value and the pepper, so an entry never goes
// stale: deleting, deactivating, expiring or rotating a token changes what the
// digest index answers for that digest, not the digest; there is nothing to
// invalidate, and revocation takes effect exactly as without the cache.
//
// Keyed safely: an entry is found only by its exact value (same length, all
// bytes equal under CRYPTO_memcmp) and its cache's identity (a per-instance
// number, so two services with different peppers in one process never share
// an entry, even at a reused address). Values are kept only in the calling
// thread's small table (kSlots entries of at most kMaxValueBytes; longer
// values are digested every time), never logged or exposed, and cleansed
// (OPENSSL_cleanse) when overwritten and when the thread exits.
#ifndef IAMLEDGER_API_DIGEST_CACHE_H_
#define IAMLEDGER_API_DIGEST_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "eventstore/crypto.h"

namespace iam::api {

class DigestCache {
 public:
  static constexpr size_t kSlots = 16;          // per thread, direct-mapped
  static constexpr size_t kMaxValueBytes = 64;  // generated values are 53

  // `digester` must outlive this object.
  explicit DigestCache(const eventstore::TokenDigester* digester);
  DigestCache(const DigestCache&) = delete;
  DigestCache& operator=(const DigestCache&) = delete;

  // digester->DigestInto(value, out), from this thread's table when it
  // holds `value` for this cache; no allocation. Thread-safe: no state is
  // shared between threads.
  void DigestInto(std::string_view value, unsigned char (&out)[32]) const;
  // The same as a string (tests).
  std::string Digest(std::string_view value) const;

 private:
  const eventstore::TokenDigester* digester_;
  const uint64_t id_;  // never 0, unique per instance in the process
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_DIGEST_CACHE_H_
