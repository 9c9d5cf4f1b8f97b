// replay_bench: `iamledger replay verify`, `replay rebuild` and `backup
// create` (the real binary) over a log of N events, next to raw RocksDB
// iteration of the same data in the same run.
//
//   replay_bench [--dir DIR] [--events N] [--runs R] [--binary PATH]
//
// The log is filled through the event store (many events per append) with
// a token/policy lifecycle mix that keeps ~10,000 tokens alive, closed
// (checkpoint), then flushed and compacted as a long-lived log would be.
// Every figure is the median of R runs on a warm page cache.
// Then restart to ready (issue 13 item 3): `iamledger serve` on the same
// directory, timed from the fork to the first 200 from GET /readyz (the
// server answers only once its projections caught up with the log), on a
// loopback port of 25000-25999. The first start finds no projection
// snapshot and folds the whole log (`restart_cold_to_ready_s`, a
// diagnostic); its clean stop writes the snapshot, so every later start
// loads it and folds what follows (`restart_to_ready_1m_s`, median of R).
// Prints `BENCH <name> <value> <unit>` and `RATIO verify_vs_raw_iter`,
// `RATIO rebuild_vs_raw_iter`. Goals: verify >= 1,000,000 events/s and
// RATIO verify_vs_raw_iter >= 0.5 (issue 13); restart to ready with 1M
// events <= 2 s.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <rocksdb/db.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "core/defaults.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "eventstore/large_memory.h"
#include "eventstore/rocks_util.h"
#include "tests/testutil/server_harness.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace es = iam::eventstore;
namespace fs = std::filesystem;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "replay_bench: %s\n", what.c_str());
  std::exit(1);
}

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The 1-minute load average: the figures mean little when others run.
double LoadAverage() {
  double load = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = -1;
    std::fclose(f);
  }
  return load;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Events for unit k of the mix (about 7): token k is created and joins a
// policy; older tokens are renamed, reassigned, toggled; token k - 10,000
// leaves its policy and is deleted; now and then a policy is rewritten.
void UnitEvents(uint64_t k, std::vector<iam::Event>* out) {
  using namespace iam;
  auto tok = [](uint64_t i) { return "tok-" + std::to_string(i); };
  auto pol = [](uint64_t i) {
    return "bench-policy-" + std::to_string(i % 100);
  };
  // Distinct digests and ciphertexts, as HMACs and AES-GCM give.
  const iam::Hash h = es::Sha256("bench token " + std::to_string(k));
  const std::string digest(reinterpret_cast<const char*>(h.data()), h.size());
  std::string sealed = digest + digest + digest;
  sealed.resize(81, '\x01');
  out->push_back(TokenCreated{
      tok(k), "Token " + std::to_string(k), true, {}, digest, sealed});
  out->push_back(PolicyMembersAdded{pol(k), {"token:" + tok(k)}});
  if (k >= 5000) {
    out->push_back(TokenRenamed{tok(k - 5000),
                                "Token " + std::to_string(k - 5000) + " v2"});
  }
  if (k >= 3000) {
    out->push_back(TokenProjectsAssigned{
        tok(k - 3000), {"bench-project-" + std::to_string(k % 10)}});
  }
  if (k >= 2000) out->push_back(TokenStatusToggled{tok(k - 2000), k % 2 == 0});
  if (k >= 10000) {
    out->push_back(
        PolicyMembersRemoved{pol(k - 10000), {"token:" + tok(k - 10000)}});
    out->push_back(TokenDeleted{tok(k - 10000)});
  }
  if (k % 50 == 0) {
    Statement st{Effect::kAllow,
                 {"iam:tokens:get", "iam:tokens:list"},
                 "",
                 {"*"},
                 {"bench-project-" + std::to_string(k % 10)}};
    out->push_back(PolicyUpdated{pol(k),
                                 "Bench policy " + std::to_string(k),
                                 PolicyType::kCustom,
                                 {st},
                                 {}});
  }
}

// Fills `data_dir` with about `n` events; returns the last seq.
uint64_t Fill(const std::string& data_dir, const std::string& key_file,
              uint64_t n) {
  using namespace iam;
  auto keys = es::LoadOrCreateMasterKeys(key_file, true);
  if (!keys.ok()) Die(keys.status().ToString());
  es::StoreOptions options;
  options.checkpoint_key = keys->checkpoint_key;
  auto store = es::OpenRocksEventStore(data_dir, options);
  if (!store.ok()) Die(store.status().ToString());
  auto append = [&](std::vector<Event> events) {
    es::AppendRequest req;
    req.meta = {"token:bench", "bench-request-0123456789", "127.0.0.1"};
    req.events = std::move(events);
    auto r = (*store)->Append(std::move(req));
    if (!r.ok()) Die(r.status().ToString());
  };
  std::vector<Event> setup = FactoryDefaultEvents("bench-ledger");
  for (int i = 0; i < 10; ++i) {
    setup.push_back(ProjectCreated{"bench-project-" + std::to_string(i),
                                   "Bench project", PolicyType::kCustom});
  }
  for (int i = 0; i < 100; ++i) {
    setup.push_back(PolicyCreated{
        "bench-policy-" + std::to_string(i),
        "Bench policy",
        PolicyType::kCustom,
        {},
        {Statement{Effect::kAllow, {"iam:tokens:get"}, "", {"*"}, {"*"}}},
        {}});
  }
  append(std::move(setup));
  std::vector<Event> batch;
  for (uint64_t k = 0; (*store)->LastSeq() + batch.size() < n; ++k) {
    UnitEvents(k, &batch);
    if (batch.size() >= 1000) append(std::exchange(batch, {}));
  }
  if (!batch.empty()) append(std::move(batch));
  const uint64_t last = (*store)->LastSeq();
  if (iam::Status s = (*store)->Close(); !s.ok()) Die(s.ToString());
  store->reset();
  // Settle it as a long-lived log is: memtables flushed and compacted, so
  // that no open below replays a WAL of hundreds of MiB.
  es::RocksDb db;
  if (iam::Status s = db.Open(data_dir, /*read_only=*/false); !s.ok())
    Die(s.ToString());
  for (auto* cf : {db.events(), db.keys(), db.meta()}) {
    if (!db.db()->Flush(rocksdb::FlushOptions(), cf).ok()) Die("flush");
    if (!db.db()
             ->CompactRange(rocksdb::CompactRangeOptions(), cf, nullptr,
                            nullptr)
             .ok()) {
      Die("compact");
    }
  }
  return last;
}

using iam::Status;

// Opens the database read-only and iterates every event (the same read
// options as replay verify); returns the events seen.
uint64_t RawIterate(const std::string& data_dir) {
  es::RocksDb db;
  if (Status s = db.Open(data_dir, /*read_only=*/true); !s.ok())
    Die(s.ToString());
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(ro, db.events()));
  uint64_t n = 0, bytes = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ++n;
    bytes += it->value().size();
  }
  if (!it->status().ok()) Die(it->status().ToString());
  if (bytes == 0) Die("no data");
  return n;
}

double CpuSeconds(const rusage& ru) {
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// CPU seconds of this process so far (all threads).
double SelfCpuSeconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return CpuSeconds(ru);
}

// Runs the binary with `args`, stdout to `out_file`; dies unless it exits 0.
// Returns the CPU seconds it used (all threads).
double RunBinary(const std::string& binary,
                 const std::vector<std::string>& args,
                 const std::string& out_file) {
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) _exit(127);
    ::dup2(fd, 1);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  ::wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(args[0] + " " + args[1] + " failed; see " + out_file);
  }
  return CpuSeconds(ru);
}

// True when GET /readyz on 127.0.0.1:`port` answers 200.
bool Ready(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    const char req[] =
        "GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char buf[64] = {};
    if (::send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) ==
            static_cast<ssize_t>(sizeof(req) - 1) &&
        ::recv(fd, buf, sizeof(buf) - 1, 0) >= 12) {
      ok = std::strncmp(buf, "HTTP/1.1 200", 12) == 0;
    }
  }
  ::close(fd);
  return ok;
}

// Starts `serve` on `data_dir` (output to `log_file`), waits for /readyz,
// stops it with SIGTERM (a clean stop: checkpoint and projection snapshot)
// and returns the seconds from the fork to ready.
double RestartToReady(const std::string& binary, const std::string& data_dir,
                      const std::string& log_file) {
  const int port = iam::testutil::FreePort();
  if (port == 0) Die("no free loopback port");
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> argv_s = {binary,   "serve",    "--data-dir",
                                     data_dir, "--listen", listen};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd < 0) _exit(127);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  double ready_s = -1;
  while (Seconds(start) < 120) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      Die("serve exited before it was ready; see " + log_file);
    }
    if (Ready(port)) {
      ready_s = Seconds(start);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (ready_s < 0) Die("serve not ready within 120 s; see " + log_file);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die("serve did not stop cleanly; see " + log_file);
  }
  return ready_s;
}

}  // namespace

int main(int argc, char** argv) {
  // Huge pages for the large tables (core/model.h LargeMemory).
  iam::SetLargeMemory(iam::eventstore::HugePageMemory());
  std::string dir;
  uint64_t events = 1'000'000;
  int runs = 3;
  std::string binary =
      (fs::read_symlink("/proc/self/exe").parent_path() / "../../iamledger")
          .lexically_normal()
          .string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--dir")
      dir = argv[i + 1];
    else if (flag == "--events")
      events = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--runs")
      runs = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--binary")
      binary = argv[i + 1];
    else
      Die("unknown flag " + flag);
  }
  if (!fs::exists(binary)) Die("no iamledger binary at " + binary);
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/replay_bench-XXXXXX";
    if (!::mkdtemp(tmpl)) Die("mkdtemp failed");
    dir = tmpl;
  }
  fs::create_directories(dir);
  const std::string data = dir + "/data";
  const std::string key = dir + "/iamledger.key";  // the default location
  const std::string out = dir + "/out.txt";
  fs::remove_all(data);
  fs::remove(data + ".checkpoint");

  auto start = Clock::now();
  const uint64_t n = Fill(data, key, events);
  const double fill_s = Seconds(start);
  std::printf("BENCH fill_events_per_s %.0f events/s (%llu events, %.1f s)\n",
              n / fill_s, static_cast<unsigned long long>(n), fill_s);
  uint64_t bytes = 0;
  for (const auto& e : fs::directory_iterator(data)) {
    if (e.is_regular_file()) bytes += e.file_size();
  }
  std::printf("BENCH log_size %.1f MiB\n", bytes / 1048576.0);

  RawIterate(data);  // warm the page cache
  // Wall seconds (the figures) and CPU seconds (all threads: what the work
  // costs, whatever else runs on the machine).
  std::vector<double> raw, verify, rebuild, backup;
  std::vector<double> raw_cpu, verify_cpu, rebuild_cpu;
  for (int r = 0; r < runs; ++r) {
    start = Clock::now();
    const double cpu0 = SelfCpuSeconds();
    if (RawIterate(data) != n) Die("raw iteration saw a different count");
    raw.push_back(Seconds(start));
    raw_cpu.push_back(SelfCpuSeconds() - cpu0);

    start = Clock::now();
    verify_cpu.push_back(
        RunBinary(binary, {"replay", "verify", "--data-dir", data}, out));
    verify.push_back(Seconds(start));

    start = Clock::now();
    rebuild_cpu.push_back(
        RunBinary(binary, {"replay", "rebuild", "--data-dir", data}, out));
    rebuild.push_back(Seconds(start));

    const std::string to = dir + "/backup" + std::to_string(r);
    fs::remove_all(to);
    fs::remove(to + ".checkpoint");
    start = Clock::now();
    RunBinary(binary, {"backup", "create", "--data-dir", data, "--to", to},
              out);
    backup.push_back(Seconds(start));
    fs::remove_all(to);
    fs::remove(to + ".checkpoint");
  }
  const double raw_rate = n / Median(raw);
  const double verify_rate = n / Median(verify);
  const double rebuild_rate = n / Median(rebuild);
  std::printf("BENCH raw_iter_events_per_s %.0f events/s\n", raw_rate);
  std::printf("BENCH verify_events_per_s %.0f events/s\n", verify_rate);
  std::printf("BENCH rebuild_events_per_s %.0f events/s\n", rebuild_rate);
  std::printf("BENCH backup_create_s %.3f s\n", Median(backup));
  std::printf("BENCH raw_iter_cpu_s %.3f s\n", Median(raw_cpu));
  std::printf("BENCH verify_cpu_s %.3f s (2 threads)\n", Median(verify_cpu));
  std::printf("BENCH rebuild_cpu_s %.3f s (2 threads)\n", Median(rebuild_cpu));
  std::printf("BENCH load_average %.2f\n", LoadAverage());
  std::printf("RATIO verify_vs_raw_iter %.3f\n", verify_rate / raw_rate);
  std::printf("RATIO rebuild_vs_raw_iter %.3f\n", rebuild_rate / raw_rate);
  std::printf("GOAL verify >= 1000000 events/s: %s; ratio >= 0.5: %s\n",
              verify_rate >= 1e6 ? "met" : "MISSED",
              verify_rate / raw_rate >= 0.5 ? "met" : "MISSED");
  std::fflush(stdout);

  // Restart to ready, last: the server's runs add a checkpoint and the
  // snapshot to meta.
  const std::string serve_log = dir + "/serve.log";
  const double cold = RestartToReady(binary, data, serve_log);
  std::vector<double> warm;
  for (int r = 0; r < runs; ++r) {
    warm.push_back(RestartToReady(binary, data, serve_log));
  }
  const std::string suffix =
      n >= 1'000'000 && n < 1'100'000 ? "1m" : std::to_string(n);
  std::printf(
      "BENCH restart_cold_to_ready_s %.3f s (no snapshot: folds %llu "
      "events)\n",
      cold, static_cast<unsigned long long>(n));
  std::printf("BENCH restart_to_ready_%s_s %.3f s (from the snapshot)\n",
              suffix.c_str(), Median(warm));
  std::printf("BENCH restart_load_average %.2f\n", LoadAverage());
  std::printf("GOAL restart to ready <= 2 s: %s\n",
              Median(warm) <= 2.0 ? "met" : "MISSED");
  if (own_dir) fs::remove_all(dir);
  return 0;
}
