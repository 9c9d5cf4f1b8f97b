// `iamledger cluster seed`: the whole cluster restored from a backup into an
// empty etcd (eventstore/cluster_seed.h has the contract; README "Backup and
// restore in a cluster" the procedure around it). Prints what it verified,
// the backup's state digest (the one `replay verify` prints on every node
// afterwards) and what to do next.
#include "eventstore/cluster_seed.h"

#include <cstdio>
#include <string>

#include "api/ledger.h"
#include "core/model.h"
#include "eventstore/crypto.h"
#include "eventstore/etcd_client.h"
#include "tools/commands.h"
#include "tools/state_fold.h"

namespace iam::tools {
namespace {

namespace es = eventstore;

int Fail(const std::string& message, int code = 1) {
  std::fprintf(stderr, "iamledger: cluster seed: %s\n", message.c_str());
  return code;
}

}  // namespace

int RunClusterSeed(const ClusterSeedFlags& flags) {
  auto endpoints = es::ParseEtcdEndpoints(flags.etcd);
  if (!endpoints.ok())
    return Fail("--etcd: " + endpoints.status().message(), 2);
  const std::string key_file =
      flags.key_file.empty() ? api::DefaultKeyFile(flags.from) : flags.key_file;
  auto keys = es::LoadOrCreateMasterKeys(key_file, /*create=*/false);
  if (!keys.ok()) {
    return Fail(keys.status().message() +
                " (the cluster's key file: the backup's checkpoint is "
                "checked with it; pass --key-file)");
  }
  StateFold* const fold = &NewFold();
  es::SeedOptions options;
  options.etcd_endpoints = std::move(*endpoints);
  options.backup_dir = flags.from;
  options.checkpoint_key = keys->checkpoint_key;
  options.window_events = flags.etcd_retain;
  options.sink = fold;
  auto report = es::SeedClusterFromBackup(options);
  if (!report.ok()) return Fail(report.status().message());
  const es::SeedReport& r = *report;
  const es::VerifyReport& v = r.verified;
  std::printf(
      "backup:       %s (seq 1..%llu verified, checkpoint seq %llu, "
      "MAC verified)\n",
      flags.from.c_str(), static_cast<unsigned long long>(v.last_seq),
      static_cast<unsigned long long>(v.checkpoint.seq));
  std::printf("head hash:    %s\n", es::ToHex(v.head).c_str());
  std::printf("state digest: %s\n",
              es::ToHex(es::Sha256(CanonicalEncoding(fold->state()))).c_str());
  std::printf(
      "etcd:         %s%s: head seq %llu, %llu batches (seq %llu..%llu)"
      ", restore recorded under /iamledger/restore\n",
      flags.etcd.c_str(), r.resumed ? " (an unfinished seed resumed)" : "",
      static_cast<unsigned long long>(v.last_seq),
      static_cast<unsigned long long>(r.batches),
      static_cast<unsigned long long>(r.window_first),
      static_cast<unsigned long long>(v.last_seq));
  std::printf(
      "next:         start every node with --etcd %s, each from a copy of "
      "the backup and its .checkpoint file (cp -a %s DATA && cp "
      "%s.checkpoint DATA.checkpoint)%s; a node whose log is ahead of seq "
      "%llu refuses to start and says how to rebuild it\n",
      flags.etcd.c_str(), flags.from.c_str(), flags.from.c_str(),
      r.window_first == 1 ? ", or empty (etcd holds the log from seq 1)" : "",
      static_cast<unsigned long long>(v.last_seq));
  std::printf("OK\n");
  return 0;
}

}  // namespace iam::tools
