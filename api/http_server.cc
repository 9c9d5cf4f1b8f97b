// HttpServer and HttpServerImpl's listeners (see the header for the
// contract, api/http_server_internal.h for how the server's translation
// units divide the work): Listen, the accept loops, Run, Stop.
#include "api/http_server.h"

#include "api/http_server_internal.h"

namespace iam::api {
namespace http_internal {
namespace {

// Back-off after an accept failure such as EMFILE.
constexpr std::chrono::milliseconds kAcceptRetry{50};

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
  StartSession(this, UnixStream(std::move(socket)), "unix");
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
    StartSession(this, TlsStream(PlainStream(std::move(socket)), *tls),
                 std::move(remote));
  } else {
    StartSession(this, PlainStream(std::move(socket)), std::move(remote));
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

}  // namespace http_internal

namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using http_internal::HttpServerImpl;
using tcp = net::ip::tcp;
using unix_proto = net::local::stream_protocol;
using error_code = boost::system::error_code;

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
