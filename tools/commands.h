// The subcommands of the `iamledger` binary (DESIGN.md §8). Each returns the
// process exit code: 0 ok, 1 failure, 2 usage.
#ifndef IAMLEDGER_TOOLS_COMMANDS_H_
#define IAMLEDGER_TOOLS_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iam::tools {

struct ServeFlags {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string key_file;
  std::string tls_cert;
  std::string tls_key;
  int threads = 1;
  bool show_once = false;
  std::string revoke_rate_limit = "60/h";  // per client address
  // Failed authentications per client address, past it 429 (N/s, N/m, ...).
  std::string auth_failure_rate_limit = "100/m";
  // Client addresses each rate limiter tracks at most.
  uint64_t rate_limit_addresses = 65536;
  // HTTP limits (api/http_server.h): durations as 10s, 2m, ...
  std::string header_timeout = "10s";
  std::string body_timeout = "10s";
  std::string idle_timeout = "30s";
  std::string write_timeout = "10s";
  uint64_t max_connections = 10000;
  std::string max_token_lifetime;  // "" = none; "90d", "12h", ...
  // Audit queries: a point-in-time snapshot every N events (api/audit.h).
  uint64_t audit_snapshot_every = 10000;
  // Cluster mode (DESIGN.md §10; README "Running a cluster"): empty etcd =
  // the single-node RocksDB log.
  std::string etcd;                  // URL[,URL...] of the etcd members
  std::string node_name;             // unique in the cluster
  std::string advertise;             // where peers reach this node's API
  std::string max_staleness = "5s";  // cut off longer: fail closed
  uint64_t etcd_retain = 10000;      // events always kept in etcd
  std::string etcd_retention_interval = "5s";  // how often the leader trims
};
int RunServe(const ServeFlags& flags);

struct TokenCreateFlags {
  std::string name;
  std::string id;
  bool admin = false;
  std::string data_dir = "./data";
  std::string key_file;
  std::string expires;  // --expires: RFC 3339, a duration, or "never"
};
// Prints the token value and a newline on stdout, nothing else.
int RunTokenCreate(const TokenCreateFlags& flags);

// `replay verify|rebuild|export` (tools/replay.cc). The key file is
// optional: without one the checkpoint MACs are not checked.
struct ReplayFlags {
  std::string data_dir = "./data";
  std::string key_file;   // empty: iamledger.key beside the data directory
  uint64_t to_seq = 0;    // rebuild: 0 = the end of the log
  std::string to_time;    // rebuild: RFC 3339, "" = the end of the log
  bool json = false;      // rebuild: the state as one JSON document
  bool pretty = false;    // rebuild --json: indented
  uint64_t from_seq = 1;  // export
};
// Prints a summary (events, streams, head hash, checkpoint, state digest)
// and OK, or FAILED naming the first bad seq (exit 1).
int RunReplayVerify(const ReplayFlags& flags);
// The state at --to-seq / --to-time: counts and digest, or --json.
int RunReplayRebuild(const ReplayFlags& flags);
// Every event from --from-seq as one JSON line, secrets redacted.
int RunReplayExport(const ReplayFlags& flags);

// `audit check|who|diff` (tools/audit.cc): the audit queries of the API
// (api/audit.h, the same implementation) on a data directory, offline and
// read-only. Empty strings / unset seqs are parameters not given.
struct AuditFlags {
  std::string command;  // "check", "who", "diff"
  std::string data_dir = "./data";
  std::string at, from, to;
  std::optional<uint64_t> at_seq, from_seq, to_seq;
  std::string subject, action, resource;
  std::vector<std::string> projects;
  bool json = false;
  bool pretty = false;
};
// Human-readable by default, the API's JSON with --json. Exit 0, 1 on a
// failure, 2 on a bad parameter.
int RunAudit(const AuditFlags& flags);

// `backup create` (tools/backup.cc): through the running server's admin
// socket, or on the stopped data directory itself.
struct BackupFlags {
  std::string data_dir = "./data";
  std::string to;
  std::string key_file;  // offline only: authenticates the checkpoint
};
int RunBackupCreate(const BackupFlags& flags);

// `cluster seed` (tools/cluster_seed.cc; eventstore/cluster_seed.h): a
// whole cluster restored from a backup into an empty etcd.
struct ClusterSeedFlags {
  std::string etcd;      // URL[,URL...] of the (new, empty) etcd members
  std::string from;      // the backup directory (DIR.checkpoint beside it)
  std::string key_file;  // empty: iamledger.key beside the backup
  uint64_t etcd_retain = 10000;  // events written to etcd behind the head
};
// Prints the verified backup, its state digest and what to do next; exit 1
// when the backup does not verify, etcd is not empty or does not answer.
int RunClusterSeed(const ClusterSeedFlags& flags);

// `import automate` (tools/import_automate.cc).
struct ImportFlags {
  std::string url;         // the Automate (or iamledger) base URL
  std::string token_file;  // a file holding an admin token of the source
  bool dry_run = false;
  std::string data_dir = "./data";
  std::string key_file;
};
// Prints one line per object (create, skip, add-members, conflict) and a
// summary; exit 1 when the source cannot be read or a conflict remains.
int RunImportAutomate(const ImportFlags& flags);

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_COMMANDS_H_
