#include "projections/point_in_time.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <variant>

#include "core/authorize.h"

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

PointInTime::~PointInTime() {
  {
    std::lock_guard<std::mutex> lock(retire_mu_);
    stopping_ = true;
  }
  retire_cv_.notify_one();
  if (reclaimer_.joinable()) reclaimer_.join();
}

void PointInTime::Retire(std::shared_ptr<const IamState> state) {
  if (state == nullptr || state.use_count() > 1) return;  // still in use
  std::lock_guard<std::mutex> lock(retire_mu_);
  retired_.push_back(std::move(state));
  if (!reclaimer_.joinable()) {
    reclaimer_ = std::thread([this] { ReclaimLoop(); });
  }
  retire_cv_.notify_one();
}

void PointInTime::ReclaimLoop() {
  std::unique_lock<std::mutex> lock(retire_mu_);
  for (;;) {
    retire_cv_.wait(lock, [&] { return stopping_ || !retired_.empty(); });
    std::vector<std::shared_ptr<const IamState>> batch;
    batch.swap(retired_);
    if (batch.empty() && stopping_) return;
    lock.unlock();
    batch.clear();  // the states are freed here, outside every lock
    lock.lock();
  }
}

Status PointInTime::ExtendLocked(uint64_t to, bool to_end) {
  if (to <= builder_.last_seq) return OkStatus();
  FoldSink sink(builder_, [this](const RecordedEvent& e) {
    times_.push_back(e.recorded_at);
    history_[e.stream].push_back(e.seq);
    const StringList* named = nullptr;
    if (const auto* m = std::get_if<PolicyMembersAdded>(&e.event)) {
      named = &m->members;
    } else if (const auto* m = std::get_if<PolicyMembersRemoved>(&e.event)) {
      named = &m->members;
    }
    if (named != nullptr) {
      member_changes_.push_back(*named);
      change_of_.push_back(static_cast<uint32_t>(member_changes_.size()));
    } else {
      change_of_.push_back(0);
    }
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
    // The end of the timeline: copied once per end (diffs and queries at
    // "now" keep asking for it).
    if (end_ == nullptr || end_->last_seq != seq) end_ = CopyForAudit(builder_);
    *exact = end_;
    return std::shared_ptr<const IamState>();
  }
  auto it = std::upper_bound(
      snapshots_.begin(), snapshots_.end(), seq,
      [](uint64_t s, const auto& snap) { return s < snap->last_seq; });
  if (it == snapshots_.begin()) return std::shared_ptr<const IamState>();
  if ((*std::prev(it))->last_seq == seq) {  // a snapshot is the answer
    *exact = *std::prev(it);
    return std::shared_ptr<const IamState>();
  }
  return *std::prev(it);
}

StatusOr<std::shared_ptr<const IamState>> PointInTime::StateAt(uint64_t seq) {
  std::shared_ptr<const IamState> base, exact;
  {
    std::lock_guard<std::mutex> lock(mu_);
    IAM_ASSIGN_OR_RETURN(base, BaseLocked(seq, &exact));
  }
  if (exact != nullptr) return exact;
  std::shared_ptr<IamState> state;
  {
    std::lock_guard<std::mutex> lock(mu_);
    state = std::move(spare_);
    if (state != nullptr) ++reused_answers_;
  }
  if (state == nullptr) {
    state = base != nullptr ? std::make_shared<IamState>(*base)
                            : std::make_shared<IamState>();
  } else if (base != nullptr) {
    *state = *base;  // the StringMaps reuse the spare's keys and values
  } else {
    *state = IamState();
  }
  if (state->last_seq < seq) {
    FoldSink sink(*state, nullptr);
    IAM_RETURN_IF_ERROR(reader_(state->last_seq, seq, &sink));
    if (state->last_seq != seq) return PastTheEnd(seq, state->last_seq);
    state->stream_versions = StringMap<uint64_t>();  // as in every snapshot
  }
  std::shared_ptr<IamState> replaced;
  {
    std::lock_guard<std::mutex> lock(mu_);
    replaced = std::exchange(last_.second, state);
    last_.first = seq;
  }
  // The answer it replaced becomes the spare when no caller holds it any
  // more: no one can get it again, so it is ours to overwrite (the fence
  // orders our writes after the last holder's reads).
  if (replaced != nullptr && replaced.use_count() == 1) {
    std::atomic_thread_fence(std::memory_order_acquire);
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_ == nullptr) spare_ = std::move(replaced);
  }
  Retire(std::move(replaced));
  return std::shared_ptr<const IamState>(std::move(state));
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
  state->partial_member_index = true;  // only the subject's and wildcards'
  if (base != nullptr) {
    const IamState& b = *base;
    // The policies authorizing `subject` reads: those with a member
    // matching it, through its exact entry and the wildcard entries. Every
    // other policy is copied from the base only when an event of the fold
    // touches it (below), so a check does not copy all policies.
    auto copy_policy = [&](const std::string& id) {
      if (auto it = b.policies.find(id); it != b.policies.end()) {
        state->policies.insert(*it);
      }
    };
    if (auto it = b.policies_by_member.find(subject);
        it != b.policies_by_member.end()) {
      state->policies_by_member[subject] = it->second;
      for (const auto& ref : it->second) copy_policy(ref.id);
    }
    state->policies_by_wildcard_member = b.policies_by_wildcard_member;
    for (const auto& [member, refs] : b.policies_by_wildcard_member) {
      for (const auto& ref : refs) copy_policy(ref.id);
    }
    state->roles = b.roles;
    state->compiled_roles = b.compiled_roles;
    state->projects = b.projects;
    state->project_index = b.project_index;
    if (!own_stream.empty()) {
      if (auto it = b.tokens.find(own_stream.substr(6)); it != b.tokens.end()) {
        state->tokens.insert(*it);
      }
    }
    state->last_seq = b.last_seq;
    state->last_recorded_at = b.last_recorded_at;
    state->ledger_id = b.ledger_id;
  }
  // Other tokens' events are skipped, and so are the member changes of a
  // policy the state does not hold that name no member matching `subject`
  // (they change who else the policy names, which authorizing `subject`
  // never reads). Everything else is folded; a policy the base holds and
  // the state does not is copied in from the base before its first event
  // that is folded (its statements are then exactly as in the base; its
  // member list may lack changes about other members, which no check of
  // `subject` reads).
  class SubjectSink final : public EventSink {
   public:
    SubjectSink(IamState& s, const IamState* base, const std::string& subject,
                const std::string& own)
        : s_(s), base_(base), subject_(subject), own_(own) {}
    Status Apply(const RecordedEvent& e) override {
      if (e.stream.starts_with("token/") && e.stream != own_) return Skip(e);
      if (e.stream.starts_with("policy/")) {
        const std::string_view id = std::string_view(e.stream).substr(7);
        if (!s_.policies.contains(std::string(id))) {
          const StringList* named = nullptr;
          if (const auto* a = std::get_if<PolicyMembersAdded>(&e.event)) {
            named = &a->members;
          } else if (const auto* r =
                         std::get_if<PolicyMembersRemoved>(&e.event)) {
            named = &r->members;
          }
          if (named != nullptr) {
            bool matches = false;
            for (const auto& m : *named) {
              matches = matches || MemberMatches(m, subject_);
            }
            if (!matches) return Skip(e);
          }
          if (seen_.emplace(id).second && base_ != nullptr) {
            if (auto it = base_->policies.find(std::string(id));
                it != base_->policies.end()) {
              s_.policies.insert(*it);
            }
          }
        } else {
          seen_.emplace(id);
        }
      }
      return fold_.Apply(e);
    }

   private:
    Status Skip(const RecordedEvent& e) {
      if (e.seq != s_.last_seq + 1) return fold_.Apply(e);  // names the gap
      s_.last_seq = e.seq;
      s_.last_recorded_at = e.recorded_at;
      return OkStatus();
    }
    IamState& s_;
    const IamState* base_;
    const std::string& subject_;
    const std::string& own_;
    // Policies the fold has folded an event of (copied in, created or
    // deleted): never copied from the base again.
    std::set<std::string, std::less<>> seen_;
    FoldSink fold_{s_, nullptr};
  } sink(*state, base.get(), subject, own_stream);
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

const StringList* PointInTime::MemberChangeAt(uint64_t seq) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (seq == 0 || seq > change_of_.size() || change_of_[seq - 1] == 0) {
    return nullptr;
  }
  return &member_changes_[change_of_[seq - 1] - 1];
}

StatusOr<Micros> PointInTime::TimeOf(uint64_t seq) {
  if (seq == 0) return Micros{0};
  std::lock_guard<std::mutex> lock(mu_);
  IAM_RETURN_IF_ERROR(ExtendLocked(seq));
  return times_[seq - 1];
}

PointInTime::Stats PointInTime::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Stats{builder_.last_seq, every_, snapshots_.size(), reused_answers_};
}

}  // namespace iam::projections
