// Byte flips (reliability.md I2): a closed data directory (WAL, SST,
// MANIFEST, OPTIONS, CURRENT, ... plus the checkpoint file beside it and the
// key file) gets one byte changed at a time, every file in turn at random
// offsets, on a fresh copy each time. Each copy must either verify offline
// (`replay verify`'s VerifyLog) with a fold equal to the original state, or
// be refused with a message; and opening it as the server does must either
// give the original state or be refused with a message. Never a different
// state without an error, never a crash (the test process would die) or a
// hang. Flips: IAM_FLIPS per case (1,000 by default; two cases, so
// `make test` runs 2,000), seed IAM_FLIP_SEED.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/faults/faults_util.h"

namespace iam::faults {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A closed data directory with some history: tokens created, renamed,
// revoked, added to a policy and deleted (the deletes flush and compact,
// so there are SST files beside the WAL).
class Pristine {
 public:
  Pristine() {
    {
      auto node = Node::Open(dir_.path, nullptr);
      REQUIRE(node.ok());
      Node* n = node->get();
      Json policy{{"id", "fp"},
                  {"name", "flips"},
                  {"members", Json::array()},
                  {"statements",
                   {Json{{"effect", "ALLOW"},
                         {"actions", {"iam:tokens:get"}},
                         {"projects", {"*"}}}}}};
      REQUIRE(n->Call("POST", "/apis/iam/v2/policies", policy.dump()).status ==
              200);
      for (int i = 0; i < 60; ++i) {
        const std::string id = "f" + std::to_string(i);
        REQUIRE(n->Call("POST", "/apis/iam/v2/tokens",
                        Json{{"id", id}, {"name", "flip " + id}}.dump())
                    .status == 200);
        if (i % 3 == 0)
          n->Call("POST", "/apis/iam/v2/policies/fp/members:add",
                  Json{{"members", {"token:" + id}}}.dump());
        if (i % 4 == 1)
          n->Call("PUT", "/apis/iam/v2/tokens/" + id,
                  Json{{"name", "renamed " + id}, {"active", false}}.dump());
        if (i % 5 == 2) n->Call("DELETE", "/apis/iam/v2/tokens/" + id);
      }
      // Let the key compaction (after deletes) write its SST files.
      std::this_thread::sleep_for(std::chrono::milliseconds(600));
      for (int i = 60; i < 80; ++i) {
        const std::string id = "f" + std::to_string(i);
        n->Call("POST", "/apis/iam/v2/tokens",
                Json{{"id", id}, {"name", "tail " + id}}.dump());
      }
      n->Close();
    }
    Status s = CheckLogMatches(dir_.path, "", &state_);
    REQUIRE(!state_.empty());
    // Every file that makes up the ledger, with its bytes.
    for (const auto& e : fs::recursive_directory_iterator(dir_.path)) {
      if (!e.is_regular_file() || e.file_size() == 0) continue;
      const std::string rel = fs::relative(e.path(), dir_.path).string();
      files_.push_back(rel);
      bytes_[rel] = ReadFile(e.path().string());
    }
    std::sort(files_.begin(), files_.end());
  }

  const std::string& root() const { return dir_.path; }
  const std::string& state() const { return state_; }
  const std::vector<std::string>& files() const { return files_; }
  const std::string& bytes(const std::string& f) const { return bytes_.at(f); }

 private:
  ScratchDir dir_;
  std::string state_;
  std::vector<std::string> files_;
  std::map<std::string, std::string> bytes_;
};

struct Tally {
  int flips = 0;
  int same_state = 0;      // verified and opened with the original state
  int verify_refused = 0;  // VerifyLog named a problem
  int open_refused = 0;    // the ledger refused to open
  int silent = 0;          // a different state without an error
  std::map<std::string, int> per_file;
  std::string first_silent;
};

void FlipAndCheck(const Pristine& p, const std::string& file, uint64_t offset,
                  unsigned char mask, Tally* t) {
  ScratchDir work;
  fs::copy(p.root(), work.path,
           fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::string bytes = p.bytes(file);
  bytes[offset] = static_cast<char>(bytes[offset] ^ mask);
  WriteFile(work.path + "/" + file, bytes);
  t->flips++;
  t->per_file[file]++;
  const std::string where =
      file + " @" + std::to_string(offset) + " ^" + std::to_string(mask);

  std::string folded;
  Status verified = CheckLogMatches(work.path, p.state(), &folded);
  bool bad = false;
  if (!verified.ok()) {
    if (verified.message().empty()) bad = true;
    // A fold that succeeded with another state is the silent case.
    if (!folded.empty() && folded != p.state()) bad = true;
    t->verify_refused++;
  }
  auto opened = Node::Open(work.path, nullptr);
  if (!opened.ok()) {
    if (opened.status().message().empty()) bad = true;
    t->open_refused++;
  } else {
    if ((*opened)->StateBytes() != p.state()) bad = true;
    (*opened)->Close();
  }
  if (verified.ok() && opened.ok() && !bad) t->same_state++;
  if (bad) {
    t->silent++;
    if (t->first_silent.empty())
      t->first_silent = where + ": verify " + verified.ToString() + "; open " +
                        (opened.ok() ? "ok" : opened.status().ToString());
  }
}

void RunFlips(uint64_t seed) {
  Pristine p;
  const int flips = CountFromEnv("IAM_FLIPS", 1000);
  std::mt19937_64 rng(seed);
  Tally t;
  for (int i = 0; i < flips; ++i) {
    const std::string& file = p.files()[i % p.files().size()];
    const uint64_t size = p.bytes(file).size();
    const uint64_t offset =
        std::uniform_int_distribution<uint64_t>(0, size - 1)(rng);
    const auto mask = static_cast<unsigned char>(
        std::uniform_int_distribution<int>(1, 255)(rng));
    FlipAndCheck(p, file, offset, mask, &t);
  }
  std::string files;
  for (const auto& [f, n] : t.per_file)
    files += f + " (" + std::to_string(p.bytes(f).size()) + " B) " +
             std::to_string(n) + "; ";
  MESSAGE("flips " << t.flips << ": same state " << t.same_state
                   << ", verify refused " << t.verify_refused
                   << ", open refused " << t.open_refused << ", silent "
                   << t.silent << "\nfiles: " << files);
  CHECK_MESSAGE(t.silent == 0, t.first_silent);
  CHECK(t.flips == flips);
  CHECK(t.verify_refused > 0);
}

TEST_CASE("byte flips: every file of a closed data directory, seed A") {
  RunFlips(SeedFromEnv("IAM_FLIP_SEED", 20261201));
}

TEST_CASE("byte flips: every file of a closed data directory, seed B") {
  RunFlips(SeedFromEnv("IAM_FLIP_SEED", 20261201) * 7919 + 1);
}

}  // namespace
}  // namespace iam::faults
