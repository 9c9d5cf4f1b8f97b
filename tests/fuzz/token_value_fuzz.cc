// F3: token value parsing. Arbitrary bytes through IsGeneratedTokenValue and
// IsAcceptableTokenValue (a generated value is always acceptable); then the
// bytes steer single-character edits of a freshly generated value, none of
// which may pass the checksum unless it changed nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "eventstore/crypto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const bool generated = iam::eventstore::IsGeneratedTokenValue(bytes);
  const bool acceptable = iam::eventstore::IsAcceptableTokenValue(bytes);
  if (generated && !acceptable) std::abort();
  if (generated && bytes.size() != 53) std::abort();
  static const std::string base = iam::eventstore::GenerateTokenValue();
  if (!iam::eventstore::IsGeneratedTokenValue(base)) std::abort();
  for (size_t i = 0; i + 1 < size; i += 2) {
    std::string v = base;
    const size_t pos = data[i] % v.size();
    v[pos] = static_cast<char>(data[i + 1]);
    if (v != base && iam::eventstore::IsGeneratedTokenValue(v)) std::abort();
  }
  return 0;
}
