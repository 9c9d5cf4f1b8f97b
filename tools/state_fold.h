// The commands' fold of a log into a bare state: core's Evolve, the one fold
// of live writes, start-up and replay (the projections add only lookup
// indexes, which the state digest and a rebuilt state do not need).
#ifndef IAMLEDGER_TOOLS_STATE_FOLD_H_
#define IAMLEDGER_TOOLS_STATE_FOLD_H_

#include "core/events.h"
#include "core/model.h"

namespace iam::tools {

class StateFold final : public EventSink {
 public:
  Status Apply(const RecordedEvent& event) override {
    return Evolve(state_, event);
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
