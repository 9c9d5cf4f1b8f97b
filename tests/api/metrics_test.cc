#include "api/metrics.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

#include "api/router.h"

namespace iam::api {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST_CASE("metrics: counts by route and status, cumulative buckets") {
  RequestMetrics m;
  const RouteInfo* get = FindRoute(RouteId::kGetToken);
  const RouteInfo* list = FindRoute(RouteId::kListTokens);
  m.Record(get, 200, 0.00005);
  m.Record(get, 200, 0.002);
  m.Record(get, 404, 2.0);  // slower than every bucket
  m.Record(list, 401, 0.0003);
  m.Record(nullptr, 404, 0.0001);
  std::string out;
  m.Render(out);
  CHECK(Has(out,
            "iamledger_http_requests_total{route=\"Tokens/GetToken\","
            "code=\"200\"} 2"));
  CHECK(Has(out,
            "iamledger_http_requests_total{route=\"Tokens/GetToken\","
            "code=\"404\"} 1"));
  CHECK(Has(out,
            "iamledger_http_requests_total{route=\"Tokens/ListTokens\","
            "code=\"401\"} 1"));
  CHECK(Has(out,
            "iamledger_http_requests_total{route=\"unmatched\",code=\"404\"} "
            "1"));
  const std::string b =
      "iamledger_http_request_duration_seconds_bucket{route="
      "\"Tokens/GetToken\",le=";
  CHECK(Has(out, b + "\"0.0001\"} 1"));
  CHECK(Has(out, b + "\"0.001\"} 1"));
  CHECK(Has(out, b + "\"0.0025\"} 2"));
  CHECK(Has(out, b + "\"1\"} 2"));
  CHECK(Has(out, b + "\"+Inf\"} 3"));
  CHECK(Has(out,
            "iamledger_http_request_duration_seconds_count{route=\"Tokens/"
            "GetToken\"} 3"));
  CHECK(Has(out,
            "iamledger_http_request_duration_seconds_sum{route=\"Tokens/"
            "GetToken\"} 2.002050"));
  // Routes never seen are not listed; rows come in route-name order.
  CHECK(out.find("Tokens/CreateToken") == std::string::npos);
  CHECK(out.find("route=\"Tokens/GetToken\",code") <
        out.find("route=\"Tokens/ListTokens\",code"));
  CHECK(out.find("route=\"Tokens/ListTokens\",code") <
        out.find("route=\"unmatched\",code"));
}

TEST_CASE("metrics: Record from many threads loses nothing") {
  RequestMetrics m;
  const RouteInfo* get = FindRoute(RouteId::kGetToken);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) m.Record(get, 200, 0.0002);
    });
  }
  for (auto& t : threads) t.join();
  std::string out;
  m.Render(out);
  CHECK(Has(out,
            "iamledger_http_requests_total{route=\"Tokens/GetToken\","
            "code=\"200\"} 40000"));
}

}  // namespace
}  // namespace iam::api
