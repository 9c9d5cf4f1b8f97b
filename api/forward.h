// Writes forwarded from a follower to the cluster's leader (DESIGN.md §10),
// transparently to the client: the leader's status, headers (ETag,
// X-Iam-Seq, X-Request-Id, ...) and body come back unchanged.
//
// Contract:
//  - Authenticated between nodes: the follower adds the header
//    X-Iam-Forwarded ("v1;node=N;ts=MS;remote=ADDR;sig=HEX"), an
//    HMAC-SHA256 under a key derived from the cluster's shared key file over
//    the node, the time, the client's address, the method, the target, the
//    request id, the body's SHA-256 and the headers the leader decides on
//    (credentials, projects, If-Match, Content-Type, X-Iam-Min-Seq). The
//    leader accepts it only when the MAC verifies and the time is within
//    kForwardClockSkew of its own; it then takes `remote` as the client's
//    address (the event's source, revocation's rate limit; "unix" is the
//    follower's admin socket: local:admin) and authenticates the caller's
//    token itself. A request carrying a bad or stale X-Iam-Forwarded is
//    refused (401), never served as a plain one.
//  - The request id travels as X-Request-Id, so every attempt of one write
//    carries the same id: the leader answers a retry of a committed write
//    with its recorded outcome (api/request_log.h), so the forwarder may
//    retry after an unknown outcome without applying anything twice.
//  - Retries: while no leader is known, the leader cannot be reached, or a
//    node answers that it no longer leads (503 with X-Iam-Not-Leader), the
//    forwarder tries again (every kRetryInterval, following the leader the
//    cluster reports) until the request's deadline; then 503 with the
//    Automate error body. Any other answer is the client's answer.
//  - Never blocks the caller: Forward() queues; `done` runs on the
//    forwarder's thread. No secret (token value, key) is logged or put in an
//    error message.
#ifndef IAMLEDGER_API_FORWARD_H_
#define IAMLEDGER_API_FORWARD_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "api/http_types.h"
#include "core/status.h"

namespace iam::api {

inline constexpr std::string_view kForwardedHeader = "X-Iam-Forwarded";
inline constexpr std::string_view kNotLeaderHeader = "X-Iam-Not-Leader";
inline constexpr std::chrono::seconds kForwardClockSkew{60};

// The HMAC key of forwarded requests, derived from the master key file's
// checkpoint key (HMAC-SHA256 under it of "iamledger forward v1"): every node
// of a cluster uses the same key file, so every node derives the same key.
std::string DeriveForwardKey(const std::string& checkpoint_key);

// Signs and verifies X-Iam-Forwarded (pure; unit-testable).
class ForwardSigner {
 public:
  ForwardSigner(std::string key, std::string node_name);
  // The header value for `request` (whose `remote` is the client's address)
  // sent with X-Request-Id `request_id` at `now_ms` (unix milliseconds).
  std::string Sign(const HttpRequest& request, const std::string& request_id,
                   int64_t now_ms) const;
  // Verifies `request`'s X-Iam-Forwarded against its method, target,
  // headers and body; on success *remote is the original client's address
  // and *from_node the forwarding node. Unauthenticated otherwise (the
  // message names what failed, never a MAC or a key).
  Status Verify(const HttpRequest& request, int64_t now_ms, std::string* remote,
                std::string* from_node) const;

 private:
  std::string Mac(const HttpRequest& request, std::string_view request_id,
                  std::string_view node, std::string_view ts,
                  std::string_view remote) const;
  std::string key_;
  std::string node_;
};

struct ForwarderOptions {
  // Each forwarded request ends by this deadline (all retries included).
  std::chrono::milliseconds deadline{6000};
  std::chrono::milliseconds retry_interval{100};
  std::chrono::milliseconds connect_timeout{500};
  size_t max_connections = 128;  // to the leader, kept alive
};

class Forwarder {
 public:
  // Where the leader is: its --advertise URL, "" while none is known, or
  // kSelf when this node leads now (the caller serves the request itself).
  static constexpr std::string_view kSelf = "self";
  using LeaderUrl = std::function<std::string()>;

  Forwarder(ForwardSigner signer, LeaderUrl leader, ForwarderOptions options);
  ~Forwarder();  // answers queued requests with 503, stops the thread
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // The outcome of a forwarded request: the leader's response, or
  // `serve_here` when this node became the leader meanwhile.
  struct Outcome {
    bool serve_here = false;
    HttpResponse response;
  };
  // Sends `request` (its remote is the client's) to the leader with the
  // X-Request-Id `request_id`.
  void Forward(HttpRequest request, std::string request_id,
               std::function<void(Outcome)> done);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_FORWARD_H_
