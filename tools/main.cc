// iamledger: the command line (DESIGN.md §8). Parsing only; each subcommand
// lives in tools/commands.h. Exit codes: 0 ok, 1 failure, 2 usage.
#include <CLI/CLI.hpp>

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
  return 2;
}
