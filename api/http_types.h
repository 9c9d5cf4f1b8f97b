// The HTTP request and response as plain values: what the transport
// (api/http_server.h) hands to the service and gets back. No Boost here; this
// header is included by the service, the router, the codec and tests.
//
// Contract: header names are matched case-insensitively (ASCII), values are
// kept byte for byte; repeated header lines stay separate entries in arrival
// order.
#ifndef IAMLEDGER_API_HTTP_TYPES_H_
#define IAMLEDGER_API_HTTP_TYPES_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace iam::api {

class BodyStream;  // api/body_stream.h

// ASCII case-insensitive ordering for header names.
struct HeaderNameLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    const size_t n = a.size() < b.size() ? a.size() : b.size();
    for (size_t i = 0; i < n; ++i) {
      const char ca = Lower(a[i]);
      const char cb = Lower(b[i]);
      if (ca != cb) return ca < cb;
    }
    return a.size() < b.size();
  }
  static char Lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
};

// Header name -> value; names compare case-insensitively, equal names keep
// their insertion order (std::multimap guarantees it).
using Headers = std::multimap<std::string, std::string, HeaderNameLess>;

// The first value of header `name`, or "" when absent.
inline std::string_view HeaderValue(const Headers& headers,
                                    std::string_view name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string_view()
                             : std::string_view(it->second);
}

// Every value of header `name`, in arrival order.
inline std::vector<std::string_view> HeaderValues(const Headers& headers,
                                                  std::string_view name) {
  std::vector<std::string_view> out;
  auto [begin, end] = headers.equal_range(name);
  for (auto it = begin; it != end; ++it) out.push_back(it->second);
  return out;
}

inline bool HasHeader(const Headers& headers, std::string_view name) {
  return headers.find(name) != headers.end();
}

struct HttpRequest {
  std::string method;  // as sent: "GET", "POST", ... (case-sensitive)
  std::string target;  // raw request-target, e.g. "/apis/iam/v2/tokens?x=1"
  Headers headers;
  std::string body;  // at most the server's body limit
  // The peer: its IP address ("127.0.0.1", "::1") for TCP, or exactly
  // "unix" for the admin socket (the service maps it to local:admin).
  std::string remote;
  bool tls = false;  // arrived over TLS
};

struct HttpResponse {
  int status = 200;
  // Written as given; the server adds Content-Length (and Connection when it
  // closes). Set Content-Type here.
  Headers headers;
  std::string body;
  // When set, the body is what this stream gives (api/body_stream.h), sent
  // chunked as it comes, and `body` is ignored.
  std::shared_ptr<BodyStream> stream;
};

// Completes one request. May be called from any thread, exactly once; the
// server posts the write back to the connection's strand. Dropping it
// without calling closes the connection.
using Responder = std::function<void(HttpResponse)>;
// Serves one request. Called on an I/O thread: must not block (hand slow
// work, e.g. an append waiting for fsync, to another thread and call
// `respond` from there) and must not throw.
using Handler = std::function<void(HttpRequest, Responder respond)>;

}  // namespace iam::api

#endif  // IAMLEDGER_API_HTTP_TYPES_H_
