// The cluster store (eventstore/cluster.h) on a real single etcd: election,
// commits through etcd, followers replicating the same chain, fencing of a
// node that is not the leader, dedupe of request ids, a bad batch stopping
// a follower with the seq named, retention with compaction.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "eventstore/cluster.h"
#include "eventstore/codec.h"
#include "eventstore/commit_point.h"
#include "eventstore/etcd_client.h"
#include "eventstore/format.h"
#include "tests/eventstore/store_fixtures.h"
#include "tests/testutil/etcd_harness.h"
#include "tests/testutil/server_harness.h"

namespace iam::eventstore {
namespace {

using std::chrono::milliseconds;
using testing::CollectingSink;
using testing::SomeEvent;

AppendRequest Req(const std::string& id, int i) {
  AppendRequest r;
  r.meta = {"token:admin", id, "127.0.0.1"};
  r.events = {SomeEvent(i)};
  r.key_puts = {
      {"token/k" + std::to_string(i), "wrapped-" + std::to_string(i)}};
  return r;
}

struct Node {
  std::string dir;
  CollectingSink sink;
  ClusterStore cs;
  std::mutex mu;
  std::vector<Status> fatal;

  Status Open(const std::string& root, const std::string& name,
              const std::string& etcd, uint64_t retain = 10000) {
    dir = root + "/" + name;
    StoreOptions so;
    so.apply_sink = &sink;
    ClusterOptions co;
    co.etcd_endpoints = ParseEtcdEndpoints(etcd).value();
    co.node_name = name;
    co.advertise_url = "http://" + name;
    co.lease_ttl = std::chrono::seconds(2);
    co.retain_events = retain;
    co.retention_interval = milliseconds(300);
    co.initial_append = [] { return Req("init", 0); };
    co.on_fatal = [this](const Status& s) {
      std::lock_guard<std::mutex> lock(mu);
      fatal.push_back(s);
    };
    auto opened = OpenClusterEventStore(dir, so, co);
    if (!opened.ok()) return opened.status();
    cs = std::move(*opened);
    return cs.cluster->Start();
  }
  ClusterStatus St() const { return cs.cluster->GetStatus(); }
  bool WaitRole(ClusterRole role, int ms = 10000) {
    auto deadline = std::chrono::steady_clock::now() + milliseconds(ms);
    while (std::chrono::steady_clock::now() < deadline) {
      if (St().role == role) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
  void Close() {
    if (cs.cluster) cs.cluster->Stop();
    if (cs.store) cs.store->Close().IgnoreError();
  }
  std::vector<Status> Fatal() {
    std::lock_guard<std::mutex> lock(mu);
    return fatal;
  }
};

struct Env {
  testutil::TempDir tmp;
  testutil::EtcdMembers etcd{1, tmp.path()};
  bool started = etcd.Start();
};

TEST_CASE(
    "cluster store - one leader commits through etcd and a follower "
    "holds the same chain") {
  Env env;
  REQUIRE_MESSAGE(env.started, env.etcd.log(0));
  Node a, b;
  REQUIRE(a.Open(env.tmp.path(), "a", env.etcd.client_urls()).ok());
  REQUIRE(a.WaitRole(ClusterRole::kLeader));
  REQUIRE(b.Open(env.tmp.path(), "b", env.etcd.client_urls()).ok());
  // The first leader made the initial append.
  REQUIRE(a.cs.cluster->WaitForSeq(1, milliseconds(5000)));
  for (int i = 1; i <= 20; ++i) {
    auto r = a.cs.store->Append(Req("r" + std::to_string(i), i));
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  }
  REQUIRE(b.cs.cluster->WaitForSeq(21, milliseconds(5000)));
  for (int i = 0; i < 200 && b.St().leader_name.empty(); ++i)
    std::this_thread::sleep_for(milliseconds(20));
  CHECK(b.St().role == ClusterRole::kFollower);
  CHECK(b.St().leader_name == "a");
  CHECK(b.St().leader_url == "http://a");
  auto ea = testing::ReadAll(*a.cs.store);
  auto eb = testing::ReadAll(*b.cs.store);
  REQUIRE(ea.size() == 21);
  CHECK(ea == eb);
  {
    std::lock_guard<std::mutex> lock(b.sink.mu);
    CHECK(b.sink.events.size() == 21);
  }
  // Key writes travel with the batch.
  auto key = b.cs.store->GetKey("token/k7");
  REQUIRE(key.ok());
  CHECK(*key == "wrapped-7");
  // A follower refuses appends.
  auto refused = b.cs.store->Append(Req("on-b", 99));
  CHECK(refused.status().code() == StatusCode::kUnavailable);
  // A retried request id is answered with its first commit.
  auto again = a.cs.store->Append(Req("r5", 5));
  REQUIRE(again.ok());
  CHECK(again->already_committed);
  CHECK(again->first_seq == 6);
  CHECK(a.cs.store->LastSeq() == 21);

  // The leader goes: the follower takes over and continues the chain.
  a.Close();
  REQUIRE(b.WaitRole(ClusterRole::kLeader));
  auto r = b.cs.store->Append(Req("after", 30));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->first_seq == 22);
  CHECK(b.Fatal().empty());
  b.Close();
}

TEST_CASE(
    "cluster store - a stale leader is fenced and takes in what it "
    "missed before committing") {
  Env env;
  REQUIRE_MESSAGE(env.started, env.etcd.log(0));
  Node a;
  REQUIRE(a.Open(env.tmp.path(), "a", env.etcd.client_urls()).ok());
  REQUIRE(a.WaitRole(ClusterRole::kLeader));
  REQUIRE(a.cs.cluster->WaitForSeq(1, milliseconds(5000)));
  // Someone else moves the head behind a's back: a batch in etcd at seq 2,
  // a genuine continuation of the chain.
  auto local = testing::ReadAll(*a.cs.store);
  REQUIRE(local.size() == 1);
  RecordedEvent rec;
  rec.seq = 2;
  rec.recorded_at = local[0].recorded_at + 1;
  rec.meta = {"token:x", "elsewhere", ""};
  rec.event = SomeEvent(50);
  rec.stream = StreamOf(rec.event);
  rec.stream_version = 1;
  rec.prev_hash = local[0].hash;
  CommitBatch batch;
  batch.events.emplace_back(2, EncodeRecordedEvent(&rec));
  std::string head = EncodeSeqKey(2);
  head.append(reinterpret_cast<const char*>(rec.hash.data()), 32);
  EtcdClient c({env.etcd.client_url(0)});
  // Pause a's follower view by writing the batch and head in one txn; a
  // commits on top of seq 1 at most once it has taken seq 2 in.
  REQUIRE(c.Txn({},
                {EtcdOp::Put("/iamledger/batch/" + EncodeSeqKey(2),
                             EncodeCommitBatch(batch)),
                 EtcdOp::Put("/iamledger/head", head)},
                {})
              .ok());
  auto r = a.cs.store->Append(Req("mine", 51));
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->first_seq == 3);
  auto all = testing::ReadAll(*a.cs.store);
  REQUIRE(all.size() == 3);
  CHECK(all[1].meta.request_id == "elsewhere");
  CHECK(all[2].prev_hash == all[1].hash);
  CHECK(a.Fatal().empty());
  a.Close();
}

TEST_CASE("cluster store - a bad batch stops a follower naming the seq") {
  Env env;
  REQUIRE_MESSAGE(env.started, env.etcd.log(0));
  Node a;
  REQUIRE(a.Open(env.tmp.path(), "a", env.etcd.client_urls()).ok());
  REQUIRE(a.WaitRole(ClusterRole::kLeader));
  REQUIRE(a.cs.cluster->WaitForSeq(1, milliseconds(5000)));
  a.Close();
  // A batch at seq 2 whose prev_hash does not link to seq 1 (a fork).
  RecordedEvent rec;
  rec.seq = 2;
  rec.meta = {"token:x", "forged", ""};
  rec.event = SomeEvent(60);
  rec.stream = StreamOf(rec.event);
  rec.stream_version = 1;
  rec.prev_hash.fill(7);
  CommitBatch batch;
  batch.events.emplace_back(2, EncodeRecordedEvent(&rec));
  EtcdClient c({env.etcd.client_url(0)});
  REQUIRE(c.Put("/iamledger/batch/" + EncodeSeqKey(2), EncodeCommitBatch(batch))
              .ok());
  Node b;
  REQUIRE(b.Open(env.tmp.path(), "b", env.etcd.client_urls()).ok());
  REQUIRE(b.WaitRole(ClusterRole::kStopped));
  auto fatal = b.Fatal();
  REQUIRE(fatal.size() == 1);
  CHECK(fatal[0].code() == StatusCode::kDataLoss);
  CHECK(fatal[0].message().find("seq 2") != std::string::npos);
  CHECK(b.cs.store->LastSeq() == 1);
  CHECK(b.St().cut_off);
  b.Close();
}

TEST_CASE(
    "cluster store - retention deletes applied batches and a node "
    "behind the window says it needs a backup") {
  Env env;
  REQUIRE_MESSAGE(env.started, env.etcd.log(0));
  Node a;
  REQUIRE(
      a.Open(env.tmp.path(), "a", env.etcd.client_urls(), /*retain=*/5).ok());
  REQUIRE(a.WaitRole(ClusterRole::kLeader));
  for (int i = 1; i <= 30; ++i) {
    REQUIRE(a.cs.store->Append(Req("r" + std::to_string(i), i)).ok());
  }
  EtcdClient c({env.etcd.client_url(0)});
  auto deadline = std::chrono::steady_clock::now() + milliseconds(10000);
  size_t left = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Range("/iamledger/batch/",
                     EtcdClient::PrefixEnd("/iamledger/batch/"));
    REQUIRE(r.ok());
    left = r->kvs.size();
    if (left <= 6) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  CHECK(left <= 6);
  CHECK(left >= 4);
  // History is compacted: an old revision can no longer be read.
  // A new node starting empty is behind the window.
  Node late;
  REQUIRE(late.Open(env.tmp.path(), "late", env.etcd.client_urls()).ok());
  REQUIRE(late.WaitRole(ClusterRole::kStopped));
  auto fatal = late.Fatal();
  REQUIRE(fatal.size() == 1);
  CHECK(fatal[0].message().find("seq 1 is no longer in etcd") !=
        std::string::npos);
  CHECK(fatal[0].message().find("backup") != std::string::npos);
  late.Close();
  a.Close();
}

}  // namespace
}  // namespace iam::eventstore
