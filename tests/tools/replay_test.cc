// `iamledger replay verify|rebuild|export` over logs written by the real
// server: point-in-time state, tamper detection at the exact seq, export
// without secrets.
#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "core/clock.h"
#include "eventstore/codec.h"
#include "eventstore/format.h"
#include "eventstore/rocks_util.h"
#include "tests/tools/tools_util.h"

namespace iam::tools::testing {
namespace {

namespace fs = std::filesystem;
namespace es = eventstore;
using Json = nlohmann::json;

// A stopped server's data directory with BuildState's history in it.
struct Fixture {
  TempDir tmp;
  std::string data = tmp.path() + "/data";
  std::string key = tmp.path() + "/test.key";
  BuiltState st;

  Fixture() {
    Server server(data, key, tmp.path() + "/serve.log");
    REQUIRE_MESSAGE(server.Start(), server.log());
    st = BuildState(server);
    REQUIRE_MESSAGE(st.failures.empty(), st.failures.front());
    REQUIRE(st.rename_seq > 0);
    REQUIRE(st.last_seq > st.rename_seq + 3);
    REQUIRE(server.Stop() == 0);  // writes a checkpoint at st.last_seq
  }

  CommandResult Verify(const std::string& dir) const {
    return RunIamledger(
        {"replay", "verify", "--data-dir", dir, "--key-file", key});
  }
  Json Rebuild(const std::vector<std::string>& extra) const {
    std::vector<std::string> args = {"replay", "rebuild", "--data-dir", data,
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult r = RunIamledger(args);
    CHECK_MESSAGE(r.exit_code == 0, r.err);
    return Json::parse(r.out, nullptr, false);
  }
};

const Json* Find(const Json& list, const std::string& id) {
  for (const auto& item : list) {
    if (item.value("id", "") == id) return &item;
  }
  return nullptr;
}

// Tampering goes through RocksDB itself, so its checksums stay valid.
class Tamper {
 public:
  explicit Tamper(const std::string& dir) {
    REQUIRE(db_.Open(dir, /*read_only=*/false).ok());
  }
  RecordedEvent Read(uint64_t seq) {
    auto value = db_.Get(db_.events(), es::EncodeSeqKey(seq));
    REQUIRE(value.ok());
    auto rec = es::DecodeRecordedEvent(seq, *value);
    REQUIRE(rec.ok());
    return *rec;
  }
  // Re-encodes `rec` (its hash recomputed over the changed content).
  void Write(RecordedEvent rec) {
    const std::string bytes = es::EncodeRecordedEvent(&rec);
    Put(rec.seq, bytes);
  }
  void Put(uint64_t seq, const std::string& bytes) {
    REQUIRE(db_.db()
                ->Put(rocksdb::WriteOptions(), db_.events(),
                      es::EncodeSeqKey(seq), bytes)
                .ok());
  }
  std::string Raw(uint64_t seq) {
    auto value = db_.Get(db_.events(), es::EncodeSeqKey(seq));
    REQUIRE(value.ok());
    return *value;
  }
  void Delete(uint64_t seq) {
    REQUIRE(db_.db()
                ->Delete(rocksdb::WriteOptions(), db_.events(),
                         es::EncodeSeqKey(seq))
                .ok());
  }
  void DeleteMeta(std::string_view key) {
    REQUIRE(db_.db()
                ->Delete(rocksdb::WriteOptions(), db_.meta(), std::string(key))
                .ok());
  }

 private:
  es::RocksDb db_;
};

TEST_CASE("replay rebuild: a token's name before and after its rename") {
  Fixture fx;
  const uint64_t r = fx.st.rename_seq;
  auto name_at = [](const Json& doc) -> std::string {
    const Json* t = Find(doc["tokens"], "ci-bot");
    return t ? (*t)["name"].get<std::string>() : "<none>";
  };

  Json before = fx.Rebuild({"--to-seq", std::to_string(r - 1)});
  CHECK(before["seq"] == r - 1);
  CHECK(name_at(before) == "CI bot");
  Json at = fx.Rebuild({"--to-seq", std::to_string(r)});
  CHECK(at["seq"] == r);
  CHECK(name_at(at) == "CI robot");

  // By time: the rename's recorded_at, and one microsecond earlier.
  REQUIRE(!fx.st.rename_time.empty());
  auto t = ParseRfc3339(fx.st.rename_time);
  REQUIRE(t.ok());
  Json just_before = fx.Rebuild({"--to-time", FormatRfc3339(*t - 1)});
  CHECK(just_before["seq"] == r - 1);
  CHECK(name_at(just_before) == "CI bot");
  Json just_at = fx.Rebuild({"--to-time", fx.st.rename_time});
  CHECK(just_at["seq"] == r);
  CHECK(name_at(just_at) == "CI robot");
  CHECK(just_at["recorded_at"] == fx.st.rename_time);

  // Who was a member then, and now: temp was deleted (with its cascade)
  // and deployer removed after the rename.
  const Json* policy = Find(at["policies"], "ci-policy");
  REQUIRE(policy != nullptr);
  CHECK((*policy)["members"] ==
        Json({"token:ci-bot", "token:temp", "token:deployer"}));
  Json now = fx.Rebuild({});
  CHECK(now["seq"] == fx.st.last_seq);
  CHECK((*Find(now["policies"], "ci-policy"))["members"] ==
        Json({"token:ci-bot"}));
  CHECK(Find(now["tokens"], "temp") == nullptr);
  CHECK(Find(at["tokens"], "temp") != nullptr);
  CHECK(Find(now["roles"], "token-reader") != nullptr);
  CHECK((*Find(now["projects"], "proj-a"))["name"] == "Project A (renamed)");

  // No secret in the state document: tokens carry an empty value.
  for (const auto& token : now["tokens"]) CHECK(token["value"] == "");
  const std::string text = now.dump();
  for (const auto& value : fx.st.values) {
    CHECK(text.find(value) == std::string::npos);
  }

  // Without --json: counts and the digest verify prints.
  CommandResult plain =
      RunIamledger({"replay", "rebuild", "--data-dir", fx.data});
  REQUIRE(plain.exit_code == 0);
  CHECK(Field(plain.out, "tokens") == "4");
  CHECK(Field(plain.out, "state digest") ==
        Field(fx.Verify(fx.data).out, "state digest"));
  CHECK(Field(plain.out, "state digest") == now["state_digest"]);

  // Usage and range errors.
  CHECK(RunIamledger({"replay", "rebuild", "--data-dir", fx.data, "--to-seq",
                      "3", "--to-time", fx.st.rename_time})
            .exit_code == 2);
  CHECK(RunIamledger({"replay", "rebuild", "--data-dir", fx.data, "--to-time",
                      "last tuesday"})
            .exit_code == 2);
  CommandResult beyond =
      RunIamledger({"replay", "rebuild", "--data-dir", fx.data, "--to-seq",
                    std::to_string(fx.st.last_seq + 1)});
  CHECK(beyond.exit_code == 1);
  CHECK(beyond.err.find("beyond the end of the log") != std::string::npos);
}

TEST_CASE("replay verify: tampering is found at the exact seq") {
  Fixture fx;
  const uint64_t r = fx.st.rename_seq;
  const uint64_t last = fx.st.last_seq;
  struct Case {
    const char* name;
    std::function<void(Tamper&)> tamper;
    uint64_t bad_seq;       // 0: the copy must pass
    const char* says = "";  // also in the report
    bool drop_checkpoint_file = false;
  };
  const std::vector<Case> cases = {
      {"a clean copy passes", [](Tamper&) {}, 0},
      {"an event rewritten with changed content",
       [&](Tamper& t) {
         RecordedEvent rec = t.Read(r);
         auto* renamed = std::get_if<TokenRenamed>(&rec.event);
         REQUIRE(renamed != nullptr);
         renamed->name = "CI mallory";
         t.Write(rec);
       },
       r, "changed after it was written"},
      {"the actor of an early event rewritten",
       [&](Tamper& t) {
         RecordedEvent rec = t.Read(3);
         rec.meta.actor = "token:mallory";
         t.Write(rec);
       },
       3},
      {"the last event rewritten: only the checkpoint knows",
       [&](Tamper& t) {
         RecordedEvent rec = t.Read(last);
         rec.meta.request_id = "forged";
         t.Write(rec);
       },
       last, "differs from the checkpoint"},
      {"a byte of a stored value flipped",
       [&](Tamper& t) {
         std::string v = t.Raw(r);
         size_t at = v.find("CI robot");
         REQUIRE(at != std::string::npos);
         v[at] = 'c';
         t.Put(r, v);
       },
       r, "hash mismatch"},
      {"an event deleted", [&](Tamper& t) { t.Delete(r); }, r, "missing"},
      {"the first event deleted", [&](Tamper& t) { t.Delete(1); }, 1,
       "missing"},
      {"two events swapped",
       [&](Tamper& t) {
         std::string a = t.Raw(r), b = t.Raw(r + 1);
         t.Put(r, b);
         t.Put(r + 1, a);
       },
       r, "swapped"},
      {"an event duplicated over another",
       [&](Tamper& t) { t.Put(r + 2, t.Raw(r)); }, r + 2},
      {"the log cut below the last checkpoint",
       [&](Tamper& t) {
         for (uint64_t s = r; s <= last; ++s) t.Delete(s);
       },
       r, ""},
      {"the log cut and the checkpoint in meta removed: the file knows",
       [&](Tamper& t) {
         for (uint64_t s = r; s <= last; ++s) t.Delete(s);
         t.DeleteMeta(es::kMetaCheckpointKey);
       },
       r, ""},
      {"the last event cut, no checkpoints: the stream heads know",
       [&](Tamper& t) {
         t.Delete(last);
         t.DeleteMeta(es::kMetaCheckpointKey);
       },
       last, "but meta records stream", true},
  };
  int n = 0;
  for (const Case& c : cases) {
    INFO(c.name);
    const std::string dir = fx.tmp.path() + "/case" + std::to_string(++n);
    CopyDataDir(fx.data, dir);
    if (c.drop_checkpoint_file) fs::remove(dir + ".checkpoint");
    {
      Tamper t(dir);
      c.tamper(t);
    }
    CommandResult res = fx.Verify(dir);
    if (c.bad_seq == 0) {
      CHECK_MESSAGE(res.exit_code == 0, res.out << res.err);
      CHECK(res.out.find("\nOK\n") != std::string::npos);
      continue;
    }
    CHECK_MESSAGE(res.exit_code == 1, res.out << res.err);
    const std::string seq = "seq " + std::to_string(c.bad_seq) + ": ";
    CHECK_MESSAGE(res.out.find("FAILED: " + seq) != std::string::npos, res.out);
    CHECK(res.err.find(seq) != std::string::npos);
    CHECK_MESSAGE(res.out.find(c.says) != std::string::npos, res.out);
  }
  // The cut is named as such.
  const std::string cut = "log ends at seq " + std::to_string(r - 1) +
                          " but checkpoint covers " + std::to_string(last);
  CommandResult again = fx.Verify(fx.tmp.path() + "/case10");
  CHECK_MESSAGE(again.out.find(cut) != std::string::npos, again.out);
  again = fx.Verify(fx.tmp.path() + "/case11");
  CHECK_MESSAGE(again.out.find(cut) != std::string::npos, again.out);
}

TEST_CASE("replay verify: checkpoint MACs, key files and bad input") {
  Fixture fx;
  CommandResult with_key = fx.Verify(fx.data);
  REQUIRE(with_key.exit_code == 0);
  CHECK(with_key.out.find("MAC verified") != std::string::npos);

  // No key file (none beside the data directory either): said so, exit 0.
  CommandResult no_key =
      RunIamledger({"replay", "verify", "--data-dir", fx.data});
  CHECK(no_key.exit_code == 0);
  CHECK(no_key.out.find("checkpoint MAC not checked (no key file)") !=
        std::string::npos);
  CHECK(Field(no_key.out, "state digest") ==
        Field(with_key.out, "state digest"));

  // Another log's key: the checkpoint does not authenticate.
  TempDir other;
  const std::string other_key = other.path() + "/other.key";
  {
    Server s(other.path() + "/data", other_key, other.path() + "/serve.log");
    REQUIRE(s.Start());
    s.Stop();
  }
  CommandResult wrong = RunIamledger(
      {"replay", "verify", "--data-dir", fx.data, "--key-file", other_key});
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.out.find("fails its HMAC") != std::string::npos);

  // A missing explicit key file, a missing data directory.
  CHECK(RunIamledger({"replay", "verify", "--data-dir", fx.data, "--key-file",
                      fx.tmp.path() + "/nope.key"})
            .exit_code == 1);
  CommandResult none =
      RunIamledger({"replay", "verify", "--data-dir", fx.tmp.path() + "/x"});
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("no iamledger data directory") != std::string::npos);
  CHECK(!fs::exists(fx.tmp.path() + "/x"));  // nothing created
  CHECK(RunIamledger({"replay", "verify", "--bogus"}).exit_code == 2);
}

TEST_CASE("replay export: one JSON line per event, no secrets") {
  Fixture fx;
  CommandResult all = RunIamledger({"replay", "export", "--data-dir", fx.data});
  REQUIRE_MESSAGE(all.exit_code == 0, all.err);
  CHECK(all.err.empty());  // no progress bar: stderr is not a terminal
  std::istringstream lines(all.out);
  std::string line;
  uint64_t expected = 1;
  bool saw_token = false;
  while (std::getline(lines, line)) {
    Json e = Json::parse(line, nullptr, false);
    REQUIRE(e.is_object());
    CHECK(e["seq"] == expected++);
    CHECK(e.contains("stream"));
    CHECK(e.contains("recorded_at"));
    CHECK(e.contains("data"));
    saw_token = saw_token || e["type"] == "TokenCreated";
  }
  CHECK(expected - 1 == fx.st.last_seq);
  CHECK(saw_token);
  for (const auto& value : fx.st.values) {
    REQUIRE(value.size() > 20);
    CHECK(all.out.find(value) == std::string::npos);
  }
  CHECK(all.out.find("value_digest") == std::string::npos);
  CHECK(all.out.find("sealed") == std::string::npos);
  CHECK(all.out.find("\"value\"") == std::string::npos);

  CommandResult tail =
      RunIamledger({"replay", "export", "--data-dir", fx.data, "--from-seq",
                    std::to_string(fx.st.rename_seq)});
  REQUIRE(tail.exit_code == 0);
  Json first = Json::parse(tail.out.substr(0, tail.out.find('\n')));
  CHECK(first["seq"] == fx.st.rename_seq);
  CHECK(first["type"] == "TokenRenamed");
  CHECK(first["stream"] == "token/ci-bot");
  CHECK(all.out.ends_with(tail.out));
}

}  // namespace
}  // namespace iam::tools::testing
