// Calls the HTTP API as local:admin: over the admin socket of a running
// server, or, when none answers, in-process on the data directory itself
// (the RocksDB lock keeps a single writer). Either way the request takes the
// service's one code path.
#ifndef IAMLEDGER_TOOLS_LOCAL_API_H_
#define IAMLEDGER_TOOLS_LOCAL_API_H_

#include <memory>
#include <string>

#include "api/http_types.h"
#include "core/status.h"

namespace iam::tools {

struct LocalApiOptions {
  std::string data_dir = "./data";
  std::string key_file;  // empty: beside the data directory
};

class LocalApi {
 public:
  // Connects to <data_dir>/admin.sock, or opens the data directory.
  // Unavailable with a clear message when the store is locked by a process
  // that does not answer on the socket.
  static StatusOr<std::unique_ptr<LocalApi>> Connect(
      const LocalApiOptions& options);
  virtual ~LocalApi() = default;

  // Sends one request; returns the response (any HTTP status).
  virtual StatusOr<api::HttpResponse> Call(const std::string& method,
                                           const std::string& target,
                                           const std::string& body) = 0;
  // "server" or "offline", for messages.
  virtual std::string_view mode() const = 0;
};

// The API's error message from an error body, or "HTTP <status>".
std::string ErrorText(const api::HttpResponse& r);

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_LOCAL_API_H_
