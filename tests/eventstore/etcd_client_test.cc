// EtcdClient against a real single etcd on loopback (started by the test on
// free ports with a temporary data directory, killed at the end).
#include "eventstore/etcd_client.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "tests/testutil/etcd_harness.h"
#include "tests/testutil/server_harness.h"

namespace iam::eventstore {
namespace {

using std::chrono::milliseconds;
using testutil::EtcdMembers;
using testutil::TempDir;

struct OneEtcd {
  TempDir dir;
  EtcdMembers etcd{1, dir.path()};
  bool started = etcd.Start();
};

TEST_CASE(
    "etcd client - put and range with binary keys and values and prefix "
    "ranges") {
  OneEtcd e;
  REQUIRE_MESSAGE(e.started, e.etcd.log(0));
  EtcdClient c({e.etcd.client_url(0)});
  const std::string binary("k\0\xff\x01", 4);
  auto rev = c.Put("/t/" + binary, std::string("v\0\xfe", 3));
  REQUIRE(rev.ok());
  CHECK(*rev > 0);
  REQUIRE(c.Put("/t/b", "2").ok());
  REQUIRE(c.Put("/u/c", "3").ok());
  auto one = c.Range("/t/" + binary);
  REQUIRE(one.ok());
  REQUIRE(one->kvs.size() == 1);
  CHECK(one->kvs[0].value == std::string("v\0\xfe", 3));
  CHECK(one->kvs[0].create_revision == *rev);
  auto prefix = c.Range("/t/", EtcdClient::PrefixEnd("/t/"));
  REQUIRE(prefix.ok());
  CHECK(prefix->kvs.size() == 2);
  CHECK(prefix->revision >= *rev);
  auto limited = c.Range("/", EtcdClient::PrefixEnd("/"), 1);
  REQUIRE(limited.ok());
  CHECK(limited->kvs.size() == 1);
  CHECK(limited->more);
  auto none = c.Range("/nothing");
  REQUIRE(none.ok());
  CHECK(none->kvs.empty());
  CHECK(EtcdClient::PrefixEnd("a\xff") == "b");
}

TEST_CASE(
    "etcd client - txn compares pick the branch then deleterange and compact") {
  OneEtcd e;
  REQUIRE_MESSAGE(e.started, e.etcd.log(0));
  EtcdClient c({e.etcd.client_url(0)});
  // Create-if-absent succeeds once.
  auto first = c.Txn({EtcdCompare::CreateRevisionEquals("/lock", 0)},
                     {EtcdOp::Put("/lock", "a")}, {EtcdOp::Get("/lock")});
  REQUIRE(first.ok());
  CHECK(first->succeeded);
  auto second = c.Txn({EtcdCompare::CreateRevisionEquals("/lock", 0)},
                      {EtcdOp::Put("/lock", "b")}, {EtcdOp::Get("/lock")});
  REQUIRE(second.ok());
  CHECK_FALSE(second->succeeded);
  REQUIRE(second->ranges.size() == 1);
  REQUIRE(second->ranges[0].kvs.size() == 1);
  CHECK(second->ranges[0].kvs[0].value == "a");
  CHECK(second->ranges[0].kvs[0].create_revision == first->revision);
  // Value compares.
  auto wrong = c.Txn({EtcdCompare::ValueEquals("/lock", "zzz")},
                     {EtcdOp::Put("/lock", "c")}, {});
  REQUIRE(wrong.ok());
  CHECK_FALSE(wrong->succeeded);
  auto right = c.Txn({EtcdCompare::ValueEquals("/lock", "a")},
                     {EtcdOp::Put("/lock", "c"), EtcdOp::Get("/lock")}, {});
  REQUIRE(right.ok());
  CHECK(right->succeeded);
  REQUIRE(right->ranges.size() == 1);
  CHECK(right->ranges[0].kvs[0].value == "c");
  // Delete and compact.
  REQUIRE(c.Put("/d/1", "x").ok());
  REQUIRE(c.Put("/d/2", "x").ok());
  auto deleted = c.DeleteRange("/d/", EtcdClient::PrefixEnd("/d/"));
  REQUIRE(deleted.ok());
  CHECK(*deleted == 2);
  auto now = c.Range("/lock");
  REQUIRE(now.ok());
  CHECK(c.Compact(now->revision).ok());
  // Compacting again below the compacted revision is etcd's error.
  Status again = c.Compact(1);
  CHECK_FALSE(again.ok());
  CHECK(again.code() != StatusCode::kUnavailable);
}

TEST_CASE("etcd client - leases - keys go with a revoked lease") {
  OneEtcd e;
  REQUIRE_MESSAGE(e.started, e.etcd.log(0));
  EtcdClient c({e.etcd.client_url(0)});
  auto lease = c.LeaseGrant(5);
  REQUIRE(lease.ok());
  REQUIRE(c.Put("/leased", "x", *lease).ok());
  auto ttl = c.LeaseKeepAlive(*lease);
  REQUIRE(ttl.ok());
  CHECK(*ttl > 0);
  auto got = c.Range("/leased");
  REQUIRE(got.ok());
  REQUIRE(got->kvs.size() == 1);
  CHECK(got->kvs[0].lease == *lease);
  REQUIRE(c.LeaseRevoke(*lease).ok());
  got = c.Range("/leased");
  REQUIRE(got.ok());
  CHECK(got->kvs.empty());
  auto gone = c.LeaseKeepAlive(*lease);
  REQUIRE(gone.ok());
  CHECK(*gone == 0);
}

TEST_CASE("etcd client - watch streams puts from a revision and stop ends it") {
  OneEtcd e;
  REQUIRE_MESSAGE(e.started, e.etcd.log(0));
  EtcdClient c({e.etcd.client_url(0)});
  auto before = c.Put("/w/0", "old");
  REQUIRE(before.ok());
  std::atomic<bool> stop{false};
  std::vector<std::string> seen;
  bool created = false;
  std::thread writer([&] {
    EtcdClient w({e.etcd.client_url(0)});
    std::this_thread::sleep_for(milliseconds(200));
    for (int i = 1; i <= 3; ++i)
      w.Put("/w/" + std::to_string(i), "v").status().IgnoreError();
    w.DeleteRange("/w/1").status().IgnoreError();
  });
  Status s = c.Watch(
      "/w/", EtcdClient::PrefixEnd("/w/"), *before,
      [&](const EtcdWatchResponse& r) {
        if (r.created) created = true;
        for (const auto& ev : r.events) {
          seen.push_back((ev.is_delete ? "-" : "+") + ev.kv.key);
        }
        return seen.size() < 5;
      },
      &stop);
  writer.join();
  CHECK(s.ok());
  CHECK(created);
  CHECK(seen ==
        std::vector<std::string>{"+/w/0", "+/w/1", "+/w/2", "+/w/3", "-/w/1"});
  // The stop flag ends a quiet watch.
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(300));
    stop = true;
  });
  auto t0 = std::chrono::steady_clock::now();
  s = c.Watch(
      "/quiet/", EtcdClient::PrefixEnd("/quiet/"), 0,
      [](const EtcdWatchResponse&) { return true; }, &stop);
  stopper.join();
  CHECK(s.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < milliseconds(3000));
  // A compacted start revision cancels the watch.
  auto head = c.Range("/w/0");
  REQUIRE(head.ok());
  REQUIRE(c.Compact(head->revision).ok());
  stop = false;
  bool canceled = false;
  s = c.Watch(
      "/w/", EtcdClient::PrefixEnd("/w/"), 1,
      [&](const EtcdWatchResponse& r) {
        if (r.canceled) canceled = true;
        return true;
      },
      &stop);
  CHECK(canceled);
  CHECK(s.code() == StatusCode::kAborted);
}

TEST_CASE(
    "etcd client - fails over past a dead endpoint and all dead is "
    "unavailable within the deadline") {
  OneEtcd e;
  REQUIRE_MESSAGE(e.started, e.etcd.log(0));
  const std::string dead =
      "http://127.0.0.1:" + std::to_string(testutil::FreePort());
  EtcdClientOptions o;
  o.timeout = milliseconds(1500);
  EtcdClient c({dead, e.etcd.client_url(0)}, o);
  CHECK(c.Put("/x", "1").ok());
  CHECK(c.CurrentEndpoint() == e.etcd.client_url(0));
  e.etcd.Pause(0);  // accepts connections, answers nothing
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.Range("/x");
  auto took = std::chrono::steady_clock::now() - t0;
  e.etcd.Resume(0);
  CHECK(r.status().code() == StatusCode::kUnavailable);
  CHECK(took < milliseconds(3000));
  CHECK(c.Range("/x").ok());
}

TEST_CASE("etcd client - endpoint list parsing") {
  auto ok = ParseEtcdEndpoints("http://127.0.0.1:2379,http://h:1/");
  REQUIRE(ok.ok());
  CHECK(*ok == std::vector<std::string>{"http://127.0.0.1:2379", "http://h:1"});
  CHECK_FALSE(ParseEtcdEndpoints("").ok());
  CHECK_FALSE(ParseEtcdEndpoints("127.0.0.1:2379").ok());
  CHECK_FALSE(ParseEtcdEndpoints("http://a:1,,http://b:2").ok());
  CHECK_FALSE(ParseEtcdEndpoints("http://a:1/path").ok());
}

}  // namespace
}  // namespace iam::eventstore
