// The audit queries of API.md ("Audit queries"): GET /audit/check,
// /audit/who, /audit/diff and POST /audit/what-if, and the same queries for
// the offline command line (`iamledger audit ...`), one implementation.
//
// Parameters (query string, or the CLI's flags under the same names):
//   check: subject, action, resource (required), project (repeatable)
//   who:   action, resource (required), project (repeatable)
//   both:  at=RFC3339 | at_seq=N (default: the end of the log)
//   diff:  from=RFC3339 | from_seq=N (default 0), to=RFC3339 | to_seq=N
//          (default: the end of the log), subject (optional)
// A bad or missing parameter is InvalidArgument (400) naming it; a seq past
// the end of the log is InvalidArgument too.
//
// Answers (JSON; `at_seq`, `from_seq`, `to_seq` name the points used):
//   check: {"allowed", "at_seq", "reasons": [reason], "note"?}
//   who:   {"at_seq", "members": [{"member", "reasons"}],
//           "tokens": [{"id", "reasons"}]}
//   diff:  {"from_seq", "to_seq", "subjects": [{"subject", "gained": [g],
//           "lost": [g]}]}
//   what-if: {"at_seq", "results": [{"method", "path", "status",
//           "error"?, "seqs"}], "from_seq", "to_seq", "subjects": [...]}
//   reason = {"policy_id", "statement", "effect", "role", "member"}
//   g      = {"effect", "action", "resource", "project", "policy_id",
//             "statement", "role", "seqs"}
// `statement` is the index of the statement in its policy; `effect` is
// "ALLOW" or "DENY"; `role` and `member` are "" when there is none.
//
// Points in time come from a projections::PointInTime over the log; "now"
// is the log's last seq when the query starts, at the clock's time. A
// point's time decides token expiry: at=T is judged at T, at_seq=N at the
// recorded_at of event N. What-if decides its requests
// on a copy of the state at now and never writes.
#ifndef IAMLEDGER_API_AUDIT_H_
#define IAMLEDGER_API_AUDIT_H_

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "api/router.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/lifecycle.h"
#include "core/status.h"
#include "eventstore/event_store.h"
#include "projections/point_in_time.h"

namespace iam::api {

// Receives an answer's bytes in order, in pieces of any size; returns false
// to stop (the reader is gone): the query then ends with Cancelled.
using AnswerSink = std::function<bool(std::string_view)>;

class Audit {
 public:
  // Over a live store (the server): events are read back from `store`,
  // which must outlive this object.
  // `clock` (null: the system clock) is the time of "now": a token expired
  // by then can do nothing now (core/lifecycle.h).
  Audit(const eventstore::EventStore* store,
        projections::PointInTimeOptions options, const Clock* clock = nullptr);
  // Over a data directory opened read-only (the command line; works beside
  // a running server).
  static std::unique_ptr<Audit> Offline(
      const std::string& data_dir, projections::PointInTimeOptions options);

  // Each query checks its parameters before the first byte goes to `sink`
  // (an error then means nothing was written); an error after (a read of
  // the log failing mid-diff, Cancelled) leaves the answer cut short.
  // Memory is bounded by the query's state, not by the answer: a diff's
  // hundreds of MiB reach the sink in pieces of 256 KiB.
  Status Check(const QueryParams& params, bool pretty, const AnswerSink& sink);
  Status Who(const QueryParams& params, bool pretty, const AnswerSink& sink);
  Status Diff(const QueryParams& params, bool pretty, const AnswerSink& sink);
  // The same answers, whole.
  StatusOr<std::string> Check(const QueryParams& params, bool pretty);
  StatusOr<std::string> Who(const QueryParams& params, bool pretty);
  StatusOr<std::string> Diff(const QueryParams& params, bool pretty);

  // The body {"requests": [{"method", "path", "body"?}]} (1..100 requests,
  // writes only: the routes that change state), checked before anything
  // else; InvalidArgument when malformed.
  static Status ValidateWhatIf(std::string_view body);
  // Decides each request in order, as `subjects` would send it, on a copy of
  // the state at now that the earlier ones changed: route match, body
  // decoding, authorization and the decision of the live write path, then
  // the events folded into the copy. Nothing reaches the log.
  // `expiry` is what the write path gives token creates and updates.
  StatusOr<std::string> WhatIf(std::string_view body,
                               const StringList& subjects,
                               const ExpiryContext& expiry, bool pretty);

  projections::PointInTime& timeline() { return *timeline_; }

 private:
  Audit(projections::EventReader reader,
        std::function<StatusOr<uint64_t>()> head,
        projections::PointInTimeOptions options, const Clock* clock);
  // A point: its seq, and its time (token expiry is judged at it): `T` for
  // name=T, the recorded_at of seq N for name_seq=N, the clock's now for
  // the end of the log when neither is given.
  struct At {
    uint64_t seq = 0;
    Micros time = 0;
  };
  // The point `name` / `name_seq` ("at", "from", "to") names; `fallback`
  // (0 or `head`) when neither is given.
  StatusOr<At> Point(const QueryParams& params, std::string_view name,
                     uint64_t head, uint64_t fallback);

  const Clock* clock_;
  std::unique_ptr<projections::PointInTime> timeline_;
  std::function<StatusOr<uint64_t>()> head_;
};

// Whether `route` is one of the audit routes.
bool IsAuditRoute(RouteId route);

}  // namespace iam::api

#endif  // IAMLEDGER_API_AUDIT_H_
