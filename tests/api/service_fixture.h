// A Service over a real Ledger in a temporary directory, called in-process
// (no sockets): the fixture of the api suites that need the whole write
// path (secrets at rest, token lifecycle with a fake clock).
#ifndef IAMLEDGER_TESTS_API_SERVICE_FIXTURE_H_
#define IAMLEDGER_TESTS_API_SERVICE_FIXTURE_H_

#include <filesystem>
#include <memory>
#include <string>

#include "api/ledger.h"
#include "api/service.h"

namespace iam::api::testing {

struct ServiceFixture {
  ServiceFixture();   // a fresh /tmp directory
  ~ServiceFixture();  // removes it (Close() first when still open)

  // Opens the ledger and a Service with `service_options`.
  void Open();
  void Close();
  // One request from `remote` ("unix": the admin socket, local:admin),
  // answered synchronously. `token`, when not empty, is sent as api-token.
  // A streamed body (api/body_stream.h) is read whole into `body`; one that
  // fails midway leaves status 0.
  HttpResponse Call(std::string method, std::string target,
                    std::string body = "", std::string remote = "unix",
                    std::string token = "");

  std::filesystem::path root;
  LedgerOptions options;
  ServiceOptions service_options;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<Service> service;
  bool last_streamed = false;  // the last Call's body came as a stream
};

}  // namespace iam::api::testing

#endif  // IAMLEDGER_TESTS_API_SERVICE_FIXTURE_H_
