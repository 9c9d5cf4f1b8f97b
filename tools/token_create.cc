#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "tools/commands.h"
#include "tools/local_api.h"
#include "tools/token_cli.h"

namespace iam::tools {
int RunTokenCreate(const TokenCreateFlags& flags) {
  std::string expires_at;
  if (!flags.expires.empty()) {
    auto e = ExpiresFlag(flags.expires, SystemClock::Get()->Now());
    if (!e.ok()) {
      std::fprintf(stderr, "iamledger: --expires: %s\n",
                   e.status().message().c_str());
      return 2;
    }
    expires_at = *e;
  }
  auto api = LocalApi::Connect({flags.data_dir, flags.key_file});
  if (!api.ok()) {
    std::fprintf(stderr, "iamledger: %s\n", api.status().message().c_str());
    return 1;
  }
  nlohmann::json req = {{"name", flags.name}};
  if (!flags.id.empty()) req["id"] = flags.id;
  if (!expires_at.empty()) req["expires_at"] = expires_at;
  auto created = (*api)->Call("POST", "/apis/iam/v2/tokens", req.dump());
  if (!created.ok()) {
    std::fprintf(stderr, "iamledger: failed to create the token: %s\n",
                 created.status().message().c_str());
    return 1;
  }
  if (created->status != 200) {
    std::fprintf(stderr, "iamledger: failed to create the token: %s\n",
                 ErrorText(*created).c_str());
    return 1;
  }
  auto body = nlohmann::json::parse(created->body, nullptr, false);
  if (!body.is_object() || !body.contains("token")) {
    std::fprintf(stderr, "iamledger: unexpected response from the server\n");
    return 1;
  }
  const std::string id = body["token"].value("id", "");
  const std::string value = body["token"].value("value", "");
  if (flags.admin) {
    nlohmann::json members = {{"members", {"token:" + id}}};
    auto added = (*api)->Call(
        "POST", "/apis/iam/v2/policies/administrator-access/members:add",
        members.dump());
    if (!added.ok() || added->status != 200) {
      std::fprintf(stderr,
                   "iamledger: token %s was created but could not be added "
                   "to the administrator-access policy: %s\n",
                   id.c_str(),
                   added.ok() ? ErrorText(*added).c_str()
                              : added.status().message().c_str());
      return 1;
    }
  }
  std::printf("%s\n", value.c_str());
  return 0;
}

}  // namespace iam::tools
