// The harness shared by the suites that drive the real build/iamledger
// binary (IAM_BINARY): temporary directories, a server process on a
// loopback port the kernel picks with its own data directory and key file,
// a small blocking HTTP/1.1 client over TCP or the admin unix socket, and
// the binary run as a command with its stdout, stderr and exit code.
// No Boost and no test framework: POSIX sockets, fork/exec and
// nlohmann::json only.
#ifndef IAMLEDGER_TESTS_TESTUTIL_SERVER_HARNESS_H_
#define IAMLEDGER_TESTS_TESTUTIL_SERVER_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iam::testutil {

using Json = nlohmann::json;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// A fresh directory under /tmp (mkdtemp), removed with its contents; path()
// is "" when it could not be made.
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

// Seconds since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start);

// ------------------------------------------------------------ HTTP client

// Where to send a request: a loopback TCP port or a unix socket path.
struct Endpoint {
  uint16_t port = 0;
  std::string unix_path;
};

// A parsed HTTP response; status 0 means none was received.
struct Response {
  int status = 0;
  std::string reason;
  HeaderList headers;
  std::string body;

  // First value of `name` (case-insensitive), "" when absent.
  std::string Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  // The body parsed as JSON (discarded value when it is not JSON).
  Json JsonBody() const;
};

// The outcome of sending raw bytes on a fresh connection.
struct RawResult {
  bool responded = false;  // a complete response was read
  bool closed = false;     // the server closed the connection
  bool timed_out = false;  // nothing complete within the timeout
  bool connect_failed = false;
  double seconds = 0;  // from the first byte sent to the outcome
  Response response;   // valid when `responded`
  std::string raw;     // every byte read
};

// Sends `bytes` on a new connection and reads one response (headers plus a
// Content-Length body, or until close). With `half_close`, the write side is
// shut down after sending. Send errors (the server may answer and close
// before reading everything) are ignored: the reply is still read.
RawResult SendRaw(
    const Endpoint& ep, std::string_view bytes,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000),
    bool half_close = false);

// One HTTP/1.1 request with "Connection: close", Host and Content-Length
// (for a non-empty body, and always for POST/PUT).
Response Http(
    const Endpoint& ep, std::string_view method, std::string_view target,
    const HeaderList& headers = {}, std::string_view body = {},
    std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

// One kept-alive connection: send requests and read responses in order
// (interim 1xx responses are returned like any other).
class Connection {
 public:
  explicit Connection(const Endpoint& ep);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool ok() const { return fd_ >= 0; }
  bool Send(std::string_view bytes);
  // The next response; status 0 on timeout or close.
  Response Read(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  // True when the server closes the connection within `timeout` (bytes
  // that arrive meanwhile are kept for Read).
  bool PeerClosed(std::chrono::milliseconds timeout);

 private:
  bool Fill(std::chrono::milliseconds timeout);
  int fd_ = -1;
  bool eof_ = false;
  std::string buf_;
};

// A client bound to an endpoint and (optionally) an api-token.
struct Api {
  Endpoint ep;
  std::string token;  // sent as api-token when non-empty

  Response Call(std::string_view method, std::string_view target,
                std::string_view body = {}, HeaderList headers = {}) const;
  Response Get(std::string_view target, HeaderList headers = {}) const {
    return Call("GET", target, {}, std::move(headers));
  }
  Response Post(std::string_view target, std::string_view body,
                HeaderList headers = {}) const {
    return Call("POST", target, body, std::move(headers));
  }
  Response Post(std::string_view target, const std::string& body,
                HeaderList headers = {}) const {
    return Call("POST", target, body, std::move(headers));
  }
  Response Post(std::string_view target, const char* body,
                HeaderList headers = {}) const {
    return Call("POST", target, body, std::move(headers));
  }
  Response Post(std::string_view target, const Json& body,
                HeaderList headers = {}) const {
    return Call("POST", target, body.dump(), std::move(headers));
  }
  Response Put(std::string_view target, std::string_view body,
               HeaderList headers = {}) const {
    return Call("PUT", target, body, std::move(headers));
  }
  Response Put(std::string_view target, const std::string& body,
               HeaderList headers = {}) const {
    return Call("PUT", target, body, std::move(headers));
  }
  Response Put(std::string_view target, const char* body,
               HeaderList headers = {}) const {
    return Call("PUT", target, body, std::move(headers));
  }
  Response Put(std::string_view target, const Json& body,
               HeaderList headers = {}) const {
    return Call("PUT", target, body.dump(), std::move(headers));
  }
  Response Delete(std::string_view target, HeaderList headers = {}) const {
    return Call("DELETE", target, {}, std::move(headers));
  }
  Api WithToken(std::string t) const { return Api{ep, std::move(t)}; }
};

// -------------------------------------------------------------- processes
//
// Processes are forked from the calling thread with PR_SET_PDEATHSIG, so an
// aborted test run leaves no server or command behind: start them from the
// main thread (the death signal follows the thread that forked).

// Forks and execs `args` (argv[0] an absolute path) with stdin from
// `stdin_path` (/dev/null when empty), stdout and stderr appended to the
// files; the child gets `death_signal` when the calling thread dies. -1 on
// failure.
pid_t SpawnProcess(const std::vector<std::string>& args,
                   const std::string& out_path, const std::string& err_path,
                   int death_signal, const std::string& stdin_path = "");

// A loopback TCP port that was free a moment ago (bound and released), below
// the kernel's ephemeral range; never the same one twice in a process.
uint16_t FreePort();

// The outcome of running the binary as a command.
struct CommandResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs IAM_BINARY with `args` (stdin /dev/null) and waits; SIGKILLs it
// after `timeout`. Its output goes through files in `scratch_dir` (a
// private temporary directory when empty), removed afterwards.
CommandResult RunIamledger(
    const std::vector<std::string>& args, const std::string& scratch_dir = "",
    std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// As RunIamledger, with `input` (when set) as the command's stdin.
CommandResult RunIamledgerWithInput(
    const std::vector<std::string>& args,
    const std::optional<std::string>& input,
    const std::string& scratch_dir = "",
    std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// One `iamledger serve` process on its own data directory and key file,
// listening on 127.0.0.1 on a port the kernel picks (read from its log).
class Server {
 public:
  // data dir = <root>/data, key file = <root>/iamledger.key (the default
  // location beside the data directory, also passed as --key-file), log =
  // <root>/server.log.
  explicit Server(std::string root);
  // Explicit paths; root() is the directory of the log.
  Server(std::string data_dir, std::string key_file, std::string log_path);
  ~Server();  // stops the process if it still runs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts `iamledger serve --listen 127.0.0.1:0` with `extra_args`, and
  // waits for /readyz 200. False (with `log()` telling why) when it is
  // already running, exited or never became ready.
  bool Start(const std::vector<std::string>& extra_args = {});
  // SIGTERM, waitpid up to `timeout`, then SIGKILL. Returns the exit code
  // (-signal when killed by a signal; -1000 when it was not running).
  int Stop(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));
  bool Running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // The --listen address of the next Start (default 127.0.0.1:0).
  void set_listen(std::string listen) { listen_ = std::move(listen); }
  // Whether Start waits for /readyz 200 (default) or only for the port.
  void set_wait_ready(bool wait) { wait_ready_ = wait; }
  // Forgets a process the caller killed and reaped itself... or reaps it.
  void Reap();
  // True if the process is still alive (reaps it when it exited).
  bool Alive();

  // The port of the last start (kept after Stop).
  uint16_t port() const { return port_; }
  Endpoint tcp() const { return Endpoint{port_, ""}; }
  Endpoint admin_socket() const { return Endpoint{0, socket_path()}; }
  const std::string& root() const { return root_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& key_file() const { return key_file_; }
  std::string socket_path() const { return data_dir_ + "/admin.sock"; }
  // Everything the server printed (stdout and stderr, over all its starts).
  std::string log() const;

 private:
  std::string root_;
  std::string data_dir_;
  std::string key_file_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string listen_ = "127.0.0.1:0";
  bool wait_ready_ = true;
};

}  // namespace iam::testutil

#endif  // IAMLEDGER_TESTS_TESTUTIL_SERVER_HARNESS_H_
