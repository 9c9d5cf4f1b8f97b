#include "tools/token_cli.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/lifecycle.h"
#include "tools/local_api.h"

namespace iam::tools {
namespace {

using Json = nlohmann::json;
constexpr char kTokens[] = "/apis/iam/v2/tokens";

struct CommonFlags {
  std::string data_dir = "./data";
  std::string key_file;
};

void AddCommon(CLI::App* cmd, CommonFlags* f) {
  cmd->add_option("--data-dir", f->data_dir, "Data directory")
      ->capture_default_str();
  cmd->add_option("--key-file", f->key_file,
                  "Master key file (offline only; default: beside the data "
                  "directory)");
}

// Percent-encodes everything outside [A-Za-z0-9-_.~] (a path segment).
std::string Segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

int Error(const std::string& message) {
  std::fprintf(stderr, "iamledger: %s\n", message.c_str());
  return 1;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "iamledger: %s\n", message.c_str());
  return 2;
}

// One call; on an error (transport or HTTP) prints "<what>: <reason>" and
// returns nullopt.
std::optional<Json> CallOk(LocalApi& api, const std::string& what,
                           const std::string& method, const std::string& target,
                           const std::string& body = "") {
  auto r = api.Call(method, target, body);
  if (!r.ok()) {
    Error(what + ": " + r.status().message());
    return std::nullopt;
  }
  if (r->status != 200) {
    Error(what + ": " + ErrorText(*r));
    return std::nullopt;
  }
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded()) {
    Error(what + ": unexpected response from the server");
    return std::nullopt;
  }
  return j;
}

std::unique_ptr<LocalApi> ConnectOrReport(const CommonFlags& f) {
  auto api = LocalApi::Connect({f.data_dir, f.key_file});
  if (!api.ok()) {
    Error(api.status().message());
    return nullptr;
  }
  return std::move(*api);
}

// ---- list

struct ListFlags : CommonFlags {
  bool json = false;
};

int RunList(const ListFlags& f) {
  auto api = ConnectOrReport(f);
  if (api == nullptr) return 1;
  auto list = CallOk(*api, "failed to list the tokens", "GET", kTokens);
  if (!list) return 1;
  Json tokens = Json::array();
  for (Json t : (*list)["tokens"]) {
    t.erase("value");  // a listing never prints secrets
    tokens.push_back(std::move(t));
  }
  if (f.json) {
    std::printf("%s\n", Json{{"tokens", tokens}}.dump(2).c_str());
    return 0;
  }
  // id, active, expires_at, last_used_at ("-" when absent), name.
  for (const Json& t : tokens) {
    std::printf("%s\t%s\t%s\t%s\t%s\n", t.value("id", "").c_str(),
                t.value("active", false) ? "active" : "inactive",
                t.value("expires_at", "-").c_str(),
                t.value("last_used_at", "-").c_str(),
                t.value("name", "").c_str());
  }
  return 0;
}

// ---- update

struct UpdateFlags : CommonFlags {
  std::string id;
  std::optional<std::string> name;
  std::optional<std::string> active;
  std::optional<std::string> projects;
  std::optional<std::string> expires;
};

StringList SplitProjects(const std::string& s) {
  StringList out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    std::string item = s.substr(start, comma - start);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

int RunUpdate(const UpdateFlags& f) {
  std::optional<std::string> expires_at;
  if (f.expires) {
    auto e = ExpiresFlag(*f.expires, SystemClock::Get()->Now());
    if (!e.ok()) return Usage("--expires: " + e.status().message());
    expires_at = *e;
  }
  auto api = ConnectOrReport(f);
  if (api == nullptr) return 1;
  const std::string target = std::string(kTokens) + "/" + Segment(f.id);
  auto current = CallOk(*api, "failed to read token " + f.id, "GET", target);
  if (!current) return 1;
  const Json& t = (*current)["token"];
  // PUT is a full replacement of the Automate fields: start from the
  // current ones; expires_at only when asked (a PUT without it keeps it).
  Json req = {
      {"name", f.name.value_or(t.value("name", ""))},
      {"active", f.active ? *f.active == "true" : t.value("active", true)},
      {"projects", f.projects ? Json(SplitProjects(*f.projects))
                              : t.value("projects", Json::array())}};
  if (expires_at) req["expires_at"] = *expires_at;
  if (!CallOk(*api, "failed to update token " + f.id, "PUT", target,
              req.dump())) {
    return 1;
  }
  std::printf("%s\n", f.id.c_str());
  return 0;
}

// ---- rotate

struct RotateFlags : CommonFlags {
  std::string id;
  std::string grace = "0";
};

int RunRotate(const RotateFlags& f) {
  int64_t grace_seconds = 0;
  if (f.grace != "0") {
    auto d = ParseDuration(f.grace);
    if (!d.ok()) return Usage("--grace: " + d.status().message());
    grace_seconds = *d / kMicrosPerSecond;
  }
  auto api = ConnectOrReport(f);
  if (api == nullptr) return 1;
  auto rotated = CallOk(*api, "failed to rotate token " + f.id, "POST",
                        std::string(kTokens) + "/" + Segment(f.id) + ":rotate",
                        Json{{"grace_seconds", grace_seconds}}.dump());
  if (!rotated) return 1;
  std::printf("%s\n", (*rotated)["token"].value("value", "").c_str());
  return 0;
}

// ---- revoke

struct RevokeFlags : CommonFlags {
  std::string value_file;  // "" = stdin
};

int RunRevoke(const RevokeFlags& f) {
  std::vector<std::string> values;
  auto read = [&](std::istream& in) {
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' ||
                               line.back() == '\t')) {
        line.pop_back();
      }
      size_t start = line.find_first_not_of(" \t");
      if (start != std::string::npos) values.push_back(line.substr(start));
    }
  };
  if (f.value_file.empty()) {
    read(std::cin);
  } else {
    std::ifstream in(f.value_file);
    if (!in) return Error("cannot read " + f.value_file);
    read(in);
  }
  if (values.empty()) {
    return Usage(
        "no token values given (one per line on stdin or in "
        "--value-file)");
  }
  auto api = ConnectOrReport(f);
  if (api == nullptr) return 1;
  uint64_t revoked = 0;
  for (size_t i = 0; i < values.size(); i += 1000) {
    Json batch = Json::array();
    for (size_t k = i; k < std::min(values.size(), i + 1000); ++k) {
      batch.push_back(values[k]);
    }
    auto r = CallOk(*api, "failed to revoke", "POST",
                    std::string(kTokens) + ":revoke",
                    Json{{"values", batch}}.dump());
    if (!r) return 1;
    revoked += r->value("revoked", uint64_t{0});
  }
  std::printf("%llu\n", static_cast<unsigned long long>(revoked));
  return 0;
}

// ---- delete

struct DeleteFlags : CommonFlags {
  std::string id;
};

int RunDelete(const DeleteFlags& f) {
  auto api = ConnectOrReport(f);
  if (api == nullptr) return 1;
  if (!CallOk(*api, "failed to delete token " + f.id, "DELETE",
              std::string(kTokens) + "/" + Segment(f.id))) {
    return 1;
  }
  std::printf("%s\n", f.id.c_str());
  return 0;
}

}  // namespace

StatusOr<std::string> ExpiresFlag(const std::string& text, Micros now) {
  if (text == "never") return std::string();
  if (auto t = ParseRfc3339(text); t.ok()) return FormatRfc3339(*t, true);
  if (auto d = ParseDuration(text); d.ok()) {
    return FormatRfc3339(now + *d, true);
  }
  return InvalidArgumentError(
      "\"" + text +
      "\" is neither an RFC 3339 time (2026-12-31T23:59:59Z), a duration "
      "from now (90d, 12h, 30m) nor \"never\"");
}

std::function<std::optional<int>()> AddTokenLifecycleCommands(
    CLI::App* token_cmd) {
  auto list = std::make_shared<ListFlags>();
  auto* list_cmd = token_cmd->add_subcommand(
      "list",
      "List tokens: id, active, expires_at, last_used_at, name (tab-separated; "
      "no values)");
  list_cmd->add_flag("--json", list->json,
                     "The API's JSON ({\"tokens\": [...]}) without values");
  AddCommon(list_cmd, list.get());

  auto update = std::make_shared<UpdateFlags>();
  auto* update_cmd = token_cmd->add_subcommand(
      "update",
      "Change a token's name, status, projects or expiry; prints "
      "its id");
  update_cmd->add_option("ID", update->id, "Token id")->required();
  update_cmd->add_option("--name", update->name, "New name");
  update_cmd->add_option("--active", update->active, "true or false")
      ->check(CLI::IsMember({"true", "false"}));
  update_cmd->add_option("--projects", update->projects,
                         "Comma-separated project ids (\"\" for none)");
  update_cmd->add_option("--expires", update->expires,
                         "RFC 3339 time, duration from now (90d), or never");
  AddCommon(update_cmd, update.get());

  auto rotate = std::make_shared<RotateFlags>();
  auto* rotate_cmd = token_cmd->add_subcommand(
      "rotate",
      "Give a token a new value and print it (only the value); the "
      "old one works for --grace more");
  rotate_cmd->add_option("ID", rotate->id, "Token id")->required();
  rotate_cmd
      ->add_option("--grace", rotate->grace,
                   "How long the old value keeps working: 0, 30s, 10m, 1h, "
                   "7d at most")
      ->capture_default_str();
  AddCommon(rotate_cmd, rotate.get());

  auto revoke = std::make_shared<RevokeFlags>();
  auto* revoke_cmd = token_cmd->add_subcommand(
      "revoke",
      "Deactivate the tokens holding leaked values (one per line "
      "on stdin or in --value-file); prints how many");
  revoke_cmd->add_option("--value-file", revoke->value_file,
                         "File of values, one per line (default: stdin)");
  AddCommon(revoke_cmd, revoke.get());

  auto del = std::make_shared<DeleteFlags>();
  auto* delete_cmd = token_cmd->add_subcommand(
      "delete", "Delete a token (and its memberships); prints its id");
  delete_cmd->add_option("ID", del->id, "Token id")->required();
  AddCommon(delete_cmd, del.get());

  return [=]() -> std::optional<int> {
    if (list_cmd->parsed()) return RunList(*list);
    if (update_cmd->parsed()) return RunUpdate(*update);
    if (rotate_cmd->parsed()) return RunRotate(*rotate);
    if (revoke_cmd->parsed()) return RunRevoke(*revoke);
    if (delete_cmd->parsed()) return RunDelete(*del);
    return std::nullopt;
  };
}

}  // namespace iam::tools
