// Cryptography for the log and for token secrets (DESIGN.md §5), over
// OpenSSL 3. Algorithms are fetched once and contexts reused where a call is
// on a hot path (token authentication).
//
// Contract: no function here logs, and no error message contains key
// material or a token value. A failure of OpenSSL itself that no caller could
// handle (an algorithm missing from the provider, allocation failure, the
// CSPRNG failing) aborts the process with a message naming the operation:
// these functions never return weak or partial output.
#ifndef IAMLEDGER_EVENTSTORE_CRYPTO_H_
#define IAMLEDGER_EVENTSTORE_CRYPTO_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/events.h"
#include "core/status.h"

namespace iam::eventstore {

// SHA-256 of `data`.
Hash Sha256(std::string_view data);

// SHA-256 of data given in pieces (the hash chain feeds an event's fields
// without assembling them). Update any number of times, then Finish, which
// also makes the object ready for the next hash. One context, reused: not
// thread-safe; keep one per thread.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(std::string_view data);
  Hash Finish();

 private:
  struct Ctx;
  Ctx* ctx_;
};
// Lowercase hex of bytes.
std::string ToHex(std::string_view bytes);
std::string ToHex(const Hash& hash);
// HMAC-SHA256(key, data), 32 raw bytes.
std::string HmacSha256(std::string_view key, std::string_view data);
// Constant-time equality (CRYPTO_memcmp); false when sizes differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
// `n` bytes from RAND_bytes.
std::string RandomBytes(size_t n);

// The master key file: 32 random bytes, mode 0600, created on first use.
// Everything else is derived from it with HKDF-SHA256 (no salt) and a
// distinct label ("iamledger pepper v1", "iamledger wrap v1", "iamledger
// checkpoint v1"), so no derived key can be computed from another. The
// derivation is pinned by a test: changing it orphans every existing file.
struct MasterKeys {
  std::string pepper;          // token value digests (the auth index)
  std::string wrapping_key;    // wraps per-token data keys (AES-256-GCM)
  std::string checkpoint_key;  // checkpoint HMACs
};
// Loads `path`, or creates it (0600) when it does not exist and `create` is
// true. Creation writes a temporary file beside it, fsyncs it, publishes it
// with link(2) (never replacing an existing file, so concurrent first starts
// agree on one key) and fsyncs the directory.
// Errors (messages name the path, never key bytes):
//   kNotFound            missing and `create` is false;
//   kFailedPrecondition  any group/other permission bit set (0600 and 0400
//                        pass), not a regular file, size != 32, or an I/O
//                        error while reading or creating.
StatusOr<MasterKeys> LoadOrCreateMasterKeys(const std::string& path,
                                            bool create);
// Derives the keys from master key material (32 bytes in production; for
// tests and the replay tool).
MasterKeys DeriveMasterKeys(std::string_view master);

// Token values (DESIGN.md §5): "iam_" + 43 base62 characters (256 random
// bits) + 6 base62 characters of CRC32 over everything before them. Base62
// is 0-9A-Za-z, most significant digit first, left-padded with '0'; CRC32 is
// zlib's. 53 characters in all.
std::string GenerateTokenValue();
// True when `value` has the generated shape and its checksum matches (and
// the 43 digits denote a number below 2^256). Not a secret comparison.
bool IsGeneratedTokenValue(std::string_view value);
// Client-supplied values (migrations from Automate): 20..512 printable ASCII
// without whitespace. Generated values also pass.
bool IsAcceptableTokenValue(std::string_view value);

// Reusable HMAC-SHA256 under the pepper: Digest(value) is the index that
// authentication looks tokens up by, 32 raw bytes equal to
// HmacSha256(pepper, value). Thread-safe: the pepper is absorbed once, into
// two SHA-256 states that every call copies, so a digest costs two SHA-256
// compressions, no fetch, no re-keying, no context shared between calls.
class TokenDigester {
 public:
  explicit TokenDigester(std::string pepper);
  ~TokenDigester();
  TokenDigester(const TokenDigester&) = delete;
  TokenDigester& operator=(const TokenDigester&) = delete;
  std::string Digest(std::string_view value) const;
  // The same 32 bytes into `out`, without allocating (authentication).
  void DigestInto(std::string_view value, unsigned char (&out)[32]) const;

 private:
  std::string pepper_;
  struct Impl;
  Impl* impl_;
};

// AES-256-GCM. Output: 12-byte random nonce || ciphertext || 16-byte tag;
// `aad` is authenticated (use the token id, so a sealed value cannot be moved
// between tokens). A key that is not 32 bytes is kInvalidArgument. Open
// returns kDataLoss when the input is truncated or the tag does not verify
// (wrong key, wrong aad, any changed byte); no unauthenticated plaintext is
// ever returned.
StatusOr<std::string> Seal(std::string_view key, std::string_view plaintext,
                           std::string_view aad);
StatusOr<std::string> Open(std::string_view key, std::string_view sealed,
                           std::string_view aad);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CRYPTO_H_
