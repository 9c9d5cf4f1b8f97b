// F1: raw bytes through Beast's request parser (the server's limits), the
// router, authentication, the handlers and the store, without sockets: up
// to 4 pipelined requests per input on an in-memory ledger in its factory
// state. The first byte picks the peer: odd = the admin socket (so writes
// get past authentication), even = a TCP client. Every request must be
// answered exactly once with a status in 100..599, within the service's
// contract.
//
// The ledger is built once and kept while inputs leave its log as it was
// (most inputs: malformed, refused or reads); one that appended an event or
// had to stop the service gets a fresh ledger for the next input, so every
// input starts from the same log. What a kept ledger carries over besides
// the log is counters (/metrics) and read caches, which do not decide
// anything; the failed-authentication limiter, which would, is off here
// (its own tests: tests/api/auth_limiter_test.cc).
#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_env.h"

namespace http = boost::beast::http;

namespace {

// Never destroyed at exit: OpenSSL's own exit handler runs first, and the
// store's Close() signs a checkpoint (reachable from here, so not a leak
// for LeakSanitizer).
iam::fuzz::MemoryLedger* kept = nullptr;
uint64_t fresh_seq = 0;

void RunInput(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const std::string remote = (data[0] & 1) ? "unix" : "127.0.0.1";
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (kept == nullptr) {
    iam::api::ServiceOptions options;
    options.auth_limit.limit.limit = 0;
    kept = new iam::fuzz::MemoryLedger(options);
    fresh_seq = kept->store->LastSeq();
  }
  iam::fuzz::MemoryLedger& ledger = *kept;
  for (int n = 0; n < 4 && !in.empty(); ++n) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8 * 1024);  // api::ServerLimits defaults
    parser.body_limit(64 * 1024);
    parser.eager(true);
    boost::beast::error_code ec;
    while (!parser.is_done() && !in.empty()) {
      size_t used = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
      in.remove_prefix(used);
      if (ec == http::error::need_more) ec = {};
      if (ec) return;        // the server answers 400/413/431 and closes
      if (used == 0) break;  // the parser needs more than there is
    }
    if (!parser.is_done() && in.empty()) {
      parser.put_eof(ec);  // the client closed: a body to EOF may end here
      if (ec) return;
    }
    if (!parser.is_done()) return;  // incomplete: the server waits
    auto req = parser.release();
    iam::api::HttpRequest out;
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& f : req)
      out.headers.emplace(std::string(f.name_string()), std::string(f.value()));
    out.body = std::move(req.body());
    out.remote = remote;
    auto answered = std::make_shared<std::promise<int>>();
    auto done = answered->get_future();
    ledger.service->Handle(std::move(out),
                           [answered](iam::api::HttpResponse r) {
                             answered->set_value(r.status);
                           });
    // A long-poll waits for events: stop it, as a shutdown does.
    if (done.wait_for(std::chrono::milliseconds(200)) !=
        std::future_status::ready) {
      ledger.service->Shutdown();
      if (done.wait_for(std::chrono::seconds(5)) != std::future_status::ready)
        std::abort();            // a request that is never answered
      fresh_seq = ~uint64_t{0};  // stopped: the next input gets a fresh one
    }
    const int status = done.get();
    if (status < 100 || status > 599) std::abort();
    if (!req.keep_alive()) break;
  }
}

}  // namespace

// A ledger whose log the input changed (or that had to stop) is dropped
// before the input ends, not when the next one starts: its writer and feed
// threads are joined, so their thread-local state is freed before
// libFuzzer's leak check of this input (LeakSanitizer does not see a live
// thread's thread_local objects as reachable here).
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  RunInput(data, size);
  if (kept != nullptr && kept->store->LastSeq() != fresh_seq) {
    delete kept;
    kept = nullptr;
  }
  return 0;
}
