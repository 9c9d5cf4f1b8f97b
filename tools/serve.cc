#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <utility>

#include "api/cluster_front.h"
#include "api/forward.h"
#include "api/http_server.h"
#include "api/ledger.h"
#include "api/request_log.h"
#include "api/service.h"
#include "tools/cluster_mode.h"
#include "tools/commands.h"

namespace iam::tools {
namespace {

// File descriptors kept for everything but client connections (the log,
// its SST files, the admin socket, listeners, etcd/peer clients).
constexpr uint64_t kReservedFds = 512;

// Raises the soft open-file limit to the hard one, and lowers `wanted`
// connections so that they fit in it beside kReservedFds: past the cap a
// connection is closed at once, rather than accept() failing with EMFILE
// and the store unable to open a file.
size_t FitConnectionsToFileLimit(uint64_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return wanted;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY) return wanted;
  const uint64_t room = rl.rlim_cur > kReservedFds * 2
                            ? rl.rlim_cur - kReservedFds
                            : rl.rlim_cur / 2;
  if (wanted <= room) return wanted;
  std::fprintf(stderr,
               "iamledger: --max-connections %llu lowered to %llu to fit the "
               "open-file limit (%llu)\n",
               static_cast<unsigned long long>(wanted),
               static_cast<unsigned long long>(room),
               static_cast<unsigned long long>(rl.rlim_cur));
  return room;
}

}  // namespace

int RunServe(const ServeFlags& flags) {
  // Signals are taken by one thread with sigwait, so block them everywhere
  // before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto revoke_limit = api::ParseRateLimit(flags.revoke_rate_limit);
  if (!revoke_limit.ok()) {
    std::fprintf(stderr, "iamledger: --revoke-rate-limit: %s\n",
                 revoke_limit.status().message().c_str());
    return 2;
  }
  auto auth_limit = api::ParseRateLimit(flags.auth_failure_rate_limit);
  if (!auth_limit.ok()) {
    std::fprintf(stderr, "iamledger: --auth-failure-rate-limit: %s\n",
                 auth_limit.status().message().c_str());
    return 2;
  }
  api::HttpLimits limits;
  const std::pair<const char*, const std::string*> durations[] = {
      {"--header-timeout", &flags.header_timeout},
      {"--body-timeout", &flags.body_timeout},
      {"--idle-timeout", &flags.idle_timeout},
      {"--write-timeout", &flags.write_timeout}};
  std::chrono::milliseconds* targets[] = {
      &limits.header_timeout, &limits.body_timeout, &limits.idle_timeout,
      &limits.write_timeout};
  for (size_t i = 0; i < std::size(durations); ++i) {
    auto d = ParseDuration(*durations[i].second);
    if (!d.ok()) {
      std::fprintf(stderr, "iamledger: %s: %s\n", durations[i].first,
                   d.status().message().c_str());
      return 2;
    }
    *targets[i] = std::chrono::milliseconds(*d / 1000);
  }
  limits.max_connections = FitConnectionsToFileLimit(flags.max_connections);
  Micros max_lifetime = 0;
  if (!flags.max_token_lifetime.empty()) {
    auto d = ParseDuration(flags.max_token_lifetime);
    if (!d.ok()) {
      std::fprintf(stderr, "iamledger: --max-token-lifetime: %s\n",
                   d.status().message().c_str());
      return 2;
    }
    max_lifetime = *d;
  }
  api::LedgerOptions lo;
  lo.data_dir = flags.data_dir;
  lo.key_file = flags.key_file;
  // Cluster mode: etcd is the commit point; this directory one replica.
  api::RequestLog request_log;
  const bool cluster_mode = !flags.etcd.empty();
  if (cluster_mode) {
    auto co = ClusterOptionsFromFlags(flags);
    if (!co.ok()) {
      std::fprintf(stderr, "iamledger: %s\n", co.status().message().c_str());
      return 2;
    }
    co->on_fatal = [](const Status& why) {
      std::fprintf(stderr,
                   "iamledger: REPLICATION STOPPED, this node fails closed "
                   "(503) until it is restarted: %s\n",
                   why.message().c_str());
    };
    lo.cluster = std::move(*co);
    lo.observer = &request_log;
  } else if (Status s = RefuseClusterReplica(flags.data_dir,
                                             "serving it without --etcd");
             !s.ok()) {
    std::fprintf(stderr, "iamledger: %s\n", s.message().c_str());
    return 1;
  }
  auto ledger = api::Ledger::Open(lo);
  if (!ledger.ok()) {
    std::fprintf(stderr, "iamledger: cannot open %s: %s\n",
                 flags.data_dir.c_str(), ledger.status().message().c_str());
    return 1;
  }
  std::unique_ptr<api::ClusterFront> front;
  if (cluster_mode) {
    if (Status s = WriteClusterMarker(flags); !s.ok()) {
      std::fprintf(stderr, "iamledger: %s\n", s.message().c_str());
      return 1;
    }
    front = std::make_unique<api::ClusterFront>(
        (*ledger)->cluster(), (*ledger)->store(), (*ledger)->projections(),
        api::DeriveForwardKey((*ledger)->keys().checkpoint_key),
        flags.node_name);
  }
  api::ServiceOptions so;
  so.cluster = front.get();
  so.request_log = cluster_mode ? &request_log : nullptr;
  so.token_values =
      flags.show_once ? api::TokenValues::kShowOnce : api::TokenValues::kReveal;
  so.lifecycle.revoke_limit = *revoke_limit;
  so.auth_limit.limit = *auth_limit;
  so.auth_limit.max_addresses = flags.rate_limit_addresses;
  so.lifecycle.max_token_lifetime = max_lifetime;
  so.audit.snapshot_every = flags.audit_snapshot_every;
  api::Service service((*ledger)->store(), (*ledger)->projections(),
                       (*ledger)->keys(), so);
  api::HttpServerOptions ho;
  ho.listen = flags.listen;
  ho.unix_socket = flags.data_dir + "/admin.sock";
  ho.threads = flags.threads;
  ho.tls_cert_file = flags.tls_cert;
  ho.tls_key_file = flags.tls_key;
  ho.limits = limits;
  api::HttpServer server(
      ho, [&service](api::HttpRequest r, api::Responder respond) {
        service.Handle(std::move(r), std::move(respond));
      });
  service.SetExtraMetrics(
      [&server](std::string* out) { api::AppendMetrics(server.stats(), out); });
  if (Status s = server.Listen(); !s.ok()) {
    std::fprintf(stderr, "iamledger: cannot listen on %s: %s\n",
                 flags.listen.c_str(), s.message().c_str());
    return 1;
  }
  service.SetReady(true);
  if (cluster_mode) {
    std::fprintf(stderr,
                 "iamledger: cluster node %s (advertised as %s), etcd %s, "
                 "max staleness %s\n",
                 flags.node_name.c_str(), lo.cluster->advertise_url.c_str(),
                 flags.etcd.c_str(), flags.max_staleness.c_str());
  }
  std::fprintf(stderr,
               "iamledger: serving %s on %s://%s (port %u), admin socket %s, "
               "log at seq %llu\n"
               "iamledger: create an admin token with:\n"
               "  export TOKEN=$(build/iamledger iam token create admin "
               "--admin --data-dir %s)\n",
               flags.data_dir.c_str(),
               flags.tls_cert.empty() ? "http" : "https", flags.listen.c_str(),
               static_cast<unsigned>(server.port()), ho.unix_socket.c_str(),
               static_cast<unsigned long long>((*ledger)->store()->LastSeq()),
               flags.data_dir.c_str());
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "iamledger: %s, stopping\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT");
    service.Shutdown();  // long-polls answer now instead of holding the drain
    server.Stop();
  });
  // Snapshot the projections every 100,000 events, so that a restart after
  // a crash folds at most that many (a clean stop snapshots at close). The
  // snapshot is a private fold (Ledger::WriteSnapshot): writers never wait
  // for it.
  std::mutex snap_mu;
  std::condition_variable snap_cv;
  bool stopping = false;
  std::thread snapshotter([&] {
    // SCHED_IDLE, below the request threads: its fold only uses CPU they
    // leave idle.
    sched_param idle{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    constexpr uint64_t kEvery = 100'000;
    uint64_t last = (*ledger)->projections()->last_seq();
    std::unique_lock<std::mutex> lock(snap_mu);
    while (!snap_cv.wait_for(lock, std::chrono::seconds(10),
                             [&] { return stopping; })) {
      uint64_t seq = (*ledger)->projections()->last_seq();
      if (seq - last < kEvery) continue;
      lock.unlock();
      Status s = (*ledger)->WriteSnapshot();
      if (!s.ok()) {
        std::fprintf(stderr, "iamledger: snapshot failed: %s\n",
                     s.message().c_str());
      }
      last = seq;
      lock.lock();
    }
  });
  server.Run();  // returns once in-flight requests are done
  {
    std::lock_guard<std::mutex> lock(snap_mu);
    stopping = true;
  }
  snap_cv.notify_all();
  snapshotter.join();
  service.Shutdown();
  if (front) front->Stop();
  Status closed = (*ledger)->Close();  // writes a checkpoint
  // Wake the signal thread if the server stopped for another reason.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  if (!closed.ok()) {
    std::fprintf(stderr, "iamledger: close failed: %s\n",
                 closed.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "iamledger: stopped cleanly\n");
  return 0;
}

}  // namespace iam::tools
