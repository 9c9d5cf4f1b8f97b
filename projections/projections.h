// The front door of projections: the in-memory read models folded from the
// log. One instance is the live state of a server; the replay tool folds
// into its own. Every lookup of the service is answered from here.
//
// Concurrency: one applier at a time (the event store's committer: its writer
// thread or an inline Append; or the replay loop) and many readers. Apply takes
// the lock exclusively for the few microseconds one event needs; Read runs a
// function under a shared lock.
#ifndef IAMLEDGER_PROJECTIONS_PROJECTIONS_H_
#define IAMLEDGER_PROJECTIONS_PROJECTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
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

// Authentication index: value digest -> the tokens with that value (client-
// supplied values need not be unique; generated ones are). An open-
// addressing table of Token pointers into the View's state, keyed by the
// digest itself when it is 32 bytes (an HMAC-SHA256, always, outside tests),
// so a lookup reads one slot and then the token: no string map, no id map.
// The few digests that several tokens share keep their tokens in a side map,
// in id order. Maintained by Projections; a View copy rebuilds it.
class DigestIndex {
 public:
  DigestIndex() = default;
  DigestIndex(const DigestIndex&) = delete;  // it points into one state
  DigestIndex& operator=(const DigestIndex&) = delete;
  DigestIndex(DigestIndex&&) = default;
  DigestIndex& operator=(DigestIndex&&) = default;

  // `token` must stay where it is until Erase(token) (std::map nodes do).
  void Insert(const Token* token);
  void Erase(const Token* token);
  void Clear();
  // Refreshes what the entry of `token` keeps of it (active, expiry) after
  // the token changed in place.
  void Refresh(const Token* token);
  // The first token in id order among the active ones with `digest`.
  const Token* FindActive(std::string_view digest) const;

  // What authentication needs of the token with `digest`, read from its
  // entry alone when one token has the digest, its id is short
  // (kInlineId bytes at most) and it never expires: then a lookup touches
  // one cache line. Otherwise read from the token.
  static constexpr size_t kInlineId = 18;
  struct Found {
    const Token* token = nullptr;    // null: no active token has the digest
    std::string_view id;             // the token's id
    bool expires = false;            // the token has an expiry: check it
    uint32_t* usage_mark = nullptr;  // null when several tokens share it
  };
  Found FindForAuthentication(std::string_view digest) const;
  // Asks for the slot of `digest` ahead of an Insert.
  void Prefetch(std::string_view digest) const;

  // The index as the digest -> ids map it replaced (tests, diagnostics):
  // entries {digest, ids} in no particular order, ids ascending;
  // find(d)->second.front() is the first id.
  class Ids {
   public:
    const std::string& front() const;
    StringList list() const;
    bool empty() const { return false; }  // a digest is indexed with a token
    friend bool operator==(const Ids& a, const StringList& b) {
      return a.list() == b;
    }

   private:
    friend class DigestIndex;
    const DigestIndex* index_ = nullptr;
    size_t slot_ = 0;
  };
  struct Entry {
    std::string_view first;  // the digest
    Ids second;
  };
  class const_iterator {
   public:
    const Entry* operator->() const { return &entry_; }
    const Entry& operator*() const { return entry_; }
    const_iterator& operator++() {
      index_->Settle(*this, slot_ + 1);
      return *this;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.end_ == b.end_ && (a.end_ || a.slot_ == b.slot_);
    }

   private:
    friend class DigestIndex;
    const DigestIndex* index_ = nullptr;
    Entry entry_;
    size_t slot_ = 0;
    bool end_ = true;
  };
  const_iterator begin() const;
  const_iterator find(std::string_view digest) const;
  const_iterator end() const { return const_iterator(); }
  bool contains(std::string_view digest) const;
  StringList at(std::string_view digest) const;  // empty when absent
  size_t size() const { return used_; }          // distinct digests
  friend bool operator==(const DigestIndex& a, const DigestIndex& b);

 private:
  static constexpr size_t kKeySize = 32;
  // Low bits of Slot::token.
  static constexpr uintptr_t kExactKey = 1;  // key == the digest
  static constexpr uintptr_t kShared = 2;    // see shared_; token = first
  // Slot::flags.
  static constexpr uint8_t kActive = 1;   // first() is active
  static constexpr uint8_t kExpires = 2;  // first() has an expiry
  // One cache line: what authentication reads of a token, beside its key.
  struct alignas(64) Slot {
    uintptr_t token = 0;  // const Token* | flags; 0 = empty
    unsigned char key[kKeySize];
    // The token's usage mark (View::Authenticate), on the cache line
    // authentication loads anyway; zero when the slot is made, and again
    // whenever the token the slot names may change (a shared digest).
    mutable uint32_t usage_mark = 0;
    // Of first(), kept by Insert and Refresh (unused when shared).
    uint8_t flags = 0;
    uint8_t id_size = 0;  // > kInlineId: the id is not inline
    char id[kInlineId];
    const Token* first() const {
      return reinterpret_cast<const Token*>(token & ~(kExactKey | kShared));
    }
  };
  static_assert(sizeof(Slot) == 64);
  // Copies what the slot keeps of `token`.
  static void Describe(Slot& slot, const Token* token);
  struct Key {
    unsigned char bytes[kKeySize];
    bool exact;
  };
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  using SharedMap = std::unordered_map<std::string, std::vector<const Token*>,
                                       StringHash, std::equal_to<>>;

  static Key KeyOf(std::string_view digest);
  static size_t HomeOf(const unsigned char* key);
  // Slot numbers: [0, slots_.size()) the table, then the draining array.
  Slot& SlotAt(size_t i) {
    return i < slots_.size() ? slots_[i] : draining_[i - slots_.size()];
  }
  const Slot& SlotAt(size_t i) const {
    return i < slots_.size() ? slots_[i] : draining_[i - slots_.size()];
  }
  // The slot number holding `digest`, or npos.
  size_t FindSlot(std::string_view digest, const Key& key) const;
  std::string_view DigestOf(const Slot& slot) const;
  // Growth is incremental, as StringMap's (core/model.h): at 3/4 full the
  // table becomes the draining array, a table twice the size takes over, and
  // every insertion moves the next kMovesPerInsert draining slots over;
  // lookups look in both meanwhile. A moved slot is a tombstone (kMoved).
  void StartGrowing();
  void MoveSome();
  void MoveOver(Slot& from);
  // Into the table (it has a free slot).
  void Place(const Slot& slot);
  void RemoveSlot(size_t i);
  // Points `it` at the first used slot from `slot` on, or makes it end().
  void Settle(const_iterator& it, size_t slot) const;

  // Zeroed slots from the current LargeMemory (core/model.h; huge pages in
  // the server): at a million tokens a lookup misses the cache once, and the
  // TLB not at all. A new table touches none of its memory up front.
  using SlotArray = ZeroedArray<Slot>;
  // Prepare was called for the table the next growth makes.
  bool next_prepared_ = false;

  static constexpr size_t npos = ~size_t{0};
  static constexpr uintptr_t kMoved = kExactKey | kShared;  // no token
  static constexpr size_t kMovesPerInsert = 8;
  SlotArray slots_;  // a power of two, at most 3/4 used
  // The table before the last growth while its slots move over: [0,
  // drained_) moved; draining_used_ digests left. Empty when not growing.
  SlotArray draining_;
  size_t drained_ = 0;
  size_t draining_used_ = 0;
  size_t used_ = 0;   // distinct digests, in both
  SharedMap shared_;  // digest -> tokens by id, for digests held by >= 2
};

// Everything a reader may look at.
struct View {
  View() = default;
  // Copies rebuild tokens_by_digest, which points into `state`.
  View(const View& other);
  View& operator=(const View& other);
  View(View&&) = default;
  View& operator=(View&&) = default;

  IamState state;
  DigestIndex tokens_by_digest;
  // History index: stream -> seqs of its events, ascending. Kept after the
  // object is deleted (auditing outlives the object).
  StringMap<std::vector<uint64_t>> history;

  // Rotated tokens' previous value digests -> the token (core/lifecycle.h:
  // usable only within the grace). An entry stays until the token rotates
  // again or is deleted; few tokens are in a grace at once.
  std::unordered_map<std::string, const Token*> previous_digests;

  // An active token whose value digest is `digest`, or null.
  const Token* ActiveTokenByDigest(std::string_view digest) const {
    return tokens_by_digest.FindActive(digest);
  }
  // The token that `digest` authenticates at `now` (core/lifecycle.h: active
  // and unexpired, by its value or by its previous value within the
  // rotation grace), or null.
  const Token* UsableTokenByDigest(const std::string& digest, Micros now) const;

  // UsableTokenByDigest with what authentication needs, in the common case
  // (a generated value, a short id, no expiry) from the one cache line of
  // its digest index entry, without touching the token: its id, and its
  // usage mark, a 32-bit word for the caller's usage bookkeeping
  // (eventstore::UsageStore::Touch with a mark), so that a token used
  // recently costs authentication no further memory access. `usage_mark`
  // is null when the token has none (authenticated by its previous value,
  // or sharing its value with other tokens); it is zero in a new entry,
  // may be read and written (std::atomic_ref, any order) by concurrent
  // readers, and is valid only until the Read that found it returns.
  // Projections never interprets it. `id` is valid as long.
  struct Authenticated {
    const Token* token = nullptr;
    std::string_view id;  // token->id
    uint32_t* usage_mark = nullptr;
  };
  Authenticated Authenticate(std::string_view digest, Micros now) const;

 private:
  void RebuildPrevious();
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
  // The same for a batch: the lock is taken once per few hundred events, and
  // the hash table slots of later events are requested ahead.
  Status ApplyBatch(const RecordedEvent* events, size_t n) override;

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
  // Apply with mu_ held exclusively.
  Status ApplyLocked(const RecordedEvent& event);
  // Asks for the cache lines of the slots `event` will update.
  void Prefetch(const RecordedEvent& event) const;

  mutable std::shared_mutex mu_;
  View view_;
};

}  // namespace iam::projections

#endif  // IAMLEDGER_PROJECTIONS_PROJECTIONS_H_
