// `iamledger import automate`: a second iamledger server stands in for
// Automate (the same wire format: GET /tokens returns values). Dry run,
// import, re-run (changes nothing), conflict (reported, not overwritten).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

using Json = nlohmann::json;

// The number of events in a data directory (`replay export` lines).
size_t EventCount(const std::string& data_dir) {
  CommandResult r = RunIamledger({"replay", "export", "--data-dir", data_dir});
  REQUIRE(r.exit_code == 0);
  size_t n = 0;
  for (char c : r.out) n += c == '\n' ? 1 : 0;
  return n;
}

TEST_CASE("import automate: copy, re-run changes nothing, conflicts kept") {
  TempDir dir;
  std::filesystem::create_directories(dir.path() + "/source");
  // The source: an admin token, a project (with its three policies), a
  // custom role, a token with a supplied value, a custom policy naming
  // both, and a member added to the chef-managed viewer-access.
  Server source(dir.path() + "/source");
  REQUIRE_MESSAGE(source.Start(), source.log());
  CommandResult admin =
      RunIamledger({"iam", "token", "create", "migrator", "--admin",
                    "--data-dir", source.data_dir()});
  REQUIRE(admin.exit_code == 0);
  Api src{source.tcp(), admin.out.substr(0, admin.out.size() - 1)};
  const std::string value = "automate-style-value-0123456789=";
  REQUIRE(src.Post("/apis/iam/v2/projects", Json{{"id", "p1"}, {"name", "P1"}})
              .status == 200);
  REQUIRE(src.Post("/apis/iam/v2/roles", Json{{"id", "r1"},
                                              {"name", "R1"},
                                              {"actions", {"iam:tokens:get"}},
                                              {"projects", Json::array()}})
              .status == 200);
  REQUIRE(src.Post("/apis/iam/v2/tokens", Json{{"id", "ci"},
                                               {"name", "CI"},
                                               {"value", value},
                                               {"active", true},
                                               {"projects", {"p1"}}})
              .status == 200);
  REQUIRE(src.Post("/apis/iam/v2/tokens",
                   Json{{"id", "off"}, {"name", "Off"}, {"active", false}})
              .status == 200);
  REQUIRE(src.Post("/apis/iam/v2/policies",
                   Json{{"id", "pol"},
                        {"name", "Pol"},
                        {"members", {"token:ci", "team:local:ops"}},
                        {"statements",
                         {{{"effect", "ALLOW"},
                           {"role", "r1"},
                           {"projects", {"p1"}}}}},
                        {"projects", Json::array()}})
              .status == 200);
  REQUIRE(src.Post("/apis/iam/v2/policies/viewer-access/members:add",
                   Json{{"members", {"token:ci"}}})
              .status == 200);
  const std::string token_file = dir.path() + "/automate.token";
  {
    std::ofstream out(token_file);
    out << src.token << "\n";
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(source.port());
  const std::string target = dir.path() + "/target";
  auto import = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"import",     "automate",     "--url",
                                     url,          "--token-file", token_file,
                                     "--data-dir", target};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunIamledger(args);
  };

  // Dry run (offline target): the plan, nothing written.
  CommandResult plan = import({"--dry-run"});
  REQUIRE_MESSAGE(plan.exit_code == 0, plan.err);
  CHECK(plan.out.find("create project p1\n") != std::string::npos);
  CHECK(plan.out.find("create role r1\n") != std::string::npos);
  CHECK(plan.out.find("create token ci\n") != std::string::npos);
  CHECK(plan.out.find("create policy pol\n") != std::string::npos);
  CHECK(plan.out.find("create policy p1-project-owners\n") !=
        std::string::npos);
  CHECK(plan.out.find("add-members policy viewer-access") != std::string::npos);
  CHECK(plan.out.find(value) == std::string::npos);  // never a value
  const size_t fresh = EventCount(target);

  CommandResult first = import({});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err << first.out);
  CHECK(first.out.find("imported: ") != std::string::npos);
  const size_t after = EventCount(target);
  CHECK(after > fresh);

  // Existing clients keep working: the value authenticates on the target,
  // with the same memberships.
  Server tgt(target, dir.path() + "/iamledger.key", dir.path() + "/t.log");
  REQUIRE_MESSAGE(tgt.Start(), tgt.log());
  Api local{tgt.admin_socket(), ""};
  Json ci = local.Get("/apis/iam/v2/tokens/ci").JsonBody()["token"];
  CHECK(ci["value"] == value);
  CHECK(ci["projects"] == Json{"p1"});
  CHECK(local.Get("/apis/iam/v2/tokens/off").JsonBody()["token"]["active"] ==
        false);
  Json members =
      local.Get("/apis/iam/v2/policies/viewer-access/members").JsonBody();
  CHECK(std::find(members["members"].begin(), members["members"].end(),
                  "token:ci") != members["members"].end());
  Api tgt_ci{tgt.tcp(), value};
  CHECK(tgt_ci.Get("/apis/iam/v2/tokens/ci").status == 200);  // via r1

  // Re-run through the running target's admin socket: nothing changes.
  CommandResult again = import({});
  CHECK_MESSAGE(again.exit_code == 0, again.err << again.out);
  CHECK(again.out.find("create ") == std::string::npos);
  CHECK(again.out.find(": 0 created, 0 member additions") != std::string::npos);

  // A conflict: the target's role differs. Reported, not overwritten.
  REQUIRE(
      local
          .Put("/apis/iam/v2/roles/r1",
               Json{{"name", "Changed here"}, {"actions", {"iam:tokens:get"}}})
          .status == 200);
  CommandResult conflict = import({});
  CHECK(conflict.exit_code == 1);
  CHECK(conflict.out.find("conflict role r1: exists with different name") !=
        std::string::npos);
  CHECK(local.Get("/apis/iam/v2/roles/r1").JsonBody()["role"]["name"] ==
        "Changed here");
  tgt.Stop();
  CHECK(EventCount(target) == after + 1);  // only the local PUT

  // A bad source: clear message, exit 1.
  CommandResult down =
      RunIamledger({"import", "automate", "--url", "http://127.0.0.1:1",
                    "--token-file", token_file, "--data-dir", target});
  CHECK(down.exit_code == 1);
  CHECK(down.err.find("reading the source failed") != std::string::npos);
  source.Stop();
}

}  // namespace
}  // namespace iam::tools::testing
