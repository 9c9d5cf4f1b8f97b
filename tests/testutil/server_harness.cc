#include "tests/testutil/server_harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

extern char** environ;

namespace iam::testutil {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char ca = a[i], cb = b[i];
    if (ca >= 'A' && ca <= 'Z') ca = static_cast<char>(ca - 'A' + 'a');
    if (cb >= 'A' && cb <= 'Z') cb = static_cast<char>(cb - 'A' + 'a');
    if (ca != cb) return false;
  }
  return true;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Connects a blocking socket; -1 on failure.
int Connect(const Endpoint& ep) {
  if (!ep.unix_path.empty()) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (ep.unix_path.size() >= sizeof(addr.sun_path)) {
      ::close(fd);
      return -1;
    }
    std::memcpy(addr.sun_path, ep.unix_path.data(), ep.unix_path.size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ep.port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Parses the head of a response ending at `head_end` (the index of the
// blank line). False when it is not an HTTP/1.x status line plus fields.
bool ParseHead(std::string_view head, Response* r) {
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  if (!status_line.starts_with("HTTP/1.")) return false;
  size_t sp = status_line.find(' ');
  if (sp == std::string_view::npos || status_line.size() < sp + 4) return false;
  std::string code(status_line.substr(sp + 1, 3));
  for (char c : code)
    if (c < '0' || c > '9') return false;
  r->status = std::stoi(code);
  r->reason = std::string(
      status_line.size() > sp + 5 ? status_line.substr(sp + 5) : "");
  r->headers.clear();
  while (eol != std::string_view::npos && eol + 2 < head.size()) {
    size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line = head.substr(
        start, eol == std::string_view::npos ? head.npos : eol - start);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
      value.remove_suffix(1);
    r->headers.emplace_back(std::string(line.substr(0, colon)),
                            std::string(value));
  }
  return true;
}

// The length of the first complete response in `raw` (0 when incomplete),
// parsed into *r.
size_t CompleteLength(const std::string& raw, bool eof, Response* r) {
  size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  Response parsed;
  if (!ParseHead(std::string_view(raw).substr(0, head_end + 2), &parsed))
    return 0;
  const size_t body_start = head_end + 4;
  size_t end = body_start;
  std::string cl = parsed.Header("Content-Length");
  if (parsed.status >= 100 && parsed.status < 200) {
    // Interim response: no body.
  } else if (parsed.Header("Transfer-Encoding") == "chunked") {
    // A streamed answer (api/body_stream.h): size CRLF data CRLF ..., then
    // 0 CRLF CRLF. Incomplete until the last chunk.
    size_t at = body_start;
    std::string body;
    for (;;) {
      const size_t eol = raw.find("\r\n", at);
      if (eol == std::string::npos) return 0;
      const size_t size = std::strtoull(raw.c_str() + at, nullptr, 16);
      at = eol + 2;
      if (raw.size() < at + size + 2) return 0;
      body.append(raw, at, size);
      at += size + 2;
      if (size == 0) break;
    }
    parsed.body = std::move(body);
    end = at;
  } else if (!cl.empty()) {
    size_t n = std::strtoull(cl.c_str(), nullptr, 10);
    if (raw.size() - body_start < n) return 0;
    parsed.body = raw.substr(body_start, n);
    end = body_start + n;
  } else {
    if (!eof) return 0;
    parsed.body = raw.substr(body_start);
    end = raw.size();
  }
  *r = std::move(parsed);
  return end;
}

// Tries to complete a final response from `raw` (interim 1xx responses are
// skipped): true when headers and the whole Content-Length body are there
// (or `eof` ends a body without a length).
bool TryComplete(const std::string& raw, bool eof, Response* r) {
  std::string rest = raw;
  for (;;) {
    Response one;
    size_t n = CompleteLength(rest, eof, &one);
    if (n == 0) return false;
    if (one.status >= 200) {
      *r = std::move(one);
      return true;
    }
    rest.erase(0, n);
  }
}

// fork/exec with stdin from /dev/null and stdout/stderr appended to files.
// The child gets SIGTERM when the test process dies (PR_SET_PDEATHSIG), so an
// aborted test run leaves no server behind. Call from the main thread (the
// death signal follows the thread that forked).
}  // namespace

pid_t SpawnProcess(const std::vector<std::string>& args,
                   const std::string& out_path, const std::string& err_path,
                   int death_signal, const std::string& stdin_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const int in = ::open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(),
                        O_RDONLY | O_CLOEXEC);
  const int out =
      ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const int err = err_path == out_path
                      ? out
                      : ::open(err_path.c_str(),
                               O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = -1;
  if (in >= 0 && out >= 0 && err >= 0) {
    const pid_t parent = ::getpid();
    pid = ::fork();
    if (pid == 0) {
      // Child: async-signal-safe calls only.
      ::prctl(PR_SET_PDEATHSIG, death_signal);
      if (::getppid() != parent) ::_exit(127);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execve(argv[0], argv.data(), environ);
      ::_exit(127);
    }
  }
  if (in >= 0) ::close(in);
  if (out >= 0) ::close(out);
  if (err >= 0 && err != out) ::close(err);
  return pid;
}

namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path,
            const std::string& err_path, const std::string& stdin_path = "") {
  return SpawnProcess(args, out_path, err_path, SIGTERM, stdin_path);
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -999;
}

// Waits for `pid` up to `timeout`; true with *code set when it exited.
bool WaitFor(pid_t pid, milliseconds timeout, int* code) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      *code = DecodeWaitStatus(status);
      return true;
    }
    if (r < 0 && errno != EINTR) {
      *code = -998;
      return true;
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

// The port of the first "(port N)" the server logged in `log` (0 when
// none yet).
uint16_t LoggedPort(std::string_view log) {
  constexpr std::string_view kPort = "(port ";
  size_t at = log.find(kPort);
  if (at == std::string_view::npos) return 0;
  unsigned port = 0;
  for (size_t i = at + kPort.size(); i < log.size() && port <= 65535; ++i) {
    if (log[i] == ')') return static_cast<uint16_t>(port);
    if (log[i] < '0' || log[i] > '9') return 0;
    port = port * 10 + static_cast<unsigned>(log[i] - '0');
  }
  return 0;
}

}  // namespace

// ------------------------------------------------------------------ TempDir

TempDir::TempDir() {
  char tmpl[] = "/tmp/iamledger-test-XXXXXX";
  char* p = ::mkdtemp(tmpl);
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ----------------------------------------------------------------- Response

std::string Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return v;
  return "";
}

bool Response::HasHeader(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (EqualsIgnoreCase(k, name)) return true;
  return false;
}

Json Response::JsonBody() const {
  return Json::parse(body, nullptr, /*allow_exceptions=*/false);
}

// ------------------------------------------------------------------ clients

RawResult SendRaw(const Endpoint& ep, std::string_view bytes,
                  milliseconds timeout, bool half_close) {
  RawResult result;
  const auto start = Clock::now();
  int fd = Connect(ep);
  if (fd < 0) {
    result.connect_failed = true;
    return result;
  }
  const auto deadline = start + timeout;
  // Send everything we can; the server may answer and close early.
  size_t sent = 0;
  while (sent < bytes.size()) {
    // Stop sending as soon as the server answers (or hangs up): it may
    // refuse a request before reading all of it.
    pollfd p{fd, POLLOUT | POLLIN, 0};
    int left = static_cast<int>(
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now())
            .count());
    if (left <= 0) break;
    int pr = ::poll(&p, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) break;
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent,
                       MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      break;
    }
    sent += static_cast<size_t>(n);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  char buf[16384];
  for (;;) {
    if (TryComplete(result.raw, false, &result.response)) {
      result.responded = true;
      break;
    }
    int left = static_cast<int>(
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now())
            .count());
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, left);
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) {
      result.timed_out = true;
      break;
    }
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      result.closed = true;
      result.responded = TryComplete(result.raw, true, &result.response);
      break;
    }
    result.raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  result.seconds = SecondsSince(start);
  return result;
}

Response Http(const Endpoint& ep, std::string_view method,
              std::string_view target, const HeaderList& headers,
              std::string_view body, milliseconds timeout) {
  std::string req;
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  req += "Host: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT")
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "Connection: close\r\n\r\n";
  req.append(body);
  RawResult r = SendRaw(ep, req, timeout);
  if (!r.responded) return Response{};
  return r.response;
}

Response Api::Call(std::string_view method, std::string_view target,
                   std::string_view body, HeaderList headers) const {
  if (!token.empty()) headers.emplace_back("api-token", token);
  return Http(ep, method, target, headers, body);
}

CommandResult RunIamledger(const std::vector<std::string>& args,
                           const std::string& scratch_dir,
                           milliseconds timeout) {
  return RunIamledgerWithInput(args, std::nullopt, scratch_dir, timeout);
}

CommandResult RunIamledgerWithInput(const std::vector<std::string>& args,
                                    const std::optional<std::string>& input,
                                    const std::string& scratch_dir,
                                    milliseconds timeout) {
  CommandResult result;
  std::optional<TempDir> own;
  std::string dir = scratch_dir;
  if (dir.empty()) {
    dir = own.emplace().path();
    if (dir.empty()) {
      result.err = "mkdtemp failed";
      return result;
    }
  }
  static std::atomic<int> counter{0};
  const std::string base = dir + "/cmd-" + std::to_string(::getpid()) + "-" +
                           std::to_string(++counter);
  const std::string out = base + ".out", err = base + ".err";
  const std::string in = input ? base + ".in" : "";
  if (input) {
    std::ofstream f(in, std::ios::binary);
    f << *input;
    if (!f) {
      result.err = "cannot write " + in;
      return result;
    }
  }
  std::vector<std::string> argv{IAM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = Spawn(argv, out, err, in);
  if (pid < 0) {
    result.err = "spawn failed";
    return result;
  }
  int code = 0;
  if (!WaitFor(pid, timeout, &code)) {
    ::kill(pid, SIGKILL);
    WaitFor(pid, milliseconds(5000), &code);
  }
  result.exit_code = code;
  result.out = ReadFile(out);
  result.err = ReadFile(err);
  std::remove(out.c_str());
  std::remove(err.c_str());
  if (input) std::remove(in.c_str());
  return result;
}

// -------------------------------------------------------------- Connection

Connection::Connection(const Endpoint& ep) : fd_(Connect(ep)) {}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

bool Connection::Send(std::string_view bytes) {
  size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    ssize_t n =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

bool Connection::Fill(milliseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  int pr = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (pr <= 0) return false;
  char buf[16384];
  ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  buf_.append(buf, static_cast<size_t>(n));
  return true;
}

Response Connection::Read(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    Response r;
    size_t n = CompleteLength(buf_, eof_, &r);
    if (n > 0) {
      buf_.erase(0, n);
      return r;
    }
    if (eof_ || fd_ < 0) return Response{};
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || !Fill(left)) {
      if (!eof_) return Response{};
    }
  }
}

bool Connection::PeerClosed(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!eof_ && fd_ >= 0) {
    auto left =
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (!Fill(left) && !eof_) return false;
  }
  return true;
}

// ------------------------------------------------------------------ Server

Server::Server(std::string root)
    : root_(std::move(root)),
      data_dir_(root_ + "/data"),
      key_file_(root_ + "/iamledger.key"),
      log_path_(root_ + "/server.log") {}

Server::Server(std::string data_dir, std::string key_file, std::string log_path)
    : root_(std::filesystem::path(log_path).parent_path().string()),
      data_dir_(std::move(data_dir)),
      key_file_(std::move(key_file)),
      log_path_(std::move(log_path)) {}

Server::~Server() {
  if (pid_ > 0) Stop();
}

std::string Server::log() const { return ReadFile(log_path_); }

bool Server::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool Server::Start(const std::vector<std::string>& extra_args) {
  if (pid_ > 0) return false;
  // The log is appended to over restarts: the port is in what follows.
  const size_t log_start = log().size();
  std::vector<std::string> argv{IAM_BINARY, "serve",      "--data-dir",
                                data_dir_,  "--key-file", key_file_,
                                "--listen", listen_};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  port_ = 0;
  pid_ = Spawn(argv, log_path_, log_path_);
  if (pid_ < 0) return false;
  const auto deadline = Clock::now() + milliseconds(30000);
  while (Clock::now() < deadline) {
    int code = 0;
    if (WaitFor(pid_, milliseconds(0), &code)) {
      pid_ = -1;
      return false;  // exited
    }
    if (port_ == 0) {
      const std::string text = log();
      if (text.size() >= log_start)
        port_ = LoggedPort(std::string_view(text).substr(log_start));
    }
    if (port_ != 0 && !wait_ready_) return true;
    if (port_ != 0 &&
        Http(tcp(), "GET", "/readyz", {}, {}, milliseconds(1000)).status ==
            200) {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  Stop();
  return false;
}

void Server::Reap() {
  if (pid_ <= 0) return;
  int code = 0;
  WaitFor(pid_, milliseconds(10000), &code);
  pid_ = -1;
}

namespace {

// Whether `port` can be bound on loopback now (SO_REUSEADDR as servers
// bind, so a port in TIME_WAIT counts as free).
bool CanBind(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok =
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// The low end of the kernel's ephemeral range (32768 by default).
uint16_t EphemeralLow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  unsigned low = 0;
  if (!(in >> low) || low < 2048 || low > 65535) return 32768;
  return static_cast<uint16_t>(low);
}

}  // namespace

// Below the ephemeral range: a port the kernel picked for us there could be
// taken, between our probe and the server's bind (or while a node is down
// between a kill and its restart on the same port), as the local port of
// any outgoing connection, and under a parallel suite that happened. Here
// only another probe of the same port can race, so each process starts at
// its own point (its pid) and never hands out a port twice.
uint16_t FreePort() {
  static std::mutex mu;
  static uint32_t next = 0;
  std::lock_guard<std::mutex> lock(mu);
  const uint32_t low = 10000;
  const uint32_t high = EphemeralLow();
  if (high <= low + 100) return 0;
  const uint32_t span = high - low;
  if (next == 0) next = static_cast<uint32_t>(::getpid()) * 7919u % span;
  for (uint32_t tries = 0; tries < span; ++tries) {
    const uint16_t port = static_cast<uint16_t>(low + next % span);
    next = (next + 1) % span;
    if (CanBind(port)) return port;
  }
  return 0;
}

int Server::Stop(milliseconds timeout) {
  if (pid_ <= 0) return -1000;
  ::kill(pid_, SIGTERM);
  int code = 0;
  if (!WaitFor(pid_, timeout, &code)) {
    ::kill(pid_, SIGKILL);
    WaitFor(pid_, milliseconds(5000), &code);
    code = -SIGKILL;
  }
  pid_ = -1;
  return code;
}

// ----------------------------------------------------------------- helpers

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace iam::testutil
