// A local cluster for the cluster tests (DESIGN.md §10): N etcd members
// (tests/testutil/etcd_harness.h) and N `iamledger serve --etcd` nodes on
// loopback, every node with its own data directory and the one shared key
// file, plus an admin token made through node 0's admin socket (forwarded
// to the leader when node 0 does not lead).
#ifndef IAMLEDGER_TESTS_INTEGRATION_CLUSTER_UTIL_H_
#define IAMLEDGER_TESTS_INTEGRATION_CLUSTER_UTIL_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/integration/harness_util.h"
#include "tests/testutil/etcd_harness.h"

namespace iam::integration {

// Helpers of the cluster suites (cluster_test, cluster_restore_test).
// {"id": id, "name": id}: a token create body.
Json TokenBody(const std::string& id);
// The response's X-Iam-Seq; 0 when it has none.
uint64_t SeqOf(const Response& r);
// Every event of a node's feed, seq 1 up, paging through /events.
std::vector<Json> Feed(const Api& api);
// The "events:", "head hash:" and "state digest:" lines of `replay verify`
// on `dir` ("" when it fails; *out, when given, gets its output).
std::string VerifyDigest(const std::string& dir, const std::string& key_file,
                         std::string* out = nullptr);

struct ClusterEnv {
  explicit ClusterEnv(int nodes = 3, int etcd_members = 3);

  TempDir dir;
  testutil::EtcdMembers etcd;
  std::string key_file;
  std::vector<std::unique_ptr<Server>> nodes;
  std::vector<uint16_t> ports;
  std::vector<std::string> extra;  // serve flags of every node
  std::string admin_token;
  std::string error;

  // Starts etcd, every node (node 0 first: it creates the key file) and
  // makes the admin token. False with `error` on failure.
  bool Start();
  // (Re)starts node i on its port with its data directory.
  bool StartNode(int i, bool wait_ready = true);
  std::string DataDir(int i) const;

  Api Admin(int i) const { return Api{nodes[i]->tcp(), admin_token}; }
  Api Anon(int i) const { return Api{nodes[i]->tcp(), ""}; }
  Api Local(int i) const { return Api{nodes[i]->admin_socket(), ""}; }

  // /readyz of node i (status 0 when it does not answer).
  Response Ready(int i) const;
  // The node whose /readyz says "leader", waiting up to `ms`; -1 if none.
  int WaitLeader(int ms = 10000, int except = -1) const;
  // Waits until every running node has applied `seq`.
  bool WaitApplied(uint64_t seq, int ms = 10000) const;
  // `replay verify` of node i's data directory: its "state digest" and
  // "head hash" lines ("" on failure, with the output in *out).
  std::string Digest(int i, std::string* out = nullptr) const;
};

#define START_CLUSTER(env, ...)                                 \
  ::iam::integration::ClusterEnv env;                           \
  env.extra = {__VA_ARGS__};                                    \
  if (::iam::testutil::EtcdMembers::Binary().empty()) {         \
    MESSAGE("etcd is not installed (scripts/install-deps.sh)"); \
    REQUIRE(false);                                             \
  }                                                             \
  REQUIRE_MESSAGE(env.Start(), env.error)

}  // namespace iam::integration

#endif  // IAMLEDGER_TESTS_INTEGRATION_CLUSTER_UTIL_H_
