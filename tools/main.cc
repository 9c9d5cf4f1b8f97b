// iamledger: the command line (DESIGN.md §8). Parsing only; each subcommand
// lives in tools/commands.h. Exit codes: 0 ok, 1 failure, 2 usage.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <cstdio>

#include "tools/commands.h"

int main(int argc, char** argv) {
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
  serve_cmd->add_option(
      "--max-token-lifetime", serve.max_token_lifetime,
      "Longest token lifetime (90d, 12h, 30m, 45s): tokens created without "
      "expires_at get now + this; a later expiry is refused");

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
  if (verify_cmd->parsed()) return RunReplayVerify(replay);
  if (rebuild_cmd->parsed()) return RunReplayRebuild(replay);
  if (export_cmd->parsed()) return RunReplayExport(replay);
  if (backup_create_cmd->parsed()) return RunBackupCreate(backup);
  return 2;
}
