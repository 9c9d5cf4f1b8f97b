#include "tools/local_api.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <nlohmann/json.hpp>

#include "api/ledger.h"
#include "api/service.h"
#include "tools/cluster_mode.h"

namespace iam::tools {
namespace {

std::string SocketPath(const std::string& data_dir) {
  return data_dir + "/admin.sock";
}

// A minimal HTTP/1.1 client for one request over a unix socket.
class SocketApi final : public LocalApi {
 public:
  explicit SocketApi(int fd) : fd_(fd) {}
  ~SocketApi() override { ::close(fd_); }

  StatusOr<api::HttpResponse> Call(const std::string& method,
                                   const std::string& target,
                                   const std::string& body) override {
    std::string req = method + " " + target +
                      " HTTP/1.1\r\nHost: localhost\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    for (size_t sent = 0; sent < req.size();) {
      ssize_t n =
          ::send(fd_, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return UnavailableError("admin socket: send failed");
      sent += static_cast<size_t>(n);
    }
    std::string in;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    for (;;) {
      if (header_end == std::string::npos) {
        header_end = in.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string head = in.substr(0, header_end);
          for (auto& c : head) c = static_cast<char>(std::tolower(c));
          size_t cl = head.find("content-length:");
          if (cl != std::string::npos)
            content_length = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
        }
      }
      if (header_end != std::string::npos &&
          in.size() >= header_end + 4 + content_length) {
        break;
      }
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return UnavailableError("admin socket: connection closed");
      in.append(buf, static_cast<size_t>(n));
    }
    api::HttpResponse response;
    if (in.size() < 12 || !in.starts_with("HTTP/1.")) {
      return UnavailableError("admin socket: malformed response");
    }
    response.status = std::atoi(in.c_str() + 9);
    response.body = in.substr(header_end + 4, content_length);
    return response;
  }
  std::string_view mode() const override { return "server"; }

 private:
  int fd_;
};

// The service in this process, over the data directory.
class InProcessApi final : public LocalApi {
 public:
  explicit InProcessApi(std::unique_ptr<api::Ledger> ledger)
      : ledger_(std::move(ledger)),
        service_(ledger_->store(), ledger_->projections(), ledger_->keys(),
                 api::ServiceOptions{}) {
    service_.SetReady(true);
  }
  ~InProcessApi() override {
    service_.Shutdown();
    ledger_->Close().IgnoreError();
  }

  StatusOr<api::HttpResponse> Call(const std::string& method,
                                   const std::string& target,
                                   const std::string& body) override {
    api::HttpRequest req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.remote = "unix";  // local:admin, as on the admin socket
    req.headers.emplace("Content-Type", "application/json");
    std::promise<api::HttpResponse> done;
    auto future = done.get_future();
    service_.Handle(std::move(req), [&done](api::HttpResponse r) {
      done.set_value(std::move(r));
    });
    return future.get();
  }
  std::string_view mode() const override { return "offline"; }

 private:
  std::unique_ptr<api::Ledger> ledger_;
  api::Service service_;
};

}  // namespace

std::string ErrorText(const api::HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

StatusOr<std::unique_ptr<LocalApi>> LocalApi::Connect(
    const LocalApiOptions& options) {
  const std::string path = SocketPath(options.data_dir);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError("cannot create a socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    ::close(fd);
    return InvalidArgumentError("data directory path too long for a socket");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    return std::unique_ptr<LocalApi>(new SocketApi(fd));
  }
  ::close(fd);
  // No server answers: open the store ourselves (never a cluster's
  // replica: that would fork its log).
  IAM_RETURN_IF_ERROR(
      RefuseClusterReplica(options.data_dir, "writing to it offline"));
  api::LedgerOptions lo;
  lo.data_dir = options.data_dir;
  lo.key_file = options.key_file;
  auto ledger = api::Ledger::Open(lo);
  if (!ledger.ok()) {
    if (ledger.status().code() == StatusCode::kUnavailable &&
        ledger.status().message().find("lock") != std::string::npos) {
      return UnavailableError(
          "the data directory " + options.data_dir +
          " is locked by another process, which does not answer on " + path +
          "; is an old server still stopping?");
    }
    return ledger.status();
  }
  return std::unique_ptr<LocalApi>(new InProcessApi(std::move(*ledger)));
}

}  // namespace iam::tools
