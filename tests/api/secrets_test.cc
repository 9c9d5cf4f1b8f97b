// No token value anywhere at rest (DESIGN.md §5): every byte of the data
// directory and every encoded event is scanned for each value in plain,
// base64 and hex. And a deleted token's data key is gone from every file
// (crypto-shredding).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/json_codec.h"
#include "api/ledger.h"
#include "api/service.h"
#include "tests/api/service_fixture.h"

namespace iam::api {
namespace {

namespace fs = std::filesystem;

std::string Base64(std::string_view in, bool url) {
  const char* table =
      url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
          : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v =
        (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += table[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    if (i + 1 < in.size()) out += table[(v >> 6) & 63];
  }
  return out;  // unpadded: a prefix of the padded form
}

std::string Hex(std::string_view in, bool upper) {
  const char* d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  for (unsigned char c : in) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// Every encoding of `secret` we look for.
std::vector<std::string> Forms(const std::string& secret) {
  return {secret, Base64(secret, false), Base64(secret, true),
          Hex(secret, false), Hex(secret, true)};
}

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Files under `dir` (recursively) holding any form of any secret.
std::vector<std::string> Hits(const fs::path& dir,
                              const std::vector<std::string>& secrets,
                              const fs::path& skip) {
  std::vector<std::string> hits;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path() == skip) continue;
    std::string bytes = Slurp(e.path());
    for (const auto& s : secrets) {
      for (const auto& form : Forms(s)) {
        if (bytes.find(form) != std::string::npos) {
          hits.push_back(e.path().string());
        }
      }
    }
  }
  return hits;
}

using Fixture = testing::ServiceFixture;

TEST_CASE("secrets: no token value at rest, in plain, base64 or hex") {
  Fixture fx;
  fx.Open();
  std::vector<std::string> values;
  for (int i = 0; i < 20; ++i) {
    auto r = fx.Call("POST", "/apis/iam/v2/tokens",
                     "{\"name\":\"generated " + std::to_string(i) + "\"}");
    REQUIRE(r.status == 200);
    values.push_back(nlohmann::json::parse(r.body)["token"]["value"]);
  }
  for (int i = 0; i < 5; ++i) {
    std::string value = "migrated-automate-value-" + std::to_string(i) + "==";
    auto r = fx.Call("POST", "/apis/iam/v2/tokens",
                     "{\"id\":\"mig-" + std::to_string(i) +
                         "\",\"name\":\"m\",\"value\":\"" + value + "\"}");
    REQUIRE(r.status == 200);
    values.push_back(value);
  }
  // Rotated values (TokenRotated holds the new digest and sealed value) and
  // expiry events are scanned as well.
  for (int i = 0; i < 5; ++i) {
    const std::string id = "generated-" + std::to_string(i);
    auto r = fx.Call("POST", "/apis/iam/v2/tokens/" + id + ":rotate",
                     "{\"grace_seconds\": 3600}");
    REQUIRE(r.status == 200);
    values.push_back(nlohmann::json::parse(r.body)["token"]["value"]);
    REQUIRE(fx.Call("PUT", "/apis/iam/v2/tokens/" + id,
                    "{\"name\":\"g\",\"expires_at\":\"2999-01-01T00:00:00Z\"}")
                .status == 200);
  }
  // Usage records (meta "usage/") for every current value: authenticate
  // with each, then let the flusher write.
  for (size_t i = 5; i < values.size(); ++i) {
    fx.Call("GET", "/apis/iam/v2/tokens", "", "127.0.0.1", values[i]);
  }
  // The values are really stored: they come back (reveal mode).
  auto list = fx.Call("GET", "/apis/iam/v2/tokens");
  REQUIRE(list.status == 200);
  // (values[0..4] were rotated out: their tokens show the new ones.)
  for (size_t i = 0; i < values.size(); ++i) {
    CHECK((list.body.find(values[i]) != std::string::npos) == (i >= 5));
  }
  // History shows no secret.
  auto history = fx.Call("GET", "/apis/iam/v2/tokens/generated-3/history");
  REQUIRE(history.status == 200);
  CHECK(history.body.find("TokenRotated") != std::string::npos);
  for (const auto& v : values) {
    for (const auto& form : Forms(v))
      CHECK(history.body.find(form) == std::string::npos);
  }
  CHECK(history.body.find("digest") == std::string::npos);
  CHECK(history.body.find("sealed") == std::string::npos);

  // Every encoded event, as stored.
  struct RawSink : EventSink {
    std::string all;
    Status Apply(const RecordedEvent& e) override {
      all += EventJson(e, true, false);
      return OkStatus();
    }
  } sink;
  REQUIRE(fx.ledger->store()->ReadFrom(1, &sink).ok());
  fx.Close();
  for (const auto& v : values) {
    for (const auto& form : Forms(v)) {
      CHECK(sink.all.find(form) == std::string::npos);
    }
  }
  // Every byte of the data directory (and the checkpoint file beside it).
  auto hits = Hits(fx.root, values, fs::path(fx.options.key_file));
  CHECK_MESSAGE(hits.empty(), "found a value in " << hits.front());
}

TEST_CASE("secrets: deleting a token shreds its data key from every file") {
  Fixture fx;
  fx.Open();
  auto r = fx.Call("POST", "/apis/iam/v2/tokens", "{\"name\":\"doomed\"}");
  REQUIRE(r.status == 200);
  auto wrapped = fx.ledger->store()->GetKey("token/doomed");
  REQUIRE(wrapped.ok());
  // The scan does find the key while the token lives (in the WAL).
  CHECK_FALSE(Hits(fx.options.data_dir, {*wrapped}, {}).empty());
  REQUIRE(fx.Call("DELETE", "/apis/iam/v2/tokens/doomed").status == 200);
  CHECK(fx.ledger->store()->GetKey("token/doomed").status().code() ==
        StatusCode::kNotFound);
  // The background flush + compaction runs soon after the delete.
  std::vector<std::string> hits;
  for (int i = 0; i < 50; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    hits = Hits(fx.options.data_dir, {*wrapped}, {});
    if (hits.empty()) break;
  }
  CHECK_MESSAGE(hits.empty(), "wrapped key still in " << hits.front());
  fx.Close();
}

// The service keeps wrapped keys of read tokens in memory; a delete drops
// the entry, so a token re-created under the same id reveals its new value.
TEST_CASE("secrets: a re-created token reveals its new value") {
  Fixture fx;
  fx.Open();
  std::string previous;
  for (int round = 0; round < 3; ++round) {
    auto created =
        fx.Call("POST", "/apis/iam/v2/tokens", "{\"name\":\"phoenix\"}");
    REQUIRE(created.status == 200);
    const std::string value =
        nlohmann::json::parse(created.body)["token"]["value"];
    CHECK(value != previous);
    for (int i = 0; i < 2; ++i) {  // the second read is served from memory
      auto got = fx.Call("GET", "/apis/iam/v2/tokens/phoenix");
      REQUIRE(got.status == 200);
      CHECK(nlohmann::json::parse(got.body)["token"]["value"] == value);
    }
    REQUIRE(fx.Call("DELETE", "/apis/iam/v2/tokens/phoenix").status == 200);
    CHECK(fx.Call("GET", "/apis/iam/v2/tokens/phoenix").status == 404);
    previous = value;
  }
  fx.Close();
}

}  // namespace
}  // namespace iam::api
