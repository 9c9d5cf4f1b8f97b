#include "tests/integration/cluster_util.h"

#include <chrono>
#include <sstream>
#include <thread>

namespace iam::integration {
namespace {
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
}  // namespace

Json TokenBody(const std::string& id) { return Json{{"id", id}, {"name", id}}; }

uint64_t SeqOf(const Response& r) {
  const std::string s = r.Header("X-Iam-Seq");
  return s.empty() ? 0 : std::stoull(s);
}

std::vector<Json> Feed(const Api& api) {
  std::vector<Json> out;
  uint64_t after = 0;
  for (;;) {
    Response r = api.Get("/apis/iam/v2/events?limit=1000&after=" +
                         std::to_string(after));
    if (r.status != 200) break;
    Json j = r.JsonBody();
    if (j["events"].empty()) break;
    for (auto& e : j["events"]) out.push_back(e);
    after = j["next"].get<uint64_t>();
  }
  return out;
}

std::string VerifyDigest(const std::string& dir, const std::string& key_file,
                         std::string* out) {
  // The node may be running: `replay verify` reads its RocksDB read-only
  // (an open that races a flush is retried inside, RocksDb::Open); a run
  // that still fails on a busy node is tried again. A damaged log fails
  // every attempt.
  CommandResult r;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
    r = RunIamledger(
        {"replay", "verify", "--data-dir", dir, "--key-file", key_file});
    if (r.exit_code == 0) break;
  }
  if (out != nullptr) *out = r.out + r.err;
  if (r.exit_code != 0) return "";
  std::istringstream in(r.out);
  std::string line, digest;
  while (std::getline(in, line)) {
    if (line.rfind("state digest:", 0) == 0 ||
        line.rfind("head hash:", 0) == 0 || line.rfind("events:", 0) == 0)
      digest += line + "\n";
  }
  return digest;
}

ClusterEnv::ClusterEnv(int n, int etcd_members)
    : etcd(etcd_members, dir.path()), key_file(dir.path() + "/iamledger.key") {
  for (int i = 0; i < n; ++i) {
    const std::string root = dir.path() + "/node" + std::to_string(i);
    nodes.push_back(std::make_unique<Server>(
        root + "/data", key_file,
        dir.path() + "/node" + std::to_string(i) + ".log"));
    ports.push_back(testutil::FreePort());
  }
}

std::string ClusterEnv::DataDir(int i) const { return nodes[i]->data_dir(); }

bool ClusterEnv::StartNode(int i, bool wait_ready) {
  const std::string listen = "127.0.0.1:" + std::to_string(ports[i]);
  nodes[i]->set_listen(listen);
  nodes[i]->set_wait_ready(wait_ready);
  std::vector<std::string> args = {"--etcd",      etcd.client_urls(),
                                   "--node-name", "n" + std::to_string(i),
                                   "--advertise", "http://" + listen};
  args.insert(args.end(), extra.begin(), extra.end());
  if (!nodes[i]->Start(args)) {
    error = "node " + std::to_string(i) + " did not start: " + nodes[i]->log();
    return false;
  }
  return true;
}

bool ClusterEnv::Start() {
  if (dir.path().empty()) {
    error = "mkdtemp failed";
    return false;
  }
  if (!etcd.Start()) {
    error = "etcd did not start: " + etcd.log(0);
    return false;
  }
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::system(
        ("mkdir -p " + dir.path() + "/node" + std::to_string(i)).c_str());
    if (!StartNode(static_cast<int>(i))) return false;
  }
  if (WaitLeader() < 0) {
    error = "no leader";
    return false;
  }
  // Through node 0's admin socket: forwarded when it does not lead.
  CommandResult made = RunIamledger(
      {"iam", "token", "create", "admin", "--admin", "--data-dir", DataDir(0)});
  if (made.exit_code != 0) {
    error = "token create failed: " + made.err + made.out;
    return false;
  }
  admin_token = made.out;
  while (!admin_token.empty() &&
         (admin_token.back() == '\n' || admin_token.back() == '\r'))
    admin_token.pop_back();
  return !admin_token.empty();
}

Response ClusterEnv::Ready(int i) const {
  return Http(nodes[i]->tcp(), "GET", "/readyz", {}, {}, milliseconds(2000));
}

int ClusterEnv::WaitLeader(int ms, int except) const {
  const auto deadline = Clock::now() + milliseconds(ms);
  while (Clock::now() < deadline) {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (static_cast<int>(i) == except || !nodes[i]->Running()) continue;
      Response r = Ready(static_cast<int>(i));
      Json j = r.JsonBody();
      if (r.status == 200 && j.is_object() && j.value("role", "") == "leader")
        return static_cast<int>(i);
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return -1;
}

bool ClusterEnv::WaitApplied(uint64_t seq, int ms) const {
  const auto deadline = Clock::now() + milliseconds(ms);
  while (Clock::now() < deadline) {
    bool all = true;
    for (size_t i = 0; i < nodes.size() && all; ++i) {
      if (!nodes[i]->Running()) continue;
      Json j = Ready(static_cast<int>(i)).JsonBody();
      all = j.is_object() && j.value("applied_seq", uint64_t{0}) >= seq;
    }
    if (all) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return false;
}

std::string ClusterEnv::Digest(int i, std::string* out) const {
  return VerifyDigest(DataDir(i), key_file, out);
}

}  // namespace iam::integration
