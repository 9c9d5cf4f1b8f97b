// `iamledger audit check|who|diff`: the audit queries of the HTTP API
// (api/audit.h computes them, for both) on a data directory, read-only. The
// flags are the API's parameters; --json prints the API's answer, otherwise
// it is rendered for people.
#include "api/audit.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/commands.h"

namespace iam::tools {
namespace {

using Json = nlohmann::json;

void PrintReason(const Json& r) {
  std::printf("    %s by policy %s, statement %d",
              r["effect"].get<std::string>().c_str(),
              r["policy_id"].get<std::string>().c_str(),
              r["statement"].get<int>());
  if (!r["role"].get<std::string>().empty()) {
    std::printf(" (role %s)", r["role"].get<std::string>().c_str());
  }
  std::printf(", as member %s\n", r["member"].get<std::string>().c_str());
}

void PrintCheck(const Json& j) {
  std::printf("%s at seq %llu\n",
              j["allowed"].get<bool>() ? "ALLOWED" : "DENIED",
              j["at_seq"].get<unsigned long long>());
  if (j.contains("note")) {
    std::printf("  %s\n", j["note"].get<std::string>().c_str());
  }
  if (!j["reasons"].empty()) std::printf("  because:\n");
  for (const auto& r : j["reasons"]) PrintReason(r);
}

void PrintWho(const Json& j) {
  std::printf("at seq %llu\n", j["at_seq"].get<unsigned long long>());
  std::printf("members allowed: %zu\n", j["members"].size());
  for (const auto& m : j["members"]) {
    std::printf("  %s\n", m["member"].get<std::string>().c_str());
    for (const auto& r : m["reasons"]) PrintReason(r);
  }
  std::printf("tokens allowed: %zu\n", j["tokens"].size());
  for (const auto& t : j["tokens"]) {
    std::printf("  token %s\n", t["id"].get<std::string>().c_str());
    for (const auto& r : t["reasons"]) PrintReason(r);
  }
}

void PrintDiff(const Json& j) {
  std::printf("from seq %llu to seq %llu: %zu subjects changed\n",
              j["from_seq"].get<unsigned long long>(),
              j["to_seq"].get<unsigned long long>(), j["subjects"].size());
  auto grants = [](const Json& list, char sign) {
    for (const auto& g : list) {
      std::string seqs;
      for (const auto& s : g["seqs"]) {
        seqs += (seqs.empty() ? "" : ",") + std::to_string(s.get<uint64_t>());
      }
      std::printf(
          "  %c %s %s on %s in project %s  (policy %s, statement %d%s; "
          "events %s)\n",
          sign, g["effect"].get<std::string>().c_str(),
          g["action"].get<std::string>().c_str(),
          g["resource"].get<std::string>().c_str(),
          g["project"].get<std::string>().c_str(),
          g["policy_id"].get<std::string>().c_str(), g["statement"].get<int>(),
          g["role"].get<std::string>().empty()
              ? ""
              : (", role " + g["role"].get<std::string>()).c_str(),
          seqs.c_str());
    }
  };
  for (const auto& s : j["subjects"]) {
    std::printf("%s\n", s["subject"].get<std::string>().c_str());
    grants(s["gained"], '+');
    grants(s["lost"], '-');
  }
}

}  // namespace

int RunAudit(const AuditFlags& f) {
  api::QueryParams q;
  auto put = [&q](const char* key, const std::string& v) {
    if (!v.empty()) q.emplace(key, v);
  };
  auto put_seq = [&q](const char* key, const std::optional<uint64_t>& v) {
    if (v) q.emplace(key, std::to_string(*v));
  };
  put("at", f.at);
  put_seq("at_seq", f.at_seq);
  put("from", f.from);
  put_seq("from_seq", f.from_seq);
  put("to", f.to);
  put_seq("to_seq", f.to_seq);
  put("subject", f.subject);
  put("action", f.action);
  put("resource", f.resource);
  for (const auto& p : f.projects) put("project", p);

  // One query: snapshots on the way let diff read its `from` point without
  // folding the log twice.
  auto audit = api::Audit::Offline(f.data_dir, {});
  auto failed = [&](const Status& s) {
    std::fprintf(stderr, "iamledger: audit %s: %s\n", f.command.c_str(),
                 s.message().c_str());
    return s.code() == StatusCode::kInvalidArgument ? 2 : 1;
  };
  if (f.json) {
    // Streamed to stdout as it is written: a whole-log diff is not held.
    const api::AnswerSink out = [](std::string_view bytes) {
      return std::fwrite(bytes.data(), 1, bytes.size(), stdout) == bytes.size();
    };
    Status s = f.command == "check" ? audit->Check(q, f.pretty, out)
               : f.command == "who" ? audit->Who(q, f.pretty, out)
                                    : audit->Diff(q, f.pretty, out);
    if (!s.ok()) return failed(s);
    std::printf("\n");
    return std::fflush(stdout) == 0 ? 0 : 1;
  }
  StatusOr<std::string> answer =
      f.command == "check" ? audit->Check(q, f.pretty)
      : f.command == "who" ? audit->Who(q, f.pretty)
                           : audit->Diff(q, f.pretty);
  if (!answer.ok()) return failed(answer.status());
  Json j = Json::parse(*answer);
  if (f.command == "check") {
    PrintCheck(j);
  } else if (f.command == "who") {
    PrintWho(j);
  } else {
    PrintDiff(j);
  }
  return 0;
}

}  // namespace iam::tools
