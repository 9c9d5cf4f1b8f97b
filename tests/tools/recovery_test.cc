// The disaster-recovery drill over the real binary: build state through the
// API, back up while the server runs, lose the data directory, restore,
// verify and serve the very same answers.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

// `body` with every "last_used_at" member removed (when it is JSON).
std::string WithoutUsage(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return body;
  if (j.contains("token")) j["token"].erase("last_used_at");
  if (j.contains("tokens")) {
    for (auto& t : j["tokens"]) t.erase("last_used_at");
  }
  return j.dump();
}

namespace fs = std::filesystem;

TEST_CASE("recovery drill: online backup, restore, verify, identical GETs") {
  TempDir tmp;
  const std::string data = tmp.path() + "/data";
  const std::string key = tmp.path() + "/drill.key";  // not the default name
  const std::string backup = tmp.path() + "/backup";

  Server server(data, key, tmp.path() + "/serve1.log");
  REQUIRE_MESSAGE(server.Start(), server.log());
  BuiltState st = BuildState(server);

  // The CLI prints the token value and a newline, nothing else, and the
  // token is an administrator.
  CHECK(st.admin_exit == 0);
  CHECK(std::regex_match(st.admin_stdout, std::regex("iam_[0-9A-Za-z]{49}\n")));
  const Api admin{server.tcp(), st.admin_token};
  CHECK(admin.Get("/apis/iam/v2/policies").status == 200);
  CHECK(Api{server.tcp(), ""}.Get("/apis/iam/v2/policies").status == 401);
  REQUIRE_MESSAGE(st.failures.empty(), st.failures.front());
  REQUIRE(st.rename_seq > 0);

  // replay verify opens read-only beside the running server.
  CommandResult live =
      RunIamledger({"replay", "verify", "--data-dir", data, "--key-file", key});
  CHECK_MESSAGE(live.exit_code == 0, live.out << live.err);

  CommandResult made =
      RunIamledger({"backup", "create", "--data-dir", data, "--to", backup});
  REQUIRE_MESSAGE(made.exit_code == 0, made.out << made.err);
  CHECK(made.out.find("taken by the running server") != std::string::npos);
  CHECK(fs::exists(backup + ".checkpoint"));

  const auto before = RecordGets(admin);
  CHECK(before.size() > 30);
  REQUIRE(server.Stop() == 0);

  CommandResult verified =
      RunIamledger({"replay", "verify", "--data-dir", data, "--key-file", key});
  REQUIRE_MESSAGE(verified.exit_code == 0, verified.out << verified.err);
  const std::string digest = Field(verified.out, "state digest");
  REQUIRE(digest.size() == 64);
  CHECK(Field(verified.out, "events")
            .starts_with(std::to_string(st.last_seq) + " "));
  CHECK(verified.out.find("MAC verified") != std::string::npos);

  // The disaster, then the restore: the copy and its .checkpoint file go
  // where the data directory was; the key file stays.
  fs::remove_all(data);
  fs::remove(data + ".checkpoint");
  CopyDataDir(backup, data);

  CommandResult restored =
      RunIamledger({"replay", "verify", "--data-dir", data, "--key-file", key});
  REQUIRE_MESSAGE(restored.exit_code == 0, restored.out << restored.err);
  CHECK(Field(restored.out, "state digest") == digest);
  CHECK(Field(restored.out, "head hash") == Field(verified.out, "head hash"));

  Server again(data, key, tmp.path() + "/serve2.log");
  REQUIRE_MESSAGE(again.Start(), again.log());
  const auto after = RecordGets(Api{again.tcp(), st.admin_token});
  CHECK(after.size() == before.size());
  for (const auto& entry : before) {
    const auto& path = entry.first;  // not a binding: CAPTURE (clang 14)
    const auto& answer = entry.second;
    CAPTURE(path);
    auto it = after.find(path);
    REQUIRE(it != after.end());
    CHECK(it->second.status == answer.status);
    CHECK(it->second.etag == answer.etag);
    // last_used_at is usage, not state (API.md "Token lifecycle"): the copy
    // holds it as of the backup, the live server may have newer records.
    CHECK(WithoutUsage(it->second.body) == WithoutUsage(answer.body));
  }
  CHECK(again.Stop() == 0);
}

TEST_CASE("backup create: copies taken while writes go on all verify") {
  TempDir tmp;
  const std::string data = tmp.path() + "/data";
  const std::string key = tmp.path() + "/k.key";
  Server server(data, key, tmp.path() + "/serve.log");
  REQUIRE_MESSAGE(server.Start(), server.log());
  CommandResult admin =
      RunIamledger({"iam", "token", "create", "writer", "--admin", "--data-dir",
                    data, "--key-file", key});
  REQUIRE(admin.exit_code == 0);
  const std::string token = admin.out.substr(0, admin.out.find('\n'));
  const Api writer_api{server.tcp(), token};

  std::atomic<bool> stop{false};
  std::atomic<int> written{0}, failed{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      const std::string body =
          R"({"id":"t-)" + std::to_string(i) + R"(","name":"T"})";
      if (writer_api.Post("/apis/iam/v2/tokens", body).status == 200) {
        ++written;
      } else {
        ++failed;
      }
    }
  });
  std::vector<std::string> copies;
  for (int i = 0; i < 3; ++i) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (written < 20 * (i + 1) && failed == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    copies.push_back(tmp.path() + "/copy" + std::to_string(i));
    CommandResult made = RunIamledger(
        {"backup", "create", "--data-dir", data, "--to", copies.back()});
    CHECK_MESSAGE(made.exit_code == 0, made.out << made.err);
  }
  stop = true;
  writer.join();
  CHECK(failed == 0);
  REQUIRE(server.Stop() == 0);

  uint64_t previous = 0;
  for (const auto& copy : copies) {
    CAPTURE(copy);
    CommandResult v = RunIamledger(
        {"replay", "verify", "--data-dir", copy, "--key-file", key});
    CHECK_MESSAGE(v.exit_code == 0, v.out << v.err);
    const uint64_t events = std::stoull("0" + Field(v.out, "events"));
    CHECK(events > previous);  // each copy is newer than the one before
    previous = events;
  }
  CommandResult all =
      RunIamledger({"replay", "verify", "--data-dir", data, "--key-file", key});
  CHECK(all.exit_code == 0);
  CHECK(std::stoull("0" + Field(all.out, "events")) > previous);
}

}  // namespace
}  // namespace iam::tools::testing
