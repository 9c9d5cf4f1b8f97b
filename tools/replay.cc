// `iamledger replay verify|rebuild|export`: the log read back offline, with
// every event verified (eventstore::VerifyLog) and folded through the same
// projection code as the server. Read-only: works beside a running server
// and on a backup copy.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/json_codec.h"
#include "api/ledger.h"
#include "core/clock.h"
#include "core/model.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "tools/commands.h"
#include "tools/state_fold.h"

namespace iam::tools {
namespace {

namespace es = eventstore;

// A progress bar on stderr, drawn only when stderr is a terminal.
class ProgressBar {
 public:
  // `stdout_too`: also when stdout is that terminal (not for output that
  // goes to stdout line by line).
  explicit ProgressBar(const char* label, bool stdout_too = true)
      : enabled_(::isatty(STDERR_FILENO) == 1 &&
                 (stdout_too || ::isatty(STDOUT_FILENO) != 1)),
        label_(label) {}
  ~ProgressBar() { Clear(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  std::function<void(uint64_t, uint64_t)> Callback() {
    if (!enabled_) return nullptr;
    return [this](uint64_t done, uint64_t total) { Draw(done, total); };
  }

  // Erases the bar (before anything else is printed).
  void Clear() {
    if (!drawn_) return;
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  void Draw(uint64_t done, uint64_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    drawn_ = true;
    constexpr int kWidth = 30;
    const int pct = total == 0 ? 100 : static_cast<int>(done * 100 / total);
    const int fill = pct * kWidth / 100;
    std::fprintf(stderr, "\r%s [%s%s] %3d%% %llu/%llu events", label_,
                 std::string(fill, '#').c_str(),
                 std::string(kWidth - fill, ' ').c_str(), pct,
                 static_cast<unsigned long long>(done),
                 static_cast<unsigned long long>(total));
    std::fflush(stderr);
  }

  const bool enabled_;
  const char* const label_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_;
};

// The checkpoint key: from --key-file (which must load), else from the
// default key file beside the data directory when there is one, else none
// (MACs not checked). The key file is never created here.
StatusOr<std::string> CheckpointKey(const ReplayFlags& flags) {
  const bool given = !flags.key_file.empty();
  const std::string path =
      given ? flags.key_file : api::DefaultKeyFile(flags.data_dir);
  auto keys = es::LoadOrCreateMasterKeys(path, /*create=*/false);
  if (keys.ok()) return std::move(keys->checkpoint_key);
  if (keys.status().code() == StatusCode::kNotFound && !given) {
    return std::string();
  }
  return keys.status();
}

std::string StateDigest(const IamState& state) {
  return es::ToHex(es::Sha256(CanonicalEncoding(state)));
}

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "iamledger: replay %s: %s\n", command,
               status.message().c_str());
  return 1;
}

// Verifies (and folds) with the key; prints nothing.
StatusOr<es::VerifyReport> Run(const ReplayFlags& flags,
                               es::VerifyOptions options, ProgressBar* bar) {
  IAM_ASSIGN_OR_RETURN(options.checkpoint_key, CheckpointKey(flags));
  options.progress = bar->Callback();
  auto report = es::VerifyLog(flags.data_dir, options);
  bar->Clear();
  return report;
}

using Json = nlohmann::ordered_json;

// The state as one JSON document (replay rebuild --json), with the API's
// encodings; tokens carry "value": "" (no value, digest or ciphertext).
std::string StateJson(const IamState& state, bool pretty) {
  std::vector<api::TokenWithValue> tokens;
  for (const auto& [id, t] : state.tokens) tokens.push_back({&t, ""});
  std::vector<const Policy*> policies;
  for (const auto& [id, p] : state.policies) policies.push_back(&p);
  std::vector<const Role*> roles;
  for (const auto& [id, r] : state.roles) roles.push_back(&r);
  std::vector<const Project*> projects;
  for (const auto& [id, p] : state.projects) projects.push_back(&p);

  // The API's list encodings, unwrapped ({"tokens": [...]} -> [...]).
  auto list = [](const std::string& json, const char* key) {
    Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
    return j.is_object() && j.contains(key) ? j[key] : Json::array();
  };
  Json doc = Json::object();
  doc["seq"] = state.last_seq;
  doc["recorded_at"] = state.last_seq == 0
                           ? std::string()
                           : FormatRfc3339(state.last_recorded_at);
  doc["tokens"] = list(api::TokenListJson(tokens, false), "tokens");
  doc["policies"] = list(api::PolicyListJson(policies, false), "policies");
  doc["roles"] = list(api::RoleListJson(roles, false), "roles");
  doc["projects"] = list(api::ProjectListJson(projects, false), "projects");
  doc["state_digest"] = StateDigest(state);
  return doc.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace);
}

// Writes each event as one JSON line (EventJson: secrets never included).
class ExportSink final : public EventSink {
 public:
  Status Apply(const RecordedEvent& event) override {
    line_ = api::EventJson(event, /*with_stream=*/true, /*pretty=*/false);
    line_ += '\n';
    if (std::fwrite(line_.data(), 1, line_.size(), stdout) != line_.size()) {
      return UnavailableError("cannot write to stdout");
    }
    return OkStatus();
  }

 private:
  std::string line_;
};

}  // namespace

int RunReplayVerify(const ReplayFlags& flags) {
  StateFold& fold = NewFold();
  ProgressBar bar("verifying");
  es::VerifyOptions options;
  options.sink = &fold;
  auto report = Run(flags, options, &bar);
  if (!report.ok()) {
    std::printf("FAILED: %s\n", report.status().message().c_str());
    std::fflush(stdout);
    return Fail("verify", report.status());
  }
  const es::VerifyReport& r = *report;
  std::string checkpoint = "none";
  if (r.checkpoint.seq > 0) {
    checkpoint = "seq " + std::to_string(r.checkpoint.seq) + " in " +
                 r.checkpoint_source + ", matches the chain" +
                 (r.checkpoint_mac_checked ? ", MAC verified" : "");
  }
  const std::string digest = StateDigest(fold.state());
  std::printf("data dir:     %s\n", flags.data_dir.c_str());
  if (r.events == 0) {
    std::printf("events:       0 (empty log)\n");
  } else {
    std::printf("events:       %llu (seq 1..%llu, gapless, chain intact)\n",
                static_cast<unsigned long long>(r.events),
                static_cast<unsigned long long>(r.last_seq));
  }
  std::printf("streams:      %llu\n",
              static_cast<unsigned long long>(r.streams));
  std::printf("head hash:    %s\n", es::ToHex(r.head).c_str());
  std::printf("checkpoint:   %s\n", checkpoint.c_str());
  std::printf("checksums:    RocksDB block checksums verified\n");
  for (const auto& note : r.notes)
    std::printf("note:         %s\n", note.c_str());
  std::printf("state digest: %s\n", digest.c_str());
  std::printf("OK\n");
  return 0;
}

int RunReplayRebuild(const ReplayFlags& flags) {
  es::VerifyOptions options;
  options.verify_checksums = false;  // the blocks read are checked anyway
  if (flags.to_seq > 0) options.to_seq = flags.to_seq;
  if (!flags.to_time.empty()) {
    auto t = ParseRfc3339(flags.to_time);
    if (!t.ok()) {
      std::fprintf(stderr,
                   "iamledger: replay rebuild: --to-time %s is not an RFC "
                   "3339 time (e.g. 2026-11-24T14:00:00Z): %s\n",
                   flags.to_time.c_str(), t.status().message().c_str());
      return 2;
    }
    options.to_time = *t;
  }
  StateFold& fold = NewFold();
  options.sink = &fold;
  ProgressBar bar("rebuilding");
  auto report = Run(flags, options, &bar);
  if (!report.ok()) return Fail("rebuild", report.status());
  if (flags.to_seq > report->log_last_seq) {
    return Fail("rebuild",
                Status(StatusCode::kOutOfRange,
                       "--to-seq " + std::to_string(flags.to_seq) +
                           " is beyond the end of the log (seq " +
                           std::to_string(report->log_last_seq) + ")"));
  }
  const IamState& s = fold.state();
  if (flags.json) {
    std::printf("%s\n", StateJson(s, flags.pretty).c_str());
  } else {
    std::printf("seq:          %llu\n",
                static_cast<unsigned long long>(s.last_seq));
    std::printf(
        "recorded_at:  %s\n",
        s.last_seq == 0 ? "-" : FormatRfc3339(s.last_recorded_at).c_str());
    std::printf("tokens:       %zu\n", s.tokens.size());
    std::printf("policies:     %zu\n", s.policies.size());
    std::printf("roles:        %zu\n", s.roles.size());
    std::printf("projects:     %zu\n", s.projects.size());
    std::printf("state digest: %s\n", StateDigest(s).c_str());
  }
  return 0;
}

int RunReplayExport(const ReplayFlags& flags) {
  static char buffer[1 << 16];
  std::setvbuf(stdout, buffer, _IOFBF, sizeof(buffer));
  ExportSink sink;
  es::VerifyOptions options;
  options.verify_checksums = false;
  options.from_seq = flags.from_seq;
  options.sink = &sink;
  ProgressBar bar("exporting", /*stdout_too=*/false);
  auto report = Run(flags, options, &bar);
  if (std::fflush(stdout) != 0 && report.ok()) {
    return Fail("export", UnavailableError("cannot write to stdout"));
  }
  if (!report.ok()) return Fail("export", report.status());
  return 0;
}

}  // namespace iam::tools
