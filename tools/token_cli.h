// `iamledger iam token list|update|rotate|revoke|delete` (API.md "Token
// lifecycle"; DESIGN.md §8): through the running server's admin socket, or
// offline on the data directory, exactly as `iam token create` (LocalApi).
//
// Conventions, as `create`'s: stdout holds only the result (list: one token
// per line, or --json; update, delete: the id; rotate: the new value;
// revoke: the number of tokens revoked), each followed by a newline;
// errors go to stderr with exit code 1; usage errors exit 2. No command
// prints a token value except `rotate` (the new one) and `create`.
#ifndef IAMLEDGER_TOOLS_TOKEN_CLI_H_
#define IAMLEDGER_TOOLS_TOKEN_CLI_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

#include "core/events.h"
#include "core/status.h"

namespace iam::tools {

// --expires: an RFC 3339 time, a duration from now ("90d", "12h"), or
// "never" (no expiry). Returns what expires_at takes in a request: the
// RFC 3339 time, or "" for never. InvalidArgument otherwise.
StatusOr<std::string> ExpiresFlag(const std::string& text, Micros now);

// Adds list, update, rotate, revoke and delete under `token_cmd`. The
// returned function, called after parsing, runs the parsed one and returns
// its exit code, or nullopt when none of them was parsed.
std::function<std::optional<int>()> AddTokenLifecycleCommands(
    CLI::App* token_cmd);

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_TOKEN_CLI_H_
