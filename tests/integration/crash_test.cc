// Crash tests (reliability.md §1.5, §1.7 mode A; DESIGN.md §3): SIGKILL the
// server under concurrent write load, restart it on the same data directory
// and key file, and check the history the clients recorded Jepsen-style:
// every write is `ok` (its 200 response was read in full), `fail` (4xx: not
// applied) or `info` (the connection dropped: applied entirely or not at
// all). Each write carries its own X-Request-Id, so its events can be found
// in the change feed and checked for being present, absent or complete.
//
// What kill -9 cannot show (reliability.md §0.1): a missing fsync. The page
// cache survives a process crash, so this test catches acknowledgements
// before the append, lost or torn batches, recovery that drops or rolls back
// records, and projections that disagree with the log; not unsynced WALs.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kWorkers = 8;
constexpr char kAdminId[] = "admin";

// ------------------------------------------------------------- the client

// Requests over one kept-alive connection, reconnecting after a drop.
class Client {
 public:
  Client(Endpoint ep, std::string token)
      : ep_(std::move(ep)), token_(std::move(token)) {}

  struct Result {
    bool sent = false;  // false: no connection, so certainly not applied
    Response response;  // status 0: the outcome is unknown
  };

  Result Call(std::string_view method, const std::string& target,
              const std::string& body = {},
              const std::string& request_id = {}) {
    Result result;
    if (!conn_) {
      conn_ = std::make_unique<Connection>(ep_);
      if (!conn_->ok()) {
        conn_.reset();
        return result;
      }
    }
    std::string req;
    req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
    req += "Host: 127.0.0.1\r\n";
    if (!token_.empty()) req += "api-token: " + token_ + "\r\n";
    if (!request_id.empty()) req += "X-Request-Id: " + request_id + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n" + body;
    result.sent = true;
    if (!conn_->Send(req)) {
      conn_.reset();
      return result;
    }
    result.response = conn_->Read(milliseconds(10000));
    std::string connection = result.response.Header("Connection");
    if (result.response.status == 0 || connection == "close" ||
        connection == "Close") {
      conn_.reset();
    }
    return result;
  }

  // A read: retried once on a fresh connection (an idle keep-alive
  // connection may have been closed by the server).
  Response Get(const std::string& target) {
    Result r = Call("GET", target);
    if (r.response.status == 0) r = Call("GET", target);
    return r.response;
  }

 private:
  Endpoint ep_;
  std::string token_;
  std::unique_ptr<Connection> conn_;
};

// ------------------------------------------------------ the client history

enum class Outcome { kOk, kFail, kInfo };

const char* OutcomeName(Outcome o) {
  return o == Outcome::kOk ? "ok" : o == Outcome::kFail ? "fail" : "info";
}

struct Op {
  enum Kind { kCreate, kRename, kAddMembers, kDelete, kCreatePolicy };
  Kind kind = kCreate;
  std::vector<std::string> tokens;  // token ids (kAddMembers: several)
  std::string name;                 // kCreate, kRename, kCreatePolicy
  std::string policy;               // kAddMembers, kCreatePolicy
  std::string request_id;
  int cycle = 0;
  Outcome outcome = Outcome::kInfo;
  int status = 0;
  uint64_t seq = 0;   // X-Iam-Seq of an ok write
  std::string error;  // the body of a refusal
};

Op MakeOp(Op::Kind kind, std::vector<std::string> tokens, std::string name,
          std::string policy, std::string request_id) {
  Op op;
  op.kind = kind;
  op.tokens = std::move(tokens);
  op.name = std::move(name);
  op.policy = std::move(policy);
  op.request_id = std::move(request_id);
  return op;
}

std::string Describe(const Op& op) {
  static const char* kKinds[] = {"create", "rename", "members:add", "delete",
                                 "create-policy"};
  std::string s = std::string(kKinds[op.kind]) + " ";
  if (op.tokens.size() <= 2) {
    for (const auto& t : op.tokens) s += t + " ";
  } else {
    s += std::to_string(op.tokens.size()) + " tokens ";
  }
  if (!op.policy.empty()) s += " policy " + op.policy;
  if (!op.name.empty()) s += " name '" + op.name + "'";
  s += " [" + op.request_id + " cycle " + std::to_string(op.cycle) + ": " +
       OutcomeName(op.outcome) + " " + std::to_string(op.status);
  if (op.seq) s += " seq " + std::to_string(op.seq);
  if (!op.error.empty()) s += " " + op.error;
  return s + "]";
}

// What the client history allows for one token.
struct TokenModel {
  enum Exists { kNo, kYes, kMaybe } exists = kNo;
  std::set<std::string> names;     // acceptable names while it exists
  std::set<std::string> must;      // policies it is certainly a member of
  std::set<std::string> may;       // policies it may be a member of
  bool acked_delete = false;       // an ok delete since the last check
  std::vector<std::string> trail;  // the ops on it, for messages
  size_t checked = 0;              // trail.size() at the last check
};

using Models = std::map<std::string, TokenModel>;

// Folds one completed op into the models of its tokens.
void ApplyToModel(const Op& op, Models* models) {
  for (const auto& id : op.tokens) {
    TokenModel& m = (*models)[id];
    m.trail.push_back(Describe(op));
    if (op.outcome == Outcome::kFail) continue;
    const bool ok = op.outcome == Outcome::kOk;
    switch (op.kind) {
      case Op::kCreate:
        m.exists = ok ? TokenModel::kYes : TokenModel::kMaybe;
        m.names = {op.name};
        break;
      case Op::kRename:
        if (ok) m.names.clear();
        m.names.insert(op.name);
        break;
      case Op::kAddMembers:
        (ok ? m.must : m.may).insert(op.policy);
        break;
      case Op::kDelete:
        if (ok) {
          m.exists = TokenModel::kNo;
          m.acked_delete = true;
        } else {
          m.exists = TokenModel::kMaybe;
        }
        break;
      case Op::kCreatePolicy:
        break;
    }
  }
}

Json TokenBody(const std::string& id, const std::string& name) {
  return Json{{"id", id}, {"name", name}};
}

// Sends one write and records its outcome; nullopt when it was never sent
// (no connection: the server is down, so it cannot have been applied).
std::optional<Op> Perform(Client* client, Op op, std::string_view method,
                          const std::string& target, const std::string& body) {
  Client::Result r = client->Call(method, target, body, op.request_id);
  if (!r.sent) return std::nullopt;
  op.status = r.response.status;
  if (op.status != 200) op.error = r.response.body;
  if (op.status == 200) {
    op.outcome = Outcome::kOk;
    op.seq = std::strtoull(r.response.Header("X-Iam-Seq").c_str(), nullptr, 10);
  } else if (op.status >= 400 && op.status < 500) {
    op.outcome = Outcome::kFail;
  } else {
    op.outcome = Outcome::kInfo;  // dropped, timed out, or a 5xx
  }
  return op;
}

std::optional<Op> DoCreate(Client* c, const std::string& id,
                           const std::string& name, const std::string& rid) {
  Op op = MakeOp(Op::kCreate, {id}, name, "", rid);
  return Perform(c, op, "POST", "/apis/iam/v2/tokens",
                 TokenBody(id, name).dump());
}

std::optional<Op> DoRename(Client* c, const std::string& id,
                           const std::string& name, const std::string& rid) {
  Op op = MakeOp(Op::kRename, {id}, name, "", rid);
  return Perform(c, op, "PUT", "/apis/iam/v2/tokens/" + id,
                 Json{{"name", name}}.dump());
}

std::optional<Op> DoAddMembers(Client* c, const std::string& policy,
                               const std::vector<std::string>& ids,
                               const std::string& rid) {
  Op op = MakeOp(Op::kAddMembers, ids, "", policy, rid);
  Json members = Json::array();
  for (const auto& id : ids) members.push_back("token:" + id);
  return Perform(c, op, "POST",
                 "/apis/iam/v2/policies/" + policy + "/members:add",
                 Json{{"members", members}}.dump());
}

std::optional<Op> DoDelete(Client* c, const std::string& id,
                           const std::string& rid) {
  Op op = MakeOp(Op::kDelete, {id}, "", "", rid);
  return Perform(c, op, "DELETE", "/apis/iam/v2/tokens/" + id, "");
}

std::optional<Op> DoCreatePolicy(Client* c, const std::string& id,
                                 const std::string& rid) {
  Op op = MakeOp(Op::kCreatePolicy, {}, "Crash " + id, id, rid);
  Json body{{"id", id},
            {"name", op.name},
            {"members", Json::array()},
            {"statements",
             {Json{{"effect", "ALLOW"},
                   {"actions", {"iam:tokens:get"}},
                   {"projects", {"*"}}}}}};
  return Perform(c, op, "POST", "/apis/iam/v2/policies", body.dump());
}

// -------------------------------------------------------- the server side

// The pid of our child `iamledger serve` on `data_dir` (found in /proc: the
// harness keeps it private), or -1.
pid_t ServerPid(const std::string& data_dir) {
  const pid_t self = ::getpid();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return c >= '0' && c <= '9';
        })) {
      continue;
    }
    std::ifstream stat_in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_in)), {});
    size_t paren = stat.rfind(')');  // after the command name
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    std::string state;
    long ppid = 0;
    fields >> state >> ppid;
    if (ppid != self) continue;
    std::ifstream cmd_in(entry.path() / "cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(cmd_in)), {});
    std::vector<std::string> argv;
    std::string arg;
    std::istringstream args(cmdline);
    while (std::getline(args, arg, '\0')) argv.push_back(arg);
    if (argv.size() > 3 && argv[1] == "serve" &&
        std::find(argv.begin(), argv.end(), data_dir) != argv.end()) {
      return static_cast<pid_t>(std::stol(name));
    }
  }
  return -1;
}

// SIGKILLs the server and reaps it; the exit code (-SIGKILL expected).
int KillServer(Server* server) {
  pid_t pid = ServerPid(server->data_dir());
  if (pid <= 0) return -1001;
  if (::kill(pid, SIGKILL) != 0) return -1002;
  // The process is now a zombie until reaped; Stop's SIGTERM to it is a
  // no-op and its waitpid returns the SIGKILL status.
  return server->Stop(milliseconds(10000));
}

// Starts the server and waits for /readyz (projections caught up).
bool StartReady(Server* server, std::string* why) {
  if (!server->Start()) {
    *why = "server did not start: " + server->log();
    return false;
  }
  const auto deadline = Clock::now() + milliseconds(15000);
  while (Clock::now() < deadline) {
    if (Http(server->tcp(), "GET", "/readyz").status == 200) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  *why = "never ready: " + server->log();
  return false;
}

std::string CreateAdminToken(const Server& server) {
  CommandResult r = RunIamledger(
      {"iam", "token", "create", kAdminId, "--id", kAdminId, "--admin",
       "--data-dir", server.data_dir(), "--key-file", server.key_file()},
      server.root());
  if (r.exit_code != 0) return "";
  std::string value = r.out;
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r'))
    value.pop_back();
  return value;
}

// `replay verify` on the data directory: "" when it passed, "skip: ..." when
// the subcommand is not built (a usage error), else its output.
std::string ReplayVerify(const Server& server) {
  CommandResult r =
      RunIamledger({"replay", "verify", "--data-dir", server.data_dir(),
                    "--key-file", server.key_file()},
                   server.root(), milliseconds(30000));
  if (r.exit_code == 0) return "";
  if (r.exit_code == 2) return "skip: " + r.err;  // usage: not built
  return "exit " + std::to_string(r.exit_code) + "\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

// ---------------------------------------------------------------- checks

struct Feed {
  std::vector<Json> events;
  std::map<std::string, std::vector<const Json*>> by_request;  // our ops
  std::map<std::string, std::vector<uint64_t>> seqs_by_stream;
  std::map<std::string, std::string> tokens;              // fold: id -> name
  std::map<std::string, std::set<std::string>> policies;  // fold: members
};

bool IsOurs(const std::string& request_id) {
  return request_id.starts_with("crash-");
}

// Reads the whole change feed; false when a page failed.
bool ReadFeed(Client* c, Feed* feed) {
  uint64_t after = 0;
  for (;;) {
    Response r = c->Get("/apis/iam/v2/events?after=" + std::to_string(after) +
                        "&limit=1000");
    if (r.status != 200) return false;
    Json j = r.JsonBody();
    if (!j.is_object() || !j["events"].is_array()) return false;
    if (j["events"].empty()) return true;
    for (auto& e : j["events"]) feed->events.push_back(std::move(e));
    uint64_t next = j.value("next", uint64_t{0});
    if (next <= after) return false;
    after = next;
  }
}

std::set<std::string> MemberSet(const Json& members) {
  std::set<std::string> out;
  if (members.is_array())
    for (const auto& m : members)
      if (m.is_string()) out.insert(m.get<std::string>());
  return out;
}

// The log itself: seqs 1..N without gaps, stream versions 1..n per stream,
// each request's events contiguous, and the fold: no event on a missing
// object, and a token delete removes its subject from every policy in the
// same request (the cascade is atomic with its cause).
void CheckLog(Feed* feed) {
  uint64_t expect_seq = 1;
  std::map<std::string, uint64_t> versions;
  std::set<std::string> closed_requests;
  std::string group;
  // Token deletes of the current request and the policies that named them.
  std::map<std::string, std::set<std::string>> deleted_in_group;
  std::map<std::string, std::set<std::string>> removed_in_group;
  auto close_group = [&]() {
    for (const auto& deleted : deleted_in_group) {
      // No structured bindings where CHECK_MESSAGE (a lambda) names them:
      // clang 14 (build-asan) cannot capture one.
      const std::string& id = deleted.first;
      const std::set<std::string>& before = deleted.second;
      std::set<std::string> still;
      for (const auto& [pid, members] : feed->policies)
        if (members.count("token:" + id)) still.insert(pid);
      CHECK_MESSAGE(still.empty(), "request ", group, " deleted token ", id,
                    " but it is still a member of ", still);
      CHECK_MESSAGE(removed_in_group[id] == before, "request ", group,
                    " deleted token ", id, ": PolicyMembersRemoved for ",
                    removed_in_group[id], ", member of ", before);
    }
    deleted_in_group.clear();
    removed_in_group.clear();
    if (!group.empty()) closed_requests.insert(group);
  };
  for (const Json& e : feed->events) {
    const uint64_t seq = e.value("seq", uint64_t{0});
    const std::string type = e.value("type", "");
    const std::string stream = e.value("stream", "");
    const std::string rid = e.value("request_id", "");
    const Json data = e.value("data", Json::object());
    const std::string id = data.value("id", "");
    REQUIRE_MESSAGE(seq == expect_seq, "log gap or duplicate: seq ", seq,
                    " where ", expect_seq, " was expected");
    ++expect_seq;
    CHECK_MESSAGE(e.value("stream_version", uint64_t{0}) == ++versions[stream],
                  "seq ", seq, " on ", stream, ": stream_version ",
                  e.value("stream_version", uint64_t{0}));
    feed->seqs_by_stream[stream].push_back(seq);
    if (rid != group) {
      close_group();
      group = rid;
      CHECK_MESSAGE(!(IsOurs(rid) && closed_requests.count(rid)),
                    "the events of request ", rid, " are not contiguous");
    }
    if (IsOurs(rid)) feed->by_request[rid].push_back(&e);
    if (type == "TokenCreated") {
      CHECK_MESSAGE(!feed->tokens.count(id), "seq ", seq, ": token ", id,
                    " created twice");
      feed->tokens[id] = data.value("name", "");
    } else if (type == "TokenRenamed") {
      CHECK_MESSAGE(feed->tokens.count(id), "seq ", seq, ": rename of token ",
                    id, " that does not exist");
      feed->tokens[id] = data.value("name", "");
    } else if (type == "TokenDeleted") {
      CHECK_MESSAGE(feed->tokens.erase(id) == 1, "seq ", seq,
                    ": delete of token ", id, " that does not exist");
      std::set<std::string>& before = deleted_in_group[id];
      for (const auto& [pid, members] : feed->policies)
        if (members.count("token:" + id)) before.insert(pid);
    } else if (type == "PolicyCreated") {
      CHECK_MESSAGE(!feed->policies.count(id), "seq ", seq, ": policy ", id,
                    " created twice");
      feed->policies[id] = MemberSet(data["members"]);
    } else if (type == "PolicyMembersAdded") {
      CHECK_MESSAGE(feed->policies.count(id), "seq ", seq,
                    ": members added to missing policy ", id);
      for (const auto& m : MemberSet(data["members"]))
        feed->policies[id].insert(m);
    } else if (type == "PolicyMembersRemoved") {
      CHECK_MESSAGE(feed->policies.count(id), "seq ", seq,
                    ": members removed from missing policy ", id);
      for (const auto& m : MemberSet(data["members"])) {
        CHECK_MESSAGE(feed->policies[id].erase(m) == 1, "seq ", seq,
                      ": removes ", m, " from ", id, " which lacks it");
        if (m.starts_with("token:")) removed_in_group[m.substr(6)].insert(id);
      }
    } else if (type == "PolicyUpdated" && data.contains("members")) {
      feed->policies[id] = MemberSet(data["members"]);
    } else if (type == "PolicyDeleted") {
      feed->policies.erase(id);
    }
  }
  close_group();
}

// "" when `evs` are exactly the events `op` produces.
std::string ShapeProblem(const Op& op, const std::vector<const Json*>& evs) {
  auto type_of = [](const Json* e) { return e->value("type", ""); };
  auto data_of = [](const Json* e) { return e->value("data", Json::object()); };
  std::string got;
  for (const Json* e : evs)
    got += type_of(e) + "@" + std::to_string(e->value("seq", 0)) + " ";
  for (size_t i = 1; i < evs.size(); ++i) {
    if (evs[i]->value("seq", 0) != evs[i - 1]->value("seq", 0) + 1)
      return "events not consecutive: " + got;
  }
  const std::string token_stream =
      op.tokens.empty() ? "" : "token/" + op.tokens.front();
  switch (op.kind) {
    case Op::kCreate:
      if (evs.size() != 1 || type_of(evs[0]) != "TokenCreated" ||
          evs[0]->value("stream", "") != token_stream ||
          data_of(evs[0]).value("name", "") != op.name)
        return "want one TokenCreated, got " + got;
      return "";
    case Op::kRename:
      if (evs.size() != 1 || type_of(evs[0]) != "TokenRenamed" ||
          evs[0]->value("stream", "") != token_stream ||
          data_of(evs[0]).value("name", "") != op.name)
        return "want one TokenRenamed, got " + got;
      return "";
    case Op::kAddMembers: {
      std::set<std::string> want;
      for (const auto& t : op.tokens) want.insert("token:" + t);
      if (evs.size() != 1 || type_of(evs[0]) != "PolicyMembersAdded" ||
          evs[0]->value("stream", "") != "policy/" + op.policy ||
          MemberSet(data_of(evs[0])["members"]) != want)
        return "want one PolicyMembersAdded, got " + got;
      return "";
    }
    case Op::kDelete:
      if (evs.empty() || type_of(evs[0]) != "TokenDeleted" ||
          evs[0]->value("stream", "") != token_stream)
        return "want TokenDeleted first, got " + got;
      for (size_t i = 1; i < evs.size(); ++i) {
        if (type_of(evs[i]) != "PolicyMembersRemoved" ||
            MemberSet(data_of(evs[i])["members"]) !=
                std::set<std::string>{"token:" + op.tokens.front()})
          return "want only PolicyMembersRemoved after it, got " + got;
      }
      return "";
    case Op::kCreatePolicy:
      if (evs.size() != 1 || type_of(evs[0]) != "PolicyCreated" ||
          evs[0]->value("stream", "") != "policy/" + op.policy)
        return "want one PolicyCreated, got " + got;
      return "";
  }
  return "unknown op";
}

// Every op against the log: ok present (ending at its X-Iam-Seq), fail
// absent, info absent or complete.
// Returns how many info writes of `cycle` were applied and how many not.
std::pair<int, int> CheckOps(const std::vector<Op>& ops, const Feed& feed,
                             int cycle) {
  static const std::vector<const Json*> kNone;
  std::pair<int, int> info{0, 0};
  for (const Op& op : ops) {
    auto it = feed.by_request.find(op.request_id);
    const auto& evs = it == feed.by_request.end() ? kNone : it->second;
    switch (op.outcome) {
      case Outcome::kOk:
        CHECK_MESSAGE(!evs.empty(), "LOST acknowledged write: ", Describe(op));
        if (evs.empty()) break;
        CHECK_MESSAGE(ShapeProblem(op, evs) == "", Describe(op));
        CHECK_MESSAGE(evs.back()->value("seq", uint64_t{0}) == op.seq,
                      "X-Iam-Seq of ", Describe(op), " is not its last event");
        break;
      case Outcome::kFail:
        CHECK_MESSAGE(evs.empty(), "failed write applied: ", Describe(op));
        CHECK_MESSAGE(op.status == 409, "unexpected refusal: ", Describe(op));
        break;
      case Outcome::kInfo:
        if (op.cycle == cycle) ++(evs.empty() ? info.second : info.first);
        if (!evs.empty())
          CHECK_MESSAGE(ShapeProblem(op, evs) == "",
                        "half-applied: ", Describe(op));
        break;
    }
  }
  return info;
}

// "" when `events` is a well-formed history of token `id`; *exists and
// *name say what it folds to.
std::string HistoryProblem(const std::string& id, const Json& events,
                           bool* exists, std::string* name) {
  *exists = false;
  if (!events.is_array()) return "no events array";
  if (events.empty()) return "";  // never created (a 404 history)
  uint64_t prev = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& e = events[i];
    const std::string at = " at #" + std::to_string(i) + ": " + e.dump();
    if (!e.is_object()) return "not an object" + at;
    const std::string type = e.value("type", "");
    const uint64_t seq = e.value("seq", uint64_t{0});
    if (seq <= prev) return "seq not increasing" + at;
    prev = seq;
    if (e.value("stream_version", uint64_t{0}) != i + 1)
      return "stream_version not " + std::to_string(i + 1) + at;
    if (e.value("request_id", "").empty() || e.value("actor", "").empty() ||
        e.value("recorded_at", "").empty())
      return "missing request_id/actor/recorded_at" + at;
    const Json data = e.value("data", Json::object());
    if (data.value("id", "") != id) return "data.id is not " + id + at;
    if (i == 0) {
      if (type != "TokenCreated") return "does not start with TokenCreated";
      *exists = true;
      *name = data.value("name", "");
      continue;
    }
    if (!*exists) return "event after TokenDeleted" + at;
    if (type == "TokenRenamed") {
      *name = data.value("name", "");
    } else if (type == "TokenDeleted") {
      *exists = false;
    } else if (type != "TokenProjectsAssigned" &&
               type != "TokenStatusToggled") {
      return "unexpected type" + at;
    }
  }
  return "";
}

// "" when the maps are equal, else the differing entries.
std::string MapDiff(const std::map<std::string, std::string>& a,
                    const std::map<std::string, std::string>& b) {
  std::string out;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || it->second != v) out += " -" + k + "='" + v + "'";
  }
  for (const auto& [k, v] : b) {
    auto it = a.find(k);
    if (it == a.end() || it->second != v) out += " +" + k + "='" + v + "'";
  }
  return out;
}

std::string Seqs(const std::vector<uint64_t>& seqs) {
  std::string out = "[";
  for (uint64_t s : seqs)
    out += (out.size() > 1 ? "," : "") + std::to_string(s);
  return out + "]";
}

// The projections against the fold of the log and the client history.
void CheckState(Client* c, const Feed& feed, Models* models,
                const std::set<std::string>& acked_policies) {
  Response tokens_r = c->Get("/apis/iam/v2/tokens");
  REQUIRE(tokens_r.status == 200);
  std::map<std::string, std::string> served_tokens;
  const Json tokens_j = tokens_r.JsonBody();
  REQUIRE(tokens_j.contains("tokens"));
  for (const auto& t : tokens_j["tokens"])
    served_tokens[t.value("id", "")] = t.value("name", "");
  CHECK_MESSAGE(MapDiff(served_tokens, feed.tokens) == "",
                "GET /tokens (-) disagrees with the fold of the log (+)");

  Response policies_r = c->Get("/apis/iam/v2/policies");
  REQUIRE(policies_r.status == 200);
  std::map<std::string, std::set<std::string>> served;
  const Json policies_j = policies_r.JsonBody();
  REQUIRE(policies_j.contains("policies"));
  for (const auto& p : policies_j["policies"])
    served[p.value("id", "")] = MemberSet(p["members"]);
  for (const auto& entry : served) {
    const std::string& pid = entry.first;
    const std::set<std::string>& members = entry.second;
    auto it = feed.policies.find(pid);
    CHECK_MESSAGE(it != feed.policies.end(), "served policy ", pid,
                  " is not in the log");
    if (it != feed.policies.end())
      CHECK_MESSAGE(members == it->second, "policy ", pid, " serves members ",
                    members, " but the log folds to ", it->second);
  }
  for (const auto& pid : acked_policies)
    CHECK_MESSAGE(served.count(pid), "LOST acknowledged policy ", pid);
  // Who names each token.
  std::map<std::string, std::set<std::string>> member_of;
  for (const auto& [pid, members] : served)
    for (const auto& m : members)
      if (m.starts_with("token:")) member_of[m.substr(6)].insert(pid);

  for (auto& entry : *models) {
    const std::string& id = entry.first;
    auto& m = entry.second;
    // Tokens untouched since the last check are judged by the lists; the
    // others also by GET /tokens/{id} and their history.
    const bool touched = m.trail.size() > m.checked;
    std::string trail;
    if (touched)
      for (const auto& t : m.trail) trail += "\n  " + t;
    INFO("token ", id, ", client history:", trail);
    auto listed = served_tokens.find(id);
    const bool exists = listed != served_tokens.end();
    const std::string name = exists ? listed->second : "";
    Json events = Json::array();
    if (touched) {
      Response got = c->Get("/apis/iam/v2/tokens/" + id);
      REQUIRE_MESSAGE((got.status == 200 || got.status == 404), got.status, " ",
                      got.body);
      CHECK_MESSAGE((got.status == 200) == exists, "GET /tokens/", id, " ",
                    got.status, " disagrees with GET /tokens");
      if (got.status == 200)
        CHECK(got.JsonBody()["token"].value("name", "") == name);
      Response hist = c->Get("/apis/iam/v2/tokens/" + id + "/history");
      // 404: no event was ever recorded on the stream.
      REQUIRE_MESSAGE((hist.status == 200 || hist.status == 404), hist.status,
                      " ", hist.body);
      if (hist.status == 200) events = hist.JsonBody()["events"];
      bool hist_exists = false;
      std::string hist_name;
      CHECK_MESSAGE(HistoryProblem(id, events, &hist_exists, &hist_name) == "",
                    "history ", hist.body);
      CHECK_MESSAGE(hist_exists == exists, "token ", id,
                    (exists ? " exists" : " is absent"), ", history ",
                    hist.body);
      if (exists) CHECK(hist_name == name);
      std::vector<uint64_t> hist_seqs;
      for (const auto& e : events) hist_seqs.push_back(e.value("seq", 0));
      auto s = feed.seqs_by_stream.find("token/" + id);
      const std::vector<uint64_t> feed_seqs =
          s == feed.seqs_by_stream.end() ? std::vector<uint64_t>{} : s->second;
      CHECK_MESSAGE(hist_seqs == feed_seqs, "history seqs ", Seqs(hist_seqs),
                    " but the feed has ", Seqs(feed_seqs));
    }

    const std::set<std::string>& in = member_of[id];
    switch (m.exists) {
      case TokenModel::kYes:
        CHECK_MESSAGE(exists, "LOST acknowledged token ", id);
        break;
      case TokenModel::kNo:
        CHECK_MESSAGE(!exists, "token ", id, " is back, named '", name, "'");
        if (m.acked_delete)
          CHECK_MESSAGE((!events.empty() &&
                         events.back().value("type", "") == "TokenDeleted"),
                        "acknowledged delete of ", id, " not in its history");
        break;
      case TokenModel::kMaybe:
        break;
    }
    if (exists) {
      CHECK_MESSAGE(m.names.count(name), "token ", id, " is named '", name,
                    "', acceptable: ", m.names);
      for (const auto& pid : m.must)
        CHECK_MESSAGE(in.count(pid), "LOST acknowledged members:add of ", id,
                      " to ", pid);
      for (const auto& pid : in)
        CHECK_MESSAGE((m.must.count(pid) || m.may.count(pid)), "token ", id,
                      " is a member of ", pid, " without any add");
    } else {
      CHECK_MESSAGE(in.empty(), "deleted or absent token ", id,
                    " is still a member of ", in);
    }
    // What was observed is now the state (it survived a restart).
    m.exists = exists ? TokenModel::kYes : TokenModel::kNo;
    m.names = exists ? std::set<std::string>{name} : std::set<std::string>{};
    m.must = exists ? in : std::set<std::string>{};
    m.may.clear();
    m.acked_delete = false;
    m.checked = m.trail.size();
  }
}

struct CheckTotals {
  size_t events = 0;
  double seconds = 0;
  std::pair<int, int> info;  // info writes of the cycle: applied, not

  std::string Str() const {
    return std::to_string(events) + " events; info writes applied " +
           std::to_string(info.first) + ", not applied " +
           std::to_string(info.second) + "; checked in " +
           std::to_string(seconds) + " s";
  }
};

// Everything after a restart.
CheckTotals CheckAll(Client* c, const std::vector<Op>& ops, Models* models,
                     const std::set<std::string>& acked_policies, int cycle) {
  const auto start = Clock::now();
  Feed feed;
  REQUIRE(ReadFeed(c, &feed));
  CheckLog(&feed);
  std::pair<int, int> info = CheckOps(ops, feed, cycle);
  CheckState(c, feed, models, acked_policies);
  return {feed.events.size(), SecondsSince(start), info};
}

// --------------------------------------------------------------- harness

struct Tally {
  int ok = 0, fail = 0, info = 0, server_errors = 0;
  void Add(const Op& op) {
    if (op.outcome == Outcome::kOk) ++ok;
    if (op.outcome == Outcome::kFail) ++fail;
    if (op.outcome == Outcome::kInfo) ++info;
    if (op.status >= 500) ++server_errors;
  }
  std::string Str() const {
    return "ok " + std::to_string(ok) + ", fail " + std::to_string(fail) +
           ", info " + std::to_string(info);
  }
};

// One client thread's state; it survives the restarts.
struct Worker {
  int index = 0;
  std::mt19937_64 rng;
  uint64_t next = 0;             // request and token counter
  std::vector<std::string> ids;  // tokens it created (or tried to)
  Models models;                 // its tokens only
  std::vector<Op> ops;           // this cycle's ops (merged after join)
  std::atomic<int> acked_deletes{0};

  std::string RequestId(int cycle) {
    return "crash-c" + std::to_string(cycle) + "-w" + std::to_string(index) +
           "-" + std::to_string(++next);
  }
  void Record(Op op) {
    ApplyToModel(op, &models);
    if (op.kind == Op::kDelete && op.outcome == Outcome::kOk) ++acked_deletes;
    ops.push_back(std::move(op));
  }
  std::vector<std::string> Live() const {
    std::vector<std::string> live;
    for (const auto& id : ids)
      if (models.at(id).exists == TokenModel::kYes) live.push_back(id);
    return live;
  }
};

// The mixed workload of one worker for one cycle, until `stop` or its
// first write with an unknown outcome (the server is gone: anything more
// would only be refused connections).
void MixedWorkload(Worker* w, int cycle, const Endpoint& ep,
                   const std::string& token,
                   const std::vector<std::string>& policies,
                   const std::atomic<bool>& stop) {
  Client client(ep, token);
  while (!stop.load()) {
    std::vector<std::string> live = w->Live();
    const int dice = static_cast<int>(w->rng() % 100);
    std::optional<Op> op;
    const std::string rid = w->RequestId(cycle);
    if (live.size() < 3 || dice < 35) {
      const std::string id =
          "w" + std::to_string(w->index) + "-" + std::to_string(w->next);
      w->ids.push_back(id);
      w->models[id];
      op = DoCreate(&client, id, "name " + rid, rid);
    } else {
      const std::string id = live[w->rng() % live.size()];
      const TokenModel& m = w->models.at(id);
      std::vector<std::string> free;
      for (const auto& p : policies)
        if (!m.must.count(p) && !m.may.count(p)) free.push_back(p);
      if (dice < 80 && dice >= 60 && !free.empty()) {
        op = DoAddMembers(&client, free[w->rng() % free.size()], {id}, rid);
      } else if (dice >= 80) {
        op = DoDelete(&client, id, rid);
      } else {
        op = DoRename(&client, id, "name " + rid, rid);
      }
    }
    if (!op) break;  // refused: the server is down
    op->cycle = cycle;
    const bool unknown = op->outcome == Outcome::kInfo;
    w->Record(std::move(*op));
    if (unknown) break;
  }
}

// A started server with an admin token made by the CLI before it started.
struct CrashEnv {
  TempDir dir;
  Server server{dir.path()};
  std::string admin_token;
  std::vector<Op> ops;  // the whole client history (models: in workers)
  std::set<std::string> acked_policies;
  bool verify_built = true;

  void Start() {
    std::string why;
    REQUIRE_MESSAGE(StartReady(&server, &why), why);
  }
  Client AdminClient() const { return Client(server.tcp(), admin_token); }

  // `replay verify` (read-only) on the data directory.
  void Verify(int cycle, const std::string& when) {
    if (!verify_built) return;
    std::string v = ReplayVerify(server);
    if (v.starts_with("skip")) {
      verify_built = false;
      MESSAGE("`iamledger replay verify` is not built: log check skipped (", v,
              ")");
      return;
    }
    CHECK_MESSAGE(v == "", "cycle ", cycle, ": replay verify ", when, ": ", v);
  }
  void Merge(std::vector<Worker>& workers) {
    for (auto& w : workers) {
      for (auto& op : w.ops) ops.push_back(std::move(op));
      w.ops.clear();
    }
  }
  // Models of all workers, checked and resolved in one pass.
  CheckTotals Check(std::vector<Worker>& workers, int cycle) {
    Models all;
    for (auto& w : workers) all.merge(w.models);
    Client c = AdminClient();
    CheckTotals t;
    {
      INFO("check after restart ", cycle);
      t = CheckAll(&c, ops, &all, acked_policies, cycle);
    }
    for (auto& w : workers)
      for (const auto& id : w.ids) w.models[id] = std::move(all[id]);
    return t;
  }
};

void SetUpCrashEnv(CrashEnv* env, const std::vector<std::string>& policies) {
  REQUIRE(!env->dir.path().empty());
  env->admin_token = CreateAdminToken(env->server);
  REQUIRE_MESSAGE(!env->admin_token.empty(), "iam token create failed");
  env->Start();
  Client c = env->AdminClient();
  for (const auto& p : policies) {
    std::optional<Op> op = DoCreatePolicy(&c, p, "crash-setup-" + p);
    REQUIRE(op);
    REQUIRE_MESSAGE(op->outcome == Outcome::kOk, Describe(*op));
    env->acked_policies.insert(p);
    env->ops.push_back(std::move(*op));
  }
}

uint64_t Seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

TEST_CASE("crash: kill -9 under write load loses no acknowledged write") {
  const auto test_start = Clock::now();
  const uint64_t seed = Seed();
  MESSAGE("seed ", seed);
  std::mt19937_64 rng(seed);
  std::vector<std::string> policies;
  for (int i = 0; i < 6; ++i) policies.push_back("crash-p" + std::to_string(i));
  CrashEnv env;
  SetUpCrashEnv(&env, policies);
  std::vector<Worker> workers(kWorkers);
  for (int i = 0; i < kWorkers; ++i) {
    workers[i].index = i;
    workers[i].rng.seed(seed + 1 + i);
  }

  constexpr int kCycles = 5;
  Tally total;
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    if (cycle > 1) {
      env.Start();
      CheckTotals t = env.Check(workers, cycle - 1);
      MESSAGE("check after kill ", cycle - 1, ": ", t.Str());
    }
    std::atomic<bool> stop{false};
    const Endpoint ep = env.server.tcp();
    std::vector<std::thread> threads;
    for (auto& w : workers) {
      threads.emplace_back([&, wp = &w] {
        MixedWorkload(wp, cycle, ep, env.admin_token, policies, stop);
      });
    }
    const int delay_ms = 200 + static_cast<int>(rng() % 601);
    std::this_thread::sleep_for(milliseconds(delay_ms));
    const int code = KillServer(&env.server);
    stop = true;
    for (auto& t : threads) t.join();
    CHECK_MESSAGE(code == -SIGKILL, "cycle ", cycle,
                  ": the server was not killed by our SIGKILL (exit ", code,
                  "), log:\n", env.server.log());
    Tally tally;
    for (const auto& w : workers)
      for (const auto& op : w.ops) tally.Add(op);
    MESSAGE("cycle ", cycle, ": SIGKILL after ", delay_ms, " ms; ",
            tally.Str());
    // The workload ran: without ok writes there is nothing to lose.
    CHECK_MESSAGE(tally.ok > 0, "cycle ", cycle, ": no write succeeded");
    CHECK_MESSAGE(tally.server_errors == 0, "cycle ", cycle, ": ",
                  tally.server_errors, " writes answered 5xx");
    total.ok += tally.ok;
    total.fail += tally.fail;
    total.info += tally.info;
    env.Merge(workers);
    env.Verify(cycle, "after the kill");
  }
  env.Start();
  CheckTotals t = env.Check(workers, kCycles);
  MESSAGE("check after kill ", kCycles, ": ", t.Str());
  CHECK(env.server.Stop() == 0);
  env.Verify(kCycles, "after a clean stop");
  MESSAGE("total: ", total.Str(), "; ", SecondsSince(test_start), " s");
}

TEST_CASE(
    "crash: kill -9 during a token delete cascade leaves the log "
    "consistent") {
  const auto test_start = Clock::now();
  const uint64_t seed = Seed();
  MESSAGE("seed ", seed);
  std::mt19937_64 rng(seed);
  constexpr int kPolicies = 30;
  constexpr int kTokensPerWorker = 12;
  constexpr int kCycles = 3;
  std::vector<std::string> policies;
  for (int i = 0; i < kPolicies; ++i)
    policies.push_back("cascade-p" + std::to_string(i));
  CrashEnv env;
  SetUpCrashEnv(&env, policies);
  std::vector<Worker> workers(kWorkers);
  for (int i = 0; i < kWorkers; ++i) workers[i].index = i;

  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    if (cycle > 1) {
      env.Start();
      CheckTotals t = env.Check(workers, cycle - 1);
      MESSAGE("check after kill ", cycle - 1, ": ", t.Str());
    }
    const Endpoint ep = env.server.tcp();
    // Fresh tokens, each a member of every policy (all acknowledged).
    std::vector<std::string> fresh;
    {
      std::vector<std::thread> threads;
      for (auto& w : workers) {
        threads.emplace_back([&, wp = &w] {
          Client c(ep, env.admin_token);
          for (int k = 0; k < kTokensPerWorker; ++k) {
            const std::string rid = wp->RequestId(cycle);
            const std::string id = "c" + std::to_string(cycle) + "-w" +
                                   std::to_string(wp->index) + "-" +
                                   std::to_string(k);
            wp->ids.push_back(id);
            wp->models[id];
            std::optional<Op> op = DoCreate(&c, id, "name " + rid, rid);
            if (!op) return;
            op->cycle = cycle;
            wp->Record(std::move(*op));
          }
        });
      }
      for (auto& t : threads) t.join();
      for (auto& w : workers) {
        REQUIRE(w.ops.size() == kTokensPerWorker);
        for (const auto& op : w.ops) {
          REQUIRE_MESSAGE(op.outcome == Outcome::kOk, Describe(op));
          fresh.push_back(op.tokens.front());
        }
      }
    }
    {
      Client c = env.AdminClient();
      Worker& w0 = workers[0];
      for (const auto& p : policies) {
        std::optional<Op> op = DoAddMembers(&c, p, fresh, w0.RequestId(cycle));
        REQUIRE(op);
        op->cycle = cycle;
        REQUIRE_MESSAGE(op->outcome == Outcome::kOk, Describe(*op));
        // The model of each member token lives in its own worker.
        for (auto& w : workers) {
          Op mine = *op;
          mine.tokens.clear();
          for (const auto& id : op->tokens)
            if (w.models.count(id)) mine.tokens.push_back(id);
          ApplyToModel(mine, &w.models);
        }
        env.ops.push_back(std::move(*op));
      }
    }
    // Each worker deletes its fresh tokens: 1 + kPolicies events each.
    const int total_tokens = kWorkers * kTokensPerWorker;
    const int kill_after = 1 + static_cast<int>(rng() % (total_tokens * 2 / 3));
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (auto& w : workers) {
      w.acked_deletes = 0;
      threads.emplace_back([&, wp = &w] {
        Client c(ep, env.admin_token);
        for (const auto& id : wp->Live()) {
          if (stop.load()) return;
          const std::string rid = wp->RequestId(cycle);
          std::optional<Op> op = DoDelete(&c, id, rid);
          if (!op) return;
          op->cycle = cycle;
          const bool unknown = op->outcome == Outcome::kInfo;
          wp->Record(std::move(*op));
          if (unknown) return;
        }
      });
    }
    const auto deadline = Clock::now() + milliseconds(5000);
    auto acked = [&] {
      int n = 0;
      for (const auto& w : workers) n += w.acked_deletes.load();
      return n;
    };
    while (acked() < kill_after && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    const int at_kill = acked();
    const int code = KillServer(&env.server);
    stop = true;
    for (auto& t : threads) t.join();
    CHECK_MESSAGE(code == -SIGKILL, "cycle ", cycle,
                  ": the server was not killed by our SIGKILL (exit ", code,
                  "), log:\n", env.server.log());
    CHECK_MESSAGE(at_kill >= kill_after, "cycle ", cycle, ": only ", at_kill,
                  " deletes acknowledged in 5 s");
    // Timing only: the kill normally lands with deletes still queued.
    WARN_MESSAGE(at_kill < total_tokens, "cycle ", cycle,
                 ": every delete finished before the kill");
    Tally tally;
    for (const auto& w : workers)
      for (const auto& op : w.ops)
        if (op.kind == Op::kDelete) tally.Add(op);
    std::string refusal;
    for (const auto& w : workers)
      for (const auto& op : w.ops)
        if (refusal.empty() && op.outcome == Outcome::kFail)
          refusal = "; e.g. " + Describe(op);
    MESSAGE("cycle ", cycle, ": SIGKILL after ", at_kill,
            " acknowledged deletes; deletes ", tally.Str(), refusal);
    CHECK(tally.server_errors == 0);
    env.Merge(workers);
    env.Verify(cycle, "after the kill");
  }
  env.Start();
  CheckTotals t = env.Check(workers, kCycles);
  MESSAGE("check after kill ", kCycles, ": ", t.Str());
  CHECK(env.server.Stop() == 0);
  env.Verify(kCycles, "after a clean stop");
  MESSAGE("total ", SecondsSince(test_start), " s");
}

}  // namespace
}  // namespace iam::integration
