// Writes the seed corpora of the fuzz targets into <out>/<target>/: the
// requests, bodies, events, snapshots, checkpoints and token values the
// tests use, made by the same code (so they follow the formats as they
// are). Usage: make_seeds <out>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "api/router.h"
#include "core/defaults.h"
#include "core/model.h"
#include "eventstore/checkpoint.h"
#include "eventstore/codec.h"
#include "tests/fuzz/fuzz_env.h"

namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, int n, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / ("seed-" + std::to_string(n)), std::ios::binary) << bytes;
}

std::string Request(const std::string& method, const std::string& target,
                    const std::string& body, const std::string& extra = "") {
  std::string r =
      method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra;
  if (!body.empty() || method == "POST" || method == "PUT")
    r += "Content-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

const char* kToken =
    R"({"id":"seed-tok","name":"Seed token","active":true,"projects":[]})";
const char* kPolicy =
    R"({"id":"seed-pol","name":"Seed","members":["token:seed-tok","user:local:alice"],)"
    R"("statements":[{"effect":"ALLOW","actions":["iam:tokens:get","iam:*"],)"
    R"("resources":["*"],"projects":["*"]},{"effect":"DENY","role":"viewer","projects":["p1"]}],"projects":[]})";
const char* kRole =
    R"({"id":"seed-role","name":"Seed role","actions":["iam:tokens:*"],"projects":[]})";
const char* kProject = R"({"id":"p1","name":"Project one"})";
const char* kMembers = R"({"members":["token:seed-tok","team:local:admins"]})";

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds <out>\n";
    return 2;
  }
  const fs::path out = argv[1];
  int n = 0;
  // http_request: the admin socket (first byte odd) and a TCP peer.
  const std::string value = iam::eventstore::GenerateTokenValue();
  std::vector<std::string> http = {
      Request("POST", "/apis/iam/v2/tokens", kToken),
      Request("GET", "/apis/iam/v2/tokens", ""),
      Request("PUT", "/apis/iam/v2/tokens/seed-tok",
              R"({"name":"x","active":false})"),
      Request("DELETE", "/apis/iam/v2/tokens/seed-tok", ""),
      Request("POST", "/apis/iam/v2/policies", kPolicy),
      Request("POST", "/apis/iam/v2/policies/seed-pol/members:add", kMembers),
      Request("GET", "/apis/iam/v2/policies/seed-pol/members", ""),
      Request("POST", "/apis/iam/v2/roles", kRole),
      Request("POST", "/apis/iam/v2/projects", kProject),
      Request("GET", "/apis/iam/v2/events?after=0&limit=5", ""),
      Request("GET", "/apis/iam/v2/introspect", ""),
      Request("POST", "/apis/iam/v2/introspect",
              R"({"path":"/apis/iam/v2/tokens/x","parameters":["id=x"]})"),
      Request("GET", "/apis/iam/v2/tokens/seed-tok/history?pretty", "",
              "Accept: application/json+pretty\r\n"),
      Request("GET", "/healthz", "") + Request("GET", "/metrics", ""),
      Request("POST", "/apis/iam/v2/tokens", kToken) +
          Request("GET", "/apis/iam/v2/tokens/seed-tok", ""),
  };
  for (const auto& r : http) {
    Write(out / "http_request", n++, "\x01" + r);
    Write(out / "http_request", n++,
          "\x02" +
              Request("GET", "/apis/iam/v2/tokens", "",
                      "api-token: " + value + "\r\n") +
              r);
  }
  // json_command: the route's index among non-GET routes, then the body.
  std::vector<const iam::api::RouteInfo*> routes;
  for (const auto& r : iam::api::AllRoutes())
    if (r.method != "GET") routes.push_back(&r);
  for (size_t i = 0; i < routes.size(); ++i) {
    for (const char* body : {kToken, kPolicy, kRole, kProject, kMembers}) {
      for (int lax = 0; lax < 2; ++lax)
        Write(out / "json_command", n++,
              std::string(1, static_cast<char>((i << 1) | lax)) + body);
    }
  }
  // envelope: the factory-default events as stored, seq 1..4, chained.
  iam::Hash prev{};
  uint64_t seq = 0;
  for (auto& e : iam::FactoryDefaultEvents("seed-ledger")) {
    iam::RecordedEvent rec;
    rec.seq = ++seq;
    rec.recorded_at = 1700000000000000 + static_cast<int64_t>(seq);
    rec.meta = {"system", "init", "unix"};
    rec.stream = iam::StreamOf(e);
    rec.stream_version = 1;
    rec.prev_hash = prev;
    rec.event = e;
    std::string bytes = iam::eventstore::EncodeRecordedEvent(&rec);
    prev = rec.hash;
    if (seq <= 4)
      Write(out / "envelope", n++,
            std::string(1, static_cast<char>(seq - 1)) + bytes);
  }
  // snapshot: a ledger after some writes, its state, a checkpoint.
  {
    iam::fuzz::MemoryLedger ledger;
    for (const auto& r : http) {
      if (r.rfind("GET", 0) == 0) continue;
      iam::api::HttpRequest req;
      auto sp = r.find(' '), sp2 = r.find(' ', sp + 1);
      req.method = r.substr(0, sp);
      req.target = r.substr(sp + 1, sp2 - sp - 1);
      req.body = r.substr(r.find("\r\n\r\n") + 4);
      req.remote = "unix";
      std::promise<void> done;
      ledger.service->Handle(std::move(req),
                             [&](iam::api::HttpResponse) { done.set_value(); });
      done.get_future().wait();
    }
    Write(out / "snapshot", n++, ledger.projections.EncodeSnapshot());
    Write(out / "snapshot", n++,
          ledger.projections.Read([](const iam::projections::View& v) {
            return iam::CanonicalEncoding(v.state);
          }));
    iam::eventstore::Checkpoint cp{seq, prev};
    const std::string key(32, 'k');
    Write(out / "snapshot", n++, iam::eventstore::EncodeCheckpoint(cp, key));
    Write(out / "snapshot", n++, iam::eventstore::CheckpointFileLine(cp, key));
  }
  // token_value: generated values, and edits of one.
  for (int i = 0; i < 4; ++i)
    Write(out / "token_value", n++, iam::eventstore::GenerateTokenValue());
  Write(out / "token_value", n++, "\x05Z\x30q");
  std::cout << "make_seeds: " << n << " seeds in " << out.string() << "\n";
  return 0;
}
