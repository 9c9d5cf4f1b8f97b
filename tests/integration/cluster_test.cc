// Cluster mode end to end (DESIGN.md §10, API.md "Cluster headers"): three
// etcd members and three `iamledger serve --etcd` nodes on loopback.
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "tests/integration/cluster_util.h"

namespace iam::integration {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// One logical write retried with the same X-Request-Id on the next node
// until it gets an answer other than 503 / no answer, or `ms` pass.
Response Retried(const ClusterEnv& env, int first_node, const std::string& rid,
                 const std::string& method, const std::string& target,
                 const std::string& body, int ms = 15000,
                 int* tries = nullptr) {
  const auto deadline = Clock::now() + milliseconds(ms);
  int node = first_node;
  Response r;
  for (int attempt = 0;; ++attempt) {
    if (tries) *tries = attempt + 1;
    if (env.nodes[node]->Running()) {
      r = env.Admin(node).Call(method, target, body, {{"X-Request-Id", rid}});
      if (r.status != 0 && r.status != 503) return r;
    }
    if (Clock::now() > deadline) return r;
    node = (node + 1) % static_cast<int>(env.nodes.size());
    std::this_thread::sleep_for(milliseconds(50));
  }
}

TEST_CASE(
    "cluster - writes through three nodes at once give gapless seqs and one "
    "chain and state (forwarding and headers and read-your-writes and "
    "rotate and revoke through followers and audit on a follower)") {
  START_CLUSTER(env);
  const int leader = env.WaitLeader();
  REQUIRE(leader >= 0);
  const int f1 = (leader + 1) % 3, f2 = (leader + 2) % 3;

  // /readyz fields (API.md).
  {
    Json j = env.Ready(f1).JsonBody();
    for (int i = 0; i < 100 && j.value("leader", "").empty(); ++i) {
      std::this_thread::sleep_for(milliseconds(20));  // learnt each 150 ms
      j = env.Ready(f1).JsonBody();
    }
    CHECK(j["status"] == "ready");
    CHECK(j["role"] == "follower");
    CHECK(j["leader"] == "n" + std::to_string(leader));
    CHECK(j.contains("applied_seq"));
    CHECK(env.Ready(leader).JsonBody()["role"] == "leader");
  }

  // Three writers, one per node, at once.
  constexpr int kPerNode = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int n = 0; n < 3; ++n) {
    writers.emplace_back([&, n] {
      for (int i = 0; i < kPerNode; ++i) {
        const std::string id =
            "w" + std::to_string(n) + "-" + std::to_string(i);
        Response r = env.Admin(n).Post("/apis/iam/v2/tokens", TokenBody(id));
        if (r.status != 200 || SeqOf(r) == 0 ||
            r.Header("X-Request-Id").empty())
          failures++;
      }
    });
  }
  for (auto& t : writers) t.join();
  CHECK(failures == 0);

  // A write through a follower: the leader's answer, with X-Iam-Seq.
  Response made =
      env.Admin(f1).Post("/apis/iam/v2/tokens", TokenBody("via-f1"));
  REQUIRE(made.status == 200);
  const uint64_t seq = SeqOf(made);
  REQUIRE(seq > 0);
  CHECK(made.JsonBody()["token"]["id"] == "via-f1");
  CHECK(env.Admin(f1)
            .Get("/apis/iam/v2/tokens/via-f1",
                 {{"X-Iam-Min-Seq", std::to_string(seq)}})
            .status == 200);
  // Read your writes anywhere with X-Iam-Min-Seq.
  Response got = env.Admin(f2).Get("/apis/iam/v2/tokens/via-f1",
                                   {{"X-Iam-Min-Seq", std::to_string(seq)}});
  CHECK(got.status == 200);
  CHECK(got.Header("ETag") == "\"1\"");
  // Far ahead: a bounded wait, then 503 with the error body.
  {
    auto start = Clock::now();
    Response ahead = env.Admin(f2).Get("/apis/iam/v2/tokens/via-f1",
                                       {{"X-Iam-Min-Seq", "999999"}});
    CHECK(ahead.status == 503);
    CHECK(ahead.JsonBody()["code"] == 14);
    CHECK(SecondsSince(start) < 6);
    CHECK(env.Admin(f2)
              .Get("/apis/iam/v2/tokens", {{"X-Iam-Min-Seq", "x"}})
              .status == 400);
  }
  // If-Match through a follower: the leader's 412.
  CHECK(env.Admin(f2)
            .Put("/apis/iam/v2/tokens/via-f1", Json{{"name", "x"}},
                 {{"If-Match", "\"7\""}})
            .status == 412);
  // A forged forward is refused.
  CHECK(env.Admin(leader)
            .Post("/apis/iam/v2/tokens", TokenBody("forged"),
                  {{"X-Iam-Forwarded",
                    "v1;node=n9;ts=1;remote=unix;sig=" + std::string(64, '0')}})
            .status == 401);

  // Rotation through a follower; the new value works on the other one.
  Response rotated =
      env.Admin(f1).Post("/apis/iam/v2/tokens/w0-1:rotate", "{}");
  REQUIRE_MESSAGE(rotated.status == 200, rotated.body);
  const std::string new_value = rotated.JsonBody()["token"].value("value", "");
  REQUIRE(!new_value.empty());
  CHECK(Api{env.nodes[f2]->tcp(), new_value}
            .Get("/apis/iam/v2/tokens/w0-1",
                 {{"X-Iam-Min-Seq", std::to_string(SeqOf(rotated))}})
            .status != 401);

  // Revoked through A (unauthenticated revocation, a write: forwarded),
  // refused by B on the next request carrying A's X-Iam-Seq.
  Response victim =
      env.Admin(f1).Post("/apis/iam/v2/tokens", TokenBody("victim"));
  REQUIRE(victim.status == 200);
  const std::string value = victim.JsonBody()["token"].value("value", "");
  Api as_victim{env.nodes[f2]->tcp(), value};
  CHECK(as_victim
            .Get("/apis/iam/v2/tokens",
                 {{"X-Iam-Min-Seq", std::to_string(SeqOf(victim))}})
            .status != 401);
  Response revoked = env.Anon(f1).Post("/apis/iam/v2/tokens:revoke",
                                       Json{{"values", {value}}});
  REQUIRE_MESSAGE(revoked.status == 200, revoked.body);
  const uint64_t revoked_seq = SeqOf(revoked);
  REQUIRE(revoked_seq > 0);
  CHECK(as_victim
            .Get("/apis/iam/v2/tokens",
                 {{"X-Iam-Min-Seq", std::to_string(revoked_seq)}})
            .status == 401);

  // Audit on a follower: the revocation is in its log.
  Response audit = env.Admin(f2).Get(
      "/apis/iam/v2/audit/check?subject=token:admin&action=iam:tokens:list"
      "&resource=iam:tokens",
      {{"X-Iam-Min-Seq", std::to_string(revoked_seq)}});
  CHECK_MESSAGE(audit.status == 200, audit.body);
  CHECK(audit.JsonBody()["allowed"] == true);
  CHECK(audit.JsonBody()["at_seq"].get<uint64_t>() >= revoked_seq);

  // Everyone holds the same log: gapless seqs, one chain, one state.
  REQUIRE(env.WaitApplied(revoked_seq));
  std::vector<Json> feed = Feed(env.Admin(leader));
  REQUIRE(!feed.empty());
  for (size_t i = 0; i < feed.size(); ++i)
    CHECK(feed[i]["seq"].get<uint64_t>() == i + 1);
  CHECK(Feed(env.Admin(f1)) == feed);
  CHECK(Feed(env.Admin(f2)) == feed);
  std::string out;
  const std::string d0 = env.Digest(0, &out);
  REQUIRE_MESSAGE(!d0.empty(), out);
  CHECK(env.Digest(1) == d0);
  CHECK(env.Digest(2) == d0);
}

// Writers creating tokens through every node, each write retried with its
// X-Request-Id until it is answered; what they saw.
struct Load {
  const ClusterEnv& env;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, int> outcome;  // request id -> final status
  std::vector<double> acked_at;        // seconds since start, per ack
  Clock::time_point start = Clock::now();
  std::vector<std::thread> threads;

  Load(const ClusterEnv& e, int writers, const std::string& prefix) : env(e) {
    for (int t = 0; t < writers; ++t) {
      threads.emplace_back([this, t, prefix] {
        for (int i = 0; !stop; ++i) {
          const std::string id =
              prefix + std::to_string(t) + "-" + std::to_string(i);
          Response r = Retried(env, (t + i) % 3, id, "POST",
                               "/apis/iam/v2/tokens", TokenBody(id).dump());
          std::lock_guard<std::mutex> lock(mu);
          outcome[id] = r.status;
          if (r.status == 200) acked_at.push_back(SecondsSince(start));
        }
      });
    }
  }
  void Join() {
    stop = true;
    for (auto& t : threads) t.join();
  }
  // The longest time without an acknowledged write after `from` seconds.
  double LongestGapAfter(double from) {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<double> t = acked_at;
    std::sort(t.begin(), t.end());
    double prev = from, gap = 0;
    for (double x : t) {
      if (x < from) continue;
      gap = std::max(gap, x - prev);
      prev = x;
    }
    return gap;
  }
};

// Every acknowledged write is in the log exactly once; none other.
void CheckExactlyOnce(const ClusterEnv& env, int node, Load& load,
                      const std::string& prefix) {
  std::map<std::string, int> seen;  // request id -> TokenCreated events
  for (const Json& e : Feed(env.Admin(node))) {
    if (e["type"] != "TokenCreated") continue;
    const std::string rid = e.value("request_id", "");
    if (rid.rfind(prefix, 0) == 0) seen[rid]++;
  }
  int acked = 0, lost = 0, twice = 0, refused = 0;
  for (const auto& [rid, status] : load.outcome) {
    if (status == 200) {
      ++acked;
      if (seen[rid] == 0) ++lost;
    } else {
      ++refused;
    }
  }
  for (const auto& [rid, n] : seen) {
    if (n > 1) ++twice;
    // Applied but never acknowledged would be fine only for writes whose
    // client gave up; ours retry until answered.
  }
  MESSAGE("writes acknowledged: ", acked, ", acknowledged but lost: ", lost,
          ", applied twice: ", twice, ", not acknowledged: ", refused);
  CHECK(acked > 0);
  CHECK(lost == 0);
  CHECK(twice == 0);
  CHECK(refused == 0);  // every write got its 200, none a 409 on retry
}

TEST_CASE(
    "cluster - kill -9 of the iamledger leader under write load loses no "
    "acknowledged write and applies none twice") {
  START_CLUSTER(env);
  const int old_leader = env.WaitLeader();
  REQUIRE(old_leader >= 0);
  Load load(env, 4, "k");
  std::this_thread::sleep_for(milliseconds(1500));
  const double killed_at = SecondsSince(load.start);
  ::kill(env.nodes[old_leader]->pid(), SIGKILL);
  env.nodes[old_leader]->Reap();
  const int new_leader = env.WaitLeader(15000, old_leader);
  REQUIRE(new_leader >= 0);
  CHECK(new_leader != old_leader);
  std::this_thread::sleep_for(milliseconds(2000));
  load.Join();
  const double window = load.LongestGapAfter(killed_at);
  MESSAGE("write-unavailability window after kill -9 of the leader: ", window,
          " s");
  CHECK(window < 10);
  // The killed node comes back as a follower and catches up.
  REQUIRE(env.StartNode(old_leader));
  Response last = env.Admin(new_leader)
                      .Post("/apis/iam/v2/tokens", TokenBody("after-failover"));
  REQUIRE(last.status == 200);
  REQUIRE(env.WaitApplied(SeqOf(last), 15000));
  CheckExactlyOnce(env, new_leader, load, "k");
  CHECK(Feed(env.Admin(old_leader)) == Feed(env.Admin(new_leader)));
  const std::string d = env.Digest(new_leader);
  REQUIRE(!d.empty());
  for (int i = 0; i < 3; ++i) CHECK(env.Digest(i) == d);
}

TEST_CASE(
    "cluster - etcd faults (kill -9 of the etcd leader under load and one "
    "then two members stopped and resumed)") {
  START_CLUSTER(env, "--max-staleness", "2s");
  REQUIRE(env.WaitLeader() >= 0);

  // kill -9 of etcd's Raft leader under load: writes go on, none lost.
  {
    Load load(env, 3, "e");
    std::this_thread::sleep_for(milliseconds(1000));
    const int etcd_leader = env.etcd.LeaderIndex();
    REQUIRE(etcd_leader >= 0);
    env.etcd.Kill(etcd_leader);
    std::this_thread::sleep_for(milliseconds(3000));
    load.Join();
    REQUIRE(env.etcd.Restart(etcd_leader));
    const int leader = env.WaitLeader(15000);
    REQUIRE(leader >= 0);
    CheckExactlyOnce(env, leader, load, "e");
  }

  // One member stopped: writes go on.
  int leader = env.WaitLeader();
  REQUIRE(leader >= 0);
  int paused_a = -1, paused_b = -1;
  const int etcd_leader = env.etcd.LeaderIndex();
  for (int i = 0; i < 3; ++i) {
    if (i == etcd_leader) continue;
    (paused_a < 0 ? paused_a : paused_b) = i;
  }
  env.etcd.Pause(paused_a);
  for (int i = 0; i < 5; ++i) {
    Response r = Retried(env, i % 3, "p1-" + std::to_string(i), "POST",
                         "/apis/iam/v2/tokens",
                         TokenBody("p1-" + std::to_string(i)).dump(), 15000);
    CHECK_MESSAGE(r.status == 200, r.body);
  }

  // Two stopped: no quorum. Writes fail cleanly (503 with the error body)
  // within bounds; reads go on until --max-staleness, then fail closed.
  env.etcd.Pause(paused_b);
  const auto lost_at = Clock::now();
  Response read = env.Admin(leader).Get("/apis/iam/v2/tokens/p1-0");
  CHECK(read.status == 200);
  Response w = env.Admin((leader + 1) % 3)
                   .Post("/apis/iam/v2/tokens", TokenBody("no-quorum"));
  CHECK(w.status == 503);
  CHECK(w.JsonBody()["code"] == 14);
  CHECK(SecondsSince(lost_at) < 12);
  // Past --max-staleness (2 s) every node answers 503 and says why.
  while (SecondsSince(lost_at) < 3.5)
    std::this_thread::sleep_for(milliseconds(100));
  for (int i = 0; i < 3; ++i) {
    Response r = env.Admin(i).Get("/apis/iam/v2/tokens/p1-0");
    CHECK(r.status == 503);
    CHECK(r.JsonBody().value("message", "").find("cut off") !=
          std::string::npos);
    Response ready = env.Ready(i);
    CHECK(ready.status == 503);
    CHECK(ready.JsonBody().value("reason", "").find("etcd") !=
          std::string::npos);
  }
  // Resumed: everything recovers by itself.
  env.etcd.Resume(paused_a);
  env.etcd.Resume(paused_b);
  Response again =
      Retried(env, 0, "after-resume", "POST", "/apis/iam/v2/tokens",
              TokenBody("after-resume").dump(), 20000);
  REQUIRE_MESSAGE(again.status == 200, again.body);
  REQUIRE(env.WaitApplied(SeqOf(again), 15000));
  for (int i = 0; i < 3; ++i) {
    Response r;
    for (int k = 0; k < 100; ++k) {
      r = env.Admin(i).Get("/apis/iam/v2/tokens/after-resume");
      if (r.status == 200) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    CHECK(r.status == 200);
  }
}

TEST_CASE(
    "cluster - a node stopped past the retention window says so and rejoins "
    "from a peer's backup") {
  START_CLUSTER(env, "--etcd-retain", "20", "--etcd-retention-interval",
                "300ms");
  const int leader = env.WaitLeader();
  REQUIRE(leader >= 0);
  const int behind = (leader + 1) % 3, peer = (leader + 2) % 3;
  REQUIRE(env.nodes[behind]->Stop() == 0);
  uint64_t seq = 0;
  for (int i = 0; i < 40; ++i) {
    Response r = env.Admin(leader).Post("/apis/iam/v2/tokens",
                                        TokenBody("r" + std::to_string(i)));
    REQUIRE(r.status == 200);
    seq = SeqOf(r);
  }
  REQUIRE(env.WaitApplied(seq));
  std::this_thread::sleep_for(milliseconds(1500));  // retention ran

  // Restarted, the node finds its next seq gone from etcd and says so.
  REQUIRE(env.StartNode(behind, /*wait_ready=*/false));
  std::string reason;
  for (int i = 0; i < 100 && reason.find("backup") == std::string::npos; ++i) {
    reason = env.Ready(behind).JsonBody().value("reason", "");
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK_MESSAGE(reason.find("retention window") != std::string::npos, reason);
  CHECK(env.Ready(behind).status == 503);
  CHECK(env.Admin(behind).Get("/apis/iam/v2/tokens").status == 503);
  CHECK(env.nodes[behind]->log().find("REPLICATION STOPPED") !=
        std::string::npos);
  env.nodes[behind]->Stop();

  // The README's procedure: a peer's backup (online), verified, put in
  // place with its .checkpoint; the node then follows the watch.
  const std::string bk = env.dir.path() + "/bk";
  CommandResult made = RunIamledger(
      {"backup", "create", "--data-dir", env.DataDir(peer), "--to", bk});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  CommandResult verified = RunIamledger(
      {"replay", "verify", "--data-dir", bk, "--key-file", env.key_file});
  REQUIRE_MESSAGE(verified.exit_code == 0, verified.out, verified.err);
  const std::string dd = env.DataDir(behind);
  REQUIRE(
      std::system(("rm -rf '" + dd + "' && mv '" + bk + "' '" + dd +
                   "' && mv '" + bk + ".checkpoint' '" + dd + ".checkpoint'")
                      .c_str()) == 0);
  REQUIRE(env.StartNode(behind));
  Response more = env.Admin(behind).Post("/apis/iam/v2/tokens",
                                         TokenBody("after-bootstrap"));
  REQUIRE(more.status == 200);
  REQUIRE(env.WaitApplied(SeqOf(more)));
  CHECK(env.Admin(behind).Get("/apis/iam/v2/tokens/r39").status == 200);
  CHECK(Feed(env.Admin(behind)) == Feed(env.Admin(leader)));
  const std::string d = env.Digest(leader);
  REQUIRE(!d.empty());
  CHECK(env.Digest(behind) == d);
}

}  // namespace
}  // namespace iam::integration
