// cluster_bench (issue 8 item 9; built, not run by `make test`): durable
// token creates per second through a 3-node cluster (3 etcd members, 3
// `iamledger serve --etcd` nodes, all on this machine) at 64 connections
// spread over the three nodes, next to the single-node server in the same
// run; the cluster's commit latency (a create acknowledged, client side),
// its replication lag (acknowledged on the leader -> applied on a follower,
// measured as an X-Iam-Min-Seq read of the acknowledged seq on a follower),
// and the write-unavailability window after a kill -9 of the leader.
//
//   build/tests/bench/cluster_bench [--seconds N] [--connections N]
//
// Prints `BENCH name value unit` and `RATIO name value` lines.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/testutil/etcd_harness.h"
#include "tests/testutil/server_harness.h"

namespace {

using namespace iam::testutil;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

struct Figures {
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::vector<double> latency_ms;
};

std::string CreateRequest(const std::string& token, const std::string& id,
                          const std::string& rid) {
  const std::string body = "{\"id\":\"" + id + "\",\"name\":\"" + id + "\"}";
  return "POST /apis/iam/v2/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         "api-token: " +
         token + "\r\nX-Request-Id: " + rid +
         "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// `connections` keep-alive connections creating tokens for `seconds`, the
// i-th on endpoints[i % n]. Latencies of the measured window only.
Figures CreateLoad(const std::vector<Endpoint>& endpoints,
                   const std::string& token, int connections, double seconds,
                   const std::string& prefix) {
  std::mutex mu;
  Figures total;
  std::atomic<bool> measuring{false}, stop{false};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      Figures mine;
      std::unique_ptr<Connection> conn;
      for (int i = 0; !stop; ++i) {
        if (!conn || !conn->ok())
          conn = std::make_unique<Connection>(endpoints[c % endpoints.size()]);
        const std::string id =
            prefix + std::to_string(c) + "-" + std::to_string(i);
        const auto t0 = Clock::now();
        const bool counted = measuring;
        Response r;
        if (conn->Send(CreateRequest(token, id, id)))
          r = conn->Read(milliseconds(10000));
        const double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - t0)
                .count();
        if (r.status == 0) conn.reset();
        if (!counted || !measuring) continue;
        if (r.status == 200) {
          mine.ok++;
          mine.latency_ms.push_back(ms);
        } else {
          mine.failed++;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      total.ok += mine.ok;
      total.failed += mine.failed;
      total.latency_ms.insert(total.latency_ms.end(), mine.latency_ms.begin(),
                              mine.latency_ms.end());
    });
  }
  std::this_thread::sleep_for(milliseconds(1000));  // warm up
  measuring = true;
  std::this_thread::sleep_for(milliseconds(static_cast<int>(seconds * 1000)));
  measuring = false;
  stop = true;
  for (auto& t : threads) t.join();
  return total;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

bool Ready(const Endpoint& ep) {
  return Http(ep, "GET", "/readyz", {}, {}, milliseconds(2000)).status == 200;
}

std::string Role(const Endpoint& ep) {
  Json j = Http(ep, "GET", "/readyz", {}, {}, milliseconds(2000)).JsonBody();
  return j.is_object() ? j.value("role", "") : "";
}

int Fail(const std::string& why) {
  std::printf("FAILED cluster_bench: %s\n", why.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  int connections = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--seconds") == 0)
      seconds = std::atof(argv[i + 1]);
    if (std::strcmp(argv[i], "--connections") == 0)
      connections = std::atoi(argv[i + 1]);
  }
  if (EtcdMembers::Binary().empty()) return Fail("etcd is not installed");
  TempDir dir;

  // ---- the single-node server, the baseline ----
  double single_rps = 0;
  {
    std::system(("mkdir -p " + dir.path() + "/single").c_str());
    Server single(dir.path() + "/single");
    if (!single.Start()) return Fail("single server: " + single.log());
    CommandResult t =
        RunIamledger({"iam", "token", "create", "admin", "--admin",
                      "--data-dir", single.data_dir()});
    if (t.exit_code != 0) return Fail("token: " + t.err);
    Figures f =
        CreateLoad({single.tcp()}, Trim(t.out), connections, seconds, "s");
    single_rps = f.ok / seconds;
    std::printf("BENCH single_create_per_s %.0f creates/s\n", single_rps);
    std::printf("BENCH single_create_p50 %.2f ms\n",
                Percentile(f.latency_ms, 0.5));
    std::printf("BENCH single_create_p99 %.2f ms\n",
                Percentile(f.latency_ms, 0.99));
    std::fflush(stdout);
    single.Stop();
  }

  // ---- the cluster ----
  EtcdMembers etcd(3, dir.path());
  if (!etcd.Start()) return Fail("etcd: " + etcd.log(0));
  const std::string key = dir.path() + "/cluster.key";
  std::vector<std::unique_ptr<Server>> nodes;
  std::vector<Endpoint> eps;
  std::vector<std::vector<std::string>> args;
  for (int i = 0; i < 3; ++i) {
    const std::string root = dir.path() + "/node" + std::to_string(i);
    std::system(("mkdir -p " + root).c_str());
    nodes.push_back(
        std::make_unique<Server>(root + "/data", key, root + ".log"));
    const uint16_t port = FreePort();
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    nodes[i]->set_listen(listen);
    args.push_back({"--etcd", etcd.client_urls(), "--node-name",
                    "n" + std::to_string(i), "--advertise",
                    "http://" + listen});
    if (!nodes[i]->Start(args[i])) return Fail("node: " + nodes[i]->log());
    eps.push_back(nodes[i]->tcp());
  }
  int leader = -1;
  for (int k = 0; k < 200 && leader < 0; ++k) {
    for (int i = 0; i < 3; ++i)
      if (Role(eps[i]) == "leader") leader = i;
    std::this_thread::sleep_for(milliseconds(50));
  }
  if (leader < 0) return Fail("no leader");
  CommandResult t = RunIamledger({"iam", "token", "create", "admin", "--admin",
                                  "--data-dir", nodes[0]->data_dir()});
  if (t.exit_code != 0) return Fail("token: " + t.err);
  const std::string token = Trim(t.out);
  const int follower = (leader + 1) % 3;

  // Replication lag, probed beside the load: a create on the leader, then
  // a read of that token on a follower with X-Iam-Min-Seq: its seq (held
  // until the follower applied it), minus the time of the same read once
  // applied (the read itself).
  std::mutex lag_mu;
  std::vector<double> lag_ms;
  std::atomic<bool> probe_stop{false};
  auto probe_loop = [&] {
    Connection lc(eps[leader]), fc(eps[follower]);
    for (int i = 0; !probe_stop; ++i) {
      const std::string id = "probe-" + std::to_string(i);
      if (!lc.Send(CreateRequest(token, id, id))) break;
      Response w = lc.Read(milliseconds(10000));
      if (w.status != 200) continue;
      const std::string get = "GET /apis/iam/v2/tokens/" + id +
                              " HTTP/1.1\r\nHost: x\r\napi-token: " + token +
                              "\r\nX-Iam-Min-Seq: " + w.Header("X-Iam-Seq") +
                              "\r\n\r\n";
      auto t0 = Clock::now();
      Response held_r;
      if (fc.Send(get)) held_r = fc.Read(milliseconds(10000));
      if (held_r.status != 200) {
        std::printf("probe: %d %s\n", held_r.status, held_r.body.c_str());
        break;
      }
      const double held =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      t0 = Clock::now();
      if (!fc.Send(get) || fc.Read(milliseconds(10000)).status != 200) break;
      const double plain =
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      {
        std::lock_guard<std::mutex> lock(lag_mu);
        lag_ms.push_back(std::max(0.0, held - plain));
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  };
  std::thread probe(probe_loop);
  Figures f = CreateLoad(eps, token, connections, seconds, "c");
  probe_stop = true;
  probe.join();
  const double cluster_rps = f.ok / seconds;
  {
    // Group commit on the leader: events per etcd transaction.
    Response m = Http(eps[leader], "GET", "/metrics");
    size_t at = m.body.find("\niamledger_group_commit_events_avg ");
    if (at != std::string::npos) {
      std::printf(
          "BENCH cluster_leader_events_per_group %s events\n",
          m.body.substr(at + 35, m.body.find('\n', at + 1) - at - 35).c_str());
    }
  }
  std::printf("BENCH cluster_create_per_s %.0f creates/s\n", cluster_rps);
  std::printf("RATIO cluster_vs_single_create %.2f\n",
              single_rps > 0 ? cluster_rps / single_rps : 0);
  std::printf("BENCH cluster_create_failed %llu requests\n",
              static_cast<unsigned long long>(f.failed));
  std::printf("BENCH cluster_commit_latency_p50 %.2f ms\n",
              Percentile(f.latency_ms, 0.5));
  std::printf("BENCH cluster_commit_latency_p99 %.2f ms\n",
              Percentile(f.latency_ms, 0.99));
  std::printf("BENCH cluster_replication_lag_p50 %.2f ms\n",
              Percentile(lag_ms, 0.5));
  std::printf("BENCH cluster_replication_lag_p99 %.2f ms\n",
              Percentile(lag_ms, 0.99));
  std::printf("BENCH cluster_replication_lag_samples %zu samples\n",
              lag_ms.size());
  std::fflush(stdout);

  // Failover: 8 writers through every node, each write retried with its
  // X-Request-Id on the next node until answered; kill -9 of the leader;
  // the window is the longest time without an acknowledged write after it.
  std::mutex ack_mu;
  std::vector<double> acks;
  std::atomic<bool> stop{false};
  const auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < 8; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        const std::string id =
            "f" + std::to_string(w) + "-" + std::to_string(i);
        for (int node = (w + i) % 3; !stop; node = (node + 1) % 3) {
          if (!nodes[node]->Running()) continue;
          Response r = Http(eps[node], "POST", "/apis/iam/v2/tokens",
                            {{"api-token", token},
                             {"X-Request-Id", id},
                             {"Content-Type", "application/json"}},
                            "{\"id\":\"" + id + "\",\"name\":\"" + id + "\"}",
                            milliseconds(10000));
          if (r.status == 200) {
            std::lock_guard<std::mutex> lock(ack_mu);
            acks.push_back(SecondsSince(start));
            break;
          }
          std::this_thread::sleep_for(milliseconds(20));
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(1500));
  const double killed_at = SecondsSince(start);
  ::kill(nodes[leader]->pid(), SIGKILL);
  nodes[leader]->Reap();
  std::this_thread::sleep_for(milliseconds(6000));
  stop = true;
  for (auto& th : writers) th.join();
  std::sort(acks.begin(), acks.end());
  double prev = killed_at, window = 0;
  for (double a : acks) {
    if (a < killed_at) continue;
    window = std::max(window, a - prev);
    prev = a;
  }
  if (prev == killed_at) window = SecondsSince(start) - killed_at;
  std::printf("BENCH cluster_failover_window_s %.2f s\n", window);
  for (auto& n : nodes) n->Stop();
  return 0;
}
