// Request counters of /metrics: requests by route and status, and a latency
// histogram per route, recorded on every request without a lock (relaxed
// atomics in a table fixed at construction: one row per route of
// AllRoutes() and one for requests that matched none).
//
// Contract: Record may run on any number of threads at once; Render reads
// the counters as they are (each one exact, the set of them not a snapshot
// of one instant, as with any Prometheus exporter). Render writes
// iamledger_http_requests_total{route,code} for every (route, status) seen,
// then the iamledger_http_request_duration_seconds histogram of every route
// seen, each in route-name order and codes ascending.
#ifndef IAMLEDGER_API_METRICS_H_
#define IAMLEDGER_API_METRICS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/router.h"

namespace iam::api {

class RequestMetrics {
 public:
  static constexpr double kBuckets[] = {0.0001, 0.00025, 0.0005, 0.001,
                                        0.0025, 0.005,   0.01,   0.025,
                                        0.05,   0.1,     0.25,   1.0};
  static constexpr size_t kNumBuckets = std::size(kBuckets);
  // Statuses counted: 0..kMaxStatus (anything else is counted as 0).
  static constexpr int kMaxStatus = 999;

  RequestMetrics();
  RequestMetrics(const RequestMetrics&) = delete;
  RequestMetrics& operator=(const RequestMetrics&) = delete;

  // One request: `route` from AllRoutes(), or null ("unmatched").
  void Record(const RouteInfo* route, int status, double seconds);

  void Render(std::string& out) const;

 private:
  struct Row {
    std::string_view name;
    std::atomic<uint64_t> count{0};  // requests (the histogram's +Inf)
    std::atomic<uint64_t> sum_ns{0};
    std::atomic<uint64_t> buckets[kNumBuckets] = {};  // not cumulative
    std::unique_ptr<std::atomic<uint64_t>[]> codes;   // by status
  };
  const RouteInfo* first_route_;  // &AllRoutes()[0]
  std::unique_ptr<Row[]> rows_;   // one per route, then "unmatched"
  size_t num_rows_ = 0;
  std::vector<size_t> by_name_;  // row indexes in name order
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_METRICS_H_
