#include "tests/faults/faults_util.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>

#include "core/model.h"
#include "eventstore/event_store.h"
#include "eventstore/storage_env.h"
#include "projections/projections.h"

namespace iam::faults {

ScratchDir::ScratchDir() {
  std::random_device rd;
  for (;;) {
    auto p =
        std::filesystem::temp_directory_path() /
        ("iamledger-faults-" + std::to_string(rd()) + std::to_string(rd()));
    std::error_code ec;
    if (std::filesystem::create_directory(p, ec)) {
      path = p.string();
      return;
    }
  }
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

StatusOr<std::unique_ptr<Node>> Node::Open(const std::string& root,
                                           std::shared_ptr<FaultFs> fs,
                                           bool sync_writes) {
  std::unique_ptr<Node> node(new Node());
  node->data_dir_ = root + "/data";
  api::LedgerOptions lo;
  lo.data_dir = node->data_dir_;
  lo.key_file = root + "/iamledger.key";
  if (fs) lo.storage_env = std::make_shared<eventstore::StorageEnv>(fs);
  lo.sync_writes = sync_writes;
  IAM_ASSIGN_OR_RETURN(node->ledger_, api::Ledger::Open(lo));
  // The checks send every revoked value from one address and need its 401:
  // no failed-authentication limit (a 429 would say nothing about it).
  api::ServiceOptions so;
  so.auth_limit.limit.limit = 0;
  node->service_ = std::make_unique<api::Service>(node->ledger_->store(),
                                                  node->ledger_->projections(),
                                                  node->ledger_->keys(), so);
  node->service_->SetReady(true);
  return node;
}

Node::~Node() { Close(); }

void Node::Close() {
  if (service_) service_->Shutdown();
  service_.reset();
  if (ledger_) ledger_->Close().IgnoreError();
  ledger_.reset();
}

api::HttpResponse Node::Call(const std::string& method,
                             const std::string& target, const std::string& body,
                             const std::string& remote,
                             const std::string& token) {
  api::HttpRequest req;
  req.method = method;
  req.target = target;
  req.headers.emplace("Host", "127.0.0.1");
  if (!body.empty() || method == "POST" || method == "PUT") {
    req.headers.emplace("Content-Type", "application/json");
    req.headers.emplace("Content-Length", std::to_string(body.size()));
  }
  if (!token.empty()) req.headers.emplace("api-token", token);
  req.body = body;
  req.remote = remote;
  auto promise = std::make_shared<std::promise<api::HttpResponse>>();
  auto future = promise->get_future();
  service_->Handle(std::move(req), [promise](api::HttpResponse r) {
    promise->set_value(std::move(r));
  });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    api::HttpResponse hung;
    hung.status = -1;
    hung.body = "no response within 30 s";
    return hung;
  }
  return future.get();
}

std::string Node::StateBytes() {
  return ledger_->projections()->Read(
      [](const projections::View& v) { return CanonicalEncoding(v.state); });
}

Status CheckLogMatches(const std::string& root, const std::string& served,
                       std::string* folded) {
  IAM_ASSIGN_OR_RETURN(
      eventstore::MasterKeys keys,
      eventstore::LoadOrCreateMasterKeys(root + "/iamledger.key", false));
  projections::Projections fold;
  eventstore::VerifyOptions vo;
  vo.checkpoint_key = keys.checkpoint_key;
  vo.sink = &fold;
  IAM_ASSIGN_OR_RETURN(eventstore::VerifyReport report,
                       eventstore::VerifyLog(root + "/data", vo));
  std::string bytes = fold.Read(
      [](const projections::View& v) { return CanonicalEncoding(v.state); });
  if (folded) *folded = bytes;
  if (bytes != served) {
    return DataLossError("the state served (" + std::to_string(served.size()) +
                         " bytes) differs from the fold of the log (" +
                         std::to_string(bytes.size()) + " bytes, " +
                         std::to_string(report.events) + " events)");
  }
  return OkStatus();
}

uint64_t SeedFromEnv(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  uint64_t seed = std::strtoull(v, nullptr, 10);
  return seed == 0 ? fallback : seed;
}

int CountFromEnv(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  int n = std::atoi(v);
  return n > 0 ? n : fallback;
}

}  // namespace iam::faults
