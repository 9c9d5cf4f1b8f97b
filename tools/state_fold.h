// The commands' fold of a log into a bare state: core's Evolve, the one fold
// of live writes, start-up and replay (the projections add only lookup
// indexes, which the state digest and a rebuilt state do not need).
#ifndef IAMLEDGER_TOOLS_STATE_FOLD_H_
#define IAMLEDGER_TOOLS_STATE_FOLD_H_

#include <algorithm>
#include <cstddef>

#include "core/events.h"
#include "core/model.h"

namespace iam::tools {

class StateFold final : public EventSink {
 public:
  Status Apply(const RecordedEvent& event) override {
    return Evolve(state_, event);
  }
  // Asks for the stream-version slot of event i + 8 and then, at i + 4,
  // for its key's bytes while event i folds (at a million streams each is a
  // cache miss).
  Status ApplyBatch(const RecordedEvent* events, size_t n) override {
    constexpr size_t kSlotAhead = 8, kKeyAhead = 4;
    auto& versions = state_.stream_versions;
    for (size_t i = 0; i < std::min(n, kSlotAhead); ++i) {
      versions.Prefetch(events[i].stream);
    }
    for (size_t i = 0; i < n; ++i) {
      if (i + kSlotAhead < n) versions.Prefetch(events[i + kSlotAhead].stream);
      if (i + kKeyAhead < n) {
        versions.PrefetchStoredKey(events[i + kKeyAhead].stream);
      }
      IAM_RETURN_IF_ERROR(Evolve(state_, events[i]));
    }
    return OkStatus();
  }
  const IamState& state() const { return state_; }

 private:
  IamState state_;
};

// A fold that is never freed: a command exits right after printing, and
// tearing down millions of entries would only cost time. One per process.
inline StateFold& NewFold() {
  static StateFold* const fold = new StateFold;
  return *fold;
}

}  // namespace iam::tools

#endif  // IAMLEDGER_TOOLS_STATE_FOLD_H_
