#include "api/cluster_front.h"

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "api/json_codec.h"

namespace iam::api {
namespace {

using SteadyClock = std::chrono::steady_clock;
using eventstore::ClusterRole;
using std::chrono::milliseconds;

int64_t UnixMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

HttpResponse ReadyzResponse(bool ok, std::string_view role, uint64_t applied,
                            const std::string& leader,
                            const std::string& reason,
                            const eventstore::ClusterStatus* st) {
  nlohmann::ordered_json j;
  j["status"] = ok ? "ready" : "unavailable";
  j["role"] = role;
  j["applied_seq"] = applied;
  j["leader"] = leader;
  if (st != nullptr) {
    j["leader_url"] = st->leader_url;
    j["cluster_seq"] = st->cluster_seq;
  }
  if (!ok) j["reason"] = reason;
  HttpResponse r = JsonResponse(j.dump(), ok ? 200 : 503);
  r.headers.emplace("Cache-Control", "no-store");
  return r;
}

// "42" -> 42; nullopt when malformed.
std::optional<uint64_t> ParseSeq(std::string_view v) {
  if (v.empty() || v.size() > 19 ||
      v.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::stoull(std::string(v));
}

}  // namespace

HttpResponse SingleNodeReadyz(bool ready, uint64_t applied_seq) {
  return ReadyzResponse(ready, "single", applied_seq, "",
                        "projections are catching up", nullptr);
}

struct ClusterFront::Impl {
  Impl(eventstore::Cluster* c, eventstore::EventStore* s,
       const projections::Projections* p, std::string key, std::string node,
       ClusterFrontOptions o)
      : cluster(c),
        store(s),
        projections(p),
        options(o),
        signer(key, node),
        forwarder(
            ForwardSigner(key, node),
            [this] {
              eventstore::ClusterStatus st = cluster->GetStatus();
              if (st.role == ClusterRole::kLeader)
                return std::string(Forwarder::kSelf);
              if (st.role == ClusterRole::kStopped) return std::string();
              return st.leader_url;
            },
            o.forwarder) {
    waiter = std::thread([this] { WaitLoop(); });
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) return;
      stopping = true;
    }
    cv.notify_all();
    if (waiter.joinable()) waiter.join();
  }

  // Calls done(true) once the local log holds `seq`, done(false) after
  // `timeout` (or when stopping). Never blocks the caller.
  void WhenApplied(uint64_t seq, milliseconds timeout,
                   std::function<void(bool)> done) {
    if (Applied() >= seq) return done(true);
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stopping) {
        waiters.push_back(
            Waiter{seq, SteadyClock::now() + timeout, std::move(done)});
        cv.notify_one();
        return;
      }
    }
    done(false);
  }

  void WaitLoop() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      cv.wait(lock, [&] { return stopping || !waiters.empty(); });
      if (stopping) break;
      uint64_t lowest = UINT64_MAX;
      for (const auto& w : waiters) lowest = std::min(lowest, w.seq);
      lock.unlock();
      // Woken by the store once its writer applied new events.
      store->WaitForEvents(lowest - 1, milliseconds(5));
      uint64_t last = Applied();
      if (last < lowest && store->LastSeq() >= lowest) {
        // Published, not yet applied (a moment): do not spin on it.
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        last = Applied();
      }
      lock.lock();
      const auto now = SteadyClock::now();
      std::vector<std::pair<std::function<void(bool)>, bool>> ready;
      std::vector<Waiter> keep;
      for (auto& w : waiters) {
        if (last >= w.seq) {
          ready.emplace_back(std::move(w.done), true);
        } else if (now >= w.deadline) {
          ready.emplace_back(std::move(w.done), false);
        } else {
          keep.push_back(std::move(w));
        }
      }
      waiters.swap(keep);
      lock.unlock();
      for (auto& [done, ok] : ready) done(ok);
      lock.lock();
    }
    std::vector<Waiter> rest;
    rest.swap(waiters);
    lock.unlock();
    for (auto& w : rest) w.done(Applied() >= w.seq);
  }

  struct Waiter {
    uint64_t seq;
    SteadyClock::time_point deadline;
    std::function<void(bool)> done;
  };

  uint64_t Applied() const { return projections->last_seq(); }

  eventstore::Cluster* const cluster;
  eventstore::EventStore* const store;
  const projections::Projections* const projections;
  const ClusterFrontOptions options;
  const ForwardSigner signer;
  Forwarder forwarder;

  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;        // guarded
  std::vector<Waiter> waiters;  // guarded
  std::thread waiter;
};

ClusterFront::ClusterFront(eventstore::Cluster* cluster,
                           eventstore::EventStore* store,
                           const projections::Projections* projections,
                           std::string forward_key, std::string node_name,
                           ClusterFrontOptions options)
    : impl_(std::make_unique<Impl>(cluster, store, projections,
                                   std::move(forward_key), std::move(node_name),
                                   options)) {}

ClusterFront::~ClusterFront() = default;

void ClusterFront::Stop() { impl_->Stop(); }

HttpResponse ClusterFront::Readyz(bool ready) const {
  const eventstore::ClusterStatus st = impl_->cluster->GetStatus();
  std::string_view role =
      st.role == ClusterRole::kLeader ? "leader" : "follower";
  std::string reason;
  if (st.cut_off) {
    reason = st.reason;
  } else if (!ready || !st.caught_up) {
    reason = "catching up with the cluster (applied seq " +
             std::to_string(st.applied_seq) + " of " +
             std::to_string(st.cluster_seq) + ")";
  }
  return ReadyzResponse(reason.empty(), role, st.applied_seq, st.leader_name,
                        reason, &st);
}

void ClusterFront::Admit(HttpRequest* request, bool is_write,
                         const std::string& request_id, Next next,
                         Answer answer) {
  Impl& d = *impl_;
  // 1. A forwarded request speaks for its client only with a valid MAC.
  bool forwarded = false;
  if (HasHeader(request->headers, kForwardedHeader)) {
    std::string remote, from;
    Status v = d.signer.Verify(*request, UnixMs(), &remote, &from);
    if (!v.ok()) return next(v);
    request->remote = std::move(remote);
    forwarded = true;
  }
  // 2. Fail closed.
  const eventstore::ClusterStatus st = d.cluster->GetStatus();
  if (st.cut_off && request->remote != "unix") {
    return next(UnavailableError(
        "this node is cut off from the cluster and fails closed until it "
        "catches up: " +
        st.reason));
  }
  // 3. Writes go to the leader.
  if (is_write && st.role != ClusterRole::kLeader) {
    if (forwarded) {
      HttpResponse r = ErrorResponse(
          UnavailableError("this node no longer leads the cluster; retry"),
          false);
      r.headers.emplace(kNotLeaderHeader, "1");
      return answer(std::move(r));
    }
    d.forwarder.Forward(
        *request, request_id, [&d, next, answer](Forwarder::Outcome out) {
          if (out.serve_here) return next(OkStatus());
          auto seq = ParseSeq(HeaderValue(out.response.headers, kSeqHeader));
          if (!seq || out.response.status / 100 != 2) {
            return answer(std::move(out.response));
          }
          auto shared = std::make_shared<HttpResponse>(std::move(out.response));
          d.WhenApplied(*seq, d.options.forwarded_apply_wait,
                        [answer, shared](bool) { answer(std::move(*shared)); });
        });
    return;
  }
  // 4. Read your writes.
  if (HasHeader(request->headers, kMinSeqHeader)) {
    auto seq = ParseSeq(HeaderValue(request->headers, kMinSeqHeader));
    if (!seq) {
      return next(InvalidArgumentError(
          "X-Iam-Min-Seq must be a sequence number (an X-Iam-Seq value), "
          "e.g. 42"));
    }
    return d.WhenApplied(
        *seq, d.options.min_seq_wait, [&d, seq = *seq, next](bool ok) {
          if (ok) return next(OkStatus());
          next(UnavailableError("this node has applied seq " +
                                std::to_string(d.Applied()) + ", not yet " +
                                std::to_string(seq) +
                                " (X-Iam-Min-Seq); retry, or ask another "
                                "node"));
        });
  }
  next(OkStatus());
}

}  // namespace iam::api
