#include <doctest/doctest.h>
#include <stdlib.h>

#include <condition_variable>
#include <future>
#include <mutex>

#include "api/body_stream.h"
#include "tests/api/service_fixture.h"

namespace iam::api::testing {

namespace fs = std::filesystem;

ServiceFixture::ServiceFixture() {
  std::string tmpl = "/tmp/iamledger-service-XXXXXX";
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  root = tmpl;
  options.data_dir = (root / "data").string();
  options.key_file = (root / "iamledger.key").string();
}

ServiceFixture::~ServiceFixture() {
  if (ledger != nullptr) Close();
  fs::remove_all(root);
}

void ServiceFixture::Open() {
  auto l = Ledger::Open(options);
  REQUIRE_MESSAGE(l.ok(), l.status().ToString());
  ledger = std::move(*l);
  service = std::make_unique<Service>(ledger->store(), ledger->projections(),
                                      ledger->keys(), service_options);
}

void ServiceFixture::Close() {
  service->Shutdown();
  service.reset();
  REQUIRE(ledger->Close().ok());
  ledger.reset();
}

HttpResponse ServiceFixture::Call(std::string method, std::string target,
                                  std::string body, std::string remote,
                                  std::string token) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.remote = std::move(remote);
  if (!token.empty()) r.headers.emplace("api-token", std::move(token));
  std::promise<HttpResponse> done;
  auto f = done.get_future();
  service->Handle(std::move(r),
                  [&](HttpResponse resp) { done.set_value(std::move(resp)); });
  HttpResponse out = f.get();
  last_streamed = out.stream != nullptr;
  if (out.stream == nullptr) return out;
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;
  for (;;) {
    BodyStream::Piece piece;
    if (!out.stream->TakeOrWait(&piece, [&] {
          std::lock_guard<std::mutex> lock(mu);
          ready = true;
          cv.notify_one();
        })) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return ready; });
      ready = false;
      continue;
    }
    if (piece.kind == BodyStream::Piece::kData) {
      out.body += piece.bytes;
      continue;
    }
    if (piece.kind == BodyStream::Piece::kFailed) out.status = 0;
    out.stream.reset();
    return out;
  }
}

}  // namespace iam::api::testing
