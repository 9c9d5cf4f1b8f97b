// `serve --etcd ...` (DESIGN.md §10): the cluster flags turned into
// eventstore::ClusterOptions, and the marker that keeps a replica's data
// directory from being written outside the cluster.
//
// Contract:
//  - ClusterOptionsFromFlags validates every flag (usage errors name the
//    flag): endpoints http(s)://HOST:PORT, a node name of [A-Za-z0-9._-]
//    (1..64), an advertise URL (default http://<listen>, which then needs
//    an explicit port), --max-staleness as 500ms / 5s / 1m.
//  - A data directory served with --etcd holds the file CLUSTER (written at
//    start, naming the node and the etcd members). Such a directory is
//    refused by `serve` without --etcd and by the offline command line's
//    writes: appending there outside the cluster would fork its log.
#ifndef IAMLEDGER_TOOLS_CLUSTER_MODE_H_
#define IAMLEDGER_TOOLS_CLUSTER_MODE_H_

#include <string>

#include "core/status.h"
#include "eventstore/cluster.h"
#include "tools/commands.h"

namespace iam::tools {

StatusOr<eventstore::ClusterOptions> ClusterOptionsFromFlags(
    const ServeFlags& flags);

// <data_dir>/CLUSTER.
std::string ClusterMarkerPath(const std::string& data_dir);
Status WriteClusterMarker(const ServeFlags& flags);
// FailedPrecondition naming the marker when `data_dir` is a replica.
Status RefuseClusterReplica(const std::string& data_dir,
                            const std::string& what);

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_CLUSTER_MODE_H_
