// iamledger: the command line (DESIGN.md §8). Parsing only; each subcommand
// lives in tools/commands.h. Exit codes: 0 ok, 1 failure, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>

#include "eventstore/large_memory.h"
#include "tools/commands.h"
#include "tools/token_cli.h"

int main(int argc, char** argv) {
  // Huge pages for the large tables (core/model.h LargeMemory).
  iam::SetLargeMemory(iam::eventstore::HugePageMemory());
  using namespace iam::tools;
  CLI::App app{"iamledger: event-sourced IAM tokens and policies"};
  app.require_subcommand(1);

  ServeFlags serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the HTTP API server");
  serve_cmd->add_option("--data-dir", serve.data_dir, "Data directory")
      ->capture_default_str();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on")
      ->capture_default_str();
  serve_cmd->add_option("--key-file", serve.key_file,
                        "Master key file (default: iamledger.key beside the "
                        "data directory; created 0600 on first start)");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key");
  serve_cmd->add_option("--threads", serve.threads, "I/O threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve_cmd
      ->add_option("--audit-snapshot-every", serve.audit_snapshot_every,
                   "Audit queries: keep a point-in-time snapshot every N "
                   "events (0: none)")
      ->capture_default_str();
  std::string token_values = "reveal";
  serve_cmd
      ->add_option("--token-values", token_values,
                   "reveal (Automate-compatible) or show-once")
      ->check(CLI::IsMember({"reveal", "show-once"}))
      ->capture_default_str();
  serve_cmd
      ->add_option("--revoke-rate-limit", serve.revoke_rate_limit,
                   "POST /tokens:revoke requests per client address: N/s, "
                   "N/m, N/h or N/d; 0 = unlimited")
      ->capture_default_str();
  serve_cmd
      ->add_option("--auth-failure-rate-limit", serve.auth_failure_rate_limit,
                   "Failed authentications per client address before 429 "
                   "with Retry-After: N/s, N/m, N/h or N/d; 0 = unlimited")
      ->capture_default_str();
  serve_cmd
      ->add_option("--rate-limit-addresses", serve.rate_limit_addresses,
                   "Client addresses each rate limiter keeps in memory at "
                   "most")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{16}, uint64_t{100'000'000}));
  serve_cmd
      ->add_option("--header-timeout", serve.header_timeout,
                   "Time to receive a request header (the first one: from "
                   "the accept), then the connection is closed")
      ->capture_default_str();
  serve_cmd
      ->add_option("--body-timeout", serve.body_timeout,
                   "Time to receive a request body")
      ->capture_default_str();
  serve_cmd
      ->add_option("--idle-timeout", serve.idle_timeout,
                   "Keep-alive: time between two requests on a connection")
      ->capture_default_str();
  serve_cmd
      ->add_option("--write-timeout", serve.write_timeout,
                   "Time to write one response to a slow reader")
      ->capture_default_str();
  serve_cmd
      ->add_option("--max-connections", serve.max_connections,
                   "Open connections at most; past it a new connection is "
                   "closed at once (lowered to fit the open-file limit)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1'000'000}));
  serve_cmd->add_option(
      "--max-token-lifetime", serve.max_token_lifetime,
      "Longest token lifetime (90d, 12h, 30m, 45s): tokens created without "
      "expires_at get now + this; a later expiry is refused");

  serve_cmd->add_option(
      "--etcd", serve.etcd,
      "Cluster mode: the etcd members' client URLs, URL[,URL...] (e.g. "
      "http://10.0.0.1:2379,http://10.0.0.2:2379); the log's commit point "
      "moves there and this data directory becomes one replica");
  serve_cmd->add_option("--node-name", serve.node_name,
                        "Cluster mode: this node's name, unique in the "
                        "cluster ([A-Za-z0-9._-], up to 64)");
  serve_cmd->add_option("--advertise", serve.advertise,
                        "Cluster mode: the URL peers forward writes to "
                        "(default: http://<--listen>)");
  serve_cmd
      ->add_option("--max-staleness", serve.max_staleness,
                   "Cluster mode: cut off from etcd (or behind the cluster) "
                   "longer than this, the node answers 503 to every "
                   "authenticated request (500ms, 5s, 1m)")
      ->capture_default_str();
  serve_cmd
      ->add_option("--etcd-retain", serve.etcd_retain,
                   "Cluster mode: events always kept in etcd behind the head "
                   "(older batches every node applied are deleted)")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  serve_cmd
      ->add_option("--etcd-retention-interval", serve.etcd_retention_interval,
                   "Cluster mode: how often the leader deletes old batches "
                   "from etcd and compacts it (500ms, 5s, 1m)")
      ->capture_default_str();

  auto* iam_cmd = app.add_subcommand("iam", "IAM administration");
  iam_cmd->require_subcommand(1);
  auto* token_cmd = iam_cmd->add_subcommand("token", "API tokens");
  token_cmd->require_subcommand(1);
  TokenCreateFlags create;
  auto* create_cmd = token_cmd->add_subcommand(
      "create", "Create a token and print its value (only the value)");
  create_cmd->add_option("NAME", create.name, "Token name")->required();
  create_cmd->add_option("--id", create.id,
                         "Token id (default: derived from NAME)");
  create_cmd->add_flag("--admin", create.admin,
                       "Add the token to the administrator-access policy");
  create_cmd->add_option("--data-dir", create.data_dir, "Data directory")
      ->capture_default_str();
  create_cmd->add_option("--key-file", create.key_file, "Master key file");
  create_cmd->add_option(
      "--expires", create.expires,
      "Expiry: RFC 3339 time, duration from now (90d, 12h), or never");
  auto run_token_lifecycle = AddTokenLifecycleCommands(token_cmd);

  auto* import_cmd =
      app.add_subcommand("import", "Copy objects from another IAM service");
  import_cmd->require_subcommand(1);
  ImportFlags import;
  auto* import_automate_cmd = import_cmd->add_subcommand(
      "automate",
      "Copy projects, custom roles and policies, chef-managed policy members "
      "and tokens (with their values) from a running Chef Automate; "
      "existing objects are skipped or reported as conflicts");
  import_automate_cmd
      ->add_option("--url", import.url,
                   "Automate's URL, e.g. https://a2.example")
      ->required();
  import_automate_cmd
      ->add_option("--token-file", import.token_file,
                   "File holding an Automate admin token (first line)")
      ->required();
  import_automate_cmd->add_flag("--dry-run", import.dry_run,
                                "Print the plan; write nothing");
  import_automate_cmd
      ->add_option("--data-dir", import.data_dir, "Data directory")
      ->capture_default_str();
  import_automate_cmd->add_option("--key-file", import.key_file,
                                  "Master key file (offline only)");

  auto* replay_cmd = app.add_subcommand(
      "replay", "Read the log back offline (read-only; also beside a server)");
  replay_cmd->require_subcommand(1);
  ReplayFlags replay;
  auto add_replay_common = [&replay](CLI::App* cmd) {
    cmd->add_option("--data-dir", replay.data_dir, "Data directory")
        ->capture_default_str();
    cmd->add_option("--key-file", replay.key_file,
                    "Master key file, to check checkpoint MACs (default: "
                    "iamledger.key beside the data directory, if present)");
  };
  auto* verify_cmd = replay_cmd->add_subcommand(
      "verify",
      "Check checksums, seqs, every envelope, the hash chain, the newest "
      "checkpoint and a full fold; print the state digest");
  add_replay_common(verify_cmd);
  auto* rebuild_cmd = replay_cmd->add_subcommand(
      "rebuild", "The state as of a seq or a time (no secrets)");
  add_replay_common(rebuild_cmd);
  auto* to_seq_opt =
      rebuild_cmd->add_option("--to-seq", replay.to_seq, "Last seq to fold")
          ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  auto* to_time_opt = rebuild_cmd->add_option(
      "--to-time", replay.to_time,
      "Fold the events recorded at or before this RFC 3339 time");
  to_seq_opt->excludes(to_time_opt);
  rebuild_cmd->add_flag("--json", replay.json,
                        "Print the state as one JSON document");
  rebuild_cmd->add_flag("--pretty", replay.pretty, "Indent the JSON");
  auto* export_cmd = replay_cmd->add_subcommand(
      "export", "Every event as one JSON line, secrets redacted");
  add_replay_common(export_cmd);
  export_cmd->add_option("--from-seq", replay.from_seq, "First seq")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));

  auto* backup_cmd = app.add_subcommand("backup", "Backups");
  backup_cmd->require_subcommand(1);
  BackupFlags backup;
  auto* backup_create_cmd = backup_cmd->add_subcommand(
      "create",
      "Write a consistent copy of the data directory and its checkpoint "
      "file (online through the running server, or offline)");
  backup_create_cmd->add_option("--data-dir", backup.data_dir, "Data directory")
      ->capture_default_str();
  backup_create_cmd
      ->add_option("--to", backup.to,
                   "New directory for the copy; DIR.checkpoint goes beside it")
      ->required();
  backup_create_cmd->add_option(
      "--key-file", backup.key_file,
      "Master key file (offline only; default: beside the data directory)");

  auto* cluster_cmd = app.add_subcommand("cluster", "Cluster administration");
  cluster_cmd->require_subcommand(1);
  ClusterSeedFlags seed;
  auto* seed_cmd = cluster_cmd->add_subcommand(
      "seed",
      "Restore a whole cluster whose etcd was lost: verify a backup, then "
      "write its head and log into an empty etcd (never over a cluster's "
      "log) and record the restore; then start the nodes from copies of the "
      "backup");
  seed_cmd
      ->add_option("--etcd", seed.etcd,
                   "The new etcd members' client URLs, URL[,URL...]")
      ->required();
  seed_cmd
      ->add_option("--from", seed.from,
                   "The backup directory (from `backup create`; its "
                   ".checkpoint file beside it)")
      ->required();
  seed_cmd->add_option("--key-file", seed.key_file,
                       "The cluster's key file (default: iamledger.key beside "
                       "the backup)");
  seed_cmd
      ->add_option("--etcd-retain", seed.etcd_retain,
                   "Events written to etcd behind the head (the whole log "
                   "when shorter), as serve's --etcd-retain")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));

  auto* audit_cmd = app.add_subcommand(
      "audit",
      "Audit queries on a data directory, offline and read-only (the API's "
      "/audit/check, /audit/who, /audit/diff)");
  audit_cmd->require_subcommand(1);
  AuditFlags audit;
  auto add_audit_common = [&audit](CLI::App* cmd) {
    cmd->add_option("--data-dir", audit.data_dir, "Data directory")
        ->capture_default_str();
    cmd->add_flag("--json", audit.json, "Print the API's JSON answer");
    cmd->add_flag("--pretty", audit.pretty, "Indent the JSON");
  };
  auto add_point = [&audit](CLI::App* cmd) {
    auto* at = cmd->add_option("--at", audit.at,
                               "RFC 3339 time (default: the end of the log)");
    auto* at_seq = cmd->add_option("--at-seq", audit.at_seq, "Seq");
    at->excludes(at_seq);
  };
  auto add_projects = [&audit](CLI::App* cmd) {
    cmd->add_option("--project", audit.projects,
                    "Requested project (repeatable; default: all)");
  };
  auto* audit_check = audit_cmd->add_subcommand(
      "check", "Was SUBJECT allowed ACTION on RESOURCE, and why");
  add_audit_common(audit_check);
  add_point(audit_check);
  audit_check->add_option("--subject", audit.subject, "e.g. token:ci")
      ->required();
  audit_check->add_option("--action", audit.action, "e.g. iam:tokens:get")
      ->required();
  audit_check->add_option("--resource", audit.resource, "e.g. iam:tokens:ci")
      ->required();
  add_projects(audit_check);
  auto* audit_who = audit_cmd->add_subcommand(
      "who", "Every member expression and token allowed ACTION on RESOURCE");
  add_audit_common(audit_who);
  add_point(audit_who);
  audit_who->add_option("--action", audit.action, "e.g. iam:tokens:get")
      ->required();
  audit_who->add_option("--resource", audit.resource, "e.g. iam:tokens:ci")
      ->required();
  add_projects(audit_who);
  auto* audit_diff = audit_cmd->add_subcommand(
      "diff", "Grants gained and lost per subject between two points");
  add_audit_common(audit_diff);
  auto* from = audit_diff->add_option("--from", audit.from,
                                      "RFC 3339 time (default: seq 0)");
  auto* from_seq = audit_diff->add_option("--from-seq", audit.from_seq, "Seq");
  from->excludes(from_seq);
  auto* to = audit_diff->add_option(
      "--to", audit.to, "RFC 3339 time (default: the end of the log)");
  auto* to_seq = audit_diff->add_option("--to-seq", audit.to_seq, "Seq");
  to->excludes(to_seq);
  audit_diff->add_option("--subject", audit.subject, "Only this subject");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  if (serve_cmd->parsed()) {
    serve.show_once = token_values == "show-once";
    return RunServe(serve);
  }
  if (create_cmd->parsed()) return RunTokenCreate(create);
  if (auto code = run_token_lifecycle()) return *code;
  if (import_automate_cmd->parsed()) return RunImportAutomate(import);
  if (verify_cmd->parsed()) return RunReplayVerify(replay);
  if (rebuild_cmd->parsed()) return RunReplayRebuild(replay);
  if (export_cmd->parsed()) return RunReplayExport(replay);
  if (backup_create_cmd->parsed()) return RunBackupCreate(backup);
  if (seed_cmd->parsed()) return RunClusterSeed(seed);
  for (auto* cmd : {audit_check, audit_who, audit_diff}) {
    if (cmd->parsed()) {
      audit.command = cmd->get_name();
      return RunAudit(audit);
    }
  }
  return 2;
}
