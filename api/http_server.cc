// The only translation unit that includes Boost.Beast/Asio (see the header
// for the contract). Structure: Impl owns the io_context, the listeners and
// the session registry; Session<Stream> serves one connection for the three
// stream kinds (plain TCP, TLS over TCP, unix socket).
#include "api/http_server.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "api/json_codec.h"

namespace iam::api {
namespace {

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
// Back-off after an accept failure such as EMFILE.
constexpr std::chrono::milliseconds kAcceptRetry{50};

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (HeaderNameLess::Lower(a[i]) != HeaderNameLess::Lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool HasCtl(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

}  // namespace

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

namespace {

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
  bool Serialize(unsigned status, HttpResponse& r, bool close) {
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

// "host:port" or "[v6]:port".
StatusOr<std::pair<std::string, uint16_t>> SplitHostPort(
    const std::string& listen) {
  std::string host;
  std::string port;
  if (!listen.empty() && listen.front() == '[') {
    const size_t close = listen.find("]:");
    if (close == std::string::npos) {
      return InvalidArgumentError("invalid listen address \"" + listen +
                                  "\"; expected [ipv6]:port");
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) {
      return InvalidArgumentError("invalid listen address \"" + listen +
                                  "\"; expected host:port");
    }
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoul(port) > 65535) {
    return InvalidArgumentError("invalid listen address \"" + listen +
                                "\"; expected host:port with port 0-65535");
  }
  return std::make_pair(host, static_cast<uint16_t>(std::stoul(port)));
}

}  // namespace

void HttpServerImpl::OnAccepted(unix_proto::socket socket) {
  error_code ec;
  if (stopping.load() || connections.load() >= options.limits.max_connections) {
    if (!stopping.load()) refused_over_cap++;
    socket.close(ec);
    return;
  }
  connections.fetch_add(1);
  accepted++;
  std::make_shared<Session<UnixStream>>(this, UnixStream(std::move(socket)),
                                        "unix")
      ->Start();
}

void HttpServerImpl::OnAccepted(tcp::socket socket) {
  error_code ec;
  if (stopping.load() || connections.load() >= options.limits.max_connections) {
    if (!stopping.load()) refused_over_cap++;
    socket.close(ec);
    return;
  }
  connections.fetch_add(1);
  accepted++;
  socket.set_option(tcp::no_delay(true), ec);
  std::string remote;
  auto endpoint = socket.remote_endpoint(ec);
  if (!ec) {
    auto address = endpoint.address();
    if (address.is_v6() && address.to_v6().is_v4_mapped()) {
      address = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6());
    }
    remote = address.to_string();
  }
  if (tls) {
    std::make_shared<Session<TlsStream>>(
        this, TlsStream(PlainStream(std::move(socket)), *tls),
        std::move(remote))
        ->Start();
  } else {
    std::make_shared<Session<PlainStream>>(this, PlainStream(std::move(socket)),
                                           std::move(remote))
        ->Start();
  }
}

template <typename Acceptor>
void HttpServerImpl::AcceptLoop(Acceptor* acceptor,
                                std::optional<net::steady_timer>* retry) {
  using Socket = typename Acceptor::protocol_type::socket;
  // Completions run on `control` (the acceptor's executor); each accepted
  // socket gets its own strand. With a single I/O thread the io_context runs
  // one handler at a time anyway, so the socket uses it directly: the same
  // guarantee without a strand's queue on every completion.
  const net::any_io_executor executor =
      options.threads == 1 ? net::any_io_executor(ioc.get_executor())
                           : net::any_io_executor(net::make_strand(ioc));
  acceptor->async_accept(
      executor, [this, acceptor, retry](error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted || stopping.load() ||
            !acceptor->is_open()) {
          return;
        }
        if (ec) {
          // EMFILE, ENFILE, ENOBUFS...: back off instead of spinning.
          spdlog::warn("http: accept failed: {}", ec.message());
          retry->emplace(control);
          (*retry)->expires_after(kAcceptRetry);
          (*retry)->async_wait([this, acceptor, retry](error_code e) {
            if (e || stopping.load()) return;
            AcceptLoop(acceptor, retry);
          });
          return;
        }
        OnAccepted(std::move(socket));
        AcceptLoop(acceptor, retry);
      });
}

HttpServer::HttpServer(HttpServerOptions options, Handler handler)
    : impl_(std::make_unique<HttpServerImpl>(std::move(options),
                                             std::move(handler))) {}

HttpServer::~HttpServer() {
  impl_->stopping.store(true);
  impl_->ioc.stop();
  impl_->destroying.store(true);
  error_code ec;
  if (impl_->tcp_acceptor) impl_->tcp_acceptor->close(ec);
  if (impl_->unix_acceptor) impl_->unix_acceptor->close(ec);
  if (impl_->unix_created) ::unlink(impl_->options.unix_socket.c_str());
  // ~HttpServerImpl destroys the io_context, and with it every pending handler
  // and the sessions they hold.
}

Status HttpServer::Listen() {
  HttpServerImpl& s = *impl_;
  if (s.listened) return FailedPreconditionError("Listen() called twice");
  const HttpServerOptions& o = s.options;
  if (o.threads < 1) return InvalidArgumentError("threads must be >= 1");
  if (o.listen.empty() && o.unix_socket.empty()) {
    return InvalidArgumentError("nothing to listen on");
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return InvalidArgumentError("TLS needs both a certificate and a key");
  }
  try {
    if (!o.tls_cert_file.empty()) {
      ssl::context ctx(ssl::context::tls_server);
      ctx.set_options(ssl::context::default_workarounds |
                      ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                      ssl::context::single_dh_use);
      error_code ec;
      ctx.use_certificate_chain_file(o.tls_cert_file, ec);
      if (ec) {
        return FailedPreconditionError("cannot load TLS certificate " +
                                       o.tls_cert_file + ": " + ec.message());
      }
      ctx.use_private_key_file(o.tls_key_file, ssl::context::pem, ec);
      if (ec) {
        return FailedPreconditionError("cannot load TLS key " + o.tls_key_file +
                                       ": " + ec.message());
      }
      if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        return FailedPreconditionError(
            "the TLS key does not match the certificate");
      }
      s.tls.emplace(std::move(ctx));
    }

    if (!o.listen.empty()) {
      IAM_ASSIGN_OR_RETURN(auto host_port, SplitHostPort(o.listen));
      error_code ec;
      tcp::endpoint endpoint;
      auto address = net::ip::make_address(host_port.first, ec);
      if (!ec) {
        endpoint = tcp::endpoint(address, host_port.second);
      } else {
        tcp::resolver resolver(s.ioc);
        auto results =
            resolver.resolve(host_port.first, std::to_string(host_port.second),
                             tcp::resolver::passive, ec);
        if (ec || results.empty()) {
          return InvalidArgumentError("cannot resolve \"" + host_port.first +
                                      "\": " + ec.message());
        }
        endpoint = results.begin()->endpoint();
      }
      tcp::acceptor& a = s.tcp_acceptor.emplace(s.control);
      a.open(endpoint.protocol(), ec);
      if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
      if (!ec) a.bind(endpoint, ec);
      if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
      if (ec) {
        s.tcp_acceptor.reset();
        return UnavailableError("cannot listen on " + o.listen + ": " +
                                ec.message());
      }
      s.port.store(a.local_endpoint(ec).port());
    }

    if (!o.unix_socket.empty()) {
      const std::string& path = o.unix_socket;
      struct stat st {};
      if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
          return FailedPreconditionError("cannot create the admin socket " +
                                         path +
                                         ": a file that is not a socket "
                                         "exists there");
        }
        ::unlink(path.c_str());  // stale socket of a previous run
      }
      error_code ec;
      unix_proto::acceptor& a = s.unix_acceptor.emplace(s.control);
      a.open(unix_proto(), ec);
      if (!ec) a.bind(unix_proto::endpoint(path), ec);
      if (!ec) {
        s.unix_created = true;
        // Before listen(): nobody can connect while the mode is wider.
        if (::chmod(path.c_str(), 0600) != 0) {
          ec = error_code(errno, boost::system::system_category());
        }
      }
      if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
      if (ec) {
        s.unix_acceptor.reset();
        if (s.unix_created) ::unlink(path.c_str());
        s.unix_created = false;
        return UnavailableError("cannot listen on unix socket " + path + ": " +
                                ec.message());
      }
    }
  } catch (const std::exception& e) {
    return UnavailableError(std::string("cannot listen: ") + e.what());
  }

  s.listened = true;
  s.work.emplace(s.ioc.get_executor());
  // Started on `control`, so the loops never race DoStop.
  net::post(s.control, [&s] {
    if (s.stopping.load()) return;
    if (s.tcp_acceptor) s.AcceptLoop(&*s.tcp_acceptor, &s.tcp_retry);
    if (s.unix_acceptor) s.AcceptLoop(&*s.unix_acceptor, &s.unix_retry);
  });
  return OkStatus();
}

void HttpServer::Run() {
  HttpServerImpl& s = *impl_;
  if (!s.listened) return;
  auto run = [&s] {
    while (true) {
      try {
        s.ioc.run();
        return;
      } catch (const std::exception& e) {
        spdlog::error("http: I/O thread caught: {}", e.what());
      } catch (...) {
        spdlog::error("http: I/O thread caught an unknown exception");
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 1; i < s.options.threads; ++i) threads.emplace_back(run);
  run();
  for (std::thread& t : threads) t.join();
}

void HttpServer::Stop() {
  HttpServerImpl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  net::post(s.control, [&s] { s.DoStop(); });
}

uint16_t HttpServer::port() const { return impl_->port.load(); }

size_t HttpServer::active_connections() const {
  return impl_->connections.load();
}

HttpServerStats HttpServer::stats() const {
  const HttpServerImpl& s = *impl_;
  HttpServerStats out;
  out.open = s.connections.load();
  out.accepted = s.accepted.load();
  out.refused_over_cap = s.refused_over_cap.load();
  out.closed_header_timeout = s.closed_header_timeout.load();
  out.closed_body_timeout = s.closed_body_timeout.load();
  out.closed_idle_timeout = s.closed_idle_timeout.load();
  out.closed_write_timeout = s.closed_write_timeout.load();
  return out;
}

void AppendMetrics(const HttpServerStats& s, std::string* out) {
  out->append(
      "# HELP iamledger_http_connections Open connections.\n"
      "# TYPE iamledger_http_connections gauge\n"
      "iamledger_http_connections ");
  out->append(std::to_string(s.open)).append("\n");
  out->append(
      "# HELP iamledger_http_connections_accepted_total Connections "
      "accepted.\n"
      "# TYPE iamledger_http_connections_accepted_total counter\n"
      "iamledger_http_connections_accepted_total ");
  out->append(std::to_string(s.accepted)).append("\n");
  out->append(
      "# HELP iamledger_http_connections_closed_total Connections closed by "
      "the server, by reason: a timeout (header, body, idle, write) or the "
      "connection cap (closed at once).\n"
      "# TYPE iamledger_http_connections_closed_total counter\n");
  const std::pair<const char*, uint64_t> reasons[] = {
      {"header_timeout", s.closed_header_timeout},
      {"body_timeout", s.closed_body_timeout},
      {"idle_timeout", s.closed_idle_timeout},
      {"write_timeout", s.closed_write_timeout},
      {"connection_cap", s.refused_over_cap}};
  for (const auto& [reason, n] : reasons) {
    out->append("iamledger_http_connections_closed_total{reason=\"")
        .append(reason)
        .append("\"} ")
        .append(std::to_string(n))
        .append("\n");
  }
}

}  // namespace iam::api
