// Cryptography for the log and for token secrets (DESIGN.md §5), over
// OpenSSL 3. Algorithms are fetched once and contexts reused where a call is
// on a hot path (token authentication).
//
// Contract: no function here logs, and no error message contains key
// material or a token value.
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
// Everything else is derived from it with HKDF-SHA256 and a distinct label,
// so no derived key can be computed from another.
struct MasterKeys {
  std::string pepper;          // token value digests (the auth index)
  std::string wrapping_key;    // wraps per-token data keys (AES-256-GCM)
  std::string checkpoint_key;  // checkpoint HMACs
};
// Loads `path`, or creates it (0600) when it does not exist and `create` is
// true. A file with other permissions than 0600 or a wrong size is refused.
StatusOr<MasterKeys> LoadOrCreateMasterKeys(const std::string& path,
                                            bool create);
// Derives the keys from 32 bytes of master key material (for tests).
MasterKeys DeriveMasterKeys(std::string_view master);

// Token values (DESIGN.md §5): "iam_" + 43 base62 characters (256 random
// bits) + 6 base62 characters of CRC32 over everything before them.
std::string GenerateTokenValue();
// True when `value` has the generated shape and its checksum matches.
bool IsGeneratedTokenValue(std::string_view value);
// Client-supplied values (migrations from Automate): 20..512 printable ASCII
// without whitespace. Generated values also pass.
bool IsAcceptableTokenValue(std::string_view value);

// Reusable HMAC-SHA256 under the pepper: Digest(value) is the index that
// authentication looks tokens up by. Thread-safe (per-thread contexts).
class TokenDigester {
 public:
  explicit TokenDigester(std::string pepper);
  ~TokenDigester();
  TokenDigester(const TokenDigester&) = delete;
  TokenDigester& operator=(const TokenDigester&) = delete;
  std::string Digest(std::string_view value) const;

 private:
  std::string pepper_;
  struct Impl;
  Impl* impl_;
};

// AES-256-GCM. Output: 12-byte nonce || ciphertext || 16-byte tag; `aad` is
// authenticated (use the token id, so a sealed value cannot be moved between
// tokens). Open returns kDataLoss when the tag does not verify.
StatusOr<std::string> Seal(std::string_view key, std::string_view plaintext,
                           std::string_view aad);
StatusOr<std::string> Open(std::string_view key, std::string_view sealed,
                           std::string_view aad);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CRYPTO_H_
