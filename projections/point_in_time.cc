#include "projections/point_in_time.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

namespace iam::projections {
namespace {

// Folds events into `state` with Evolve (the one apply path), leaving the
// secrets of created tokens out, then calls `after`.
class FoldSink final : public EventSink {
 public:
  FoldSink(IamState& state, std::function<void(const RecordedEvent&)> after)
      : state_(state), after_(std::move(after)) {}

  Status Apply(const RecordedEvent& e) override {
    if (e.seq != state_.last_seq + 1) {
      return DataLossError("seq " + std::to_string(e.seq) +
                           ": point-in-time state is at seq " +
                           std::to_string(state_.last_seq));
    }
    IAM_RETURN_IF_ERROR(Evolve(state_, e));
    // Any token event may carry value material (create, rotation).
    if (e.stream.starts_with("token/")) {
      auto it = state_.tokens.find(e.stream.substr(6));
      if (it != state_.tokens.end()) {
        Token& t = it->second;
        std::string().swap(t.value_digest);
        std::string().swap(t.sealed_value);
        std::string().swap(t.previous_value_digest);
      }
    }
    if (after_) after_(e);
    return OkStatus();
  }

 private:
  IamState& state_;
  std::function<void(const RecordedEvent&)> after_;
};

// A copy of `s` without its stream versions (audit never needs them).
std::shared_ptr<const IamState> CopyForAudit(IamState& s) {
  StringMap<uint64_t> versions = std::move(s.stream_versions);
  s.stream_versions = StringMap<uint64_t>();
  auto copy = std::make_shared<const IamState>(s);
  s.stream_versions = std::move(versions);
  return copy;
}

Status PastTheEnd(uint64_t seq, uint64_t last) {
  return Status(StatusCode::kOutOfRange, "seq " + std::to_string(seq) +
                                             " is past the end of the log (" +
                                             std::to_string(last) + ")");
}

}  // namespace

PointInTime::PointInTime(EventReader reader, PointInTimeOptions options)
    : reader_(std::move(reader)),
      max_snapshots_(std::max<size_t>(options.max_snapshots, 2)),
      every_(options.snapshot_every) {}

Status PointInTime::ExtendLocked(uint64_t to, bool to_end) {
  if (to <= builder_.last_seq) return OkStatus();
  FoldSink sink(builder_, [this](const RecordedEvent& e) {
    times_.push_back(e.recorded_at);
    history_[e.stream].push_back(e.seq);
    if (every_ == 0 || e.seq % every_ != 0) return;
    snapshots_.push_back(CopyForAudit(builder_));
    if (snapshots_.size() > max_snapshots_) {
      // Every other one goes; the interval doubles.
      every_ *= 2;
      std::erase_if(snapshots_,
                    [&](const auto& s) { return s->last_seq % every_ != 0; });
    }
  });
  IAM_RETURN_IF_ERROR(reader_(builder_.last_seq, to, &sink));
  if (!to_end && builder_.last_seq != to) {
    return PastTheEnd(to, builder_.last_seq);
  }
  return OkStatus();
}

StatusOr<uint64_t> PointInTime::CatchUp() {
  std::lock_guard<std::mutex> lock(mu_);
  IAM_RETURN_IF_ERROR(
      ExtendLocked(std::numeric_limits<uint64_t>::max(), /*to_end=*/true));
  return builder_.last_seq;
}

StatusOr<std::shared_ptr<const IamState>> PointInTime::BaseLocked(
    uint64_t seq, std::shared_ptr<const IamState>* exact) {
  if (last_.second != nullptr && last_.first == seq) {
    *exact = last_.second;
    return std::shared_ptr<const IamState>();
  }
  IAM_RETURN_IF_ERROR(ExtendLocked(seq));
  if (seq == builder_.last_seq) {
    last_ = {seq, CopyForAudit(builder_)};
    *exact = last_.second;
    return std::shared_ptr<const IamState>();
  }
  auto it = std::upper_bound(
      snapshots_.begin(), snapshots_.end(), seq,
      [](uint64_t s, const auto& snap) { return s < snap->last_seq; });
  if (it == snapshots_.begin()) return std::shared_ptr<const IamState>();
  return *std::prev(it);
}

StatusOr<std::shared_ptr<const IamState>> PointInTime::StateAt(uint64_t seq) {
  std::shared_ptr<const IamState> base, exact;
  {
    std::lock_guard<std::mutex> lock(mu_);
    IAM_ASSIGN_OR_RETURN(base, BaseLocked(seq, &exact));
  }
  if (exact != nullptr) return exact;
  auto state = base != nullptr ? std::make_shared<IamState>(*base)
                               : std::make_shared<IamState>();
  if (state->last_seq < seq) {
    FoldSink sink(*state, nullptr);
    IAM_RETURN_IF_ERROR(reader_(state->last_seq, seq, &sink));
    if (state->last_seq != seq) return PastTheEnd(seq, state->last_seq);
    state->stream_versions = StringMap<uint64_t>();  // as in every snapshot
  }
  std::shared_ptr<const IamState> out = std::move(state);
  std::lock_guard<std::mutex> lock(mu_);
  last_ = {seq, out};
  return out;
}

StatusOr<std::shared_ptr<const IamState>> PointInTime::SubjectStateAt(
    uint64_t seq, const std::string& subject) {
  std::shared_ptr<const IamState> base, exact;
  {
    std::lock_guard<std::mutex> lock(mu_);
    IAM_ASSIGN_OR_RETURN(base, BaseLocked(seq, &exact));
  }
  if (exact != nullptr) return exact;
  // "token/<id>" of the subject's token, or "" when it is not a token.
  std::string own_stream;
  if (subject.starts_with("token:") && !subject.ends_with("*")) {
    own_stream = "token/" + subject.substr(6);
  }
  auto state = std::make_shared<IamState>();
  if (base != nullptr) {
    const IamState& b = *base;
    state->policies = b.policies;
    state->roles = b.roles;
    state->compiled_roles = b.compiled_roles;
    state->projects = b.projects;
    state->project_index = b.project_index;
    state->policies_by_wildcard_member = b.policies_by_wildcard_member;
    if (auto it = b.policies_by_member.find(subject);
        it != b.policies_by_member.end()) {
      state->policies_by_member[subject] = it->second;
    }
    if (!own_stream.empty()) {
      if (auto it = b.tokens.find(own_stream.substr(6)); it != b.tokens.end()) {
        state->tokens.insert(*it);
      }
    }
    state->last_seq = b.last_seq;
    state->last_recorded_at = b.last_recorded_at;
    state->ledger_id = b.ledger_id;
  }
  // Other tokens' events are skipped; everything else is folded (member
  // changes of other subjects only add index entries nobody reads).
  class SubjectSink final : public EventSink {
   public:
    SubjectSink(IamState& s, const std::string& own) : s_(s), own_(own) {}
    Status Apply(const RecordedEvent& e) override {
      if (e.stream.starts_with("token/") && e.stream != own_) {
        s_.last_seq = e.seq;
        s_.last_recorded_at = e.recorded_at;
        return OkStatus();
      }
      return fold_.Apply(e);
    }

   private:
    IamState& s_;
    const std::string& own_;
    FoldSink fold_{s_, nullptr};
  } sink(*state, own_stream);
  if (state->last_seq < seq) {
    IAM_RETURN_IF_ERROR(reader_(state->last_seq, seq, &sink));
    if (state->last_seq != seq) return PastTheEnd(seq, state->last_seq);
  }
  return std::shared_ptr<const IamState>(std::move(state));
}

StatusOr<uint64_t> PointInTime::SeqAt(Micros t, uint64_t head) {
  std::lock_guard<std::mutex> lock(mu_);
  IAM_RETURN_IF_ERROR(ExtendLocked(head));
  // recorded_at never decreases along the log (batches are stamped in
  // commit order), so the events at or before t are a prefix.
  auto end = times_.begin() + static_cast<ptrdiff_t>(head);
  return static_cast<uint64_t>(std::upper_bound(times_.begin(), end, t) -
                               times_.begin());
}

StatusOr<std::vector<uint64_t>> PointInTime::StreamSeqs(
    const std::string& stream, uint64_t after, uint64_t to) {
  std::lock_guard<std::mutex> lock(mu_);
  IAM_RETURN_IF_ERROR(ExtendLocked(to));
  auto it = history_.find(stream);
  if (it == history_.end()) return std::vector<uint64_t>{};
  const auto& v = it->second;
  return std::vector<uint64_t>(std::upper_bound(v.begin(), v.end(), after),
                               std::upper_bound(v.begin(), v.end(), to));
}

StatusOr<Micros> PointInTime::TimeOf(uint64_t seq) {
  if (seq == 0) return Micros{0};
  std::lock_guard<std::mutex> lock(mu_);
  IAM_RETURN_IF_ERROR(ExtendLocked(seq));
  return times_[seq - 1];
}

PointInTime::Stats PointInTime::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Stats{builder_.last_seq, every_, snapshots_.size()};
}

}  // namespace iam::projections
