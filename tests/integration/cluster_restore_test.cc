// A whole cluster restored from a backup after etcd was lost
// (`iamledger cluster seed`, eventstore/cluster_seed.h; README "Backup and
// restore in a cluster"): three etcd members and three nodes on loopback.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "tests/integration/cluster_util.h"

namespace iam::integration {
namespace {

using std::chrono::milliseconds;

// The seqs of every event of a node's feed, in order.
std::vector<uint64_t> FeedSeqs(const Api& api) {
  std::vector<uint64_t> out;
  for (const Json& e : Feed(api)) out.push_back(e["seq"].get<uint64_t>());
  return out;
}

std::string Line(const std::string& out, const std::string& prefix) {
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line;
  }
  return "";
}

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// Puts a copy of backup `bk` (and its .checkpoint) in place of `dd`.
bool CopyBackupTo(const std::string& bk, const std::string& dd) {
  return Sh("rm -rf '" + dd + "' '" + dd + ".checkpoint' && cp -a '" + bk +
            "' '" + dd + "' && cp '" + bk + ".checkpoint' '" + dd +
            ".checkpoint'") == 0;
}

// Polls node i's /readyz until its reason holds `what` (or 10 s pass).
std::string WaitReason(const ClusterEnv& env, int i, const std::string& what) {
  std::string reason;
  for (int k = 0; k < 100 && reason.find(what) == std::string::npos; ++k) {
    reason = env.Ready(i).JsonBody().value("reason", "");
    std::this_thread::sleep_for(milliseconds(100));
  }
  return reason;
}

CommandResult Seed(const ClusterEnv& env, const std::string& from) {
  return RunIamledger({"cluster", "seed", "--etcd", env.etcd.client_urls(),
                       "--from", from, "--key-file", env.key_file});
}

TEST_CASE(
    "cluster - restored whole from a backup after etcd was lost (cluster "
    "seed refuses a bad backup and a non-empty etcd and nodes from copies and "
    "an empty one share the backup's digest and write on gaplessly and a node "
    "ahead of the restored head refuses and says what to do)") {
  START_CLUSTER(env);
  const int leader = env.WaitLeader();
  REQUIRE(leader >= 0);
  Api admin = env.Admin(leader);
  uint64_t seq = 0;
  for (int i = 0; i < 12; ++i) {
    Response r = admin.Post("/apis/iam/v2/tokens",
                            TokenBody("before-" + std::to_string(i)));
    REQUIRE(r.status == 200);
    seq = SeqOf(r);
  }
  Response del = admin.Delete("/apis/iam/v2/tokens/before-3");
  REQUIRE(del.status == 200);
  seq = SeqOf(del);
  const std::string value0 = admin.Get("/apis/iam/v2/tokens/before-0")
                                 .JsonBody()["token"]
                                 .value("value", "");
  REQUIRE(!value0.empty());
  REQUIRE(env.WaitApplied(seq));

  // The backup, online from a follower.
  const int peer = (leader + 1) % 3;
  const std::string bk = env.dir.path() + "/bk";
  CommandResult made = RunIamledger(
      {"backup", "create", "--data-dir", env.DataDir(peer), "--to", bk});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  const std::string backup_digest = VerifyDigest(bk, env.key_file);
  REQUIRE(!backup_digest.empty());
  CommandResult bkv = RunIamledger(
      {"replay", "verify", "--data-dir", bk, "--key-file", env.key_file});
  const std::string bk_events = Line(bkv.out, "events:");
  const uint64_t restored = std::stoull(
      bk_events.substr(bk_events.find("..") + 2));  // "(seq 1..N, ..."
  REQUIRE(restored >= seq);

  // More writes after the backup: the restore rolls them back.
  uint64_t late = 0;
  for (int i = 0; i < 5; ++i) {
    Response r = admin.Post("/apis/iam/v2/tokens",
                            TokenBody("late-" + std::to_string(i)));
    REQUIRE(r.status == 200);
    late = SeqOf(r);
  }
  REQUIRE(env.WaitApplied(late));

  // Everything lost: every node killed, etcd's data wiped.
  for (auto& n : env.nodes) {
    ::kill(n->pid(), SIGKILL);
    n->Reap();
  }
  REQUIRE(env.etcd.Wipe());
  // A node ahead of the restored head, kept for later (and a second copy).
  const int stale = (leader + 2) % 3;
  const std::string stale_dir = env.dir.path() + "/stale";
  // (killed early, it has no checkpoint file yet: under 1,000 events).
  REQUIRE(Sh("cp -a '" + env.DataDir(stale) + "' '" + stale_dir + "'") == 0);

  // A corrupted backup is refused and leaves etcd empty: its checkpoint
  // rewritten (the MAC no longer checks), then a byte of its log flipped.
  {
    const std::string bad = env.dir.path() + "/bad";
    REQUIRE(Sh("cp -a '" + bk + "' '" + bad + "' && cp '" + bk +
               ".checkpoint' '" + bad + ".checkpoint'") == 0);
    std::string line;
    {
      std::ifstream in(bad + ".checkpoint");
      std::getline(in, line);
    }
    const size_t at = line.size() - 3;  // inside the MAC's hex
    line[at] = line[at] == '0' ? '1' : '0';
    {
      std::ofstream out(bad + ".checkpoint", std::ios::trunc);
      out << line << "\n";
    }
    CommandResult r = Seed(env, bad);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find("does not verify") != std::string::npos, r.err);
    CHECK_MESSAGE(
        r.err.find("nothing was written to etcd") != std::string::npos, r.err);

    REQUIRE(Sh("cp '" + bk + ".checkpoint' '" + bad + ".checkpoint'") == 0);
    // The largest table file holds the events: flip a byte in its middle.
    REQUIRE(Sh("f=$(ls -S '" + bad +
               "'/*.sst | head -1) && "
               "s=$(stat -c %s \"$f\") && o=$((s / 3)) && "
               "b=$(dd if=\"$f\" bs=1 skip=$o count=1 2>/dev/null | od -An "
               "-tu1 | tr -d ' ') && "
               "printf \"$(printf '\\\\%03o' $(( (b + 1) % 256 )))\" | "
               "dd of=\"$f\" bs=1 seek=$o count=1 conv=notrunc 2>/dev/null") ==
            0);
    r = Seed(env, bad);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(
        r.err.find("nothing was written to etcd") != std::string::npos, r.err);
    // A backup without its .checkpoint file is refused too.
    REQUIRE(Sh("rm -rf '" + bad + "' && cp -a '" + bk + "' '" + bad +
               "' && rm -f '" + bad + ".checkpoint'") == 0);
    r = Seed(env, bad);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.err.find("checkpoint") != std::string::npos, r.err);
  }

  // The seed (etcd is still empty: the refusals wrote nothing).
  CommandResult seeded = Seed(env, bk);
  REQUIRE_MESSAGE(seeded.exit_code == 0, seeded.err, seeded.out);
  CHECK(backup_digest.find(Line(seeded.out, "state digest:")) !=
        std::string::npos);
  CHECK(!Line(seeded.out, "state digest:").empty());
  // A second seed finds etcd holding a cluster and writes nothing.
  {
    CommandResult again = Seed(env, bk);
    CHECK(again.exit_code == 1);
    CHECK_MESSAGE(again.err.find("etcd is not empty") != std::string::npos,
                  again.err);
    CHECK_MESSAGE(again.err.find("restore from a backup at seq " +
                                 std::to_string(restored)) != std::string::npos,
                  again.err);
  }

  // Two nodes from copies of the backup.
  const int a = leader, b = peer;
  REQUIRE(CopyBackupTo(bk, env.DataDir(a)));
  REQUIRE(CopyBackupTo(bk, env.DataDir(b)));
  REQUIRE(env.StartNode(a));
  REQUIRE(env.StartNode(b));
  REQUIRE(env.WaitLeader() >= 0);

  // The node whose log is ahead of the restored head refuses, saying why
  // and what to do.
  REQUIRE(env.StartNode(stale, /*wait_ready=*/false));
  {
    const std::string reason = WaitReason(env, stale, "Rebuild this node");
    CHECK_MESSAGE(
        reason.find("ahead of the cluster's head (seq " +
                    std::to_string(restored) + ")") != std::string::npos,
        reason);
    CHECK_MESSAGE(reason.find("restored from a backup at seq " +
                              std::to_string(restored)) != std::string::npos,
                  reason);
    CHECK(env.Ready(stale).status == 503);
    CHECK(env.Admin(stale).Get("/apis/iam/v2/tokens").status == 503);
    CHECK(env.nodes[stale]->log().find("REPLICATION STOPPED") !=
          std::string::npos);
  }
  env.nodes[stale]->Stop();

  // Rebuilt empty, it replays the log from etcd (a small log: etcd holds
  // it from seq 1), data keys included.
  REQUIRE(Sh("rm -rf '" + env.DataDir(stale) + "' '" + env.DataDir(stale) +
             ".checkpoint'") == 0);
  REQUIRE(env.StartNode(stale));
  REQUIRE(env.WaitApplied(restored));
  for (int i = 0; i < 3; ++i) CHECK(env.Digest(i) == backup_digest);
  for (int i = 0; i < 3; ++i) {
    Api api = env.Admin(i);
    CHECK(api.Get("/apis/iam/v2/tokens/before-0")
              .JsonBody()["token"]
              .value("value", "") == value0);
    CHECK(api.Get("/apis/iam/v2/tokens/before-3").status == 404);
    CHECK(api.Get("/apis/iam/v2/tokens/late-0").status == 404);
  }

  // Writes go on through every node, from the restored head, gaplessly.
  uint64_t last = 0;
  for (int i = 0; i < 9; ++i) {
    Response r;
    for (int k = 0; k < 100; ++k) {  // the first ones may meet an election
      r = env.Admin(i % 3).Post("/apis/iam/v2/tokens",
                                TokenBody("after-" + std::to_string(i)));
      if (r.status != 503) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    REQUIRE_MESSAGE(r.status == 200, r.body);
    if (i == 0) CHECK(SeqOf(r) == restored + 1);
    CHECK(SeqOf(r) > last);
    last = SeqOf(r);
  }
  REQUIRE(env.WaitApplied(last));
  const std::vector<uint64_t> feed = FeedSeqs(env.Admin(a));
  REQUIRE(feed.size() == last);
  for (size_t i = 0; i < feed.size(); ++i) CHECK(feed[i] == i + 1);
  for (int i = 0; i < 3; ++i) CHECK(FeedSeqs(env.Admin(i)) == feed);
  const std::string d = env.Digest(a);
  REQUIRE(!d.empty());
  for (int i = 0; i < 3; ++i) CHECK(env.Digest(i) == d);

  // The stale log again, now that the cluster's head is past it: its events
  // after the restored head differ from the cluster's, and it says so.
  REQUIRE(last > late);
  env.nodes[stale]->Stop();
  REQUIRE(Sh("rm -rf '" + env.DataDir(stale) + "' '" + env.DataDir(stale) +
             ".checkpoint' && mv '" + stale_dir + "' '" + env.DataDir(stale) +
             "'") == 0);
  REQUIRE(env.StartNode(stale, /*wait_ready=*/false));
  {
    const std::string reason = WaitReason(env, stale, "Rebuild this node");
    CHECK_MESSAGE(reason.find("seq " + std::to_string(restored + 1) +
                              ": this node's event differs from the "
                              "cluster's") != std::string::npos,
                  reason);
    CHECK(env.Admin(stale).Get("/apis/iam/v2/tokens").status == 503);
  }
  env.nodes[stale]->Stop();
  CHECK(env.Digest(a) == d);
}

}  // namespace
}  // namespace iam::integration
