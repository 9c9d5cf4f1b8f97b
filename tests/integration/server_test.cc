// The HTTP/1.1 server as a client sees it (keep-alive, pipelining, chunked
// bodies, 100-continue, limits at the boundary), concurrent writers, and
// start-up refusals: DESIGN.md §3, §5, §7.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/harness_util.h"

namespace iam::integration {
namespace {

using std::chrono::milliseconds;

std::string Get(const std::string& target, const std::string& token,
                const std::string& version = "HTTP/1.1") {
  std::string r = "GET " + target + " " + version + "\r\nHost: 127.0.0.1\r\n";
  if (!token.empty()) r += "api-token: " + token + "\r\n";
  return r + "\r\n";
}

TEST_CASE("http - keep-alive pipelining chunked bodies and 100-continue") {
  START_ENV(env);
  const std::string& tok = env.admin_token;

  // Keep-alive: several requests on one connection.
  {
    Connection c(env.server.tcp());
    REQUIRE(c.ok());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.Send(Get("/healthz", "")));
      Response r = c.Read();
      CHECK(r.status == 200);
      CHECK(r.body == R"({"status":"ok"})");
    }
    REQUIRE(c.Send(Get("/apis/iam/v2/tokens/admin", tok)));
    Response r = c.Read();
    CHECK(r.status == 200);
    CHECK(r.JsonBody()["token"]["id"] == "admin");
    // An API error does not end the connection.
    REQUIRE(c.Send(Get("/apis/iam/v2/tokens/nope", tok)));
    CHECK(c.Read().status == 404);
    REQUIRE(c.Send(Get("/healthz", "")));
    CHECK(c.Read().status == 200);
  }

  // Pipelining: three requests in one write, answered in order.
  {
    Connection c(env.server.tcp());
    REQUIRE(c.Send(Get("/apis/iam/v2/tokens/admin", tok) +
                   Get("/apis/iam/v2/nope", tok) +
                   Get("/apis/iam/v2/policy_version", tok)));
    Response a = c.Read();
    Response b = c.Read();
    Response d = c.Read();
    CHECK(a.status == 200);
    CHECK(a.JsonBody()["token"]["id"] == "admin");
    CHECK(b.status == 404);
    CHECK(b.body == "Not Found\n");
    CHECK(d.status == 200);
    CHECK(d.body == R"({"version":{"major":"V2","minor":"V1"}})");
  }

  // HTTP/1.0 without Host: answered, then closed.
  {
    Connection c(env.server.tcp());
    REQUIRE(c.Send("GET /healthz HTTP/1.0\r\n\r\n"));
    Response r = c.Read();
    CHECK(r.status == 200);
    CHECK(c.PeerClosed(milliseconds(2000)));
  }

  // A chunked request body.
  {
    const std::string json = R"({"id":"chunked","name":"via chunks"})";
    std::string req =
        "POST /apis/iam/v2/tokens HTTP/1.1\r\nHost: x\r\n"
        "api-token: " +
        tok + "\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (size_t i = 0; i < json.size(); i += 7) {
      std::string part = json.substr(i, 7);
      char size[16];
      std::snprintf(size, sizeof(size), "%zx", part.size());
      req += std::string(size) + "\r\n" + part + "\r\n";
    }
    req += "0\r\n\r\n";
    Connection c(env.server.tcp());
    REQUIRE(c.Send(req));
    Response r = c.Read();
    CHECK(r.status == 200);
    CHECK(r.JsonBody()["token"]["name"] == "via chunks");
  }

  // Expect: 100-continue is answered before the body is sent.
  {
    const std::string json = R"({"id":"continued","name":"n"})";
    Connection c(env.server.tcp());
    REQUIRE(
        c.Send("POST /apis/iam/v2/tokens HTTP/1.1\r\nHost: x\r\n"
               "api-token: " +
               tok + "\r\nExpect: 100-continue\r\nContent-Length: " +
               std::to_string(json.size()) + "\r\n\r\n"));
    Response interim = c.Read(milliseconds(2000));
    CHECK(interim.status == 100);
    REQUIRE(c.Send(json));
    Response r = c.Read();
    CHECK(r.status == 200);
    CHECK(r.JsonBody()["token"]["id"] == "continued");
  }

  // The body limit is 64 KiB: exactly 65536 bytes are accepted.
  {
    std::string body = R"({"id":"at-limit","name":"n","pad":")";
    body += std::string(65536 - body.size() - 2, 'p') + "\"}";
    REQUIRE(body.size() == 65536);
    Response r = env.admin.Post("/apis/iam/v2/tokens", body,
                                {{"Content-Type", "application/json+lax"}});
    CHECK(r.status == 200);
  }

  // A framing error is answered and the connection closed.
  {
    Connection c(env.server.tcp());
    REQUIRE(
        c.Send("POST /apis/iam/v2/tokens HTTP/1.1\r\nHost: x\r\n"
               "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"));
    Response r = c.Read();
    CHECK(r.status == 400);
    CHECK(c.PeerClosed(milliseconds(2000)));
  }
  CHECK(env.admin.Get("/apis/iam/v2/tokens").JsonBody()["tokens"].size() == 4);
}

TEST_CASE("concurrency - parallel writers and an If-Match race") {
  START_ENV(env);
  const Api& admin = env.admin;
  const uint64_t head = LogHead(admin);

  // 8 writers x 8 tokens: every write acknowledged with its own seq.
  constexpr int kThreads = 8;
  constexpr int kEach = 8;
  std::vector<std::vector<std::string>> seqs(kThreads);
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const std::string id =
            "par-" + std::to_string(t) + "-" + std::to_string(i);
        Response r =
            admin.Post("/apis/iam/v2/tokens", Json{{"id", id}, {"name", id}});
        if (r.status != 200) ++failures[t];
        seqs[t].push_back(r.Header("X-Iam-Seq"));
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> distinct;
  for (int t = 0; t < kThreads; ++t) {
    CHECK(failures[t] == 0);
    distinct.insert(seqs[t].begin(), seqs[t].end());
  }
  CHECK(distinct.size() == kThreads * kEach);
  CHECK(LogHead(admin) == head + kThreads * kEach);
  CHECK(admin.Get("/apis/iam/v2/tokens").JsonBody()["tokens"].size() ==
        kThreads * kEach + 1);

  // Same stream, same If-Match: exactly one wins, the others get 412.
  REQUIRE(admin.Get("/apis/iam/v2/tokens/par-0-0").Header("ETag") == "\"1\"");
  std::vector<int> statuses(kThreads, 0);
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      statuses[t] = admin
                        .Put("/apis/iam/v2/tokens/par-0-0",
                             Json{{"name", "winner-" + std::to_string(t)}},
                             {{"If-Match", "\"1\""}})
                        .status;
    });
  }
  for (auto& th : threads) th.join();
  int wins = 0, stale = 0, winner = -1;
  for (int t = 0; t < kThreads; ++t) {
    if (statuses[t] == 200) {
      ++wins;
      winner = t;
    }
    if (statuses[t] == 412) ++stale;
  }
  CHECK(wins == 1);
  CHECK(stale == kThreads - 1);
  CHECK(admin.Get("/apis/iam/v2/tokens/par-0-0").JsonBody()["token"]["name"] ==
        "winner-" + std::to_string(winner));

  // Without If-Match, concurrent member adds all land (retried on races).
  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      statuses[t] =
          admin
              .Post("/apis/iam/v2/policies/viewer-access/members:add",
                    Json{{"members", {"token:m" + std::to_string(t)}}})
              .status;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(statuses[t] == 200);
  CHECK(admin.Get("/apis/iam/v2/policies/viewer-access/members")
            .JsonBody()["members"]
            .size() == kThreads + 1);
}

TEST_CASE("startup - refuses a second server and a wrong key file") {
  START_ENV(env);
  const std::string data_dir = env.server.data_dir();

  // RocksDB's lock keeps one server per data directory.
  CommandResult second =
      RunIamledger({"serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                    "--key-file", env.server.key_file()},
                   env.dir.path(), milliseconds(10000));
  CHECK(second.exit_code == 1);
  CHECK(second.err.find("cannot open") != std::string::npos);
  CHECK(env.server.Alive());
  CHECK(env.admin.Get("/apis/iam/v2/tokens").status == 200);
  CHECK(env.server.Stop() == 0);

  // A different key file: refuses to start rather than serve with the wrong
  // secrets.
  const std::string wrong_key = env.dir.path() + "/wrong.key";
  {
    std::ofstream out(wrong_key, std::ios::binary);
    out << std::string(32, '\x5a');
  }
  ::chmod(wrong_key.c_str(), 0600);
  CommandResult wrong =
      RunIamledger({"serve", "--data-dir", data_dir, "--listen", "127.0.0.1:0",
                    "--key-file", wrong_key},
                   env.dir.path(), milliseconds(10000));
  CHECK(wrong.exit_code == 1);
  CHECK(!wrong.err.empty());
  CHECK(wrong.out.find("iam_") == std::string::npos);

  // The right key still works and nothing was lost.
  REQUIRE(env.server.Start());
  const Api admin{env.server.tcp(), env.admin_token};
  CHECK(admin.Get("/apis/iam/v2/tokens/admin").status == 200);
}

}  // namespace
}  // namespace iam::integration
