// Real etcd members for tests: N `etcd` processes (Debian etcd-server) on
// loopback ports that were free, each with its own data directory under a
// root, killed (SIGKILL) when the harness goes away or the test process
// dies. Also faults: kill -9, SIGSTOP/SIGCONT, restart of one member.
#ifndef IAMLEDGER_TESTS_TESTUTIL_ETCD_HARNESS_H_
#define IAMLEDGER_TESTS_TESTUTIL_ETCD_HARNESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

namespace iam::testutil {

class EtcdMembers {
 public:
  // Members m0..m<n-1>, data under <root>/etcd-<i>, logs <root>/etcd-<i>.log.
  EtcdMembers(int n, std::string root);
  ~EtcdMembers();
  EtcdMembers(const EtcdMembers&) = delete;
  EtcdMembers& operator=(const EtcdMembers&) = delete;

  // Starts every member and waits until the cluster answers a write
  // through member 0's JSON gateway. False (see log(i)) on failure.
  bool Start();
  int size() const { return static_cast<int>(members_.size()); }
  std::string client_url(int i) const;
  // Every client URL, comma-separated (the --etcd flag's form).
  std::string client_urls() const;
  // The index of the member that is etcd's Raft leader, -1 if none answers.
  int LeaderIndex() const;

  void Kill(int i);     // SIGKILL, reaped
  void Pause(int i);    // SIGSTOP
  void Resume(int i);   // SIGCONT
  bool Restart(int i);  // after Kill: same data directory, waits for it
  // etcd lost: kills every member, deletes their data directories and
  // starts a new, empty etcd cluster on the same ports (as Start).
  bool Wipe();
  std::string log(int i) const;
  // The `etcd` binary, or "" when it is not installed.
  static std::string Binary();

 private:
  struct Member {
    std::string name;
    uint16_t client_port = 0;
    uint16_t peer_port = 0;
    std::string data_dir;
    std::string log_path;
    pid_t pid = -1;
    bool paused = false;
  };
  bool Spawn(int i, bool existing);
  bool WaitHealthy(int i, int timeout_ms) const;
  std::string root_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

}  // namespace iam::testutil

#endif  // IAMLEDGER_TESTS_TESTUTIL_ETCD_HARNESS_H_
