// Crash and format-compatibility tests of the RocksDB store.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "eventstore/codec.h"
#include "tests/eventstore/store_fixtures.h"

namespace iam::eventstore::testing {
namespace {

namespace fs = std::filesystem;

// Appends `n` events in a child process that then dies without closing
// anything (as kill -9 would leave it); returns once the child is gone.
void AppendAndDie(const std::string& dir, int n) {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    auto store = OpenRocksEventStore(dir, {});
    if (!store.ok()) _exit(2);
    for (int i = 1; i <= n; ++i) {
      if (!(*store)->Append(Request({SomeEvent(i)})).ok()) _exit(3);
    }
    _exit(0);  // every append above was acknowledged
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
}

fs::path NewestWal(const std::string& dir) {
  fs::path newest;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log" &&
        (newest.empty() || entry.path().filename() > newest.filename())) {
      newest = entry.path();
    }
  }
  return newest;
}

TEST_CASE("crash: a torn tail opens without losing an acknowledged event") {
  RocksFixture fx;
  AppendAndDie(fx.data_dir(), 40);
  fs::path wal = NewestWal(fx.data_dir());
  REQUIRE_FALSE(wal.empty());
  auto size_before = fs::file_size(wal);
  REQUIRE(size_before > 0);
  SUBCASE("garbage appended to the newest WAL") {
    std::ofstream out(wal, std::ios::app | std::ios::binary);
    std::string garbage(777, '\0');
    for (size_t i = 0; i < garbage.size(); ++i)
      garbage[i] = static_cast<char>((i * 131 + 7) & 0xff);
    out << garbage;
  }
  SUBCASE("a half-written record header at the end") {
    std::ofstream out(wal, std::ios::app | std::ios::binary);
    out << std::string("\x12\x34\x56", 3);
  }
  auto store = fx.Open();
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  CHECK((*store)->LastSeq() == 40);
  Status s;
  auto events = ReadAll(**store, &s);
  CHECK(s.ok());
  CHECK(events.size() == 40);
  // And the chain continues.
  CHECK((*store)->Append(Request({SomeEvent(41)})).ok());
}

// tests/testdata/events_v1.bin: envelopes written by format 1 (u32 little
// endian length, then the bytes). Regenerate only on a deliberate format
// change: IAM_WRITE_TESTDATA=1 ./eventstore_tests -tc='format*'
std::vector<Event> V1Events() {
  Statement st{Effect::kDeny, {"iam:tokens:*"}, "", {"*"}, {"p1", "*"}};
  return {LedgerInitialized{1, "ledger-1"},
          TokenCreated{"tok",
                       "Tok",
                       false,
                       {"p1"},
                       std::string(32, 'd'),
                       std::string(60, 's')},
          TokenRenamed{"tok", "Tok 2"},
          TokenProjectsAssigned{"tok", {}},
          TokenStatusToggled{"tok", true},
          PolicyCreated{
              "pol", "Pol", PolicyType::kCustom, {"token:tok"}, {st}, {"p1"}},
          PolicyUpdated{"pol", "Pol 2", PolicyType::kCustom, {st, st}, {}},
          PolicyMembersAdded{"pol", {"user:local:a", "team:ldap:*"}},
          PolicyMembersRemoved{"pol", {"token:tok"}},
          RoleCreated{"rol", "Rol", PolicyType::kCustom, {"iam:*"}, {}},
          RoleUpdated{"rol", "Rol 2", PolicyType::kCustom, {"*"}, {"p1"}},
          ProjectCreated{"p1", "P1", PolicyType::kCustom},
          ProjectRenamed{"p1", "P one"},
          RoleDeleted{"rol"},
          PolicyDeleted{"pol"},
          TokenDeleted{"tok"},
          ProjectDeleted{"p1"}};
}

// Writes `expected` to `path` when IAM_WRITE_TESTDATA is set; then checks
// that the file decodes to exactly `expected` with an intact chain.
void CheckTestdata(const std::string& path,
                   const std::vector<Event>& expected) {
  if (std::getenv("IAM_WRITE_TESTDATA")) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    Hash prev{};
    for (size_t i = 0; i < expected.size(); ++i) {
      RecordedEvent rec;
      rec.seq = i + 1;
      rec.recorded_at = 1'764'000'000'000'000 + static_cast<int64_t>(i);
      rec.meta = {"local:admin", "req", ""};
      rec.event = expected[i];
      rec.stream = StreamOf(rec.event);
      rec.stream_version = 1;
      rec.prev_hash = prev;
      std::string bytes = EncodeRecordedEvent(&rec);
      prev = rec.hash;
      uint32_t n = static_cast<uint32_t>(bytes.size());
      out.write(reinterpret_cast<const char*>(&n), 4);
      out << bytes;
    }
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing " << path);
  Hash prev{};
  size_t i = 0;
  uint32_t n = 0;
  while (in.read(reinterpret_cast<char*>(&n), 4)) {
    std::string bytes(n, '\0');
    REQUIRE(in.read(bytes.data(), n));
    auto rec = DecodeRecordedEvent(i + 1, bytes);
    REQUIRE_MESSAGE(rec.ok(), rec.status().ToString());
    REQUIRE(i < expected.size());
    CHECK(rec->event == expected[i]);
    CHECK(rec->prev_hash == prev);
    CHECK(rec->meta.actor == "local:admin");
    prev = rec->hash;
    ++i;
  }
  CHECK(i == expected.size());
}

TEST_CASE("format: events encoded by format 1 still decode") {
  CheckTestdata(std::string(IAM_TESTDATA_DIR) + "/events_v1.bin", V1Events());
}

// tests/testdata/events_lifecycle.bin: the token lifecycle events (union
// tags 18, 19 and TokenCreated.expires_at) as first written.
TEST_CASE("format: token lifecycle events as first encoded still decode") {
  TokenCreated created{
      "tok", "Tok", true, {}, std::string(32, 'd'), std::string(60, 's')};
  created.expires_at = 1'800'000'000'000'000;
  CheckTestdata(std::string(IAM_TESTDATA_DIR) + "/events_lifecycle.bin",
                {LedgerInitialized{1, "ledger-1"}, created,
                 TokenExpirySet{"tok", 1'900'000'000'500'000},
                 TokenRotated{"tok", std::string(32, 'e'), std::string(60, 't'),
                              1'764'000'000'600'000},
                 TokenExpirySet{"tok", 0}});
}

}  // namespace
}  // namespace iam::eventstore::testing
