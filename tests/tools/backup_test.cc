// `iamledger backup create` with the server stopped, and the store side of
// backups.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "eventstore/event_store.h"
#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

namespace fs = std::filesystem;

TEST_CASE("backup create: offline copy of a stopped server verifies alike") {
  TempDir tmp;
  const std::string data = tmp.path() + "/data";
  const std::string key = tmp.path() + "/k.key";
  uint64_t last_seq = 0;
  {
    Server server(data, key, tmp.path() + "/serve.log");
    REQUIRE_MESSAGE(server.Start(), server.log());
    BuiltState st = BuildState(server);
    REQUIRE_MESSAGE(st.failures.empty(), st.failures.front());
    last_seq = st.last_seq;
    REQUIRE(server.Stop() == 0);
  }
  const std::string backup = tmp.path() + "/bk";

  // The checkpoint is authenticated with the key file: it is required.
  CommandResult no_key =
      RunIamledger({"backup", "create", "--data-dir", data, "--to", backup});
  CHECK(no_key.exit_code == 1);
  CHECK(no_key.err.find("--key-file") != std::string::npos);
  CHECK(!fs::exists(backup));

  CommandResult made = RunIamledger({"backup", "create", "--data-dir", data,
                                     "--to", backup, "--key-file", key});
  REQUIRE_MESSAGE(made.exit_code == 0, made.out << made.err);
  CHECK(made.out.find("offline") != std::string::npos);
  CHECK(fs::exists(backup + "/CURRENT"));
  CHECK(fs::exists(backup + ".checkpoint"));

  CommandResult original =
      RunIamledger({"replay", "verify", "--data-dir", data, "--key-file", key});
  CommandResult copy = RunIamledger(
      {"replay", "verify", "--data-dir", backup, "--key-file", key});
  REQUIRE_MESSAGE(original.exit_code == 0, original.out);
  REQUIRE_MESSAGE(copy.exit_code == 0, copy.out);
  CHECK(Field(copy.out, "state digest") == Field(original.out, "state digest"));
  CHECK(Field(copy.out, "checkpoint")
            .starts_with("seq " + std::to_string(last_seq) + " in "));
  CHECK(copy.out.find("MAC verified") != std::string::npos);

  // Never over an existing directory; a missing data directory is an error
  // and creates nothing.
  CommandResult again = RunIamledger({"backup", "create", "--data-dir", data,
                                      "--to", backup, "--key-file", key});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("already exists") != std::string::npos);
  CommandResult nowhere =
      RunIamledger({"backup", "create", "--data-dir", tmp.path() + "/none",
                    "--to", tmp.path() + "/bk2", "--key-file", key});
  CHECK(nowhere.exit_code == 1);
  CHECK(!fs::exists(tmp.path() + "/none"));
  CHECK(!fs::exists(tmp.path() + "/bk2"));
  CHECK(RunIamledger({"backup", "create", "--data-dir", data}).exit_code == 2);

  // The restored copy serves.
  Server restored(backup, key, tmp.path() + "/serve2.log");
  CHECK_MESSAGE(restored.Start(), restored.log());
  CHECK(restored.Stop() == 0);
}

TEST_CASE("backup: the memory store has none") {
  auto store = eventstore::NewMemoryEventStore({});
  Status s = store->CreateBackup("/tmp/never-written");
  CHECK(s.code() == StatusCode::kUnimplemented);
  CHECK(!fs::exists("/tmp/never-written"));
}

}  // namespace
}  // namespace iam::tools::testing
