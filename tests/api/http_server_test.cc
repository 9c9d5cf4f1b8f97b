// Loopback tests of api/http_server.h with a tiny POSIX-socket client (no
// Boost in tests).
#include "api/http_server.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/body_stream.h"

namespace iam::api {
namespace {

using namespace std::chrono_literals;

// ------------------------------------------------------------ the client

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

void SetRecvTimeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

Fd ConnectTcp(uint16_t port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return Fd();
  }
  SetRecvTimeout(fd.get(), 5s);
  return fd;
}

Fd ConnectUnix(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
      0) {
    return Fd();
  }
  SetRecvTimeout(fd.get(), 5s);
  return fd;
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lowercased names
  std::string body;
};

// Reads bytes into `pending` until it holds one response; nullopt on EOF,
// error or timeout. Leftover bytes stay in `pending`.
std::optional<Reply> ReadReply(int fd, std::string& pending,
                               bool head = false) {
  auto fill = [&]() {
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    pending.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t end;
  while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return std::nullopt;
  }
  Reply r;
  const std::string head_text = pending.substr(0, end);
  pending.erase(0, end + 4);
  size_t line_end = head_text.find("\r\n");
  const std::string status_line = head_text.substr(0, line_end);
  r.status = std::atoi(status_line.substr(9, 3).c_str());
  while (line_end != std::string::npos) {
    const size_t start = line_end + 2;
    line_end = head_text.find("\r\n", start);
    const std::string line = head_text.substr(
        start,
        line_end == std::string::npos ? std::string::npos : line_end - start);
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
  }
  size_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    length = std::strtoull(it->second.c_str(), nullptr, 10);
  }
  if (head || r.status == 100) length = 0;
  if (!head && r.headers.count("transfer-encoding") != 0) {
    if (r.headers["transfer-encoding"] != "chunked") return std::nullopt;
    // size CRLF data CRLF ..., then 0 CRLF CRLF (no trailers are sent).
    for (;;) {
      size_t eol;
      while ((eol = pending.find("\r\n")) == std::string::npos) {
        if (!fill()) return std::nullopt;
      }
      const size_t size = std::strtoull(pending.c_str(), nullptr, 16);
      pending.erase(0, eol + 2);
      while (pending.size() < size + 2) {
        if (!fill()) return std::nullopt;
      }
      if (pending.compare(size, 2, "\r\n") != 0) return std::nullopt;
      r.body.append(pending, 0, size);
      pending.erase(0, size + 2);
      if (size == 0) return r;
    }
  }
  if (!head && r.status >= 200 && r.status != 204 && r.status != 304 &&
      r.headers.count("content-length") == 0 &&
      status_line.rfind("HTTP/1.0", 0) == 0) {
    while (fill()) {  // an HTTP/1.0 body without a length ends at the close
    }
    r.body = std::move(pending);
    pending.clear();
    return r;
  }
  while (pending.size() < length) {
    if (!fill()) return std::nullopt;
  }
  r.body = pending.substr(0, length);
  pending.erase(0, length);
  return r;
}

std::optional<Reply> ReadReply(int fd) {
  std::string pending;
  return ReadReply(fd, pending);
}

// True when the server closed the connection (EOF or reset) in time.
bool PeerClosed(int fd) {
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) return true;
    if (n < 0) return errno == ECONNRESET;
  }
}

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" +
         std::string(extra) + "\r\n";
}

std::string Post(std::string_view target, std::string_view body,
                 std::string_view extra = "") {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + std::string(extra) + "\r\n" +
         std::string(body);
}

// ---------------------------------------------------------- the fixture

// The trivial handler: echoes what the server handed over. Targets starting
// with /async answer from another thread after a delay.
// The bytes of a streamed test body: position i holds Pattern(n)[i].
std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  }
  return out;
}

// Targets /stream/N, /fail/N and /endless answer through a StreamedReply
// (api/body_stream.h) from another thread: N bytes of Pattern in pieces of
// 10,000 (inline up to 4,096 bytes, then streamed), the same then an error,
// or pieces until the connection is gone (then `producer_stopped`).
struct Streamer {
  std::atomic<int> finished{0};
  std::atomic<bool> producer_stopped{false};

  bool Handles(const HttpRequest& req, Responder& respond) {
    const std::string& t = req.target;
    const bool stream = t.rfind("/stream/", 0) == 0;
    const bool fail = t.rfind("/fail/", 0) == 0;
    const bool endless = t == "/endless";
    if (!stream && !fail && !endless) return false;
    const size_t n =
        endless ? 0
                : std::strtoull(t.c_str() + t.find('/', 1) + 1, nullptr, 10);
    std::thread([this, respond = std::move(respond), n, fail, endless] {
      StreamedReply reply(respond, "text/plain", 4096);
      const std::string all = Pattern(endless ? 100'000 : n);
      bool open = true;
      for (size_t at = 0; open && (endless || at < n); at += 10'000) {
        if (endless) at %= all.size();
        open = reply.Write(std::string_view(all).substr(
            at, std::min<size_t>(10'000, all.size() - at)));
      }
      if (endless) producer_stopped = !open;
      reply.End(fail ? UnavailableError("gone") : OkStatus(),
                [](const Status&) {
                  HttpResponse r;
                  r.status = 503;
                  r.body = "failed before streaming";
                  return r;
                });
      ++finished;
    }).detach();
    return true;
  }
};

struct Echo {
  std::atomic<int> calls{0};
  std::atomic<int> delay_ms{50};
  Streamer streamer;

  Handler MakeHandler() {
    return [this](HttpRequest req, Responder respond) {
      ++calls;
      if (streamer.Handles(req, respond)) return;
      HttpResponse r;
      r.status = 200;
      r.headers.emplace("Content-Type", "text/plain");
      r.headers.emplace("X-Remote", req.remote);
      r.headers.emplace("X-Api-Token",
                        std::string(HeaderValue(req.headers, "API-TOKEN")));
      r.headers.emplace("X-Evil", "a\r\nInjected: yes");  // must be dropped
      r.body =
          req.method + " " + req.target + " " + std::to_string(req.body.size());
      if (req.target.rfind("/async", 0) == 0) {
        const int delay = delay_ms.load();
        std::thread([respond = std::move(respond), r = std::move(r),
                     delay]() mutable {
          std::this_thread::sleep_for(std::chrono::milliseconds(delay));
          respond(std::move(r));
        }).detach();
        return;
      }
      respond(std::move(r));
    };
  }
};

class Running {
 public:
  explicit Running(HttpServerOptions options, Echo* echo)
      : server_(std::move(options), echo->MakeHandler()) {
    status_ = server_.Listen();
    if (status_.ok()) {
      thread_ = std::thread([this] {
        server_.Run();
        returned_ = true;
      });
    }
  }
  ~Running() { StopAndJoin(); }

  void StopAndJoin() {
    server_.Stop();
    if (thread_.joinable()) thread_.join();
  }

  const Status& status() const { return status_; }
  HttpServer& server() { return server_; }
  uint16_t port() { return server_.port(); }
  bool returned() const { return returned_; }

 private:
  HttpServer server_;
  Status status_;
  std::thread thread_;
  std::atomic<bool> returned_{false};
};

HttpServerOptions LoopbackOptions() {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  return o;
}

std::string TempSocketPath() {
  static std::atomic<int> n{0};
  return (std::filesystem::temp_directory_path() /
          ("iam_api_test_" + std::to_string(::getpid()) + "_" +
           std::to_string(n++) + ".sock"))
      .string();
}

// ------------------------------------------------------------- the tests

TEST_CASE("http server: port 0, keep-alive, pipelining, async responses") {
  HttpServerOptions options = LoopbackOptions();
  SUBCASE("two I/O threads (a strand per connection)") {}
  SUBCASE("one I/O thread (no strands)") { options.threads = 1; }
  Echo echo;
  Running s(options, &echo);
  REQUIRE(s.status().ok());
  REQUIRE(s.port() != 0);

  Fd c = ConnectTcp(s.port());
  REQUIRE(c.ok());
  std::string pending;
  // Two requests, one after the other, on one connection.
  REQUIRE(SendAll(c.get(), Get("/a?x=1", "API-Token: tok\r\n")));
  auto r1 = ReadReply(c.get(), pending);
  REQUIRE(r1);
  CHECK(r1->status == 200);
  CHECK(r1->body == "GET /a?x=1 0");
  CHECK(r1->headers["x-remote"] == "127.0.0.1");
  CHECK(r1->headers["x-api-token"] == "tok");
  CHECK(r1->headers.count("x-evil") == 0);
  CHECK(r1->headers.count("injected") == 0);
  CHECK(r1->headers.count("server") == 0);
  CHECK(r1->headers["content-length"] == "12");
  REQUIRE(SendAll(c.get(), Post("/async/b", "hello")));
  auto r2 = ReadReply(c.get(), pending);
  REQUIRE(r2);
  CHECK(r2->body == "POST /async/b 5");
  // Pipelined: three at once, answered in order even when the first one is
  // answered later from another thread.
  REQUIRE(SendAll(c.get(), Get("/async/1") + Post("/2", "xy") + Get("/3")));
  for (const char* want : {"GET /async/1 0", "POST /2 2", "GET /3 0"}) {
    auto r = ReadReply(c.get(), pending);
    REQUIRE(r);
    CHECK(r->body == want);
  }
  // A long pipeline answered synchronously, in order (and without the
  // stack growing with it).
  std::string many;
  for (int i = 0; i < 1000; ++i) many += Get("/p" + std::to_string(i));
  REQUIRE(SendAll(c.get(), many));
  for (int i = 0; i < 1000; ++i) {
    auto r = ReadReply(c.get(), pending);
    REQUIRE(r);
    CHECK(r->body == "GET /p" + std::to_string(i) + " 0");
  }
  // Chunked bodies are read.
  REQUIRE(SendAll(c.get(),
                  "POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
  auto r3 = ReadReply(c.get(), pending);
  REQUIRE(r3);
  CHECK(r3->body == "POST /c 5");
  // Expect: 100-continue gets its interim response first.
  REQUIRE(SendAll(c.get(),
                  "PUT /d HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  auto cont = ReadReply(c.get(), pending);
  REQUIRE(cont);
  CHECK(cont->status == 100);
  REQUIRE(SendAll(c.get(), "xyz"));
  auto r4 = ReadReply(c.get(), pending);
  REQUIRE(r4);
  CHECK(r4->body == "PUT /d 3");
  // HEAD: headers only.
  REQUIRE(SendAll(c.get(), "HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto r5 = ReadReply(c.get(), pending, /*head=*/true);
  REQUIRE(r5);
  CHECK(r5->headers["content-length"] == "9");
  // Connection: close is honoured.
  REQUIRE(SendAll(c.get(), Get("/last", "Connection: close\r\n")));
  auto r6 = ReadReply(c.get(), pending);
  REQUIRE(r6);
  CHECK(r6->headers["connection"] == "close");
  CHECK(PeerClosed(c.get()));
  CHECK(echo.calls.load() == 1009);

  // obs-fold is replaced by one space (RFC 9112 §5.2 allows either that or
  // a 400; Beast does the former), so no CR/LF reaches a handler.
  Fd folded = ConnectTcp(s.port());
  REQUIRE(SendAll(folded.get(), Get("/f", "API-Token: a\r\n  b\r\n")));
  auto f = ReadReply(folded.get());
  REQUIRE(f);
  CHECK(f->headers["x-api-token"] == "a b");

  // HTTP/1.0 without Host is fine, and closes by default.
  Fd c10 = ConnectTcp(s.port());
  REQUIRE(SendAll(c10.get(), "GET /old HTTP/1.0\r\n\r\n"));
  auto old = ReadReply(c10.get());
  REQUIRE(old);
  CHECK(old->status == 200);
  CHECK(PeerClosed(c10.get()));
}

TEST_CASE("http server: limits and malformed requests") {
  Echo echo;
  Running s(LoopbackOptions(), &echo);
  REQUIRE(s.status().ok());

  auto one_shot = [&](const std::string& raw) {
    Fd c = ConnectTcp(s.port());
    REQUIRE(c.ok());
    SendAll(c.get(), raw);
    auto r = ReadReply(c.get());
    std::optional<int> status;
    if (r) {
      status = r->status;
      CHECK(PeerClosed(c.get()));
      if (r->status >= 400) {
        CHECK(r->headers["content-type"] == "application/json");
        CHECK(r->body.find("\"details\":[]") != std::string::npos);
      }
    }
    return status;
  };

  // 64 KiB is fine, 65 KiB is 413 (decided from Content-Length).
  {
    Fd c = ConnectTcp(s.port());
    std::string pending;
    REQUIRE(SendAll(c.get(), Post("/ok", std::string(64 * 1024, 'x'))));
    auto r = ReadReply(c.get(), pending);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "POST /ok 65536");
  }
  CHECK(one_shot(Post("/big", std::string(65 * 1024, 'x'))) == 413);
  // A huge claimed length is refused without reading.
  CHECK(one_shot("POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: "
                 "1073741824\r\n\r\n") == 413);
  // Chunked past the limit.
  {
    std::string raw =
        "POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
        "chunked\r\n\r\n";
    for (int i = 0; i < 20; ++i)
      raw += "1000\r\n" + std::string(4096, 'y') + "\r\n";
    raw += "0\r\n\r\n";
    CHECK(one_shot(raw) == 413);
  }
  // Header over 8 KiB.
  CHECK(one_shot(Get("/h", "X-Big: " + std::string(9000, 'a') + "\r\n")) ==
        431);
  // Too many header fields.
  {
    std::string many;
    for (int i = 0; i < 101; ++i) many += "X-F" + std::to_string(i) + ": 1\r\n";
    CHECK(one_shot(Get("/h", many)) == 431);
  }
  // Smuggling and framing.
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                 "Content-Length: 3\r\n\r\nabc") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\n"
                 "\r\nabc") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                 "Content-Length: 4\r\n\r\nabcd") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                 "chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                 "gzip\r\n\r\n") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: "
                 "chunked\r\n\r\nzz\r\n") == 400);
  CHECK(one_shot("POST /s HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n") ==
        400);
  // CR, LF, NUL inside fields; bad request lines.
  CHECK(one_shot("GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n") == 400);
  CHECK(one_shot("GET /x HTTP/1.1\r\nHost: t\r\nX-A: a\nX-B: b\r\n\r\n") ==
        400);
  CHECK(one_shot(std::string("GET /x HTTP/1.1\r\nHost: t\r\nX-A: a") + '\0' +
                 "b\r\n\r\n") == 400);
  CHECK(one_shot("GET /x HTTP/1.1\r\nHost: t\r\nBad Name: a\r\n\r\n") == 400);
  CHECK(one_shot("GET /x HTTP/9.9\r\nHost: t\r\n\r\n") == 400);
  CHECK(one_shot("GET /a b HTTP/1.1\r\nHost: t\r\n\r\n") == 400);
  CHECK(one_shot("G@T /x HTTP/1.1\r\nHost: t\r\n\r\n") == 400);
  CHECK(one_shot("GET /x HTTP/1.1\r\n\r\n") == 400);  // 1.1 without Host
  // The handler never saw any of these.
  CHECK(echo.calls.load() == 1);
}

TEST_CASE("http server: timeouts and the connection cap") {
  Echo echo;
  HttpServerOptions o = LoopbackOptions();
  o.limits.header_timeout = 300ms;
  o.limits.body_timeout = 300ms;
  o.limits.idle_timeout = 500ms;
  o.limits.max_connections = 3;
  Running s(o, &echo);
  REQUIRE(s.status().ok());

  const auto start = std::chrono::steady_clock::now();
  Fd slow_header = ConnectTcp(s.port());
  REQUIRE(SendAll(slow_header.get(), "GET /x HTTP/1.1\r\nHo"));
  Fd slow_body = ConnectTcp(s.port());
  REQUIRE(
      SendAll(slow_body.get(),
              "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab"));
  Fd idle = ConnectTcp(s.port());
  // The cap: a fourth connection is closed at once.
  std::this_thread::sleep_for(100ms);
  CHECK(s.server().active_connections() == 3);
  Fd fourth = ConnectTcp(s.port());
  REQUIRE(fourth.ok());
  CHECK(PeerClosed(fourth.get()));
  CHECK(PeerClosed(slow_header.get()));
  CHECK(PeerClosed(slow_body.get()));
  CHECK(PeerClosed(idle.get()));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < 2s);
  CHECK(echo.calls.load() == 0);

  // Keep-alive idle timeout after a request.
  Fd c = ConnectTcp(s.port());
  REQUIRE(SendAll(c.get(), Get("/x")));
  REQUIRE(ReadReply(c.get()));
  const auto idle_start = std::chrono::steady_clock::now();
  CHECK(PeerClosed(c.get()));
  const auto idle_took = std::chrono::steady_clock::now() - idle_start;
  CHECK(idle_took >= 400ms);
  CHECK(idle_took < 2s);
  for (int i = 0; i < 50 && s.server().active_connections() != 0; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  CHECK(s.server().active_connections() == 0);
}

TEST_CASE("http server: unix socket is 0600 and marks requests as unix") {
  Echo echo;
  HttpServerOptions o = LoopbackOptions();
  o.unix_socket = TempSocketPath();
  {
    Running s(o, &echo);
    REQUIRE(s.status().ok());
    struct stat st {};
    REQUIRE(::stat(o.unix_socket.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);

    Fd c = ConnectUnix(o.unix_socket);
    REQUIRE(c.ok());
    std::string pending;
    for (int i = 0; i < 2; ++i) {  // keep-alive on the unix socket too
      REQUIRE(SendAll(c.get(), Post("/apis/iam/v2/tokens", "{}")));
      auto r = ReadReply(c.get(), pending);
      REQUIRE(r);
      CHECK(r->status == 200);
      CHECK(r->headers["x-remote"] == "unix");
      CHECK(r->body == "POST /apis/iam/v2/tokens 2");
    }
    // TCP still answers beside it.
    Fd t = ConnectTcp(s.port());
    REQUIRE(SendAll(t.get(), Get("/x")));
    auto r = ReadReply(t.get());
    REQUIRE(r);
    CHECK(r->headers["x-remote"] == "127.0.0.1");
  }
  // Removed on shutdown.
  CHECK_FALSE(std::filesystem::exists(o.unix_socket));

  // A stale socket file is replaced; any other file is refused.
  {
    Running again(o, &echo);
    REQUIRE(again.status().ok());
  }
  {
    FILE* f = std::fopen(o.unix_socket.c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
    HttpServer refused(o, echo.MakeHandler());
    Status st = refused.Listen();
    CHECK(st.code() == StatusCode::kFailedPrecondition);
    std::filesystem::remove(o.unix_socket);
  }
  // Unix socket only, no TCP.
  {
    HttpServerOptions only = o;
    only.listen.clear();
    Running u(only, &echo);
    REQUIRE(u.status().ok());
    CHECK(u.port() == 0);
    Fd c = ConnectUnix(only.unix_socket);
    REQUIRE(SendAll(c.get(), Get("/x")));
    CHECK(ReadReply(c.get()).has_value());
  }
}

TEST_CASE("http server: graceful stop finishes in-flight requests") {
  Echo echo;
  echo.delay_ms = 300;
  Running s(LoopbackOptions(), &echo);
  REQUIRE(s.status().ok());

  Fd busy = ConnectTcp(s.port());
  REQUIRE(SendAll(busy.get(), Get("/async/slow")));
  Fd idle = ConnectTcp(s.port());
  REQUIRE(SendAll(idle.get(), Get("/quick")));
  REQUIRE(ReadReply(idle.get()));
  std::this_thread::sleep_for(50ms);  // /async/slow is in the handler now

  s.server().Stop();
  s.server().Stop();  // idempotent
  // The idle keep-alive connection is closed, the busy one answered.
  CHECK(PeerClosed(idle.get()));
  auto r = ReadReply(busy.get());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "GET /async/slow 0");
  CHECK(r->headers["connection"] == "close");
  CHECK(PeerClosed(busy.get()));
  s.StopAndJoin();
  CHECK(s.returned());
  // No more connections are accepted.
  Fd late = ConnectTcp(s.port());
  CHECK_FALSE(late.ok());
}

TEST_CASE("http server: Stop before Run, bad options, port in use") {
  Echo echo;
  {
    HttpServer server(LoopbackOptions(), echo.MakeHandler());
    REQUIRE(server.Listen().ok());
    server.Stop();
    server.Run();  // returns at once
  }
  {
    HttpServer server(LoopbackOptions(), echo.MakeHandler());
    server.Run();  // without Listen(): returns at once
  }
  for (const char* bad : {"nope", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x",
                          ":80", "[::1]80"}) {
    CAPTURE(bad);
    HttpServerOptions o = LoopbackOptions();
    o.listen = bad;
    HttpServer server(o, echo.MakeHandler());
    CHECK(server.Listen().code() == StatusCode::kInvalidArgument);
  }
  HttpServerOptions o = LoopbackOptions();
  o.tls_cert_file = "/nonexistent/cert.pem";
  CHECK(HttpServer(o, echo.MakeHandler()).Listen().code() ==
        StatusCode::kInvalidArgument);  // key missing
  o.tls_key_file = "/nonexistent/key.pem";
  CHECK(HttpServer(o, echo.MakeHandler()).Listen().code() ==
        StatusCode::kFailedPrecondition);

  Running first(LoopbackOptions(), &echo);
  REQUIRE(first.status().ok());
  HttpServerOptions same = LoopbackOptions();
  same.listen = "127.0.0.1:" + std::to_string(first.port());
  HttpServer second(same, echo.MakeHandler());
  CHECK(second.Listen().code() == StatusCode::kUnavailable);
  // "localhost" resolves.
  HttpServerOptions named = LoopbackOptions();
  named.listen = "localhost:0";
  Running by_name(named, &echo);
  CHECK(by_name.status().ok());
}

TEST_CASE("http server: a dropped responder closes the connection") {
  std::atomic<int> calls{0};
  HttpServer server(LoopbackOptions(), [&](HttpRequest, Responder respond) {
    ++calls;
    Responder dropped = std::move(respond);  // never called
  });
  REQUIRE(server.Listen().ok());
  std::thread t([&] { server.Run(); });
  Fd c = ConnectTcp(server.port());
  REQUIRE(SendAll(c.get(), Get("/x")));
  CHECK(PeerClosed(c.get()));
  CHECK(calls.load() == 1);
  server.Stop();
  t.join();
}

TEST_CASE("http server: a responder called twice answers once") {
  HttpServer server(LoopbackOptions(), [](HttpRequest, Responder respond) {
    HttpResponse a;
    a.body = "first";
    HttpResponse b;
    b.body = "second";
    respond(a);
    respond(b);
  });
  REQUIRE(server.Listen().ok());
  std::thread t([&] { server.Run(); });
  Fd c = ConnectTcp(server.port());
  std::string pending;
  REQUIRE(SendAll(c.get(), Get("/x") + Get("/y")));
  auto r1 = ReadReply(c.get(), pending);
  auto r2 = ReadReply(c.get(), pending);
  REQUIRE(r1);
  REQUIRE(r2);
  CHECK(r1->body == "first");
  CHECK(r2->body == "first");
  server.Stop();
  t.join();
}

TEST_CASE("http server: the handler can ask to close the connection") {
  HttpServer server(LoopbackOptions(), [](HttpRequest, Responder respond) {
    HttpResponse r;
    r.status = 503;
    r.headers.emplace("Connection", "close");
    respond(std::move(r));
  });
  REQUIRE(server.Listen().ok());
  std::thread t([&] { server.Run(); });
  Fd c = ConnectTcp(server.port());
  REQUIRE(SendAll(c.get(), Get("/x")));
  auto r = ReadReply(c.get());
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->headers["connection"] == "close");
  CHECK(PeerClosed(c.get()));
  server.Stop();
  t.join();
}

// Runs `command` and returns its stdout ("" on failure).
TEST_CASE("body stream: the producer waits while the connection is behind") {
  BodyStream stream(/*chunk_bytes=*/1000, /*max_chunks=*/2);
  std::atomic<int> written{0};
  std::atomic<bool> refused{false};
  std::thread producer([&] {
    const std::string piece(1000, 'x');
    for (int i = 0; i < 10; ++i) {
      if (!stream.Write(piece)) {
        refused = true;
        return;
      }
      ++written;
    }
    stream.End(OkStatus());
  });
  std::this_thread::sleep_for(150ms);
  CHECK(written.load() == 2);  // two chunks queued, the third Write waits
  BodyStream::Piece piece;
  REQUIRE(stream.TakeOrWait(&piece, nullptr));
  CHECK(piece.kind == BodyStream::Piece::kData);
  CHECK(piece.bytes.size() == 1000);
  for (int i = 0; i < 100 && written.load() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(written.load() == 3);
  // A piece not there yet: `ready` runs once the producer has one.
  REQUIRE(stream.TakeOrWait(&piece, nullptr));
  REQUIRE(stream.TakeOrWait(&piece, nullptr));
  std::atomic<bool> ready{false};
  std::this_thread::sleep_for(50ms);
  if (!stream.TakeOrWait(&piece, [&] { ready = true; })) {
    for (int i = 0; i < 100 && !ready.load(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    CHECK(ready.load());
  }
  // The connection goes away: the waiting producer is released, refused.
  stream.Cancel();
  producer.join();
  CHECK(refused.load());
  CHECK(written.load() < 10);
}

TEST_CASE(
    "http server: a streamed body goes out chunked, the connection "
    "serves on") {
  Echo echo;
  Running s(LoopbackOptions(), &echo);
  REQUIRE(s.status().ok());
  Fd c = ConnectTcp(s.port());
  REQUIRE(c.ok());
  std::string pending;
  // Past the inline limit: chunked, no Content-Length, every byte in order.
  REQUIRE(SendAll(c.get(), Get("/stream/3000000")));
  auto big = ReadReply(c.get(), pending);
  REQUIRE(big.has_value());
  CHECK(big->status == 200);
  CHECK(big->headers["transfer-encoding"] == "chunked");
  CHECK(big->headers.count("content-length") == 0);
  CHECK(big->headers["content-type"] == "text/plain");
  CHECK(big->body.size() == 3000000);
  CHECK(big->body == Pattern(3000000));
  // Within it: an ordinary response with a length.
  REQUIRE(SendAll(c.get(), Get("/stream/100")));
  auto small = ReadReply(c.get(), pending);
  REQUIRE(small.has_value());
  CHECK(small->headers["content-length"] == "100");
  CHECK(small->headers.count("transfer-encoding") == 0);
  CHECK(small->body == Pattern(100));
  // HEAD: the head alone, and the connection goes on.
  REQUIRE(SendAll(c.get(), "HEAD /stream/200000 HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto head = ReadReply(c.get(), pending, /*head=*/true);
  REQUIRE(head.has_value());
  CHECK(head->headers["transfer-encoding"] == "chunked");
  REQUIRE(SendAll(c.get(), Get("/stream/5000")));
  auto after = ReadReply(c.get(), pending);
  REQUIRE(after.has_value());
  CHECK(after->body == Pattern(5000));
  CHECK(pending.empty());
  // HTTP/1.0 has no chunks: the bytes unframed, then the close.
  Fd old = ConnectTcp(s.port());
  REQUIRE(SendAll(old.get(), "GET /stream/200000 HTTP/1.0\r\n\r\n"));
  auto v10 = ReadReply(old.get());
  REQUIRE(v10.has_value());
  CHECK(v10->headers.count("transfer-encoding") == 0);
  CHECK(v10->body == Pattern(200000));
}

TEST_CASE(
    "http server: a stream that fails is cut short, a gone reader "
    "stops the producer") {
  Echo echo;
  Running s(LoopbackOptions(), &echo);
  REQUIRE(s.status().ok());
  {
    // Failing before anything was streamed: the error response.
    Fd c = ConnectTcp(s.port());
    REQUIRE(SendAll(c.get(), Get("/fail/1000")));
    auto r = ReadReply(c.get());
    REQUIRE(r.has_value());
    CHECK(r->status == 503);
    CHECK(r->body == "failed before streaming");
  }
  {
    // After: no last chunk, the connection closed; the reader cannot take
    // the partial body for a whole one.
    Fd c = ConnectTcp(s.port());
    REQUIRE(SendAll(c.get(), Get("/fail/500000")));
    std::string pending;
    CHECK_FALSE(ReadReply(c.get(), pending).has_value());
    CHECK(pending.find("0\r\n\r\n") == std::string::npos);
  }
  {
    // The reader goes away: the producer's next writes are refused.
    Fd c = ConnectTcp(s.port());
    REQUIRE(SendAll(c.get(), Get("/endless")));
    char buf[65536];
    size_t got = 0;
    while (got < 200'000) {
      const ssize_t n = ::recv(c.get(), buf, sizeof(buf), 0);
      REQUIRE(n > 0);
      got += static_cast<size_t>(n);
    }
    c = Fd();
    for (int i = 0; i < 500 && !echo.streamer.producer_stopped.load(); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    CHECK(echo.streamer.producer_stopped.load());
  }
  for (int i = 0; i < 500 && echo.streamer.finished.load() < 3; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  CHECK(echo.streamer.finished.load() == 3);
}

std::string Capture(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST_CASE("http server: TLS (with the openssl and curl command-line tools)") {
  if (std::system("command -v openssl >/dev/null 2>&1 && "
                  "command -v curl >/dev/null 2>&1") != 0) {
    MESSAGE("openssl or curl not installed: TLS test skipped");
    return;
  }
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("iam_api_tls_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string();
  const std::string key = (dir / "key.pem").string();
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 "
                       "-subj /CN=localhost -keyout " +
                       key + " -out " + cert + " >/dev/null 2>&1")
                          .c_str()) == 0);

  Echo echo;
  HttpServerOptions o = LoopbackOptions();
  o.tls_cert_file = cert;
  o.tls_key_file = key;
  {
    Running s(o, &echo);
    REQUIRE(s.status().ok());
    const std::string url = "https://127.0.0.1:" + std::to_string(s.port());
    // Two requests over one TLS connection.
    const std::string out =
        Capture("curl -sk --max-time 10 -H 'Api-Token: t' " + url + "/one " +
                url + "/two -X POST -d abc");
    CHECK(out == "POST /one 3POST /two 3");
    // A streamed body over TLS (its one-buffer writes), decoded by curl.
    const std::string streamed =
        Capture("curl -sk --max-time 20 " + url + "/stream/2500000");
    CHECK(streamed.size() == 2500000);
    CHECK(streamed == Pattern(2500000));
    // Plain HTTP to the TLS port is refused, not served.
    Fd c = ConnectTcp(s.port());
    REQUIRE(SendAll(c.get(), Get("/plain")));
    CHECK(PeerClosed(c.get()));
    CHECK(echo.calls.load() == 3);
  }
  // A key that does not match the certificate.
  const std::string other_key = (dir / "other.pem").string();
  REQUIRE(std::system(("openssl genpkey -algorithm RSA -out " + other_key +
                       " >/dev/null 2>&1")
                          .c_str()) == 0);
  o.tls_key_file = other_key;
  HttpServer mismatched(o, echo.MakeHandler());
  CHECK(mismatched.Listen().code() == StatusCode::kFailedPrecondition);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace iam::api
