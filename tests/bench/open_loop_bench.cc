// open_loop_bench (issue 12 item 8; built, not run by `make test`): the
// latency of durable token creates under a constant request rate, measured
// without coordinated omission, next to the closed-loop maximum of the same
// server in the same run.
//
//   build/tests/bench/open_loop_bench [--seconds S] [--closed-seconds S]
//       [--connections C] [--fraction F] [--rate R] [--timeline]
//       [--server-arg ARG]...
//
// 1. Starts `iamledger serve` (IAM_BINARY) on a fresh data directory and
//    makes an admin token with `iam token create --admin`.
// 2. Closed loop (the baseline): C keep-alive connections (default 64), each
//    sending its next create as soon as the previous one is answered, for
//    --closed-seconds (default 10) after a 1 s warm-up: creates/s is the
//    maximum rate, printed as closed_loop_create_max.
// 3. Open loop: a schedule of intended send times at a constant rate R
//    (default --fraction 0.5 of that maximum; --rate sets it outright),
//    request i intended at t0 + i / R, for 2 s of warm-up plus --seconds
//    (default 30). A request is sent on any idle connection of the C once
//    its time has come; when all C are busy it waits for one. Its latency
//    runs from its INTENDED send time to its response, so a stall of the
//    server (or a queue of requests behind it) shows in full instead of
//    pausing the clock (coordinated omission). A request still unanswered
//    10 s after the schedule ended counts with its latency until then.
//
// One thread, epoll, non-blocking sockets, a timerfd for the schedule: the
// client takes little of the CPU it shares with the server.
//
// Prints `BENCH open_loop_create_{p50,p99,p999,max} <ms> ms`,
// `BENCH closed_loop_create_max <n> req/s`, the rate asked and achieved,
// errors, and `RATIO open_loop_rate_vs_closed_max` (achieved / maximum) and
// `RATIO open_loop_p99_vs_closed_p99`. With --timeline, one line per second
// on stderr (sent, answered, p99 and max latency of the requests intended in
// that second) to line a stall up with the server's log.
// Goals (issue 12 item 8): p99 <= 20 ms and p999 <= 50 ms at 50 %.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "tests/testutil/server_harness.h"

namespace {

using namespace iam::testutil;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
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

// One keep-alive connection with at most one request in flight.
struct Conn {
  int fd = -1;
  bool busy = false;
  std::string out;  // bytes not yet written
  size_t out_at = 0;
  std::string in;              // bytes of the response read so far
  Clock::time_point intended;  // of the request in flight
  bool counted = false;        // its latency is part of the figures
  size_t slot = 0;             // its index in the open loop's schedule
};

// The outcome of one phase.
struct Figures {
  uint64_t sent = 0;
  uint64_t ok = 0;
  uint64_t failed = 0;      // non-200 answers and connection errors
  uint64_t unanswered = 0;  // still in flight at the end
  std::vector<double> latency_ms;
  double seconds = 0;  // of the measured window
};

// Length of one complete response at the front of `in`, 0 if incomplete;
// `*status` gets its status code. The server always sets Content-Length.
size_t ResponseLength(const std::string& in, int* status) {
  size_t end = in.find("\r\n\r\n");
  if (end == std::string::npos) return 0;
  *status = in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
  size_t body = 0;
  for (size_t at = in.find("\r\n"); at < end;) {
    size_t next = in.find("\r\n", at + 2);
    std::string_view line(in.data() + at + 2, next - at - 2);
    constexpr std::string_view kName = "content-length:";
    if (line.size() > kName.size()) {
      bool match = true;
      for (size_t i = 0; i < kName.size() && match; ++i)
        match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
      if (match) body = std::strtoull(line.data() + kName.size(), nullptr, 10);
    }
    at = next;
  }
  return in.size() >= end + 4 + body ? end + 4 + body : 0;
}

class Load {
 public:
  Load(uint16_t port, std::string token, int connections)
      : port_(port), token_(std::move(token)), conns_(connections) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kTimerTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, timer_, &ev);
  }
  ~Load() {
    for (auto& c : conns_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(timer_);
    ::close(ep_);
  }

  // Every connection sends its next create when the last is answered;
  // creates answered in [warmup, warmup + seconds) are counted.
  Figures Closed(double warmup, double seconds) {
    Figures f;
    const auto start = Clock::now();
    const auto from = start + Dur(warmup);
    const auto until = from + Dur(seconds);
    f.seconds = seconds;
    for (auto& c : conns_) Send(c, Clock::now(), true, 0, &f);
    while (Clock::now() < until) {
      Poll(
          milliseconds(50),
          [&](Conn& c, int status, Clock::time_point now) {
            if (now >= from && now < until) Count(c, status, now, &f);
            Send(c, Clock::now(), true, 0, &f);
          },
          &f);
    }
    Drain(Clock::now() + milliseconds(10000), &f, /*count=*/false);
    return f;
  }

  // A constant `rate`: request i intended at t0 + i / rate; those intended
  // in [warmup, warmup + seconds) are counted. With `timeline`, per-second
  // lines on stderr.
  Figures Open(double rate, double warmup, double seconds, bool timeline) {
    Figures f;
    f.seconds = seconds;
    const auto t0 = Clock::now() + milliseconds(10);
    if (timeline) {
      // Second 0 of the timeline in wall-clock time, to line a stall up
      // with the server's log and RocksDB's LOG.
      const auto wall = std::chrono::system_clock::now() + milliseconds(10);
      const std::time_t secs = std::chrono::system_clock::to_time_t(wall);
      char stamp[32];
      std::strftime(stamp, sizeof stamp, "%Y/%m/%d-%H:%M:%S",
                    std::localtime(&secs));
      const auto ms =
          std::chrono::duration_cast<milliseconds>(wall.time_since_epoch())
              .count() %
          1000;
      std::fprintf(stderr, "timeline second 0 starts at %s.%03lld\n", stamp,
                   static_cast<long long>(ms));
    }
    const uint64_t total = static_cast<uint64_t>(rate * (warmup + seconds));
    const uint64_t first_counted = static_cast<uint64_t>(rate * warmup);
    auto intended = [&](uint64_t i) {
      return t0 + std::chrono::duration_cast<Clock::duration>(
                      std::chrono::duration<double>(i / rate));
    };
    std::vector<double> latency(total, -1);  // by slot, -1: not answered
    std::vector<bool> failed(total, false);
    std::deque<size_t> idle;
    for (size_t i = 0; i < conns_.size(); ++i) idle.push_back(i);
    uint64_t next = 0;  // the next slot to send
    size_t max_backlog = 0;
    auto on_answer = [&](Conn& c, int status, Clock::time_point now) {
      latency[c.slot] = Ms(now - c.intended);
      if (status != 200) failed[c.slot] = true;
      idle.push_back(&c - conns_.data());
    };
    while (next < total) {
      const auto now = Clock::now();
      // Every slot whose time has come goes out on an idle connection.
      while (next < total && intended(next) <= now && !idle.empty()) {
        Conn& c = conns_[idle.front()];
        idle.pop_front();
        if (!Send(c, intended(next), next >= first_counted, next, &f)) {
          latency[next] = Ms(Clock::now() - intended(next));
          failed[next] = true;
          idle.push_back(&c - conns_.data());
        }
        ++next;
      }
      size_t backlog = 0;
      for (uint64_t k = next; k < total && intended(k) <= now; ++k) ++backlog;
      max_backlog = std::max(max_backlog, backlog);
      // The timer wakes the loop for the next slot only when a connection
      // is idle to take it; otherwise the next answer does (no spinning
      // while the server is stalled).
      if (next < total && !idle.empty()) {
        Arm(intended(next));
      } else {
        Disarm();
      }
      Poll(milliseconds(100), on_answer, &f);
    }
    const auto end = Clock::now();
    // Answers still due, up to 10 s; then the rest count as unanswered
    // with their latency until now.
    Drain(end + milliseconds(10000), &f, /*count=*/false, on_answer);
    const auto last = Clock::now();
    for (uint64_t i = first_counted; i < total; ++i) {
      if (latency[i] < 0) {
        latency[i] = Ms(last - intended(i));
        failed[i] = true;
        f.unanswered++;
      }
      f.latency_ms.push_back(latency[i]);
      if (failed[i]) {
        f.failed++;
      } else {
        f.ok++;
      }
    }
    f.unanswered = std::min(f.unanswered, f.failed);
    if (timeline) {
      const uint64_t per = static_cast<uint64_t>(rate);
      for (uint64_t s = 0; s * per < total; ++s) {
        std::vector<double> sec(
            latency.begin() + s * per,
            latency.begin() + std::min(total, (s + 1) * per));
        uint64_t bad = 0;
        for (uint64_t i = s * per; i < std::min(total, (s + 1) * per); ++i)
          bad += failed[i];
        std::fprintf(stderr,
                     "timeline %3llu s: %zu requests, %llu failed, p50 %.2f "
                     "p99 %.2f max %.2f ms\n",
                     static_cast<unsigned long long>(s), sec.size(),
                     static_cast<unsigned long long>(bad), Percentile(sec, 0.5),
                     Percentile(sec, 0.99), Percentile(sec, 1.0));
      }
    }
    std::fprintf(stderr,
                 "open loop: most requests waiting for a connection "
                 "at once: %zu\n",
                 max_backlog);
    return f;
  }

 private:
  static constexpr uint64_t kTimerTag = ~uint64_t{0};

  static Clock::duration Dur(double s) {
    return std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(s));
  }

  void Arm(Clock::time_point at) {
    itimerspec its{};
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  at.time_since_epoch())
                  .count();
    if (ns <= 0) ns = 1;
    its.it_value.tv_sec = ns / 1000000000;
    its.it_value.tv_nsec = ns % 1000000000;
    // steady_clock is CLOCK_MONOTONIC on Linux.
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  void Disarm() {
    itimerspec its{};
    timerfd_settime(timer_, 0, &its, nullptr);
  }

  bool Connect(Conn& c) {
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) !=
        0) {
      ::close(c.fd);
      c.fd = -1;
      return false;
    }
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = &c - conns_.data();
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  void Drop(Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.busy = false;
    c.in.clear();
    c.out.clear();
  }

  std::string Request() {
    const std::string id = "ol" + std::to_string(seq_++);
    const std::string body = "{\"name\":\"" + id + "\"}";
    return "POST /apis/iam/v2/tokens HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "api-token: " +
           token_ + "\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  // Sends one create on `c` (connecting first if needed); false when the
  // connection could not be made or written.
  bool Send(Conn& c, Clock::time_point intended, bool counted, size_t slot,
            Figures* f) {
    if (c.fd < 0 && !Connect(c)) return false;
    c.out = Request();
    c.out_at = 0;
    c.in.clear();
    c.busy = true;
    c.intended = intended;
    c.counted = counted;
    c.slot = slot;
    f->sent++;
    while (c.out_at < c.out.size()) {
      ssize_t n = ::send(c.fd, c.out.data() + c.out_at, c.out.size() - c.out_at,
                         MSG_NOSIGNAL);
      if (n > 0) {
        c.out_at += n;
        continue;
      }
      if (n < 0 && errno == EAGAIN) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = &c - conns_.data();
        epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
        return true;
      }
      Drop(c);
      return false;
    }
    return true;
  }

  void Count(Conn& c, int status, Clock::time_point now, Figures* f) {
    if (!c.counted) return;
    if (status == 200) {
      f->ok++;
      f->latency_ms.push_back(Ms(now - c.intended));
    } else {
      f->failed++;
    }
  }

  // Waits up to `timeout` for events; each complete response goes to
  // answered(conn, status, now). A connection error answers status 0.
  template <typename F>
  void Poll(Clock::duration timeout, F&& answered, Figures* f) {
    epoll_event events[128];
    int n = epoll_wait(
        ep_, events, 128,
        static_cast<int>(std::max<int64_t>(
            1, std::chrono::duration_cast<milliseconds>(timeout).count())));
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        uint64_t expirations;
        (void)!::read(timer_, &expirations, sizeof(expirations));
        continue;
      }
      Conn& c = conns_[events[i].data.u64];
      if (c.fd < 0) continue;
      if (events[i].events & EPOLLOUT) {
        while (c.out_at < c.out.size()) {
          ssize_t k = ::send(c.fd, c.out.data() + c.out_at,
                             c.out.size() - c.out_at, MSG_NOSIGNAL);
          if (k <= 0) break;
          c.out_at += k;
        }
        if (c.out_at == c.out.size()) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = events[i].data.u64;
          epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
        }
      }
      if (!(events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
      char buf[16384];
      bool closed = false;
      for (;;) {
        ssize_t k = ::recv(c.fd, buf, sizeof(buf), 0);
        if (k > 0) {
          c.in.append(buf, k);
          continue;
        }
        if (k == 0 || errno != EAGAIN) closed = true;
        break;
      }
      int status = 0;
      size_t len = ResponseLength(c.in, &status);
      if (len > 0 && c.busy) {
        c.in.erase(0, len);
        c.busy = false;
        if (closed) Drop(c);
        answered(c, status, now);
      } else if (closed) {
        const bool was_busy = c.busy;
        Drop(c);
        if (was_busy) answered(c, 0, now);
      }
    }
    (void)f;
  }

  // Reads answers until none is in flight or `deadline`.
  template <typename F>
  void Drain(Clock::time_point deadline, Figures* f, bool count, F&& answered) {
    while (Clock::now() < deadline &&
           std::any_of(conns_.begin(), conns_.end(),
                       [](const Conn& c) { return c.busy; })) {
      Poll(milliseconds(50), answered, f);
    }
    (void)count;
  }
  void Drain(Clock::time_point deadline, Figures* f, bool count) {
    Drain(deadline, f, count, [](Conn&, int, Clock::time_point) {});
  }

  const uint16_t port_;
  const std::string token_;
  std::vector<Conn> conns_;
  int ep_ = -1;
  int timer_ = -1;
  uint64_t seq_ = 0;
};

int Fail(const std::string& why) {
  std::printf("FAILED open_loop_bench: %s\n", why.c_str());
  return 1;
}

// A few of the server's own figures (group commit, syncs) on stderr.
void PrintServerMetrics(const Endpoint& ep) {
  Response m = Http(ep, "GET", "/metrics");
  size_t at = 0;
  while (at < m.body.size()) {
    size_t end = m.body.find('\n', at);
    if (end == std::string::npos) end = m.body.size();
    std::string_view line(m.body.data() + at, end - at);
    if (line.find("group") != std::string_view::npos ||
        line.find("sync") != std::string_view::npos ||
        line.find("stall") != std::string_view::npos) {
      if (!line.starts_with("#"))
        std::fprintf(stderr, "server %.*s\n", static_cast<int>(line.size()),
                     line.data());
    }
    at = end + 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 30, closed_seconds = 10, fraction = 0.5, rate = 0;
  int connections = 64;
  bool timeline = false;
  std::vector<std::string> server_args;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "--seconds" && has) {
      seconds = std::atof(argv[++i]);
    } else if (a == "--closed-seconds" && has) {
      closed_seconds = std::atof(argv[++i]);
    } else if (a == "--connections" && has) {
      connections = std::atoi(argv[++i]);
    } else if (a == "--fraction" && has) {
      fraction = std::atof(argv[++i]);
    } else if (a == "--rate" && has) {
      rate = std::atof(argv[++i]);
    } else if (a == "--server-arg" && has) {
      server_args.push_back(argv[++i]);
    } else if (a == "--timeline") {
      timeline = true;
    } else {
      std::fprintf(stderr,
                   "usage: %s [--seconds S] [--closed-seconds S] "
                   "[--connections C] [--fraction F] [--rate R] [--timeline] "
                   "[--server-arg ARG]...\n",
                   argv[0]);
      return 2;
    }
  }
  if (connections < 1 || seconds <= 0 || closed_seconds <= 0)
    return Fail("bad arguments");
  TempDir dir;
  if (dir.path().empty()) return Fail("no temporary directory");
  Server server(dir.path());
  if (!server.Start(server_args)) return Fail("server: " + server.log());
  CommandResult t = RunIamledger({"iam", "token", "create", "bench-admin",
                                  "--admin", "--data-dir", server.data_dir(),
                                  "--key-file", server.key_file()});
  if (t.exit_code != 0) return Fail("token: " + t.err);
  const std::string token = Trim(t.out);

  Load load(server.port(), token, connections);
  Figures closed = load.Closed(/*warmup=*/1, closed_seconds);
  const double max_rps = closed.ok / closed.seconds;
  if (closed.ok == 0) return Fail("no create succeeded: " + server.log());
  std::printf("BENCH closed_loop_create_max %.0f req/s\n", max_rps);
  std::printf("BENCH closed_loop_create_p50 %.2f ms\n",
              Percentile(closed.latency_ms, 0.5));
  std::printf("BENCH closed_loop_create_p99 %.2f ms\n",
              Percentile(closed.latency_ms, 0.99));
  std::printf("BENCH closed_loop_create_failed %llu requests\n",
              static_cast<unsigned long long>(closed.failed));
  std::fflush(stdout);

  if (rate <= 0) rate = fraction * max_rps;
  Figures open = load.Open(rate, /*warmup=*/2, seconds, timeline);
  const double achieved = open.ok / open.seconds;
  std::printf("BENCH open_loop_create_rate_asked %.0f req/s\n", rate);
  std::printf("BENCH open_loop_create_rate %.0f req/s\n", achieved);
  std::printf("BENCH open_loop_create_p50 %.2f ms\n",
              Percentile(open.latency_ms, 0.5));
  std::printf("BENCH open_loop_create_p99 %.2f ms\n",
              Percentile(open.latency_ms, 0.99));
  std::printf("BENCH open_loop_create_p999 %.2f ms\n",
              Percentile(open.latency_ms, 0.999));
  std::printf("BENCH open_loop_create_max %.2f ms\n",
              Percentile(open.latency_ms, 1.0));
  std::printf("BENCH open_loop_create_failed %llu requests\n",
              static_cast<unsigned long long>(open.failed));
  std::printf("BENCH open_loop_create_unanswered %llu requests\n",
              static_cast<unsigned long long>(open.unanswered));
  std::printf("RATIO open_loop_rate_vs_closed_max %.2f\n", achieved / max_rps);
  const double closed_p99 = Percentile(closed.latency_ms, 0.99);
  std::printf(
      "RATIO open_loop_p99_vs_closed_p99 %.2f\n",
      closed_p99 > 0 ? Percentile(open.latency_ms, 0.99) / closed_p99 : 0);
  std::fflush(stdout);
  PrintServerMetrics(server.tcp());
  if (server.Stop() != 0) return Fail("server did not stop cleanly");
  return 0;
}
