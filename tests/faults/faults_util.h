// What the fault suites (tests/faults) share: the real ledger and service
// opened in-process over an injected filesystem, requests handed to the
// service as the HTTP server would (no sockets), and the check that the
// state served equals a fold of the log read back offline.
#ifndef IAMLEDGER_TESTS_FAULTS_FAULTS_UTIL_H_
#define IAMLEDGER_TESTS_FAULTS_FAULTS_UTIL_H_

#include <memory>
#include <string>

#include "api/http_types.h"
#include "api/ledger.h"
#include "api/service.h"
#include "core/status.h"
#include "tests/faults/fault_fs.h"

namespace iam::faults {

// A fresh directory (in /dev/shm when present, else the system temp dir),
// removed with its contents.
struct ScratchDir {
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string path;
};

// A ledger and the service over it: what `iamledger serve` runs, minus the
// transport. Data in <root>/data, key file <root>/iamledger.key.
class Node {
 public:
  // `fs` may be null (the default filesystem).
  static StatusOr<std::unique_ptr<Node>> Open(const std::string& root,
                                              std::shared_ptr<FaultFs> fs,
                                              bool sync_writes = true);
  ~Node();

  // Hands one request to the service and waits for its response (status -1
  // if none came within 30 s: a hang). `remote` "unix" is the admin socket
  // (local:admin, allowed everything); a TCP peer needs `token`.
  api::HttpResponse Call(const std::string& method, const std::string& target,
                         const std::string& body = "",
                         const std::string& remote = "unix",
                         const std::string& token = "");

  // CanonicalEncoding of the state the service answers from.
  std::string StateBytes();
  api::Ledger* ledger() { return ledger_.get(); }
  const std::string& data_dir() const { return data_dir_; }

  // Stops the service and closes the ledger (their status ignored: after a
  // power cut or an injected fault, closing fails by design).
  void Close();

 private:
  Node() = default;
  std::string data_dir_;
  std::unique_ptr<api::Ledger> ledger_;
  std::unique_ptr<api::Service> service_;
};

// Verifies the closed data directory <root>/data offline (VerifyLog with the
// checkpoint key from <root>/iamledger.key) and folds it; OK when the chain
// verifies and the fold's CanonicalEncoding equals `served` (else the
// difference named). `folded`, when given, receives the fold's encoding.
Status CheckLogMatches(const std::string& root, const std::string& served,
                       std::string* folded = nullptr);

// Nonzero seed from the environment variable `name`, else `fallback`.
uint64_t SeedFromEnv(const char* name, uint64_t fallback);
// A positive count from the environment variable `name`, else `fallback`.
int CountFromEnv(const char* name, int fallback);

}  // namespace iam::faults

#endif  // IAMLEDGER_TESTS_FAULTS_FAULTS_UTIL_H_
