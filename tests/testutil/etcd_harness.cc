#include "tests/testutil/etcd_harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tests/testutil/server_harness.h"

namespace iam::testutil {
namespace {
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
}  // namespace

std::string EtcdMembers::Binary() {
  for (const char* p : {"/usr/bin/etcd", "/usr/local/bin/etcd"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

EtcdMembers::EtcdMembers(int n, std::string root) : root_(std::move(root)) {
  std::set<uint16_t> used;
  auto port = [&] {
    for (;;) {
      uint16_t p = FreePort();
      if (p != 0 && used.insert(p).second) return p;
    }
  };
  for (int i = 0; i < n; ++i) {
    Member m;
    m.name = "m" + std::to_string(i);
    m.client_port = port();
    m.peer_port = port();
    m.data_dir = root_ + "/etcd-" + std::to_string(i);
    m.log_path = root_ + "/etcd-" + std::to_string(i) + ".log";
    if (!initial_cluster_.empty()) initial_cluster_ += ",";
    initial_cluster_ +=
        m.name + "=http://127.0.0.1:" + std::to_string(m.peer_port);
    members_.push_back(m);
  }
}

EtcdMembers::~EtcdMembers() {
  for (int i = 0; i < size(); ++i) Kill(i);
}

std::string EtcdMembers::client_url(int i) const {
  return "http://127.0.0.1:" + std::to_string(members_[i].client_port);
}

std::string EtcdMembers::client_urls() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    if (i > 0) out += ",";
    out += client_url(i);
  }
  return out;
}

bool EtcdMembers::Spawn(int i, bool existing) {
  Member& m = members_[i];
  const std::string client = client_url(i);
  const std::string peer = "http://127.0.0.1:" + std::to_string(m.peer_port);
  std::vector<std::string> args = {Binary(),
                                   "--name",
                                   m.name,
                                   "--data-dir",
                                   m.data_dir,
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   initial_cluster_,
                                   "--initial-cluster-state",
                                   existing ? "existing" : "new",
                                   "--initial-cluster-token",
                                   "iamledger-test"};
  m.pid = SpawnProcess(args, m.log_path, m.log_path, SIGKILL);
  m.paused = false;
  return m.pid > 0;
}

bool EtcdMembers::WaitHealthy(int i, int timeout_ms) const {
  const auto deadline = Clock::now() + milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    Response r =
        Http(Endpoint{members_[i].client_port, ""}, "POST", "/v3/kv/put",
             {{"Content-Type", "application/json"}},
             R"({"key":"aGVhbHRo","value":"MQ=="})", milliseconds(1000));
    if (r.status == 200 && r.body.find("\"header\"") != std::string::npos)
      return true;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return false;
}

bool EtcdMembers::Start() {
  if (Binary().empty()) return false;
  for (int i = 0; i < size(); ++i) {
    if (!Spawn(i, false)) return false;
  }
  for (int i = 0; i < size(); ++i) {
    if (!WaitHealthy(i, 30000)) return false;
  }
  return true;
}

int EtcdMembers::LeaderIndex() const {
  for (int i = 0; i < size(); ++i) {
    if (members_[i].pid <= 0 || members_[i].paused) continue;
    Response r = Http(Endpoint{members_[i].client_port, ""}, "POST",
                      "/v3/maintenance/status", {}, "{}", milliseconds(1000));
    Json j = r.JsonBody();
    if (!j.is_object() || !j.contains("leader")) continue;
    const std::string leader = j["leader"].get<std::string>();
    for (int k = 0; k < size(); ++k) {
      if (members_[k].pid <= 0) continue;
      Response s = Http(Endpoint{members_[k].client_port, ""}, "POST",
                        "/v3/maintenance/status", {}, "{}", milliseconds(1000));
      Json sj = s.JsonBody();
      if (sj.is_object() && sj.contains("header") &&
          sj["header"].value("member_id", "") == leader)
        return k;
    }
  }
  return -1;
}

void EtcdMembers::Kill(int i) {
  Member& m = members_[i];
  if (m.pid <= 0) return;
  ::kill(m.pid, SIGKILL);
  int status = 0;
  ::waitpid(m.pid, &status, 0);
  m.pid = -1;
  m.paused = false;
}

void EtcdMembers::Pause(int i) {
  if (members_[i].pid > 0) {
    ::kill(members_[i].pid, SIGSTOP);
    members_[i].paused = true;
  }
}

void EtcdMembers::Resume(int i) {
  if (members_[i].pid > 0) {
    ::kill(members_[i].pid, SIGCONT);
    members_[i].paused = false;
  }
}

bool EtcdMembers::Restart(int i) {
  Kill(i);
  if (!Spawn(i, true)) return false;
  return WaitHealthy(i, 30000);
}

bool EtcdMembers::Wipe() {
  for (int i = 0; i < size(); ++i) {
    Kill(i);
    std::error_code ec;
    std::filesystem::remove_all(members_[i].data_dir, ec);
    if (ec) return false;
  }
  return Start();
}

std::string EtcdMembers::log(int i) const {
  std::ifstream in(members_[i].log_path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace iam::testutil
