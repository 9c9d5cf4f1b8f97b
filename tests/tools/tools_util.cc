#include "tests/tools/tools_util.h"

#include <filesystem>
#include <sstream>
#include <utility>

namespace iam::tools::testing {
namespace {

namespace fs = std::filesystem;
using ::iam::testutil::Json;
using ::iam::testutil::Response;

constexpr char kV2[] = "/apis/iam/v2";

}  // namespace

void CopyDataDir(const std::string& from, const std::string& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    if (entry.is_regular_file()) {  // not admin.sock
      fs::copy_file(entry.path(), fs::path(to) / entry.path().filename());
    }
  }
  const std::string cp = from + ".checkpoint";
  if (fs::exists(cp)) fs::copy_file(cp, to + ".checkpoint");
}

std::string Field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  const std::string prefix = key + ":";
  while (std::getline(in, line)) {
    if (!line.starts_with(prefix)) continue;
    size_t v = line.find_first_not_of(' ', prefix.size());
    return v == std::string::npos ? "" : line.substr(v);
  }
  return "";
}

BuiltState BuildState(const Server& server) {
  BuiltState st;
  CommandResult admin =
      RunIamledger({"iam", "token", "create", "admin", "--admin", "--data-dir",
                    server.data_dir(), "--key-file", server.key_file()});
  st.admin_exit = admin.exit_code;
  st.admin_stdout = admin.out;
  st.admin_stderr = admin.err;
  st.admin_token = admin.out;
  while (!st.admin_token.empty() && st.admin_token.back() == '\n')
    st.admin_token.pop_back();
  st.values.push_back(st.admin_token);

  const Api api{server.tcp(), st.admin_token};
  auto call = [&](const std::string& method, const std::string& target,
                  const Json& body = nullptr) {
    Response r = api.Call(method, target, body.is_null() ? "" : body.dump());
    if (r.status != 200) {
      st.failures.push_back(method + " " + target + " -> " +
                            std::to_string(r.status) + " " + r.body);
    }
    if (auto seq = r.Header("x-iam-seq"); !seq.empty()) {
      st.last_seq = std::stoull(seq);
    }
    return r;
  };
  auto token = [&](const Json& body) {
    Json j = call("POST", "/apis/iam/v2/tokens", body).JsonBody();
    if (j.is_object() && j.contains("token"))
      st.values.push_back(j["token"].value("value", ""));
  };
  const std::string v2 = kV2;
  call("POST", v2 + "/projects", {{"id", "proj-a"}, {"name", "Project A"}});
  token({{"id", "ci-bot"}, {"name", "CI bot"}});
  token({{"id", "deployer"}, {"name", "Deployer"}, {"projects", {"proj-a"}}});
  token({{"id", "temp"}, {"name", "Temp"}});
  call("POST", v2 + "/roles",
       {{"id", "token-reader"},
        {"name", "Token reader"},
        {"actions", {"iam:tokens:get", "iam:tokens:list"}}});
  call("POST", v2 + "/policies",
       {{"id", "ci-policy"},
        {"name", "CI policy"},
        {"members", {"token:ci-bot", "token:temp"}},
        {"statements",
         {{{"effect", "ALLOW"},
           {"role", "token-reader"},
           {"projects", {"*"}}}}}});
  call("POST", v2 + "/policies/ci-policy/members:add",
       {{"members", {"token:deployer"}}});
  Response renamed = call("PUT", v2 + "/tokens/ci-bot",
                          {{"name", "CI robot"}, {"active", true}});
  if (auto seq = renamed.Header("x-iam-seq"); !seq.empty())
    st.rename_seq = std::stoull(seq);
  call("PUT", v2 + "/tokens/deployer",
       {{"name", "Deployer"}, {"active", false}, {"projects", {"proj-a"}}});
  call("PUT", v2 + "/roles/token-reader",
       {{"name", "Token reader v2"}, {"actions", {"iam:tokens:get"}}});
  call("PUT", v2 + "/projects/proj-a", {{"name", "Project A (renamed)"}});
  call("POST", v2 + "/policies",
       {{"id", "doomed"},
        {"name", "Doomed"},
        {"members", {"token:deployer"}},
        {"statements",
         {{{"effect", "DENY"},
           {"actions", {"iam:tokens:delete"}},
           {"projects", {"*"}}}}}});
  call("DELETE", v2 + "/policies/doomed");
  call("DELETE", v2 + "/tokens/temp");  // also leaves ci-policy
  call("POST", v2 + "/policies/ci-policy/members:remove",
       {{"members", {"token:deployer"}}});
  token({{"id", "late"}, {"name", "Late"}});

  Response history = call("GET", v2 + "/tokens/ci-bot/history");
  Json h = history.JsonBody();
  if (h.is_object() && h["events"].is_array()) {
    for (const auto& e : h["events"]) {
      if (e.value("type", "") == "TokenRenamed")
        st.rename_time = e.value("recorded_at", "");
    }
  }
  return st;
}

std::map<std::string, GetAnswer> RecordGets(const Api& api) {
  const std::string v2 = kV2;
  std::vector<std::string> paths = {
      v2 + "/tokens", v2 + "/policies", v2 + "/roles", v2 + "/projects",
      v2 + "/policy_version", v2 + "/introspect", v2 + "/introspect_projects",
      v2 + "/events?after=0&limit=1000",
      // deleted objects: 404, and their history
      v2 + "/tokens/temp", v2 + "/tokens/temp/history", v2 + "/policies/doomed",
      v2 + "/policies/doomed/history"};
  // Each collection's objects, and the routes below each of them.
  const std::vector<std::pair<std::string, std::vector<std::string>>> kinds = {
      {"tokens", {"", "/history"}},
      {"policies", {"", "/members", "/history"}},
      {"roles", {"", "/history"}},
      {"projects", {"", "/history"}}};
  for (const auto& [kind, routes] : kinds) {
    Json list = api.Get(v2 + "/" + kind).JsonBody();
    if (!list.is_object() || !list[kind].is_array()) continue;
    for (const auto& item : list[kind]) {
      const std::string object = v2 + "/" + kind + "/" + item.value("id", "");
      for (const auto& route : routes) paths.push_back(object + route);
    }
  }
  std::map<std::string, GetAnswer> answers;
  for (const auto& path : paths) {
    Response r = api.Get(path);
    answers[path] = GetAnswer{r.status, r.Header("etag"), r.body};
  }
  return answers;
}

}  // namespace iam::tools::testing
