#include "tests/integration/harness_util.h"

namespace iam::integration {

// --------------------------------------------------------------------- Env

bool Env::Start(const std::vector<std::string>& extra_args) {
  if (dir.path().empty()) {
    error = "mkdtemp failed";
    return false;
  }
  if (!server.Start(extra_args)) {
    error = "server did not start: " + server.log();
    return false;
  }
  local = Api{server.admin_socket(), ""};
  anon = Api{server.tcp(), ""};
  Response created = local.Post("/apis/iam/v2/tokens",
                                Json{{"id", "admin"}, {"name", "admin"}});
  if (created.status != 200) {
    error = "creating the admin token failed: " + created.body;
    return false;
  }
  admin_token = created.JsonBody()["token"].value("value", "");
  Response added =
      local.Post("/apis/iam/v2/policies/administrator-access/members:add",
                 Json{{"members", {"token:admin"}}});
  if (added.status != 200) {
    error = "members:add failed: " + added.body;
    return false;
  }
  admin = Api{server.tcp(), admin_token};
  return !admin_token.empty();
}

// ----------------------------------------------------------------- helpers

std::string ErrorDiff(const Response& r, int http, int code,
                      std::string_view message) {
  std::string why;
  if (r.status != http) {
    why += "status " + std::to_string(r.status) +
           " != " + std::to_string(http) + "; ";
  }
  Json j = r.JsonBody();
  Json want = {{"error", message},
               {"code", code},
               {"message", message},
               {"details", Json::array()}};
  if (j != want) why += "body " + r.body + " != " + want.dump() + "; ";
  if (r.Header("Content-Type") != "application/json")
    why += "Content-Type " + r.Header("Content-Type") + "; ";
  return why;
}

uint64_t LogHead(const Api& admin) {
  Response r = admin.Get("/apis/iam/v2/events?after=0&limit=1000");
  if (r.status != 200) return 0;
  Json j = r.JsonBody();
  if (!j.is_object() || !j.contains("next") || !j["next"].is_number()) return 0;
  return j["next"].get<uint64_t>();
}

std::string CreateToken(const Api& admin, const std::string& id,
                        const Json& projects) {
  Response r = admin.Post(
      "/apis/iam/v2/tokens",
      Json{{"id", id}, {"name", id + " name"}, {"projects", projects}});
  if (r.status != 200) return "";
  Json j = r.JsonBody();
  if (!j.is_object() || !j.contains("token")) return "";
  return j["token"].value("value", "");
}

bool AddMember(const Api& admin, const std::string& policy_id,
               const std::string& member) {
  Response r = admin.Post("/apis/iam/v2/policies/" + policy_id + "/members:add",
                          Json{{"members", {member}}});
  return r.status == 200;
}

bool JsonHasKey(const Json& j, std::string_view key) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key() == key || JsonHasKey(it.value(), key)) return true;
    }
  } else if (j.is_array()) {
    for (const auto& v : j)
      if (JsonHasKey(v, key)) return true;
  }
  return false;
}

}  // namespace iam::integration
