// Helpers for the tools suite: runs the real build/iamledger binary
// (IAM_BINARY) as a server or as a command, and talks HTTP/1.1 to it over
// loopback with plain POSIX sockets.
#ifndef IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_
#define IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace iam::tools::testing {

// A fresh directory under /tmp, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct HttpResult {
  int status = 0;                              // 0: no response
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string Header(const std::string& lower_name) const;
};

// One request on a new connection to 127.0.0.1:port ("Connection: close"),
// with `token` as api-token when not empty.
HttpResult Http(uint16_t port, const std::string& method,
                const std::string& target, const std::string& body = "",
                const std::string& token = "");

struct CommandResult {
  int exit_code = -1;  // -signal when killed
  std::string out;
  std::string err;
};

// Runs IAM_BINARY with `args` and waits (killed after `timeout_s`).
CommandResult RunIamledger(const std::vector<std::string>& args,
                           int timeout_s = 300);

// `iamledger serve` on a port the kernel picks (--listen 127.0.0.1:0; the
// port is read from the server's log) with its own data dir and key file.
class Server {
 public:
  Server(std::string data_dir, std::string key_file, std::string log_path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts it and waits for /readyz 200; false (see log()) on failure.
  bool Start();
  // SIGTERM and wait; the exit code (-signal when killed; -1000 when it
  // was not running).
  int Stop();
  uint16_t port() const { return port_; }
  std::string log() const;

 private:
  std::string data_dir_;
  std::string key_file_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

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
BuiltState BuildState(uint16_t port, const std::string& data_dir,
                      const std::string& key_file);

// Every GET route of the API for every object the server holds (and the
// history of deleted ones), with status, ETag and body.
struct GetAnswer {
  int status = 0;
  std::string etag;
  std::string body;
};
std::map<std::string, GetAnswer> RecordGets(uint16_t port,
                                            const std::string& token);

}  // namespace iam::tools::testing

#endif  // IAMLEDGER_TESTS_TOOLS_TOOLS_UTIL_H_
