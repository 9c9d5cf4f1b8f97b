// `iamledger backup create`: a consistent copy of the data directory and its
// checkpoint file. While a server runs, it takes the copy itself (POST
// /admin/v1/backup on the admin socket, so appends go on); otherwise this
// process opens the store and calls EventStore::CreateBackup.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "api/ledger.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "tools/commands.h"
#include "tools/local_api.h"

namespace iam::tools {
namespace {

namespace fs = std::filesystem;

// True when something accepts connections on <data_dir>/admin.sock.
bool ServerAnswers(const std::string& data_dir) {
  const std::string path = data_dir + "/admin.sock";
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) return false;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const bool ok =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// The API's error message from an error body, or the HTTP status.
std::string ErrorText(const api::HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    return j["message"].get<std::string>();
  return "HTTP " + std::to_string(r.status);
}

Status BackupThroughServer(const BackupFlags& flags, const std::string& to) {
  IAM_ASSIGN_OR_RETURN(auto api,
                       LocalApi::Connect({flags.data_dir, flags.key_file}));
  std::string body;
  try {  // dump() throws on a path that is not UTF-8
    body = nlohmann::json{{"to", to}}.dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgumentError("the backup directory " + to +
                                " is not valid UTF-8");
  }
  IAM_ASSIGN_OR_RETURN(api::HttpResponse r,
                       api->Call("POST", "/admin/v1/backup", body));
  if (r.status == 200) return OkStatus();
  std::string msg = ErrorText(r);
  if (r.status == 404) {
    msg +=
        " (this server has no backup route: stop it and run the same "
        "command again to back up offline)";
  }
  return UnavailableError("the server could not take the backup: " + msg);
}

Status BackupOffline(const BackupFlags& flags, const std::string& to) {
  std::error_code ec;
  if (!fs::exists(fs::path(flags.data_dir) / "CURRENT", ec)) {
    return NotFoundError("no iamledger data directory at " + flags.data_dir);
  }
  // The copy's checkpoint is authenticated with the log's own key.
  const std::string key_file = flags.key_file.empty()
                                   ? api::DefaultKeyFile(flags.data_dir)
                                   : flags.key_file;
  auto keys = eventstore::LoadOrCreateMasterKeys(key_file, /*create=*/false);
  if (!keys.ok()) {
    return Status(keys.status().code(),
                  keys.status().message() +
                      " (the backup's checkpoint is authenticated with the "
                      "key file; pass --key-file)");
  }
  eventstore::StoreOptions options;
  options.checkpoint_key = keys->checkpoint_key;
  auto store = eventstore::OpenRocksEventStore(flags.data_dir, options);
  if (!store.ok()) {
    if (store.status().code() == StatusCode::kUnavailable &&
        store.status().message().find("lock") != std::string::npos) {
      return UnavailableError(
          "the data directory " + flags.data_dir +
          " is locked by a process that does not answer on its admin.sock; "
          "is an old server still stopping?");
    }
    return store.status();
  }
  Status backup = (*store)->CreateBackup(to);
  Status closed = (*store)->Close();
  IAM_RETURN_IF_ERROR(backup);
  return closed;
}

}  // namespace

int RunBackupCreate(const BackupFlags& flags) {
  std::error_code ec;
  fs::path to = fs::absolute(flags.to, ec).lexically_normal();
  if (ec || flags.to.empty()) {
    std::fprintf(stderr, "iamledger: backup create: bad --to %s\n",
                 flags.to.c_str());
    return 2;
  }
  if (!to.has_filename()) to = to.parent_path();
  const std::string to_dir = to.string();
  if (fs::symlink_status(to, ec).type() != fs::file_type::not_found) {
    std::fprintf(stderr,
                 "iamledger: backup create: %s already exists; choose a new "
                 "directory\n",
                 to_dir.c_str());
    return 1;
  }
  const bool online = ServerAnswers(flags.data_dir);
  Status s = online ? BackupThroughServer(flags, to_dir)
                    : BackupOffline(flags, to_dir);
  if (!s.ok()) {
    std::fprintf(stderr, "iamledger: backup create: %s\n", s.message().c_str());
    return 1;
  }
  std::printf("backup:     %s (%s)\n", to_dir.c_str(),
              online ? "taken by the running server" : "offline");
  std::printf("checkpoint: %s.checkpoint\n", to_dir.c_str());
  std::printf(
      "check it:   iamledger replay verify --data-dir %s\n"
      "restore:    with the server stopped, cp -a %s DATA && cp "
      "%s.checkpoint DATA.checkpoint; keep the key file; then serve\n",
      to_dir.c_str(), to_dir.c_str(), to_dir.c_str());
  return 0;
}

}  // namespace iam::tools
