// Helpers of the tools suite over the shared harness
// (tests/testutil/server_harness.h), which runs the real build/iamledger
// binary (IAM_BINARY) as a server or as a command: data directory copies,
// report fields, and an IAM history built and read back over HTTP.
#ifndef IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_
#define IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tests/testutil/server_harness.h"

namespace iam::tools::testing {

// The shared harness, by the names the suite uses.
using ::iam::testutil::Api;
using ::iam::testutil::CommandResult;
using ::iam::testutil::RunIamledger;
using ::iam::testutil::RunIamledgerWithInput;
using ::iam::testutil::Server;
using ::iam::testutil::TempDir;

// Copies a data directory and its ".checkpoint" file (if any) to `to`.
void CopyDataDir(const std::string& from, const std::string& to);

// The value of the first "<key>: value" line of `text` ("" if none).
std::string Field(const std::string& text, const std::string& key);

// A small IAM history built through the API of a running server.
struct BuiltState {
  std::string admin_token;   // `iam token create admin --admin`
  std::string admin_stdout;  // that command's exact stdout
  std::string admin_stderr;
  int admin_exit = -1;
  std::vector<std::string> values;  // every token value issued
  // ci-bot "CI bot" renamed to "CI robot": its seq and recorded_at.
  uint64_t rename_seq = 0;
  std::string rename_time;
  uint64_t last_seq = 0;              // X-Iam-Seq of the last write
  std::vector<std::string> failures;  // requests that did not get 200
};
// Creates the admin token with the CLI, then projects, tokens, a role,
// policies with members, renames, a status toggle, member changes and
// deletes (a token with its cascade, a policy) over HTTP.
BuiltState BuildState(const Server& server);

// Every GET route of the API for every object the server holds (and the
// history of deleted ones), with status, ETag and body.
struct GetAnswer {
  int status = 0;
  std::string etag;
  std::string body;
};
std::map<std::string, GetAnswer> RecordGets(const Api& api);

}  // namespace iam::tools::testing

#endif  // IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_
