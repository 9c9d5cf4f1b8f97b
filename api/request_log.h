// Cluster mode's memory of recent writes by request id (DESIGN.md §10, "no
// double apply"): a write whose outcome was unknown to its client (the
// leader died, a forward timed out) is retried with the same X-Request-Id,
// possibly on another leader. If that id is already in the log, the service
// answers with the recorded outcome instead of deciding again (which would
// apply it twice, or refuse a create that in fact succeeded with 409).
//
// Contract:
//  - Fed with every applied event (an EventSink beside the projections:
//    Ledger's observer), in log order, on the store's writer thread, at
//    start-up and live; so every node, leader or not, knows the ids of the
//    writes it has applied.
//  - Find(id) returns the append that carried the id: its first and last
//    seq, its actor, its event count. The events of one append are
//    contiguous and share the id. Bounded: the newest kRemembered ids.
//  - on_token_secret_change (optional) is called with a token id for every
//    applied TokenDeleted or TokenRotated, wherever the write was made, so
//    in-memory copies of its wrapped key can be dropped on every node.
//  - Thread-safe; Find never waits on I/O.
#ifndef IAMLEDGER_API_REQUEST_LOG_H_
#define IAMLEDGER_API_REQUEST_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/events.h"

namespace iam::api {

class RequestLog final : public EventSink {
 public:
  static constexpr size_t kRemembered = 100000;

  struct Outcome {
    uint64_t first_seq = 0;
    uint64_t last_seq = 0;
    std::string actor;
    size_t events = 0;
  };

  Status Apply(const RecordedEvent& event) override;
  std::optional<Outcome> Find(const std::string& request_id) const;

  // The listener of on_token_secret_change (replaces any earlier one).
  void SetTokenSecretListener(
      std::function<void(const std::string& token_id)> listener);

 private:
  mutable std::mutex mu_;
  std::function<void(const std::string&)> listener_;  // guarded
  std::unordered_map<std::string, Outcome> by_id_;    // guarded
  std::deque<std::string> order_;                     // guarded, oldest first
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_REQUEST_LOG_H_
