// `iamledger iam token list|update|rotate|revoke|delete` and `create
// --expires`: stdout, stderr and exit codes, offline and through the admin
// socket of a running server.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

const std::regex kValueLine("^iam_[0-9A-Za-z]{49}\n$");

struct Cli {
  std::string data_dir;
  CommandResult Run(std::vector<std::string> args) const {
    std::vector<std::string> all = {"iam", "token"};
    all.insert(all.end(), args.begin(), args.end());
    all.push_back("--data-dir");
    all.push_back(data_dir);
    return RunIamledger(all);
  }
};

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

TEST_CASE("token cli: offline list, update, rotate, revoke, delete") {
  TempDir dir;
  Cli cli{dir.path() + "/data"};
  CommandResult created = cli.Run({"create", "ci", "--expires", "90d"});
  REQUIRE_MESSAGE(created.exit_code == 0, created.err);
  CHECK(std::regex_match(created.out, kValueLine));
  const std::string value = created.out.substr(0, created.out.size() - 1);
  CHECK(cli.Run({"create", "plain"}).exit_code == 0);

  // A bad --expires is a usage error: nothing printed, nothing created.
  CommandResult bad = cli.Run({"create", "later", "--expires", "soonish"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.out.empty());
  CHECK(bad.err.find("--expires") != std::string::npos);
  CHECK(cli.Run({"create", "past", "--expires", "2001-01-01T00:00:00Z"})
            .exit_code == 1);

  CommandResult list = cli.Run({"list"});
  REQUIRE(list.exit_code == 0);
  std::vector<std::string> lines = Lines(list.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("ci\tactive\t20", 0) == 0);  // an expiry
  CHECK(lines[1] == "plain\tactive\t-\t-\tplain");
  CHECK(list.out.find(value) == std::string::npos);  // never values

  CommandResult json = cli.Run({"list", "--json"});
  REQUIRE(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  REQUIRE(parsed["tokens"].size() == 2);
  CHECK_FALSE(parsed["tokens"][0].contains("value"));
  CHECK(parsed["tokens"][0].contains("expires_at"));

  CommandResult updated = cli.Run({"update", "ci", "--name", "CI bot",
                                   "--active", "false", "--expires", "never"});
  REQUIRE_MESSAGE(updated.exit_code == 0, updated.err);
  CHECK(updated.out == "ci\n");
  CHECK(Lines(cli.Run({"list"}).out)[0] == "ci\tinactive\t-\t-\tCI bot");
  CHECK(cli.Run({"update", "ci", "--active", "true"}).exit_code == 0);
  CommandResult missing = cli.Run({"update", "nope", "--name", "x"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.out.empty());
  CHECK(missing.err.find("No token record found") != std::string::npos);
  CHECK(cli.Run({"update", "ci", "--active", "maybe"}).exit_code == 2);

  CommandResult rotated = cli.Run({"rotate", "ci", "--grace", "10m"});
  REQUIRE_MESSAGE(rotated.exit_code == 0, rotated.err);
  CHECK(std::regex_match(rotated.out, kValueLine));
  CHECK(rotated.out != created.out);
  CHECK(cli.Run({"rotate", "ci", "--grace", "8d"}).exit_code == 1);  // > 7d
  CHECK(cli.Run({"rotate", "ci", "--grace", "a while"}).exit_code == 2);

  const std::string values = dir.path() + "/leaked.txt";
  {
    std::ofstream out(values);
    out << rotated.out << "\n  not-a-real-token-value-123456  \n";
  }
  CommandResult revoked = cli.Run({"revoke", "--value-file", values});
  REQUIRE_MESSAGE(revoked.exit_code == 0, revoked.err);
  CHECK(revoked.out == "1\n");
  CHECK(Lines(cli.Run({"list"}).out)[0].rfind("ci\tinactive", 0) == 0);
  // No values at all (stdin is /dev/null): usage error.
  CHECK(cli.Run({"revoke"}).exit_code == 2);
  // Values on stdin, surrounded by blank lines and spaces.
  CommandResult leaked = cli.Run({"create", "leaked"});
  REQUIRE(leaked.exit_code == 0);
  CommandResult from_stdin = RunIamledgerWithInput(
      {"iam", "token", "revoke", "--data-dir", cli.data_dir},
      "\n  " + leaked.out + "\n");
  REQUIRE_MESSAGE(from_stdin.exit_code == 0, from_stdin.err);
  CHECK(from_stdin.out == "1\n");
  CHECK(from_stdin.err.find(leaked.out.substr(0, 20)) == std::string::npos);
  CHECK(Lines(cli.Run({"list"}).out)[1].rfind("leaked\tinactive", 0) == 0);
  CHECK(cli.Run({"delete", "leaked"}).exit_code == 0);

  CommandResult deleted = cli.Run({"delete", "plain"});
  CHECK(deleted.exit_code == 0);
  CHECK(deleted.out == "plain\n");
  CHECK(cli.Run({"delete", "plain"}).exit_code == 1);
  CHECK(Lines(cli.Run({"list"}).out).size() == 1);
}

TEST_CASE("token cli: through a running server's admin socket") {
  TempDir dir;
  Server server(dir.path());
  REQUIRE_MESSAGE(server.Start(), server.log());
  Cli cli{server.data_dir()};
  CommandResult created = cli.Run({"create", "live", "--expires", "1h"});
  REQUIRE_MESSAGE(created.exit_code == 0, created.err);
  const std::string value = created.out.substr(0, created.out.size() - 1);
  Api anon{server.tcp(), ""};
  CHECK(anon.WithToken(value).Get("/apis/iam/v2/tokens").status == 403);
  CommandResult rotated = cli.Run({"rotate", "live"});
  REQUIRE(rotated.exit_code == 0);
  const std::string next = rotated.out.substr(0, rotated.out.size() - 1);
  CHECK(anon.WithToken(value).Get("/apis/iam/v2/tokens").status == 401);
  CHECK(anon.WithToken(next).Get("/apis/iam/v2/tokens").status == 403);
  CommandResult list = cli.Run({"list"});
  CHECK(list.out.rfind("live\tactive\t", 0) == 0);
  // A leaked value revoked from stdin through the admin socket: refused at
  // once by the running server.
  CommandResult revoked = RunIamledgerWithInput(
      {"iam", "token", "revoke", "--data-dir", server.data_dir()}, next + "\n");
  REQUIRE_MESSAGE(revoked.exit_code == 0, revoked.err);
  CHECK(revoked.out == "1\n");
  CHECK(anon.WithToken(next).Get("/apis/iam/v2/tokens").status == 401);
  CHECK(cli.Run({"delete", "live"}).out == "live\n");
  server.Stop();
}

TEST_CASE("token cli: --help for every command") {
  for (const char* cmd :
       {"list", "update", "rotate", "revoke", "delete", "create"}) {
    CAPTURE(cmd);
    CommandResult help = RunIamledger({"iam", "token", cmd, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("--data-dir") != std::string::npos);
  }
  CHECK(RunIamledger({"iam", "token", "update"}).exit_code == 2);  // no ID
}

}  // namespace
}  // namespace iam::tools::testing
