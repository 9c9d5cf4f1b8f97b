#include "api/metrics.h"

#include <algorithm>
#include <cstdio>

namespace iam::api {

RequestMetrics::RequestMetrics()
    : first_route_(AllRoutes().data()),
      rows_(new Row[AllRoutes().size() + 1]),
      num_rows_(AllRoutes().size() + 1) {
  const auto& routes = AllRoutes();
  for (size_t i = 0; i < num_rows_; ++i) {
    rows_[i].name = i < routes.size() ? routes[i].name : "unmatched";
    rows_[i].codes.reset(new std::atomic<uint64_t>[kMaxStatus + 1]());
    by_name_.push_back(i);
  }
  std::sort(by_name_.begin(), by_name_.end(),
            [&](size_t a, size_t b) { return rows_[a].name < rows_[b].name; });
}

void RequestMetrics::Record(const RouteInfo* route, int status,
                            double seconds) {
  size_t i = num_rows_ - 1;
  if (route != nullptr) {
    const size_t r = static_cast<size_t>(route - first_route_);
    if (r < num_rows_ - 1) i = r;
  }
  Row& row = rows_[i];
  constexpr auto kRelaxed = std::memory_order_relaxed;
  row.codes[status >= 0 && status <= kMaxStatus ? status : 0].fetch_add(
      1, kRelaxed);
  for (size_t b = 0; b < kNumBuckets; ++b) {
    if (seconds <= kBuckets[b]) {
      row.buckets[b].fetch_add(1, kRelaxed);
      break;
    }
  }
  row.count.fetch_add(1, kRelaxed);
  const double ns = seconds > 0 ? seconds * 1e9 : 0;
  row.sum_ns.fetch_add(static_cast<uint64_t>(ns), kRelaxed);
}

void RequestMetrics::Render(std::string& out) const {
  constexpr auto kRelaxed = std::memory_order_relaxed;
  out +=
      "# HELP iamledger_http_requests_total HTTP requests by route and "
      "status.\n# TYPE iamledger_http_requests_total counter\n";
  for (size_t i : by_name_) {
    const Row& row = rows_[i];
    if (row.count.load(kRelaxed) == 0) continue;
    for (int code = 0; code <= kMaxStatus; ++code) {
      const uint64_t n = row.codes[code].load(kRelaxed);
      if (n == 0) continue;
      out += "iamledger_http_requests_total{route=\"";
      out += row.name;
      out += "\",code=\"" + std::to_string(code) + "\"} " + std::to_string(n) +
             "\n";
    }
  }
  out +=
      "# HELP iamledger_http_request_duration_seconds Request latency.\n"
      "# TYPE iamledger_http_request_duration_seconds histogram\n";
  char buf[64];
  for (size_t i : by_name_) {
    const Row& row = rows_[i];
    const uint64_t count = row.count.load(kRelaxed);
    if (count == 0) continue;
    const std::string route(row.name);
    uint64_t cumulative = 0;
    for (size_t b = 0; b < kNumBuckets; ++b) {
      cumulative += row.buckets[b].load(kRelaxed);
      std::snprintf(buf, sizeof(buf), "%g", kBuckets[b]);
      out += "iamledger_http_request_duration_seconds_bucket{route=\"" + route +
             "\",le=\"" + buf + "\"} " + std::to_string(cumulative) + "\n";
    }
    // Record counts a request after its bucket: +Inf and _count never
    // fall below the buckets.
    const uint64_t total = std::max(count, cumulative);
    out += "iamledger_http_request_duration_seconds_bucket{route=\"" + route +
           "\",le=\"+Inf\"} " + std::to_string(total) + "\n";
    std::snprintf(buf, sizeof(buf), "%.6f",
                  static_cast<double>(row.sum_ns.load(kRelaxed)) / 1e9);
    out += "iamledger_http_request_duration_seconds_sum{route=\"" + route +
           "\"} " + buf + "\n";
    out += "iamledger_http_request_duration_seconds_count{route=\"" + route +
           "\"} " + std::to_string(total) + "\n";
  }
}

}  // namespace iam::api
