// The HTTP/1.1 server (Boost.Beast on Boost.Asio, optional TLS via OpenSSL),
// behind a Boost-free interface: requests go to a Handler as HttpRequest
// values and come back as HttpResponse values (api/http_types.h).
//
// Behaviour (DESIGN.md §7, reliability.md §4):
//  - keep-alive and pipelining (one request at a time per connection, in
//    order); HTTP/1.0 and 1.1; N I/O threads sharing one io_context, one
//    strand per connection;
//  - limits: request header 8 KiB (431) and 100 fields (431), body 64 KiB
//    (413, checked against Content-Length before the body is read), header
//    timeout 10 s (for the first request from the accept, for later ones
//    from their first byte; one deadline for the whole header, however
//    slowly it trickles in) and body timeout 10 s (the connection is closed:
//    Beast closes the socket when a timer fires, so no 408), 30 s idle
//    between requests, connection cap (beyond it a new connection is closed
//    at once), optional requests-per-connection cap; stats() counts the
//    connections each timer and the cap closed;
//  - refused with 400 and closed: anything Beast's parser refuses (CR/LF/NUL
//    in a field, bad chunking, conflicting Content-Length, Content-Length
//    with Transfer-Encoding, ...), a repeated Content-Length even with equal
//    values, a Transfer-Encoding other than "chunked", HTTP/1.1 without
//    Host. Error bodies are Automate's JSON error body;
//  - after an error response, or when closing for any reason after a
//    response, the server half-closes and drains briefly so the client reads
//    the response instead of a reset;
//  - "Expect: 100-continue" is answered before the body is read;
//  - a response header "Connection: close" from the handler closes the
//    connection after the response; the server owns Content-Length,
//    Transfer-Encoding and Connection, and drops any response header whose
//    name or value holds CR, LF or NUL;
//  - no Server or Date header; Content-Length always set.
//
// Threads: the Handler runs on an I/O thread and must not block; `respond`
// may be called from any thread (the write is posted to the connection's
// strand). Lifetime: every Responder handed out must have been called or
// destroyed before the HttpServer is destroyed (stop the component that
// holds them after Run() returns, before destroying the server).
#ifndef IAMLEDGER_API_HTTP_SERVER_H_
#define IAMLEDGER_API_HTTP_SERVER_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/http_types.h"
#include "core/status.h"

namespace iam::api {

namespace http_internal {
struct HttpServerImpl;  // http_server_internal.h
}  // namespace http_internal

struct HttpLimits {
  size_t header_bytes = 8 * 1024;
  size_t header_fields = 100;
  size_t body_bytes = 64 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{10'000};
  std::chrono::milliseconds idle_timeout{30'000};
  // Writing one response (slow readers).
  std::chrono::milliseconds write_timeout{10'000};
  size_t max_connections = 10'000;
  // 0 = unlimited; else the Nth response on a connection closes it.
  size_t max_requests_per_connection = 0;
  // Stop(): how long in-flight requests may take before Run() gives up on
  // them and returns anyway.
  std::chrono::milliseconds drain_timeout{30'000};
};

struct HttpServerOptions {
  // "host:port", "[v6]:port"; host may be a name ("localhost"). Port 0 picks
  // a free port (see HttpServer::port()). Empty: no TCP listener.
  std::string listen = "127.0.0.1:8080";
  // The admin socket: a unix domain socket created with mode 0600 (a stale
  // socket file at the path is replaced; any other file is an error).
  // Requests on it carry remote == "unix". Empty: none.
  std::string unix_socket;
  int threads = 2;  // I/O threads, >= 1 (Run()'s caller is one of them)
  // PEM files; both set -> the TCP listener speaks TLS only (TLS 1.2+).
  std::string tls_cert_file;
  std::string tls_key_file;
  HttpLimits limits;
};

// Connection counters since Listen() (for /metrics): a connection closed by
// a timeout counts once, under the timer that fired; connections the client
// or a response closes are not counted as closed.
struct HttpServerStats {
  uint64_t open = 0;              // now (TCP and unix)
  uint64_t accepted = 0;          // served (refused ones excluded)
  uint64_t refused_over_cap = 0;  // closed at once: max_connections reached
  // Header timeout includes a fresh connection that sent nothing and a TLS
  // handshake that did not finish in time.
  uint64_t closed_header_timeout = 0;
  uint64_t closed_body_timeout = 0;
  uint64_t closed_idle_timeout = 0;  // keep-alive, between requests
  uint64_t closed_write_timeout = 0;
};

// The counters as Prometheus text (iamledger_http_connections*).
void AppendMetrics(const HttpServerStats& stats, std::string* out);

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and listens (TCP, unix socket) and loads the TLS material. After
  // OK, port() is the bound TCP port and connections queue until Run().
  // Errors: InvalidArgument (bad address or options), Unavailable (bind,
  // listen or socket failures, e.g. port in use), FailedPrecondition (TLS
  // files unreadable or not matching). Call once.
  Status Listen();

  // Serves until Stop(): runs `threads` I/O threads (the caller's included)
  // and returns after the listeners are closed and every connection has
  // finished its in-flight request (or drain_timeout passed). Requires a
  // successful Listen(). Call once.
  void Run();

  // Thread-safe, idempotent, non-blocking; not async-signal-safe (call it
  // from a thread that waits for signals, not from a signal handler). Stops
  // accepting, closes idle connections, lets in-flight requests finish and
  // closes their connections after the response. May precede Run() (which
  // then returns promptly).
  void Stop();

  // The bound TCP port (0 before Listen() or without TCP).
  uint16_t port() const;
  // Open connections right now (TCP and unix).
  size_t active_connections() const;
  // Thread-safe.
  HttpServerStats stats() const;

 private:
  std::unique_ptr<http_internal::HttpServerImpl> impl_;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_HTTP_SERVER_H_
