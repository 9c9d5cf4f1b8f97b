// The JSON decoders of every command: the first byte picks a write route
// (and strict or lax decoding), the rest is its body. A decoded command is
// then decided on the factory-default state by the local admin, so the
// decoders' output feeds core's validation. Nothing may crash; a decode
// error is a Status with a message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/json_codec.h"
#include "api/router.h"
#include "core/decide.h"
#include "core/model.h"
#include "tests/fuzz/fuzz_env.h"

namespace {

const iam::IamState& DefaultState() {
  static const iam::IamState* state = [] {
    iam::fuzz::MemoryLedger ledger;
    return new iam::IamState(ledger.projections.Read(
        [](const iam::projections::View& v) { return v.state; }));
  }();
  return *state;
}

std::vector<iam::api::RouteId> CommandRoutes() {
  std::vector<iam::api::RouteId> out;
  for (const auto& r : iam::api::AllRoutes())
    if (r.method != "GET") out.push_back(r.id);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<iam::api::RouteId> routes = CommandRoutes();
  if (size < 1) return 0;
  const iam::api::RouteId route = routes[(data[0] >> 1) % routes.size()];
  const bool lax = data[0] & 1;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto decoded = iam::api::DecodeCommand(route, body, lax, "fuzz-id");
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) std::abort();
    return 0;
  }
  iam::Caller caller;
  caller.subjects = {"local:admin"};
  auto decision = iam::Decide(decoded->command, DefaultState(), caller);
  if (!decision.ok() && decision.status().message().empty()) std::abort();
  return 0;
}
