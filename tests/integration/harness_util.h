// Harness for the integration suite: each test case starts the real
// build/iamledger binary (IAM_BINARY) on a free loopback port with its own
// temporary data directory and key file, talks to it with a small blocking
// HTTP/1.1 client over TCP or the admin unix socket, and stops it at the end.
// No Boost: POSIX sockets, fork/exec and nlohmann::json only.
#ifndef IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_
#define IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_

#include <doctest/doctest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iam::integration {

using Json = nlohmann::json;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Validation patterns as they appear in error messages (spec §6, §9).
inline constexpr std::string_view kIdPattern = "^[a-z0-9-_]{1,64}$";
inline constexpr std::string_view kProjectIdPattern = "^[a-z0-9-_]{1,48}$";
inline constexpr std::string_view kMemberPattern =
    "^(?:team|user):(?:local|ldap|saml):(?:[^:*]+|[*])$|"
    "^(?:(?:team|user|token|tls):)?[*]$|^token:[^:*]+$|"
    "^tls:service:(?:[^:*]+:)?(?:[^:*]+|[*])$";
inline constexpr std::string_view kActionPattern =
    "^[*]$|^[*]:[a-z][-a-zA-Z]*$|^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[a-z][a-zA-Z]*$"
    "|"
    "^[a-z][a-zA-Z]*:[*]$|^[a-z][a-zA-Z]*:[*]:[a-z][a-zA-Z]*$|"
    "^[a-z][a-zA-Z]*:[a-z][a-zA-Z]*:[*]$";

// "invalid <field>: value does not match regex pattern \"<pattern>\"".
inline std::string RegexError(std::string_view field,
                              std::string_view pattern) {
  return "invalid " + std::string(field) +
         ": value does not match regex pattern \"" + std::string(pattern) +
         "\"";
}

// A fresh directory under /tmp (mkdtemp), removed with its contents.
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

// The outcome of running the binary as a command.
struct CommandResult {
  int exit_code = -1;  // -signal when killed by a signal
  std::string out;
  std::string err;
};

// Runs IAM_BINARY with `args`; kills it after `timeout`.
CommandResult RunIamledger(
    const std::vector<std::string>& args, const std::string& scratch_dir,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

// One iamledger server process on its own data directory.
class Server {
 public:
  // data dir = <root>/data, key file = <root>/iamledger.key (the default
  // location beside the data directory, also passed as --key-file).
  explicit Server(std::string root);
  ~Server();  // stops the process if it still runs
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Starts `iamledger serve` on a free port (retrying on a bind race) with
  // `extra_args`, and waits for /healthz 200. False (with `log()` telling
  // why) when it never came up.
  bool Start(const std::vector<std::string>& extra_args = {});
  // SIGTERM, waitpid up to `timeout`, then SIGKILL. Returns the exit code
  // (-signal when killed by a signal; -1000 when it was not running).
  int Stop(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  bool Running() const { return pid_ > 0; }
  // True if the process is still alive (reaps it when it exited).
  bool Alive();

  uint16_t port() const { return port_; }
  Endpoint tcp() const { return Endpoint{port_, ""}; }
  Endpoint admin_socket() const { return Endpoint{0, socket_path()}; }
  const std::string& root() const { return root_; }
  std::string data_dir() const { return root_ + "/data"; }
  std::string key_file() const { return root_ + "/iamledger.key"; }
  std::string socket_path() const { return data_dir() + "/admin.sock"; }
  // Everything the server printed (stdout and stderr) so far.
  std::string log() const;

 private:
  std::string root_;
  std::string log_path_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int starts_ = 0;
};

// A started server plus an admin token ("admin", member of
// administrator-access), created over the admin socket.
struct Env {
  TempDir dir;
  Server server{dir.path()};
  std::string admin_token;
  Api admin;  // TCP with the admin token
  Api anon;   // TCP without a token
  Api local;  // the admin socket (no token)

  // Starts the server with `extra_args` and creates the admin token; false
  // when anything failed (the reason is in `error`).
  bool Start(const std::vector<std::string>& extra_args = {});
  std::string error;
};

// Declares `Env env` and starts it (REQUIRE: the test stops when the server
// cannot start). Optional arguments are extra `serve` flags.
#define START_ENV(env, ...)    \
  ::iam::integration::Env env; \
  REQUIRE_MESSAGE(env.Start({__VA_ARGS__}), env.error)

// "" when `r` is the standard error body {"error": m, "code": code,
// "message": m, "details": []} with HTTP status `http`, else a description of
// the difference (for CHECK(... == "")).
std::string ErrorDiff(const Response& r, int http, int code,
                      std::string_view message);
#define CHECK_ERR(resp, http, code, msg) \
  CHECK(::iam::integration::ErrorDiff((resp), (http), (code), (msg)) == "")

// The `next` of GET /apis/iam/v2/events?after=0&limit=1000 (the log head
// while it holds fewer than 1000 events); 0 when the call failed.
uint64_t LogHead(const Api& admin);

// Creates a token (POST /tokens) and returns its value ("" on failure).
std::string CreateToken(const Api& admin, const std::string& id,
                        const Json& projects = Json::array());
// Adds `member` to policy `policy_id`; true on 200.
bool AddMember(const Api& admin, const std::string& policy_id,
               const std::string& member);

// A member of `j` anywhere (keys, recursively) named `key`.
bool JsonHasKey(const Json& j, std::string_view key);

// Seconds since `start`.
double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace iam::integration

// Failed CHECKs show JSON values, id sets and string lists.
namespace doctest {
template <>
struct StringMaker<nlohmann::json> {
  static String convert(const nlohmann::json& j) {
    return String(j.dump().c_str());
  }
};
template <>
struct StringMaker<std::set<std::string>> {
  static String convert(const std::set<std::string>& s) {
    std::string out = "{";
    for (const auto& v : s) out += (out.size() > 1 ? "," : "") + v;
    return String((out + "}").c_str());
  }
};
template <>
struct StringMaker<std::vector<std::string>> {
  static String convert(const std::vector<std::string>& s) {
    std::string out = "[";
    for (const auto& v : s) out += (out.size() > 1 ? "," : "") + v;
    return String((out + "]").c_str());
  }
};
}  // namespace doctest

#endif  // IAMLEDGER_TESTS_INTEGRATION_HARNESS_UTIL_H_
