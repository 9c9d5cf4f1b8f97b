// `iamledger audit check|who|diff`: the API's answers, offline, from the
// data directory of the stopped server and of a running one;
// human-readable by default; bad parameters exit 2 and change nothing.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

using Json = nlohmann::json;

TEST_CASE("audit cli - the same answers as the API, offline") {
  TempDir dir;
  Server server(dir.path());
  REQUIRE_MESSAGE(server.Start(), server.log());
  BuiltState built = BuildState(server);
  REQUIRE(built.failures.empty());
  const Api api{server.tcp(), built.admin_token};
  const std::string seq = std::to_string(built.last_seq);
  const std::string mid = std::to_string(built.rename_seq);
  struct Query {
    std::string api;               // path and query
    std::vector<std::string> cli;  // the same as flags
  };
  const std::vector<Query> queries = {
      {"/apis/iam/v2/audit/check?subject=token:admin&action=iam:tokens:get&"
       "resource=iam:tokens:x&at_seq=" +
           seq,
       {"check", "--subject", "token:admin", "--action", "iam:tokens:get",
        "--resource", "iam:tokens:x", "--at-seq", seq}},
      {"/apis/iam/v2/audit/check?subject=token:admin&action=iam:policies:"
       "delete&resource=iam:policies:administrator-access&at_seq=" +
           mid + "&project=p1",
       {"check", "--subject", "token:admin", "--action", "iam:policies:delete",
        "--resource", "iam:policies:administrator-access", "--at-seq", mid,
        "--project", "p1"}},
      {"/apis/iam/v2/audit/who?action=iam:tokens:list&resource=iam:tokens&"
       "at_seq=" +
           mid,
       {"who", "--action", "iam:tokens:list", "--resource", "iam:tokens",
        "--at-seq", mid}},
      {"/apis/iam/v2/audit/diff?from_seq=0&to_seq=" + seq,
       {"diff", "--from-seq", "0", "--to-seq", seq}},
      {"/apis/iam/v2/audit/diff?from_seq=" + mid + "&to_seq=" + seq +
           "&subject=token:admin",
       {"diff", "--from-seq", mid, "--to-seq", seq, "--subject",
        "token:admin"}},
  };
  std::vector<std::string> answers;
  for (const Query& q : queries) {
    auto r = api.Get(q.api);
    REQUIRE_MESSAGE(r.status == 200, r.body);
    answers.push_back(r.body);
  }
  // Beside the running server: the same answers (the directory is opened
  // read-only; meta moving on is no error).
  for (size_t i : {size_t{0}, size_t{3}}) {
    std::vector<std::string> args = {"audit"};
    args.insert(args.end(), queries[i].cli.begin(), queries[i].cli.end());
    args.insert(args.end(), {"--data-dir", server.data_dir(), "--json"});
    CommandResult c = RunIamledger(args);
    CAPTURE(queries[i].api);
    REQUIRE_MESSAGE(c.exit_code == 0, c.err);
    CHECK(Json::parse(c.out) == Json::parse(answers[i]));
  }
  REQUIRE(server.Stop() == 0);
  {
    for (size_t i = 0; i < queries.size(); ++i) {
      std::vector<std::string> args = {"audit"};
      args.insert(args.end(), queries[i].cli.begin(), queries[i].cli.end());
      args.insert(args.end(), {"--data-dir", server.data_dir(), "--json"});
      CommandResult c = RunIamledger(args);
      CAPTURE(queries[i].api);
      REQUIRE_MESSAGE(c.exit_code == 0, c.err);
      CHECK(Json::parse(c.out) == Json::parse(answers[i]));
    }
  }
  // Human-readable by default.
  CommandResult c = RunIamledger(
      {"audit", "check", "--data-dir", server.data_dir(), "--subject",
       "token:admin", "--action", "iam:tokens:get", "--resource", "x"});
  CHECK(c.exit_code == 0);
  CHECK(c.out.find("ALLOWED at seq") == 0);
  CHECK(
      c.out.find("by policy administrator-access, statement 0 (role owner)") !=
      std::string::npos);
  c = RunIamledger({"audit", "diff", "--data-dir", server.data_dir()});
  CHECK(c.exit_code == 0);
  CHECK(c.out.find("from seq 0 to seq " + seq) == 0);
  // Bad parameters: exit 2 with a message; nothing written.
  c = RunIamledger({"audit", "check", "--data-dir", server.data_dir(),
                    "--subject", "a", "--action", "b", "--resource", "c",
                    "--at-seq", "999999"});
  CHECK(c.exit_code == 2);
  CHECK(c.err.find("at_seq 999999 is past the end of the log") !=
        std::string::npos);
  c = RunIamledger({"audit", "who", "--data-dir", server.data_dir(), "--action",
                    "b", "--resource", "c", "--at", "yesterday"});
  CHECK(c.exit_code == 2);
  c = RunIamledger({"audit", "check", "--data-dir", server.data_dir()});
  CHECK(c.exit_code == 2);  // required flags
  c = RunIamledger({"audit", "who", "--data-dir", dir.path() + "/nope",
                    "--action", "b", "--resource", "c"});
  CHECK(c.exit_code == 1);
  CHECK(!c.err.empty());
  c = RunIamledger({"replay", "verify", "--data-dir", server.data_dir()});
  CHECK(c.exit_code == 0);
  CHECK(Field(c.out, "events").find(seq + " ") == 0);
}

}  // namespace
}  // namespace iam::tools::testing
