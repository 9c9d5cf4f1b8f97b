// The front door of projections: the in-memory read models folded from the
// log. One instance is the live state of a server; the replay tool folds
// into its own. Every lookup of the service is answered from here.
//
// Concurrency: one applier (the event store's writer thread, or the replay
// loop) and many readers. Apply takes the lock exclusively for the few
// microseconds one event needs; Read runs a function under a shared lock.
#ifndef IAMLEDGER_PROJECTIONS_PROJECTIONS_H_
#define IAMLEDGER_PROJECTIONS_PROJECTIONS_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/events.h"
#include "core/model.h"
#include "core/status.h"

namespace iam::projections {

// Everything a reader may look at.
struct View {
  IamState state;
  // Authentication index: value digest -> ids of tokens with that value
  // (client-supplied values need not be unique; generated ones are).
  std::unordered_map<std::string, std::vector<std::string>> tokens_by_digest;
  // History index: stream -> seqs of its events, ascending. Kept after the
  // object is deleted (auditing outlives the object).
  std::unordered_map<std::string, std::vector<uint64_t>> history;

  // The id of an active token whose value digest is `digest`, or null.
  const Token* ActiveTokenByDigest(std::string_view digest) const;
};

class Projections final : public EventSink {
 public:
  Projections() = default;
  Projections(const Projections&) = delete;
  Projections& operator=(const Projections&) = delete;

  // Folds one event (core's Evolve) and updates the indexes. Events must
  // come in seq order without gaps; an event that cannot apply is DataLoss
  // and changes nothing.
  Status Apply(const RecordedEvent& event) override;

  // Runs f(const View&) under the shared lock and returns its result. `f`
  // must not block or call back into this object.
  template <typename F>
  decltype(auto) Read(F&& f) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return f(static_cast<const View&>(view_));
  }

  uint64_t last_seq() const;

  // The snapshot of DESIGN.md §4: everything in the View at last_seq(), so
  // that start-up folds only the events after it. Format:
  //   "iamledger-snapshot/1" || u64le(len) || CanonicalEncoding(state)
  //   || u64le(streams) || { u64le(len) || stream || u64le(n) || n x u64le }
  // (tokens_by_digest is rebuilt from the tokens).
  // `seq`, when given, receives the seq the snapshot describes.
  std::string EncodeSnapshot(uint64_t* seq = nullptr) const;
  // Replaces the View with a snapshot's. kDataLoss when malformed; then the
  // View is unchanged.
  Status LoadSnapshot(std::string_view bytes);

 private:
  mutable std::shared_mutex mu_;
  View view_;
};

}  // namespace iam::projections

#endif  // IAMLEDGER_PROJECTIONS_PROJECTIONS_H_
