#include "eventstore/crypto.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "eventstore/checkpoint.h"

namespace iam::eventstore {
namespace {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/iam_crypto_test_XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data, int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << data;
  }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

int ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<int>(st.st_mode & 07777);
}

// The message names the file but no key material, raw or hex.
void CheckNoKeyBytes(const std::string& message, const std::string& key) {
  CHECK(message.find(key) == std::string::npos);
  CHECK(message.find(ToHex(key)) == std::string::npos);
}

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

// ---------------------------------------------------------------------------

TEST_CASE("crypto: SHA-256 test vectors") {
  CHECK(ToHex(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(ToHex(Sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  // FIPS 180-2 two-block message; also exercises context reuse.
  CHECK(ToHex(Sha256(
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(ToHex(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("crypto: ToHex is lowercase and covers every byte") {
  CHECK(ToHex(std::string_view("\x00\x0f\xa0\xff", 4)) == "000fa0ff");
  CHECK(ToHex(std::string_view()) == "");
  Hash h{};
  h[0] = 0xAB;
  h[31] = 0x01;
  CHECK(ToHex(h) == "ab" + std::string(60, '0') + "01");
}

TEST_CASE("crypto: HMAC-SHA256 RFC 4231 test cases 1 and 2") {
  CHECK(ToHex(HmacSha256(std::string(20, '\x0b'), "Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("crypto: ConstantTimeEquals") {
  CHECK(ConstantTimeEquals("", ""));
  CHECK(ConstantTimeEquals("secret", "secret"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secreT"));
  CHECK_FALSE(ConstantTimeEquals("secret", "secret "));
  CHECK_FALSE(ConstantTimeEquals("", "x"));
  CHECK(ConstantTimeEquals(std::string_view("a\0b", 3),
                           std::string_view("a\0b", 3)));
  CHECK_FALSE(ConstantTimeEquals(std::string_view("a\0b", 3),
                                 std::string_view("a\0c", 3)));
}

TEST_CASE("crypto: RandomBytes has the requested size and varies") {
  CHECK(RandomBytes(0).empty());
  CHECK(RandomBytes(1).size() == 1);
  const std::string a = RandomBytes(32);
  const std::string b = RandomBytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
}

TEST_CASE("crypto: HKDF keys are distinct, stable and pinned") {
  std::string master;
  for (int i = 0; i < 32; ++i) master.push_back(static_cast<char>(i));
  const MasterKeys k = DeriveMasterKeys(master);
  CHECK(k.pepper.size() == 32);
  CHECK(k.wrapping_key.size() == 32);
  CHECK(k.checkpoint_key.size() == 32);
  CHECK(k.pepper != k.wrapping_key);
  CHECK(k.pepper != k.checkpoint_key);
  CHECK(k.wrapping_key != k.checkpoint_key);
  CHECK(k.pepper != master);

  const MasterKeys again = DeriveMasterKeys(master);
  CHECK(again.pepper == k.pepper);
  CHECK(again.wrapping_key == k.wrapping_key);
  CHECK(again.checkpoint_key == k.checkpoint_key);

  // Pinned: changing the derivation would orphan every existing key file.
  // Computed independently (Python hmac/hashlib, RFC 5869, empty salt).
  CHECK(ToHex(k.pepper) ==
        "908f27cae2ef2b11539e12b6b8fd63a2e1890d8be24a128d463a44628eee27c9");
  CHECK(ToHex(k.wrapping_key) ==
        "a4b866e8ed0b4ba72b59c6e46cfd7c8c20379d7ccc53c6e89bdc0faf74dac415");
  CHECK(ToHex(k.checkpoint_key) ==
        "f8cf4b873c24db2718d1d7b5762311dfe5689618114a198f556ae318cf9cd294");

  std::string other = master;
  other[31] ^= 1;
  const MasterKeys o = DeriveMasterKeys(other);
  CHECK(o.pepper != k.pepper);
  CHECK(o.wrapping_key != k.wrapping_key);
  CHECK(o.checkpoint_key != k.checkpoint_key);
}

// ---------------------------------------------------------------------------

TEST_CASE("crypto: generated token values have the documented shape") {
  for (int i = 0; i < 100; ++i) {
    const std::string v = GenerateTokenValue();
    REQUIRE(v.size() == 53);
    CHECK(v.substr(0, 4) == "iam_");
    for (char c : v.substr(4)) {
      CHECK(kBase62.find(c) != std::string_view::npos);
    }
    CHECK(IsGeneratedTokenValue(v));
    CHECK(IsAcceptableTokenValue(v));
  }
}

TEST_CASE("crypto: 1000 generated token values are distinct") {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) seen.insert(GenerateTokenValue());
  CHECK(seen.size() == 1000);
}

TEST_CASE("crypto: token checksum matches zlib CRC32 and base62 (golden)") {
  // Computed independently with Python zlib.crc32 and base62 0-9A-Za-z.
  CHECK(IsGeneratedTokenValue(
      "iam_00000000000000000000000000000000000000000001K0GZZ"));
  // 2^256 - 1, the largest body.
  CHECK(IsGeneratedTokenValue(
      "iam_yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp14AXvjh"));
  // Bytes 00 01 .. 1f.
  CHECK(IsGeneratedTokenValue(
      "iam_003aUlTJC7tjlCTQj2uNU3MFagCXG9LRKRcwGkBIDlf1qu5rp"));
  // 2^256 with a correct checksum: 43 base62 digits, but not 256 bits.
  CHECK_FALSE(IsGeneratedTokenValue(
      "iam_yhjskwdA6OZ1AL1YmHWZWm8LLG7HjnuCA2j5rOw8Xp22FMpKJ"));
}

TEST_CASE("crypto: any single changed character fails the checksum") {
  const std::string v = GenerateTokenValue();
  REQUIRE(IsGeneratedTokenValue(v));
  for (size_t i = 0; i < v.size(); ++i) {
    for (char c : {'0', 'Z', 'z', '_', '-'}) {
      if (v[i] == c) continue;
      std::string w = v;
      w[i] = c;
      CAPTURE(i);
      CHECK_FALSE(IsGeneratedTokenValue(w));
    }
  }
  CHECK_FALSE(IsGeneratedTokenValue(v.substr(0, 52)));
  CHECK_FALSE(IsGeneratedTokenValue(v + "0"));
  CHECK_FALSE(IsGeneratedTokenValue("IAM_" + v.substr(4)));
  CHECK_FALSE(IsGeneratedTokenValue(""));
}

TEST_CASE("crypto: IsAcceptableTokenValue bounds and characters") {
  CHECK_FALSE(IsAcceptableTokenValue(std::string(19, 'a')));
  CHECK(IsAcceptableTokenValue(std::string(20, 'a')));
  CHECK(IsAcceptableTokenValue(std::string(512, 'a')));
  CHECK_FALSE(IsAcceptableTokenValue(std::string(513, 'a')));
  CHECK_FALSE(IsAcceptableTokenValue(""));
  CHECK(IsAcceptableTokenValue("!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~"));
  const std::string base(30, 'a');
  CHECK_FALSE(IsAcceptableTokenValue(base + " "));
  CHECK_FALSE(IsAcceptableTokenValue(base + "\t"));
  CHECK_FALSE(IsAcceptableTokenValue(base + "\n"));
  CHECK_FALSE(IsAcceptableTokenValue(base + "\x7f"));
  CHECK_FALSE(IsAcceptableTokenValue(base + std::string(1, '\0')));
  CHECK_FALSE(IsAcceptableTokenValue(base + "\xc3\xa9"));  // é in UTF-8
  CHECK_FALSE(IsAcceptableTokenValue(base + "\x80"));
}

// ---------------------------------------------------------------------------

TEST_CASE("crypto: TokenDigester equals HMAC-SHA256 under the pepper") {
  const std::string pepper = RandomBytes(32);
  TokenDigester d(pepper);
  const std::string v = GenerateTokenValue();
  const std::string expected = HmacSha256(pepper, v);
  CHECK(expected.size() == 32);
  CHECK(d.Digest(v) == expected);
  CHECK(d.Digest(v) == expected);  // the reused context restarts cleanly
  CHECK(d.Digest("") == HmacSha256(pepper, ""));
  CHECK(d.Digest(v) == expected);
  // RFC 4231 case 2 through the cached path.
  TokenDigester jefe("Jefe");
  CHECK(ToHex(jefe.Digest("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("crypto: TokenDigester contexts are per digester, not per address") {
  // More digesters than the per-thread cache holds, interleaved.
  std::vector<std::string> peppers;
  std::vector<std::unique_ptr<TokenDigester>> ds;
  for (int i = 0; i < 7; ++i) {
    peppers.push_back(RandomBytes(32));
    ds.push_back(std::make_unique<TokenDigester>(peppers.back()));
  }
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < ds.size(); ++i) {
      CHECK(ds[i]->Digest("value") == HmacSha256(peppers[i], "value"));
    }
  }
  // A new digester, likely at a freed address, must not inherit a context.
  for (int i = 0; i < 20; ++i) {
    const std::string pepper = RandomBytes(32);
    auto d = std::make_unique<TokenDigester>(pepper);
    CHECK(d->Digest("value") == HmacSha256(pepper, "value"));
  }
}

TEST_CASE("crypto: TokenDigester is safe to share between threads") {
  const std::string pepper = RandomBytes(32);
  const TokenDigester d(pepper);
  std::vector<std::string> values;
  std::vector<std::string> expected;
  for (int i = 0; i < 64; ++i) {
    values.push_back(GenerateTokenValue());
    expected.push_back(HmacSha256(pepper, values.back()));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < values.size(); ++i) {
          if (d.Digest(values[i]) != expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) CHECK(m == 0);
}

TEST_CASE("crypto: TokenDigester timing (informational)") {
  TokenDigester d(RandomBytes(32));
  const std::string v = GenerateTokenValue();
  size_t sink = 0;
  for (int i = 0; i < 10000; ++i)
    sink += static_cast<unsigned char>(d.Digest(v)[0]);
  constexpr int kIters = 200000;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters; ++i)
    sink += static_cast<unsigned char>(d.Digest(v)[0]);
  const auto ns = std::chrono::duration<double, std::nano>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  MESSAGE("TokenDigester::Digest(53-byte value): "
          << ns / kIters << " ns/op (sink " << sink << ")");
  const auto start2 = std::chrono::steady_clock::now();
  for (int i = 0; i < kIters / 10; ++i)
    sink += static_cast<unsigned char>(HmacSha256("k", v)[0]);
  const auto ns2 = std::chrono::duration<double, std::nano>(
                       std::chrono::steady_clock::now() - start2)
                       .count();
  MESSAGE("HmacSha256 one-shot (for comparison): " << ns2 / (kIters / 10)
                                                   << " ns/op");
}

// ---------------------------------------------------------------------------

TEST_CASE("crypto: Seal/Open round trip") {
  const std::string key = RandomBytes(32);
  for (const std::string& plain :
       {std::string(), std::string("x"), GenerateTokenValue(),
        std::string(1000, '\xff')}) {
    auto sealed = Seal(key, plain, "token-id");
    REQUIRE(sealed.ok());
    CHECK(sealed->size() == 12 + plain.size() + 16);
    if (plain.size() >= 16) {
      CHECK(sealed->find(plain) == std::string::npos);
    }
    auto opened = Open(key, *sealed, "token-id");
    REQUIRE(opened.ok());
    CHECK(*opened == plain);
  }
  // Empty associated data works too.
  auto sealed = Seal(key, "plain", "");
  REQUIRE(sealed.ok());
  auto opened = Open(key, *sealed, "");
  REQUIRE(opened.ok());
  CHECK(*opened == "plain");
  // Random nonces: sealing twice gives different bytes.
  CHECK(*Seal(key, "plain", "a") != *Seal(key, "plain", "a"));
}

TEST_CASE("crypto: Open rejects wrong key, wrong aad and any flipped byte") {
  const std::string key = RandomBytes(32);
  const std::string plain = GenerateTokenValue();
  auto sealed = Seal(key, plain, "token-a");
  REQUIRE(sealed.ok());

  auto wrong_key = Open(RandomBytes(32), *sealed, "token-a");
  REQUIRE_FALSE(wrong_key.ok());
  CHECK(wrong_key.status().code() == StatusCode::kDataLoss);
  CHECK(wrong_key.status().message().find(plain) == std::string::npos);

  auto wrong_aad = Open(key, *sealed, "token-b");
  REQUIRE_FALSE(wrong_aad.ok());
  CHECK(wrong_aad.status().code() == StatusCode::kDataLoss);

  // Nonce, ciphertext and tag bytes alike.
  for (size_t i = 0; i < sealed->size(); ++i) {
    std::string bad = *sealed;
    bad[i] ^= 0x01;
    auto r = Open(key, bad, "token-a");
    CAPTURE(i);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kDataLoss);
  }

  auto truncated = Open(key, sealed->substr(0, 27), "token-a");
  REQUIRE_FALSE(truncated.ok());
  CHECK(truncated.status().code() == StatusCode::kDataLoss);
  auto shortened = Open(key, sealed->substr(0, sealed->size() - 1), "token-a");
  REQUIRE_FALSE(shortened.ok());
  CHECK(shortened.status().code() == StatusCode::kDataLoss);
}

TEST_CASE("crypto: Seal/Open refuse a key that is not 32 bytes") {
  auto s = Seal(RandomBytes(16), "plain", "aad");
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == StatusCode::kInvalidArgument);
  auto o = Open(RandomBytes(31), std::string(40, 'x'), "aad");
  REQUIRE_FALSE(o.ok());
  CHECK(o.status().code() == StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------

TEST_CASE("crypto: key file is created 0600 and reloads to the same keys") {
  TempDir dir;
  const std::string path = dir.File("iamledger.key");
  auto created = LoadOrCreateMasterKeys(path, /*create=*/true);
  REQUIRE(created.ok());
  CHECK(ModeOf(path) == 0600);
  const std::string master = ReadAll(path);
  CHECK(master.size() == 32);
  // No temporary file left behind.
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);

  const MasterKeys expected = DeriveMasterKeys(master);
  CHECK(created->pepper == expected.pepper);
  CHECK(created->wrapping_key == expected.wrapping_key);
  CHECK(created->checkpoint_key == expected.checkpoint_key);

  for (bool create : {true, false}) {
    auto reloaded = LoadOrCreateMasterKeys(path, create);
    REQUIRE(reloaded.ok());
    CHECK(reloaded->pepper == created->pepper);
    CHECK(reloaded->wrapping_key == created->wrapping_key);
    CHECK(reloaded->checkpoint_key == created->checkpoint_key);
  }
  CHECK(ReadAll(path) == master);  // loading never rewrites the file

  // Stricter than 0600 is fine.
  REQUIRE(::chmod(path.c_str(), 0400) == 0);
  CHECK(LoadOrCreateMasterKeys(path, false).ok());
}

TEST_CASE("crypto: key file created under a permissive umask is still 0600") {
  TempDir dir;
  const std::string path = dir.File("k");
  const mode_t old = ::umask(0);
  auto created = LoadOrCreateMasterKeys(path, true);
  ::umask(old);
  REQUIRE(created.ok());
  CHECK(ModeOf(path) == 0600);
}

TEST_CASE("crypto: key file with group or other permissions is refused") {
  TempDir dir;
  const std::string path = dir.File("iamledger.key");
  REQUIRE(LoadOrCreateMasterKeys(path, true).ok());
  const std::string master = ReadAll(path);
  for (int mode : {0644, 0640, 0604, 0660, 0602}) {
    CAPTURE(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    for (bool create : {false, true}) {
      auto r = LoadOrCreateMasterKeys(path, create);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == StatusCode::kFailedPrecondition);
      CHECK(r.status().message().find(path) != std::string::npos);
      CheckNoKeyBytes(r.status().message(), master);
    }
  }
  CHECK(ReadAll(path) == master);  // refused, never replaced
}

TEST_CASE("crypto: key file of the wrong size is refused") {
  TempDir dir;
  for (size_t size : {0, 31, 33, 64}) {
    CAPTURE(size);
    const std::string path = dir.File("key" + std::to_string(size));
    const std::string content = RandomBytes(size);
    WriteFile(path, content, 0600);
    for (bool create : {false, true}) {
      auto r = LoadOrCreateMasterKeys(path, create);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == StatusCode::kFailedPrecondition);
      CHECK(r.status().message().find(path) != std::string::npos);
      CHECK(r.status().message().find(std::to_string(size) + " bytes") !=
            std::string::npos);
      if (!content.empty()) CheckNoKeyBytes(r.status().message(), content);
    }
    CHECK(ReadAll(path) == content);
  }
}

TEST_CASE("crypto: key file that is a directory is refused") {
  TempDir dir;
  const std::string path = dir.File("sub");
  REQUIRE(::mkdir(path.c_str(), 0700) == 0);
  auto r = LoadOrCreateMasterKeys(path, true);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find(path) != std::string::npos);
}

TEST_CASE("crypto: missing key file with create=false is an error") {
  TempDir dir;
  const std::string path = dir.File("absent.key");
  auto r = LoadOrCreateMasterKeys(path, /*create=*/false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == StatusCode::kNotFound);
  CHECK(r.status().message().find(path) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path));

  // And create=true cannot create it in a directory that does not exist.
  auto r2 = LoadOrCreateMasterKeys(dir.File("no/such/dir.key"), true);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.status().message().find(dir.File("no/such/dir.key")) !=
        std::string::npos);
}

TEST_CASE("crypto: concurrent first starts agree on one key") {
  TempDir dir;
  const std::string path = dir.File("race.key");
  constexpr int kThreads = 8;
  std::vector<std::string> peppers(kThreads);
  std::vector<int> ok(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = LoadOrCreateMasterKeys(path, true);
      ok[t] = r.ok();
      if (r.ok()) peppers[t] = r->pepper;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    CHECK(ok[t] == 1);
    CHECK(peppers[t] == peppers[0]);
  }
  CHECK(DeriveMasterKeys(ReadAll(path)).pepper == peppers[0]);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  CHECK(entries == 1);
}

}  // namespace
}  // namespace iam::eventstore

namespace iam::eventstore {
namespace {

TEST_CASE("checkpoint file line: a seq past 2^64-1 is malformed, not a crash") {
  Checkpoint cp;
  cp.seq = 18446744073709551615ull;  // the largest seq parses back
  cp.head[0] = 7;
  const std::string key(32, 'k');
  const std::string line = CheckpointFileLine(cp, key);
  auto back = ParseCheckpointFileLine(line, key);
  REQUIRE(back.ok());
  CHECK(back->seq == cp.seq);
  // One more digit: out of range for uint64 (stoull threw here, and the
  // exception ended the process; found by snapshot_fuzz).
  std::string longer = line;
  const size_t at = longer.find(" 18446744073709551615 ");
  REQUIRE(at != std::string::npos);
  longer.insert(at + 1, "9");
  auto bad = ParseCheckpointFileLine(longer, key);
  CHECK(bad.status().code() == StatusCode::kDataLoss);
  CHECK(bad.status().message() == "checkpoint file is malformed");
}

}  // namespace
}  // namespace iam::eventstore
