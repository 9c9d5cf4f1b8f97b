// Internal to the HTTP server (api/http_server*.cc, the only translation
// units that include Boost.Beast/Asio): HttpServerImpl, which owns the
// io_context, the listeners and the session registry, and Session<Stream>,
// which serves one connection for each of the three stream kinds (plain
// TCP, TLS over TCP, unix socket). Not a public header: api/http_server.h is
// the interface and states the behaviour.
//
// Build layout (the contract between the files): http_server.cc defines
// HttpServerImpl's listeners and HttpServer; each stream kind's Session is
// compiled in a translation unit of its own (http_session_plain.cc,
// http_session_tls.cc, http_session_unix.cc, one explicit instantiation of
// StartSession each), so that the three Beast sessions, most of the
// server's compile time, build in parallel. Every other includer sees
// StartSession as an extern template and instantiates nothing.
#ifndef IAMLEDGER_API_HTTP_SERVER_INTERNAL_H_
#define IAMLEDGER_API_HTTP_SERVER_INTERNAL_H_

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/body_stream.h"
#include "api/http_server.h"
#include "api/json_codec.h"

namespace iam::api::http_internal {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using unix_proto = net::local::stream_protocol;
using error_code = boost::system::error_code;

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using UnixStream = beast::basic_stream<unix_proto>;

// How long a closing connection drains unread input so that the peer reads
// our last response instead of a reset, and how much it reads at most.
constexpr std::chrono::milliseconds kLingerTime{2'000};
constexpr size_t kLingerBytes = 256 * 1024;

inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (HeaderNameLess::Lower(a[i]) != HeaderNameLess::Lower(b[i])) {
      return false;
    }
  }
  return true;
}

inline std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

inline bool HasCtl(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

struct HttpServerImpl {
  // What the registry knows of a connection.
  class Connection {
   public:
    virtual ~Connection() = default;
    // Called from any thread when the server stops.
    virtual void OnServerStop() = 0;
  };

  HttpServerImpl(HttpServerOptions o, Handler h)
      : options(std::move(o)),
        handler(std::move(h)),
        ioc(options.threads > 0 ? options.threads : 1) {}

  // -- Declared before `ioc`: sessions destroyed by ~io_context use them.
  HttpServerOptions options;
  Handler handler;
  std::optional<ssl::context> tls;
  std::atomic<bool> stopping{false};
  std::atomic<bool> destroying{false};
  std::atomic<size_t> connections{0};
  // HttpServerStats (the open count is `connections`).
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> refused_over_cap{0};
  std::atomic<uint64_t> closed_header_timeout{0};
  std::atomic<uint64_t> closed_body_timeout{0};
  std::atomic<uint64_t> closed_idle_timeout{0};
  std::atomic<uint64_t> closed_write_timeout{0};
  std::mutex mu;
  uint64_t next_session_id = 0;                                      // guarded
  std::unordered_map<uint64_t, std::weak_ptr<Connection>> sessions;  // guarded

  // -- The reactor and what must die before it.
  net::io_context ioc;
  // Serializes the listeners, the retry and drain timers, DoStop and
  // FinishDrain across the I/O threads.
  net::strand<net::io_context::executor_type> control{ioc.get_executor()};
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> tcp_acceptor;
  std::optional<unix_proto::acceptor> unix_acceptor;
  std::optional<net::steady_timer> tcp_retry;
  std::optional<net::steady_timer> unix_retry;
  std::optional<net::steady_timer> drain_timer;
  std::atomic<uint16_t> port{0};
  bool listened = false;
  bool unix_created = false;

  uint64_t Register(std::weak_ptr<HttpServerImpl::Connection> s) {
    std::lock_guard<std::mutex> lock(mu);
    const uint64_t id = ++next_session_id;
    sessions.emplace(id, std::move(s));
    return id;
  }

  // From a session's destructor (any thread).
  void Unregister(uint64_t id) {
    {
      std::lock_guard<std::mutex> lock(mu);
      sessions.erase(id);
    }
    if (connections.fetch_sub(1) == 1 && stopping.load() &&
        !destroying.load()) {
      net::post(control, [this] { FinishDrain(); });
    }
  }

  // On `control`: nothing left to wait for.
  void FinishDrain() {
    if (drain_timer) drain_timer->cancel();
    work.reset();
  }

  // On `control`.
  void DoStop() {
    error_code ec;
    if (tcp_acceptor) tcp_acceptor->close(ec);
    if (unix_acceptor) unix_acceptor->close(ec);
    if (tcp_retry) tcp_retry->cancel();
    if (unix_retry) unix_retry->cancel();
    if (unix_created) {
      ::unlink(options.unix_socket.c_str());
      unix_created = false;
    }
    std::vector<std::shared_ptr<HttpServerImpl::Connection>> live;
    {
      std::lock_guard<std::mutex> lock(mu);
      for (auto& [id, weak] : sessions) {
        if (auto s = weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->OnServerStop();
    live.clear();  // may run destructors -> Unregister (posts FinishDrain)
    if (connections.load() == 0) {
      FinishDrain();
      return;
    }
    drain_timer.emplace(control);
    drain_timer->expires_after(options.limits.drain_timeout);
    drain_timer->async_wait([this](error_code ec) {
      if (ec == net::error::operation_aborted) return;
      spdlog::warn(
          "http: {} connection(s) still busy after the drain "
          "timeout; stopping anyway",
          connections.load());
      ioc.stop();
    });
  }

  template <typename Acceptor>
  void AcceptLoop(Acceptor* acceptor, std::optional<net::steady_timer>* retry);

  void OnAccepted(tcp::socket socket);
  void OnAccepted(unix_proto::socket socket);
};

// Serves one accepted connection until it closes: registers it with
// `server` (which must outlive it, see HttpServer's lifetime rule) and
// starts reading (after the TLS handshake for TlsStream). Runs on the
// stream's executor or before any handler of it can run.
template <typename Stream>
void StartSession(HttpServerImpl* server, Stream stream, std::string remote);

// One explicit instantiation each, in http_session_<kind>.cc.
extern template void StartSession<PlainStream>(HttpServerImpl*, PlainStream,
                                               std::string);
extern template void StartSession<TlsStream>(HttpServerImpl*, TlsStream,
                                             std::string);
extern template void StartSession<UnixStream>(HttpServerImpl*, UnixStream,
                                              std::string);

template <typename Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

// One connection. Every member function runs on the connection's strand
// (the stream's executor: its own strand, or with one I/O thread the
// io_context itself) except OnServerStop and the Responder, which post to it
// (the Responder runs inline when called on the strand, i.e. when the
// handler answers synchronously).
//
// The hot path (one request per read, answered synchronously) makes one
// trip through the reactor per request: a header that arrived whole is
// parsed right away instead of through async_read_header, the response is
// serialized by hand (the bytes Beast's serializer would write) and, on
// plain TCP and unix sockets, sent with a non-blocking send(); only what the
// socket does not take at once is left to an async write.
template <typename Stream>
class Session final : public HttpServerImpl::Connection,
                      public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(HttpServerImpl* server, Stream stream, std::string remote)
      : server_(server),
        stream_(std::move(stream)),
        remote_(std::move(remote)),
        buffer_(server->options.limits.header_bytes +
                server->options.limits.body_bytes + 16 * 1024) {}

  ~Session() override {
    if (body_stream_) body_stream_->Cancel();
    if (id_ != 0) server_->Unregister(id_);
  }

  void Start() {
    id_ = server_->Register(this->weak_from_this());
    if constexpr (kIsTls<Stream>) {
      state_ = State::kReading;
      Lowest().expires_after(Limits().header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](error_code ec) {
                                if (ec == beast::error::timeout) {
                                  self->server_->closed_header_timeout++;
                                }
                                if (ec) return self->Close();
                                self->ReadRequest();
                              });
    } else {
      // Only the synchronous send in Write() sees this flag; asynchronous
      // operations behave the same either way.
      error_code ignored;
      Lowest().socket().non_blocking(true, ignored);
      ReadRequest();
    }
  }

  void OnServerStop() override {
    net::post(stream_.get_executor(),
              [self = this->shared_from_this()] { self->HandleStop(); });
  }

 private:
  enum class State { kReading, kHandling, kWriting, kClosing, kClosed };

  const HttpLimits& Limits() const { return server_->options.limits; }
  auto& Lowest() { return beast::get_lowest_layer(stream_); }

  void HandleStop() {
    switch (state_) {
      case State::kReading:
        // No request in flight: a partial one is dropped.
        Close();
        break;
      case State::kHandling:
      case State::kWriting:
        close_after_response_ = true;
        break;
      case State::kClosing:
      case State::kClosed:
        break;
    }
  }

  // ------------------------------------------------------------- reading

  void ReadRequest() {
    if (server_->stopping.load()) return GracefulClose();
    state_ = State::kReading;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(Limits().header_bytes));
    parser_->body_limit(Limits().body_bytes);
    header_deadline_set_ = false;
    if (buffer_.size() > 0) return ParseBuffered();
    // Wait for the first byte: the idle timeout between requests; on a
    // fresh connection the header timeout, which then runs on until the
    // header is complete (a slow first request gets header_timeout from
    // the accept in all, not from its first byte).
    if (first_) {
      Lowest().expires_after(Limits().header_timeout);
      header_deadline_set_ = true;
    } else {
      Lowest().expires_after(Limits().idle_timeout);
    }
    stream_.async_read_some(
        buffer_.prepare(4096),
        [self = this->shared_from_this()](error_code ec, size_t n) {
          if (ec == beast::error::timeout) {
            if (self->first_) {
              self->server_->closed_header_timeout++;
            } else {
              self->server_->closed_idle_timeout++;
            }
          }
          if (ec) return self->Close();  // timeout, EOF, reset: quiet
          self->buffer_.commit(n);
          self->ParseBuffered();
        });
  }

  // What async_read_header does first, without its trip through the
  // reactor: parse the buffered bytes. A complete header (or an error) is
  // handled now; a partial one is left to async_read_header, which resumes
  // the parser where it stopped.
  void ParseBuffered() {
    error_code ec;
    const size_t used = parser_->put(buffer_.data(), ec);
    buffer_.consume(used);
    if (ec == http::error::need_more || (!ec && !parser_->is_header_done())) {
      return ReadHeader();
    }
    OnHeader(ec);
  }

  // The header deadline starts once per request: at the accept for the
  // first one, at the first byte for later ones (after the idle wait).
  void ReadHeader() {
    if (!header_deadline_set_) {
      Lowest().expires_after(Limits().header_timeout);
      header_deadline_set_ = true;
    }
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](
                                error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    if (ec) return OnReadError(ec, /*in_body=*/false);
    const auto& req = parser_->get();
    size_t fields = 0;
    size_t content_lengths = 0;
    for (const auto& f : req) {
      ++fields;
      if (f.name() == http::field::content_length) {
        ++content_lengths;
        if (f.value().find(',') != beast::string_view::npos) {
          ++content_lengths;  // "5, 5" is a repeated Content-Length too
        }
      }
    }
    if (fields > Limits().header_fields) {
      return SendError(431, ResourceExhaustedStatus("too many header fields"));
    }
    if (content_lengths > 1) {
      return SendError(400,
                       InvalidArgumentError("malformed HTTP request: repeated "
                                            "Content-Length"));
    }
    auto te = req.find(http::field::transfer_encoding);
    if (te != req.end() &&
        !IEquals(
            TrimOws(std::string_view(te->value().data(), te->value().size())),
            "chunked")) {
      return SendError(
          400, InvalidArgumentError("malformed HTTP request: unsupported "
                                    "Transfer-Encoding"));
    }
    if (req.version() != 10 && req.version() != 11) {
      return SendError(
          400, InvalidArgumentError("malformed HTTP request: unsupported HTTP "
                                    "version"));
    }
    if (req.version() == 11 && req.find(http::field::host) == req.end()) {
      return SendError(
          400, InvalidArgumentError("malformed HTTP request: missing Host "
                                    "header"));
    }
    // RFC 9112 §3.2: one Host, and a valid uri-host[:port] (no spaces,
    // slashes or other delimiters).
    if (req.count(http::field::host) > 1) {
      return SendError(400, InvalidArgumentError("malformed HTTP request: "
                                                 "repeated Host header"));
    }
    if (auto host = req.find(http::field::host); host != req.end()) {
      std::string_view h(host->value().data(), host->value().size());
      for (char c : h) {
        const bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
                        std::string_view("-._~!$&'()*+,;=:[]%").find(c) !=
                            std::string_view::npos;
        if (!ok) {
          return SendError(400, InvalidArgumentError("malformed HTTP request: "
                                                     "invalid Host header"));
        }
      }
    }
    if (parser_->is_done()) return Dispatch();
    auto expect = req.find(http::field::expect);
    if (expect != req.end() && IEquals(std::string_view(expect->value().data(),
                                                        expect->value().size()),
                                       "100-continue")) {
      continue_.emplace(http::status::continue_, req.version());
      Lowest().expires_after(Limits().write_timeout);
      return http::async_write(
          stream_, *continue_,
          [self = this->shared_from_this()](error_code ec, size_t) {
            if (ec) return self->Close();
            self->ReadBody();
          });
    }
    ReadBody();
  }

  void ReadBody() {
    Lowest().expires_after(Limits().body_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec, /*in_body=*/true);
                       self->Dispatch();
                     });
  }

  static Status ResourceExhaustedStatus(std::string m) {
    return Status(StatusCode::kResourceExhausted, std::move(m));
  }

  void OnReadError(error_code ec, bool in_body) {
    if (ec == beast::error::timeout) {
      (in_body ? server_->closed_body_timeout : server_->closed_header_timeout)
          .fetch_add(1);
    }
    if (ec == http::error::header_limit ||
        (ec == http::error::buffer_overflow && !in_body)) {
      return SendError(
          431, ResourceExhaustedStatus("request header too large (limit " +
                                       std::to_string(Limits().header_bytes) +
                                       " bytes)"));
    }
    if (ec == http::error::body_limit || ec == http::error::buffer_overflow) {
      return SendError(
          413, ResourceExhaustedStatus("request body too large (limit " +
                                       std::to_string(Limits().body_bytes) +
                                       " bytes)"));
    }
    if (ec == http::error::end_of_stream ||
        ec == http::error::partial_message) {
      return Close();  // the client went away
    }
    if (ec.category() ==
        http::make_error_code(http::error::bad_field).category()) {
      return SendError(
          400, InvalidArgumentError("malformed HTTP request: " + ec.message()));
    }
    // Timeouts (Beast has already closed the socket), resets, aborts:
    // nobody to answer.
    Close();
  }

  // ------------------------------------------------------------ handling

  void Dispatch() {
    state_ = State::kHandling;
    auto req = parser_->release();
    parser_.reset();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    is_head_ = req.method() == http::verb::head;

    HttpRequest out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& f : req) {
      out.headers.emplace(std::string(f.name_string()), std::string(f.value()));
    }
    out.body = std::move(req.body());
    out.remote = remote_;
    out.tls = kIsTls<Stream>;

    auto self = this->shared_from_this();
    // Exactly once: a second call, or a late call after the connection has
    // moved on, finds another generation (or state) on the strand and is
    // dropped.
    const uint64_t generation = ++generation_;
    Responder respond = [self, generation](HttpResponse r) {
      net::dispatch(self->stream_.get_executor(),
                    [self, generation, r = std::move(r)]() mutable {
                      self->OnResponse(generation, std::move(r));
                    });
    };
    try {
      server_->handler(std::move(out), respond);
    } catch (...) {
      spdlog::error("http: the request handler threw; answering 500");
      respond(ErrorResponse(InternalError("handler threw"), false));
    }
  }

  void OnResponse(uint64_t generation, HttpResponse r) {
    if (state_ != State::kHandling || generation != generation_) return;
    ++served_;
    const size_t cap = Limits().max_requests_per_connection;
    bool close = !keep_alive_ || close_after_response_ ||
                 server_->stopping.load() || (cap != 0 && served_ >= cap);
    // The handler may ask to close (e.g. after a fatal error).
    for (auto [it, end] = r.headers.equal_range("connection"); it != end;
         ++it) {
      if (IEquals(TrimOws(it->second), "close")) close = true;
    }
    Write(std::move(r), close);
  }

  // ------------------------------------------------------------- writing

  void SendError(int http_status, const Status& status) {
    HttpResponse r = ErrorResponse(status, false);
    r.status = http_status;
    if (version_ == 0) version_ = parser_ ? parser_->get().version() : 11;
    if (version_ == 0) version_ = 11;
    state_ = State::kHandling;
    Write(std::move(r), /*close=*/true);
  }

  void Write(HttpResponse r, bool close) {
    state_ = State::kWriting;
    close_after_write_ = close;
    const unsigned status = r.status >= 100 && r.status <= 599
                                ? static_cast<unsigned>(r.status)
                                : 500u;
    if (r.stream) return WriteStreamed(status, r, close);
    if (!Serialize(status, r, close)) return WriteWithBeast(status, r, close);
    std::array<net::const_buffer, 2> buffers{net::buffer(head_),
                                             net::buffer(body_)};
    size_t sent = 0;
    if constexpr (!kIsTls<Stream>) {
      error_code ec;
      sent = Lowest().socket().send(buffers, 0, ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        sent = 0;
      } else if (ec) {
        return OnWrite(ec, /*sync=*/true);
      }
      if (sent == head_.size() + body_.size()) {
        return OnWrite({}, /*sync=*/true);
      }
    }
    if constexpr (kIsTls<Stream>) {
      // One buffer: Beast's flat_stream writes only the first buffer of a
      // sequence longer than 16 KiB per write_some, and a two-buffer
      // async_write over it lost the body of large responses.
      head_.append(body_);
      std::string().swap(body_);
    }
    // The rest waits for the socket (all of it over TLS).
    if (sent >= head_.size()) {
      body_.erase(0, sent - head_.size());
      head_.clear();
    } else {
      head_.erase(0, sent);
    }
    buffers = {net::buffer(head_), net::buffer(body_)};
    Lowest().expires_after(Limits().write_timeout);
    net::async_write(stream_, buffers,
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       self->OnWrite(ec, /*sync=*/false);
                     });
  }

  // The response as Beast would write it: res.version(), result(status),
  // insert() of each header (Beast trims OWS from values), keep_alive(!close)
  // and prepare_payload() (always Content-Length for a string body), HEAD
  // sending the length without the body. False, with nothing written, for
  // what Beast treats specially (1xx, 204, 304; a field too long for it).
  // `streamed`: the body follows as chunks (HTTP/1.1) or unframed until the
  // close (HTTP/1.0), instead of Content-Length.
  bool Serialize(unsigned status, HttpResponse& r, bool close,
                 bool streamed = false) {
    if (status < 200 || status == 204 || status == 304) return false;
    head_.clear();
    head_.append(version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    head_ += static_cast<char>('0' + status / 100);
    head_ += static_cast<char>('0' + status / 10 % 10);
    head_ += static_cast<char>('0' + status % 10);
    head_ += ' ';
    const auto reason =
        http::obsolete_reason(static_cast<http::status>(status));
    head_.append(reason.data(), reason.size());
    head_.append("\r\n");
    for (const auto& [name, value] : r.headers) {
      if (name.empty() || HasCtl(name) || HasCtl(value)) continue;
      if (IEquals(name, "content-length") ||
          IEquals(name, "transfer-encoding") || IEquals(name, "connection")) {
        continue;
      }
      const std::string_view v = TrimOws(value);
      if (name.size() + 2 > UINT16_MAX || v.size() + 2 > UINT16_MAX) {
        return false;  // Beast refuses it (it throws); keep that behaviour
      }
      head_.append(name);
      head_.append(": ");
      head_.append(v);
      head_.append("\r\n");
    }
    const bool v10 = version_ == 10;
    if (v10 && !close) head_.append("Connection: keep-alive\r\n");
    if (!v10 && close) head_.append("Connection: close\r\n");
    if (streamed) {
      if (!v10) head_.append("Transfer-Encoding: chunked\r\n");
      head_.append("\r\n");
      body_.clear();
      return true;
    }
    head_.append("Content-Length: ");
    head_.append(std::to_string(r.body.size()));
    head_.append("\r\n\r\n");
    if (is_head_) {
      body_.clear();
    } else {
      body_ = std::move(r.body);
    }
    return true;
  }

  // A body from a BodyStream (api/body_stream.h): the head, then each
  // piece as it comes, one write at a time (the stream holds the producer
  // back meanwhile). HTTP/1.0 peers get the bytes unframed and a close; a
  // HEAD gets the head alone; a failed stream cuts the connection without
  // the last chunk.
  void WriteStreamed(unsigned status, HttpResponse& r, bool close) {
    body_stream_ = std::move(r.stream);
    chunked_ = version_ != 10;
    if (!chunked_) close = close_after_write_ = true;
    if (!Serialize(status, r, close, /*streamed=*/true)) {
      body_stream_->Cancel();
      body_stream_.reset();
      return SendError(500,
                       InternalError("a streamed body needs a 2xx status"));
    }
    if (is_head_) {  // no body, not even the last chunk
      body_stream_->Cancel();
      body_stream_.reset();
    }
    Lowest().expires_after(Limits().write_timeout);
    net::async_write(stream_, net::buffer(head_),
                     [self = this->shared_from_this()](error_code ec, size_t) {
                       if (ec || !self->body_stream_) {
                         return self->OnWrite(ec, /*sync=*/false);
                       }
                       self->PumpBody();
                     });
  }

  void PumpBody() {
    if (state_ != State::kWriting || !body_stream_) return;
    BodyStream::Piece piece;
    // `ready` keeps the session alive until the producer has more; the
    // stream drops it once called or cancelled (the producer always ends).
    const bool has =
        body_stream_->TakeOrWait(&piece, [self = this->shared_from_this()] {
          net::dispatch(self->stream_.get_executor(),
                        [self] { self->PumpBody(); });
        });
    if (!has) return;  // called again when the producer has more
    auto done = [self = this->shared_from_this()](error_code ec, size_t) {
      std::string().swap(self->body_);
      if (ec) {
        if (ec == beast::error::timeout) self->server_->closed_write_timeout++;
        return self->Close();
      }
      self->PumpBody();
    };
    switch (piece.kind) {
      case BodyStream::Piece::kFailed:
        return Close();
      case BodyStream::Piece::kEnd:
        body_stream_.reset();
        if (!chunked_) return OnWrite({}, /*sync=*/false);
        head_.assign("0\r\n\r\n");
        Lowest().expires_after(Limits().write_timeout);
        net::async_write(
            stream_, net::buffer(head_),
            [self = this->shared_from_this()](error_code ec, size_t) {
              self->OnWrite(ec, /*sync=*/false);
            });
        return;
      case BodyStream::Piece::kData:
        break;
    }
    body_ = std::move(piece.bytes);
    head_.clear();
    if (chunked_) {
      char size[20];
      const auto end =
          std::to_chars(size, size + sizeof(size), body_.size(), 16);
      head_.append(size, end.ptr);
      head_.append("\r\n");
    }
    Lowest().expires_after(Limits().write_timeout);
    if constexpr (kIsTls<Stream>) {
      // One buffer (see Write).
      body_.insert(0, head_);
      if (chunked_) body_.append("\r\n");
      net::async_write(stream_, net::buffer(body_), std::move(done));
    } else {
      static constexpr std::string_view kCrlf = "\r\n";
      std::array<net::const_buffer, 3> buffers{
          net::buffer(head_), net::buffer(body_),
          net::buffer(kCrlf.data(), chunked_ ? kCrlf.size() : 0)};
      net::async_write(stream_, buffers, std::move(done));
    }
  }

  // The general path through Beast's serializer.
  void WriteWithBeast(unsigned status, HttpResponse& r, bool close) {
    res_.emplace();
    res_->version(version_ == 10 ? 10 : 11);
    res_->result(status);
    for (const auto& [name, value] : r.headers) {
      if (name.empty() || HasCtl(name) || HasCtl(value)) continue;
      if (IEquals(name, "content-length") ||
          IEquals(name, "transfer-encoding") || IEquals(name, "connection")) {
        continue;
      }
      res_->insert(name, value);
    }
    res_->body() = std::move(r.body);
    res_->keep_alive(!close);
    res_->prepare_payload();
    if (is_head_) {
      const auto length = res_->body().size();
      res_->body().clear();
      res_->content_length(length);
    }
    Lowest().expires_after(Limits().write_timeout);
    http::async_write(stream_, *res_,
                      [self = this->shared_from_this()](error_code ec, size_t) {
                        self->OnWrite(ec, /*sync=*/false);
                      });
  }

  // `sync`: the write completed inside Write(), i.e. possibly inside the
  // handler's call stack.
  void OnWrite(error_code ec, bool sync) {
    res_.reset();
    if constexpr (kIsTls<Stream>) {
      std::string().swap(head_);  // it held the body too (see Write)
    } else {
      head_.clear();  // status line and headers: its capacity is kept
    }
    // The body may hold a token value: released, never kept for reuse.
    std::string().swap(body_);
    if (ec == beast::error::timeout) server_->closed_write_timeout++;
    if (ec) return Close();
    if (close_after_write_) return GracefulClose();
    first_ = false;
    is_head_ = false;
    if (sync && buffer_.size() > 0) {
      // A pipelined request is parsed synchronously: go through the
      // scheduler so that a long pipeline cannot deepen the stack.
      net::post(stream_.get_executor(),
                [self = this->shared_from_this()] { self->ReadRequest(); });
      return;
    }
    ReadRequest();
  }

  // ------------------------------------------------------------- closing

  // Half-close, then read and discard what the client still sends for a
  // short while, so that it sees our response rather than a reset.
  void GracefulClose() {
    if (state_ == State::kClosing || state_ == State::kClosed) return;
    state_ = State::kClosing;
    Lowest().expires_after(kLingerTime);
    if constexpr (kIsTls<Stream>) {
      stream_.async_shutdown(
          [self = this->shared_from_this()](error_code) { self->Close(); });
    } else {
      error_code ignored;
      Lowest().socket().shutdown(net::socket_base::shutdown_send, ignored);
      Drain();
    }
  }

  void Drain() {
    if (lingered_ >= kLingerBytes) return Close();
    stream_.async_read_some(
        net::buffer(scratch_),
        [self = this->shared_from_this()](error_code ec, size_t n) {
          if (ec) return self->Close();
          self->lingered_ += n;
          self->Drain();
        });
  }

  void Close() {
    if (body_stream_) {
      body_stream_->Cancel();
      body_stream_.reset();
    }
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    error_code ignored;
    Lowest().socket().shutdown(net::socket_base::shutdown_both, ignored);
    Lowest().close();
  }

  HttpServerImpl* const server_;
  Stream stream_;
  const std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  std::optional<http::response<http::empty_body>> continue_;
  // The response being written by the fast path: status line and headers,
  // and the body.
  std::string head_;
  std::string body_;
  // A streamed body being sent (WriteStreamed), and whether it is chunked.
  std::shared_ptr<BodyStream> body_stream_;
  bool chunked_ = false;
  uint64_t generation_ = 0;  // of the request being handled
  std::array<char, 4096> scratch_{};
  uint64_t id_ = 0;
  State state_ = State::kReading;
  bool first_ = true;                 // no request served yet
  bool header_deadline_set_ = false;  // for the request being read
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool close_after_response_ = false;
  bool close_after_write_ = false;
  unsigned version_ = 0;
  size_t served_ = 0;
  size_t lingered_ = 0;
};

template <typename Stream>
void StartSession(HttpServerImpl* server, Stream stream, std::string remote) {
  std::make_shared<Session<Stream>>(server, std::move(stream),
                                    std::move(remote))
      ->Start();
}

}  // namespace iam::api::http_internal

#endif  // IAMLEDGER_API_HTTP_SERVER_INTERNAL_H_
