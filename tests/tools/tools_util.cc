#include "tests/tools/tools_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

namespace iam::tools::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits for `pid` up to `timeout_s`; kills it when it overstays.
int WaitFor(pid_t pid, int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0) return -1000;
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1000;
}

// fork + exec IAM_BINARY with stdout/stderr redirected to files.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out_path,
            const std::string& err_path) {
  std::vector<std::string> argv_s = {IAM_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = err_path == out_path ? out
                                   : ::open(err_path.c_str(),
                                            O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) _exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

TempDir::TempDir() {
  char tmpl[] = "/tmp/iamtools-XXXXXX";
  const char* p = ::mkdtemp(tmpl);
  path_ = p ? p : "";
}

TempDir::~TempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

std::string HttpResult::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? "" : it->second;
}

HttpResult Http(uint16_t port, const std::string& method,
                const std::string& target, const std::string& body,
                const std::string& token) {
  HttpResult result;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return result;
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return result;
  }
  std::string req = method + " " + target +
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "api-token: " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return result;
    }
    sent += static_cast<size_t>(n);
  }
  std::string in;
  char buf[16384];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    in.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t head_end = in.find("\r\n\r\n");
  if (head_end == std::string::npos || !in.starts_with("HTTP/1.")) {
    return result;
  }
  std::istringstream head(in.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() < 12) return result;
  result.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    size_t v = line.find_first_not_of(' ', colon + 1);
    result.headers[name] = v == std::string::npos ? "" : line.substr(v);
  }
  result.body = in.substr(head_end + 4);
  if (auto cl = result.headers.find("content-length");
      cl != result.headers.end()) {
    size_t n = std::strtoull(cl->second.c_str(), nullptr, 10);
    if (result.body.size() > n) result.body.resize(n);
  }
  return result;
}

CommandResult RunIamledger(const std::vector<std::string>& args,
                           int timeout_s) {
  TempDir scratch;
  const std::string out = scratch.path() + "/out";
  const std::string err = scratch.path() + "/err";
  CommandResult r;
  pid_t pid = Spawn(args, out, err);
  if (pid < 0) return r;
  r.exit_code = WaitFor(pid, timeout_s);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

Server::Server(std::string data_dir, std::string key_file, std::string log_path)
    : data_dir_(std::move(data_dir)),
      key_file_(std::move(key_file)),
      log_path_(std::move(log_path)) {}

Server::~Server() { Stop(); }

std::string Server::log() const { return ReadFile(log_path_); }

bool Server::Start() {
  if (pid_ > 0) return true;
  pid_ = Spawn({"serve", "--data-dir", data_dir_, "--key-file", key_file_,
                "--listen", "127.0.0.1:0"},
               log_path_, log_path_);
  if (pid_ < 0) return false;
  static const std::regex kPort(R"(\(port (\d+)\))");
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  port_ = 0;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited
    }
    if (port_ == 0) {
      std::smatch m;
      std::string text = log();
      if (std::regex_search(text, m, kPort)) {
        port_ = static_cast<uint16_t>(std::stoi(m[1]));
      }
    }
    if (port_ != 0 && Http(port_, "GET", "/readyz").status == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return false;
}

int Server::Stop() {
  if (pid_ <= 0) return -1000;
  ::kill(pid_, SIGTERM);
  int code = WaitFor(pid_, 30);
  pid_ = -1;
  return code;
}

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

BuiltState BuildState(uint16_t port, const std::string& data_dir,
                      const std::string& key_file) {
  using Json = nlohmann::json;
  BuiltState st;
  CommandResult admin =
      RunIamledger({"iam", "token", "create", "admin", "--admin", "--data-dir",
                    data_dir, "--key-file", key_file});
  st.admin_exit = admin.exit_code;
  st.admin_stdout = admin.out;
  st.admin_stderr = admin.err;
  st.admin_token = admin.out;
  while (!st.admin_token.empty() && st.admin_token.back() == '\n')
    st.admin_token.pop_back();
  st.values.push_back(st.admin_token);

  auto call = [&](const std::string& method, const std::string& target,
                  const Json& body = nullptr) {
    HttpResult r = Http(port, method, target, body.is_null() ? "" : body.dump(),
                        st.admin_token);
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
    HttpResult r = call("POST", "/apis/iam/v2/tokens", body);
    Json j = Json::parse(r.body, nullptr, false);
    if (j.is_object() && j.contains("token"))
      st.values.push_back(j["token"].value("value", ""));
  };
  const std::string v2 = "/apis/iam/v2";
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
  HttpResult renamed = call("PUT", v2 + "/tokens/ci-bot",
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

  HttpResult history = call("GET", v2 + "/tokens/ci-bot/history");
  Json h = Json::parse(history.body, nullptr, false);
  if (h.is_object() && h["events"].is_array()) {
    for (const auto& e : h["events"]) {
      if (e.value("type", "") == "TokenRenamed")
        st.rename_time = e.value("recorded_at", "");
    }
  }
  return st;
}

std::map<std::string, GetAnswer> RecordGets(uint16_t port,
                                            const std::string& token) {
  using Json = nlohmann::json;
  const std::string v2 = "/apis/iam/v2";
  std::vector<std::string> paths = {
      v2 + "/tokens", v2 + "/policies", v2 + "/roles", v2 + "/projects",
      v2 + "/policy_version", v2 + "/introspect", v2 + "/introspect_projects",
      v2 + "/events?after=0&limit=1000",
      // deleted objects: 404, and their history
      v2 + "/tokens/temp", v2 + "/tokens/temp/history", v2 + "/policies/doomed",
      v2 + "/policies/doomed/history"};
  auto ids = [&](const std::string& list, const std::string& key) {
    std::vector<std::string> out;
    Json j = Json::parse(Http(port, "GET", v2 + "/" + list, "", token).body,
                         nullptr, false);
    if (j.is_object() && j[key].is_array()) {
      for (const auto& item : j[key]) out.push_back(item.value("id", ""));
    }
    return out;
  };
  for (const auto& id : ids("tokens", "tokens")) {
    paths.push_back(v2 + "/tokens/" + id);
    paths.push_back(v2 + "/tokens/" + id + "/history");
  }
  for (const auto& id : ids("policies", "policies")) {
    paths.push_back(v2 + "/policies/" + id);
    paths.push_back(v2 + "/policies/" + id + "/members");
    paths.push_back(v2 + "/policies/" + id + "/history");
  }
  for (const auto& id : ids("roles", "roles")) {
    paths.push_back(v2 + "/roles/" + id);
    paths.push_back(v2 + "/roles/" + id + "/history");
  }
  for (const auto& id : ids("projects", "projects")) {
    paths.push_back(v2 + "/projects/" + id);
    paths.push_back(v2 + "/projects/" + id + "/history");
  }
  std::map<std::string, GetAnswer> answers;
  for (const auto& path : paths) {
    HttpResult r = Http(port, "GET", path, "", token);
    answers[path] = GetAnswer{r.status, r.Header("etag"), r.body};
  }
  return answers;
}

}  // namespace iam::tools::testing
