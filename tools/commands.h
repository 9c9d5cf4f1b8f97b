// The subcommands of the `iamledger` binary (DESIGN.md §8). Each returns the
// process exit code: 0 ok, 1 failure, 2 usage.
#ifndef IAMLEDGER_TOOLS_COMMANDS_H_
#define IAMLEDGER_TOOLS_COMMANDS_H_

#include <string>

namespace iam::tools {

struct ServeFlags {
  std::string data_dir = "./data";
  std::string listen = "127.0.0.1:8080";
  std::string key_file;
  std::string tls_cert;
  std::string tls_key;
  int threads = 1;
  bool show_once = false;
};
int RunServe(const ServeFlags& flags);

struct TokenCreateFlags {
  std::string name;
  std::string id;
  bool admin = false;
  std::string data_dir = "./data";
  std::string key_file;
};
// Prints the token value and a newline on stdout, nothing else.
int RunTokenCreate(const TokenCreateFlags& flags);

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_COMMANDS_H_
