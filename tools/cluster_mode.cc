#include "tools/cluster_mode.h"

#include <sys/stat.h>

#include <fstream>

#include "core/lifecycle.h"
#include "eventstore/etcd_client.h"

namespace iam::tools {
namespace {

// "500ms", or ParseDuration's "5s", "1m", ...
StatusOr<std::chrono::milliseconds> ParseShortDuration(const std::string& s) {
  if (s.size() > 2 && s.size() < 12 && s.ends_with("ms") &&
      s.find_first_not_of("0123456789") == s.size() - 2) {
    return std::chrono::milliseconds(std::stoll(s));
  }
  auto d = ParseDuration(s);
  if (!d.ok())
    return InvalidArgumentError(d.status().message() + " (or 500ms)");
  return std::chrono::milliseconds(*d / 1000);
}

}  // namespace

StatusOr<eventstore::ClusterOptions> ClusterOptionsFromFlags(
    const ServeFlags& flags) {
  eventstore::ClusterOptions co;
  auto endpoints = eventstore::ParseEtcdEndpoints(flags.etcd);
  if (!endpoints.ok())
    return InvalidArgumentError("--etcd: " + endpoints.status().message());
  co.etcd_endpoints = std::move(*endpoints);
  const std::string& name = flags.node_name;
  if (name.empty() || name.size() > 64 ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                             "VWXYZ0123456789._-") != std::string::npos) {
    return InvalidArgumentError(
        "--node-name is required in cluster mode: 1..64 of [A-Za-z0-9._-], "
        "unique in the cluster");
  }
  co.node_name = name;
  co.advertise_url = flags.advertise;
  if (co.advertise_url.empty()) {
    if (flags.listen.ends_with(":0")) {
      return InvalidArgumentError(
          "--advertise is required when --listen picks its port (:0)");
    }
    co.advertise_url =
        (flags.tls_cert.empty() ? "http://" : "https://") + flags.listen;
  }
  while (co.advertise_url.ends_with("/")) co.advertise_url.pop_back();
  if (!co.advertise_url.starts_with("http://") &&
      !co.advertise_url.starts_with("https://")) {
    return InvalidArgumentError(
        "--advertise must be an http:// or https:// URL, e.g. "
        "http://10.0.0.1:8080");
  }
  auto staleness = ParseShortDuration(flags.max_staleness);
  if (!staleness.ok()) {
    return InvalidArgumentError("--max-staleness: " +
                                staleness.status().message());
  }
  co.max_staleness = *staleness;
  if (co.max_staleness < std::chrono::milliseconds(100)) {
    return InvalidArgumentError("--max-staleness must be at least 100ms");
  }
  auto interval = ParseShortDuration(flags.etcd_retention_interval);
  if (!interval.ok()) {
    return InvalidArgumentError("--etcd-retention-interval: " +
                                interval.status().message());
  }
  co.retention_interval = *interval;
  co.retain_events = flags.etcd_retain;
  return co;
}

std::string ClusterMarkerPath(const std::string& data_dir) {
  return data_dir + "/CLUSTER";
}

Status WriteClusterMarker(const ServeFlags& flags) {
  std::ofstream out(ClusterMarkerPath(flags.data_dir), std::ios::trunc);
  out << "This data directory is a replica of an iamledger cluster (node "
      << flags.node_name << ", etcd " << flags.etcd
      << ").\nServe it only with `iamledger serve --etcd ...`; see the "
         "README, \"Running a cluster\".\n";
  out.close();
  if (!out) {
    return FailedPreconditionError("cannot write " +
                                   ClusterMarkerPath(flags.data_dir));
  }
  return OkStatus();
}

Status RefuseClusterReplica(const std::string& data_dir,
                            const std::string& what) {
  struct stat st;
  if (::stat(ClusterMarkerPath(data_dir).c_str(), &st) != 0) return OkStatus();
  return FailedPreconditionError(
      data_dir + " is a replica of a cluster (" + ClusterMarkerPath(data_dir) +
      "): " + what +
      " would write outside the cluster and fork its log. Start it with "
      "`iamledger serve --etcd ...` and use its admin socket, or restore it "
      "as README \"Running a cluster\" says");
}

}  // namespace iam::tools
