// The IAM state that events fold into: tokens, policies, roles and projects,
// with the indexes that decisions and authorization need. Evolve() is the one
// fold used by live writes, start-up and replay (core/evolve.cc).
//
// Contract: IamState is a plain value; it is not thread-safe. The projections
// layer owns the live instance and guards it.
#ifndef IAMLEDGER_CORE_MODEL_H_
#define IAMLEDGER_CORE_MODEL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <new>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/events.h"

namespace iam {

struct Token {
  std::string id;
  std::string name;
  bool active = true;
  StringList projects;
  std::string value_digest;  // HMAC index of the value (never the value)
  std::string sealed_value;  // encrypted value; opened with the data key
  Micros created_at = 0;
  Micros updated_at = 0;
  uint64_t version = 0;  // stream version, the ETag
  // Token lifecycle (core/lifecycle.h); all zero/empty for a token that
  // never used it.
  Micros expires_at = 0;  // 0: never; else authenticates only before it
  // After a rotation: the previous value's digest, which authenticates
  // only before previous_value_expires_at.
  std::string previous_value_digest;
  Micros previous_value_expires_at = 0;
  friend bool operator==(const Token&, const Token&) = default;
};

struct Policy {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList members;  // in insertion order
  std::vector<Statement> statements;
  StringList projects;
  uint64_t version = 0;
  friend bool operator==(const Policy&, const Policy&) = default;
};

struct Role {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  StringList actions;
  StringList projects;
  uint64_t version = 0;
  friend bool operator==(const Role&, const Role&) = default;
};

struct Project {
  std::string id;
  std::string name;
  PolicyType type = PolicyType::kCustom;
  uint64_t version = 0;
  friend bool operator==(const Project&, const Project&) = default;
};

// Memory for large arrays of derived state (hash table slots: StringMap's,
// the digest index of projections). Core is std-only, so its own is
// std::operator new; a process installs a better one from outside core with
// SetLargeMemory (eventstore/large_memory.h: blocks of 2 MiB or more mapped
// on their own and offered to the kernel for huge pages, so that random
// lookups in a table of a million entries miss the TLB rarely).
class LargeMemory {
 public:
  virtual ~LargeMemory() = default;
  // `bytes` of zero-filled memory aligned to 64 bytes (a cache line) at
  // least; throws std::bad_alloc. A large block may be mapped lazily: each
  // page then costs its zeroing when first touched (unless Prepare readied
  // it), so asking for a big table costs nothing up front.
  virtual void* Allocate(size_t bytes) = 0;
  // Frees what Allocate(bytes) of this object returned (p may be null).
  virtual void Free(void* p, size_t bytes) = 0;
  // A hint: Allocate(bytes) will be called soon (a table 5/8 full names
  // the size it grows to at 3/4). An implementation may ready such a block
  // on a thread of its own (map it, touch its pages), so that the growth
  // does not pay for zeroing tens of MB on the caller's thread. The default
  // does nothing.
  virtual void Prepare(size_t bytes) { (void)bytes; }
};
// The std-only LargeMemory (operator new and delete). Never destroyed.
LargeMemory* StdLargeMemory();
// The LargeMemory of arrays allocated from now on (StdLargeMemory() until
// SetLargeMemory); an array is always freed by the one that allocated it,
// so a switch is safe at any time. `memory` must outlive every array it
// allocates (in practice: a static object, installed at the top of main).
LargeMemory* CurrentLargeMemory();
void SetLargeMemory(LargeMemory* memory);

// n slots of T, all bytes zero (T's empty slot), from the LargeMemory
// current when the array was made, which also frees it: the slot arrays of
// the open-addressing tables (StringMap, projections' DigestIndex). Making
// one touches none of its memory; T is trivially copyable and destructible
// (a table constructs and destroys what its slots hold itself). Move-only.
template <typename T>
class ZeroedArray {
  static_assert(std::is_trivially_copyable_v<T> &&
                std::is_trivially_destructible_v<T>);

 public:
  ZeroedArray() = default;
  explicit ZeroedArray(size_t n) : memory_(CurrentLargeMemory()), size_(n) {
    if (n > 0) data_ = static_cast<T*>(memory_->Allocate(n * sizeof(T)));
  }
  ZeroedArray(ZeroedArray&& other) noexcept { Swap(other); }
  ZeroedArray& operator=(ZeroedArray&& other) noexcept {
    ZeroedArray(std::move(other)).Swap(*this);
    return *this;
  }
  ZeroedArray(const ZeroedArray&) = delete;
  ZeroedArray& operator=(const ZeroedArray&) = delete;
  ~ZeroedArray() {
    if (data_ != nullptr) memory_->Free(data_, size_ * sizeof(T));
  }
  // The rule of both open-addressing tables: once `used` of this array's
  // slots pass 5/8 (their growth comes at 3/4, 1/8 of the size in
  // insertions later), names the array of twice the size to the current
  // LargeMemory's Prepare, once: `*named` remembers, and the table clears
  // it when it grows.
  void NameNextWhenDue(size_t used, bool* named) const {
    if (*named || 8 * used <= 5 * size_) return;
    CurrentLargeMemory()->Prepare(2 * size_ * sizeof(T));
    *named = true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  void Swap(ZeroedArray& other) {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(memory_, other.memory_);
  }
  T* data_ = nullptr;
  LargeMemory* memory_ = nullptr;  // data_'s, when not null
  size_t size_ = 0;
};

// A hash map from short strings (stream names) to V: open addressing with
// linear probing over one array of {hash, key, value} slots, so a lookup
// costs one cache miss where a node-based map costs three. The subset of the
// std::unordered_map interface iamledger uses; iteration order is
// unspecified, and iterators and references are invalidated by insertion
// and erasure.
//
// Growth is incremental, so that no insertion pays for the whole table: at
// 3/4 full the slots move to a `draining` array and a table twice the size
// starts empty; every insertion then moves the next kMovesPerInsert draining
// slots over, and lookups look in both until the draining array is empty
// (well before the new table is 3/4 full). A slot moved out of the draining
// array keeps probe runs intact as a tombstone (hash kMoved).
template <typename V>
class StringMap {
  struct Slot;

 public:
  using key_type = std::string;
  using mapped_type = V;
  using value_type = std::pair<std::string, V>;  // never change `first`

  template <bool kConst>
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = StringMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<kConst, const value_type*, value_type*>;
    using reference =
        std::conditional_t<kConst, const value_type&, value_type&>;
    Iterator() = default;
    reference operator*() const { return slot_->kv(); }
    pointer operator->() const { return &slot_->kv(); }
    Iterator& operator++() {
      ++slot_;
      Settle();
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) {
      return a.slot_ == b.slot_;
    }

   private:
    friend class StringMap;
    using SlotPtr = std::conditional_t<kConst, const Slot*, Slot*>;
    // [slot, end) first, then [next, next_end) (the draining array).
    Iterator(SlotPtr slot, SlotPtr end, SlotPtr next = nullptr,
             SlotPtr next_end = nullptr)
        : slot_(slot), end_(end), next_(next), next_end_(next_end) {
      Settle();
    }
    void Settle() {
      for (;;) {
        while (slot_ != end_ && !Used(slot_->hash)) ++slot_;
        if (slot_ != end_ || next_ == next_end_) return;
        slot_ = next_;
        end_ = next_end_;
        next_ = next_end_ = nullptr;
      }
    }
    SlotPtr slot_ = nullptr;
    SlotPtr end_ = nullptr;
    SlotPtr next_ = nullptr;
    SlotPtr next_end_ = nullptr;
  };
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

  StringMap() = default;
  StringMap(const StringMap& other) { CopyFrom(other); }
  // Copies `other`; when both tables have the same layout (slot and
  // draining arrays of the same sizes: two states of one log usually do)
  // entry by entry in place, so keys and values reuse what they hold (a
  // recycled audit state: projections/point_in_time.h).
  StringMap& operator=(const StringMap& other) {
    if (this == &other) return *this;
    if (slots_.size() != other.slots_.size() ||
        draining_.size() != other.draining_.size()) {
      StringMap copy(other);
      Swap(copy);
      return *this;
    }
    AssignSlots(slots_, other.slots_);
    AssignSlots(draining_, other.draining_);
    CopyCounts(other);
    return *this;
  }
  StringMap(StringMap&& other) noexcept { Swap(other); }
  StringMap& operator=(StringMap&& other) noexcept {
    StringMap taken(std::move(other));
    Swap(taken);
    return *this;
  }
  ~StringMap() {
    DestroyLive(slots_);
    DestroyLive(draining_);
  }

  iterator begin() { return MakeIterator<iterator>(this, Slots()); }
  iterator end() { return MakeIterator<iterator>(this, nullptr); }
  const_iterator begin() const {
    return MakeIterator<const_iterator>(this, Slots());
  }
  const_iterator end() const {
    return MakeIterator<const_iterator>(this, nullptr);
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear() { StringMap().Swap(*this); }
  void reserve(size_t n) {
    size_t want = 16;
    while (want * 3 < n * 4) want *= 2;
    if (want <= slots_.size()) return;
    FinishDraining();
    Rehash(want);
  }

  iterator find(std::string_view key) {
    return At<iterator>(this, Locate(key, Hash(key)));
  }
  const_iterator find(std::string_view key) const {
    return At<const_iterator>(this, Locate(key, Hash(key)));
  }
  bool contains(std::string_view key) const {
    return Locate(key, Hash(key)) != nullptr;
  }
  size_t count(std::string_view key) const { return contains(key) ? 1 : 0; }
  V& at(std::string_view key) {
    Slot* s = const_cast<Slot*>(Locate(key, Hash(key)));
    if (s == nullptr) throw std::out_of_range("StringMap::at");
    return s->kv().second;
  }
  const V& at(std::string_view key) const {
    const Slot* s = Locate(key, Hash(key));
    if (s == nullptr) throw std::out_of_range("StringMap::at");
    return s->kv().second;
  }
  // Asks for the cache line where `key` is or would go, ahead of a lookup
  // or insertion (which then does not wait for memory).
  void Prefetch(std::string_view key) const {
    const uint64_t hash = Hash(key);
    if (!slots_.empty()) {
      __builtin_prefetch(&slots_[hash & (slots_.size() - 1)], 1);
    }
    if (!draining_.empty()) {
      __builtin_prefetch(&draining_[hash & (draining_.size() - 1)], 1);
    }
  }

  // Later than Prefetch(key), once its line has come: asks for the bytes
  // of the key held in `key`'s home slot, which a lookup compares (a key
  // longer than std::string's inline buffer lives elsewhere).
  void PrefetchStoredKey(std::string_view key) const {
    const uint64_t hash = Hash(key);
    if (slots_.empty()) return;
    const Slot& s = slots_[hash & (slots_.size() - 1)];
    if (s.hash == hash) __builtin_prefetch(s.kv().first.data());
  }

  // The value of `key`, inserted value-initialized when absent.
  V& operator[](std::string_view key) {
    const uint64_t hash = Hash(key);
    if (Slot* s = const_cast<Slot*>(Locate(key, hash))) return s->kv().second;
    if (4 * (SizeInSlots() + 1) > 3 * slots_.size()) StartGrowing();
    Slot& s = slots_[FreeSlot(hash)];
    ::new (static_cast<void*>(s.raw))
        value_type(std::piecewise_construct, std::forward_as_tuple(key),
                   std::forward_as_tuple());
    s.hash = hash;
    ++size_;
    MoveSome();
    slots_.NameNextWhenDue(SizeInSlots(), &next_prepared_);
    return s.kv().second;
  }

  // Removes the entry `it` points at; other iterators are invalidated.
  void erase(iterator it) {
    Slot* slot = it.slot_;
    --size_;
    if (!slots_.empty() && slot >= Slots() && slot < Slots() + slots_.size()) {
      EraseFromSlots(static_cast<size_t>(slot - Slots()));
      return;
    }
    // In the draining array: a tombstone keeps the runs through it.
    Destroy(*slot, kMoved);
    --draining_size_;
  }
  size_t erase(std::string_view key) {
    auto it = find(key);
    if (it == end()) return 0;
    erase(it);
    return 1;
  }

  friend bool operator==(const StringMap& a, const StringMap& b) {
    if (a.size_ != b.size_) return false;
    for (const auto& [key, value] : a) {
      const Slot* s = b.Locate(key, Hash(key));
      if (s == nullptr || !(s->kv().second == value)) return false;
    }
    return true;
  }

 private:
  // All bytes zero: empty. kv is alive exactly while Used(hash): the table
  // constructs it on insertion and destroys it on erasure or when it moves
  // out, so a new table is a ZeroedArray that nothing touches up front.
  struct Slot {
    uint64_t hash;  // 0: empty; kMoved: a tombstone (Hash: odd values)
    alignas(value_type) unsigned char raw[sizeof(value_type)];
    value_type& kv() {
      return *std::launder(reinterpret_cast<value_type*>(raw));
    }
    const value_type& kv() const {
      return *std::launder(reinterpret_cast<const value_type*>(raw));
    }
  };
  using SlotArray = ZeroedArray<Slot>;
  // Moves the entry of `from` into the empty slot `to`; `from` is left
  // without one, marked `left`.
  static void MoveInto(Slot& to, Slot& from, uint64_t left) {
    ::new (static_cast<void*>(to.raw)) value_type(std::move(from.kv()));
    to.hash = from.hash;
    Destroy(from, left);
  }
  // Ends the life of the slot's entry; the slot becomes `left` (0: empty,
  // kMoved: a tombstone).
  static void Destroy(Slot& slot, uint64_t left) {
    slot.kv().~value_type();
    slot.hash = left;
  }
  static void DestroyLive(SlotArray& slots) {
    if (std::is_trivially_destructible_v<value_type>) return;
    for (Slot& s : slots) {
      if (Used(s.hash)) s.kv().~value_type();
    }
  }
  // The same slots as `other` (entries copied in place, tombstones kept).
  void CopyFrom(const StringMap& other) {
    auto copy = [](const SlotArray& from) {
      SlotArray to(from.size());
      for (size_t i = 0; i < from.size(); ++i) {
        if (Used(from[i].hash)) {
          ::new (static_cast<void*>(to[i].raw)) value_type(from[i].kv());
        }
        to[i].hash = from[i].hash;
      }
      return to;
    };
    slots_ = copy(other.slots_);
    draining_ = copy(other.draining_);
    CopyCounts(other);
  }
  // Everything but the slots: the growth's progress and the sizes.
  void CopyCounts(const StringMap& other) {
    drained_ = other.drained_;
    draining_size_ = other.draining_size_;
    size_ = other.size_;
    next_prepared_ = other.next_prepared_;
  }
  // `to` becomes slot for slot what `from` is (arrays of one size).
  static void AssignSlots(SlotArray& to, const SlotArray& from) {
    for (size_t i = 0; i < from.size(); ++i) {
      const bool live = Used(to[i].hash);
      if (Used(from[i].hash)) {
        if (live) {
          to[i].kv().first = from[i].kv().first;
          to[i].kv().second = from[i].kv().second;
        } else {
          ::new (static_cast<void*>(to[i].raw)) value_type(from[i].kv());
        }
      } else if (live) {
        to[i].kv().~value_type();
      }
      to[i].hash = from[i].hash;
    }
  }
  void Swap(StringMap& other) noexcept {
    std::swap(slots_, other.slots_);
    std::swap(draining_, other.draining_);
    std::swap(drained_, other.drained_);
    std::swap(draining_size_, other.draining_size_);
    std::swap(size_, other.size_);
    std::swap(next_prepared_, other.next_prepared_);
  }
  static constexpr uint64_t kMoved = 2;
  // Draining slots moved per insertion: the draining array (half the new
  // table's size) is empty after draining.size() / kMovesPerInsert
  // insertions, when the new table is at most 7/16 full.
  static constexpr size_t kMovesPerInsert = 8;
  static bool Used(uint64_t hash) { return hash != 0 && hash != kMoved; }

  static uint64_t Hash(std::string_view key) {
    // 8 bytes at a time, a multiply-xorshift mix per word.
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ key.size();
    const char* p = key.data();
    size_t n = key.size();
    auto mix = [](uint64_t x) {
      x ^= x >> 32;
      x *= 0xd6e8feb86659fd93ULL;
      x ^= x >> 32;
      return x;
    };
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = mix(h ^ w) * 0x9e3779b97f4a7c15ULL;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; ++i) {
      w |= uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    }
    h = mix(mix(h ^ w) * 0xd6e8feb86659fd93ULL);
    return h | 1;  // never 0 or kMoved
  }
  Slot* Slots() { return slots_.data(); }
  const Slot* Slots() const { return slots_.data(); }

  // begin (`first` = Slots()) or end (`first` = null) of `self`.
  template <typename It, typename Self>
  static It MakeIterator(Self* self, decltype(self->Slots()) first) {
    auto* s = self->slots_.data();
    auto* s_end = s + self->slots_.size();
    auto* d = self->draining_.data();
    auto* d_end = d + self->draining_.size();
    if (first == nullptr) {  // end(): past the last array iterated
      return self->draining_.empty() ? It(s_end, s_end) : It(d_end, d_end);
    }
    return It(s, s_end, d, d_end);
  }
  // An iterator at `slot` (null: end()).
  template <typename It, typename Self>
  static It At(Self* self, const Slot* slot) {
    using Ptr = decltype(self->Slots());
    Ptr p = const_cast<Ptr>(slot);
    if (p == nullptr) return MakeIterator<It>(self, nullptr);
    auto* s = self->slots_.data();
    auto* s_end = s + self->slots_.size();
    if (!self->slots_.empty() && p >= s && p < s_end) {
      auto* d = self->draining_.data();
      return It(p, s_end, d, d + self->draining_.size());
    }
    auto* d_end = self->draining_.data() + self->draining_.size();
    return It(p, d_end);
  }

  // The slot holding `key` (in the table or the draining array), or null.
  const Slot* Locate(std::string_view key, uint64_t hash) const {
    if (const Slot* s = FindIn(slots_, key, hash)) return s;
    return draining_.empty() ? nullptr : FindIn(draining_, key, hash);
  }
  static const Slot* FindIn(const SlotArray& slots, std::string_view key,
                            uint64_t hash) {
    if (slots.empty()) return nullptr;
    const size_t mask = slots.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.hash == 0) return nullptr;
      if (s.hash == hash && s.kv().first == key) return &s;
    }
  }
  size_t FreeSlot(uint64_t hash) const {
    const size_t mask = slots_.size() - 1;
    size_t i = hash & mask;
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    return i;
  }
  // Entries in slots_ (the rest of size_ is still draining).
  size_t SizeInSlots() const { return size_ - draining_size_; }

  // Backward-shift deletion: later slots of the run move into the gap when
  // their home is not between the gap and themselves.
  void EraseFromSlots(size_t gap) {
    const size_t mask = slots_.size() - 1;
    Destroy(slots_[gap], 0);
    for (size_t i = (gap + 1) & mask; slots_[i].hash != 0; i = (i + 1) & mask) {
      const size_t home = slots_[i].hash & mask;
      if (((i - home) & mask) >= ((i - gap) & mask)) {
        MoveInto(slots_[gap], slots_[i], 0);
        gap = i;
      }
    }
  }

  // slots_ becomes the draining array; a table twice its size takes over.
  void StartGrowing() {
    FinishDraining();
    const size_t capacity = slots_.empty() ? 16 : 2 * slots_.size();
    draining_size_ = size_;
    draining_ = std::move(slots_);
    drained_ = 0;
    slots_ = SlotArray(capacity);
    next_prepared_ = false;
    if (draining_size_ == 0) draining_ = SlotArray();
  }
  // Moves the next kMovesPerInsert slots of the draining array over.
  void MoveSome() {
    if (draining_.empty()) return;
    const size_t stop = std::min(draining_.size(), drained_ + kMovesPerInsert);
    for (; drained_ < stop; ++drained_) MoveOver(draining_[drained_]);
    if (drained_ == draining_.size() || draining_size_ == 0) {
      draining_ = SlotArray();
      draining_size_ = 0;
      drained_ = 0;
    }
  }
  void FinishDraining() {
    for (; drained_ < draining_.size(); ++drained_) {
      MoveOver(draining_[drained_]);
    }
    draining_ = SlotArray();
    draining_size_ = 0;
    drained_ = 0;
  }
  void MoveOver(Slot& from) {
    if (!Used(from.hash)) return;
    MoveInto(slots_[FreeSlot(from.hash)], from, kMoved);
    --draining_size_;
  }
  void Rehash(size_t capacity) {
    SlotArray old = std::move(slots_);
    slots_ = SlotArray(capacity);
    next_prepared_ = false;
    for (Slot& s : old) {
      if (Used(s.hash)) MoveInto(slots_[FreeSlot(s.hash)], s, 0);
    }
  }

  // A power of two in size, at most 3/4 used.
  SlotArray slots_;
  // The table before the last growth, while its entries move over: slots
  // [0, drained_) are moved (tombstones or empty); draining_size_ entries
  // are left in it. Empty when no growth is under way.
  SlotArray draining_;
  size_t drained_ = 0;
  size_t draining_size_ = 0;
  size_t size_ = 0;  // in both arrays
  // Prepare was called for the table the next growth makes.
  bool next_prepared_ = false;
};

// The evaluation forms of authorization (core/authorize.cc), derived from
// the state by Evolve and immutable: a role's actions, and a stored policy's
// statements with what authorization needs precomputed and the roles they
// name resolved (through IamState::compiled_roles). Evolve compiles a policy
// again when its statements change or a role it names is created, updated
// or deleted.
struct CompiledActions;
struct CompiledPolicy;
struct IamState;
std::shared_ptr<const CompiledActions> CompileActions(
    const StringList& actions);
std::shared_ptr<const CompiledPolicy> CompilePolicy(const Policy& policy,
                                                    const IamState& state);

// Role id -> the role's actions compiled. Derived from IamState::roles;
// equal when naming the same roles (the compiled forms follow from them).
class CompiledRoles {
 public:
  std::shared_ptr<const CompiledActions> find(std::string_view id) const {
    auto it = roles_.find(id);
    return it == roles_.end() ? nullptr : it->second;
  }
  void insert_or_assign(const std::string& id,
                        std::shared_ptr<const CompiledActions> actions) {
    roles_.insert_or_assign(id, std::move(actions));
  }
  void erase(const std::string& id) { roles_.erase(id); }
  size_t size() const { return roles_.size(); }
  friend bool operator==(const CompiledRoles& a, const CompiledRoles& b) {
    return std::equal(
        a.roles_.begin(), a.roles_.end(), b.roles_.begin(), b.roles_.end(),
        [](const auto& x, const auto& y) { return x.first == y.first; });
  }

 private:
  std::map<std::string, std::shared_ptr<const CompiledActions>, std::less<>>
      roles_;
};

// One entry of a member index: the ids of the policies naming the member,
// ascending and unique (compares equal to a std::set<std::string> of them),
// each with its compiled form, so that authorization never looks a policy
// up by id. The compiled forms are shared, not pointers into a state, so a
// copied IamState is self-contained.
class PolicyRefs {
 public:
  struct Ref {
    std::string id;
    // Null when inserted without one; such an entry is never evaluated.
    std::shared_ptr<const CompiledPolicy> policy;
  };
  using const_iterator = std::vector<Ref>::const_iterator;

  const_iterator begin() const { return refs_.begin(); }
  const_iterator end() const { return refs_.end(); }
  size_t size() const { return refs_.size(); }
  bool empty() const { return refs_.empty(); }
  bool contains(std::string_view id) const { return find(id) != nullptr; }
  // The entry for `id`, or null.
  const Ref* find(std::string_view id) const;
  // Adds `id`, or replaces its compiled form when present.
  void insert(std::string id,
              std::shared_ptr<const CompiledPolicy> policy = nullptr);
  // Returns the number of ids erased (0 or 1).
  size_t erase(std::string_view id);

  // Calls f(const CompiledPolicy&) for each compiled form, in id order.
  // Up to kInline of them are read from this object itself (most members
  // are named by a policy or two), which saves authorization a cache miss.
  template <typename F>
  bool ForEachPolicy(F&& f) const {
    if (refs_.size() <= kInline) {
      for (size_t i = 0; i < refs_.size(); ++i) {
        if (inline_[i] != nullptr && !f(*inline_[i])) return false;
      }
      return true;
    }
    for (const Ref& ref : refs_) {
      if (ref.policy != nullptr && !f(*ref.policy)) return false;
    }
    return true;
  }

  // Ids only: the compiled forms follow from the policies.
  friend bool operator==(const PolicyRefs& a, const PolicyRefs& b);
  friend bool operator==(const PolicyRefs& a, const std::set<std::string>& b);

 private:
  static constexpr size_t kInline = 3;
  void SyncInline();  // after every change of refs_

  std::vector<Ref> refs_;
  // refs_[i].policy.get() for the first kInline entries (owned by refs_).
  const CompiledPolicy* inline_[kInline] = {};
};

// The ids of IamState::projects again, in an open-addressing hash set keyed
// by Hash(id), so that authorization checks a project exists with a hash
// computed when the policy was compiled. Derived from `projects`; Evolve
// maintains it. Equal when holding the same ids.
class ProjectIndex {
 public:
  static uint64_t Hash(std::string_view id);
  void insert(std::string id);
  void erase(std::string_view id);
  bool contains(std::string_view id, uint64_t hash) const {
    return Find(id, hash) != nullptr;
  }
  size_t size() const { return size_; }
  friend bool operator==(const ProjectIndex& a, const ProjectIndex& b);

 private:
  struct Slot {
    uint64_t hash = 0;
    bool used = false;
    std::string id;
  };
  const Slot* Find(std::string_view id, uint64_t hash) const {
    if (slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == hash && s.id == id) return &s;
    }
  }
  void Grow();

  std::vector<Slot> slots_;  // a power of two, at most half used
  size_t size_ = 0;
};

struct IamState {
  std::map<std::string, Token> tokens;
  std::map<std::string, Policy> policies;
  std::map<std::string, Role> roles;
  CompiledRoles compiled_roles;  // the actions of `roles`, compiled
  std::map<std::string, Project> projects;
  ProjectIndex project_index;  // the keys of `projects`, hashed
  // Member string -> policies naming it (ids ascending, with their compiled
  // forms). Members without a wildcard ("token:ci", "team:local:admins") are
  // looked up exactly...
  StringMap<PolicyRefs> policies_by_member;
  // ...and the few wildcard members ("*", "token:*", "team:local:*") are
  // kept apart, so authorization never scans all policies.
  std::map<std::string, PolicyRefs> policies_by_wildcard_member;
  // Version of every stream ever written, deleted objects' included, so a
  // decision and its expected versions come from one consistent state.
  StringMap<uint64_t> stream_versions;
  uint64_t last_seq = 0;
  Micros last_recorded_at = 0;
  std::string ledger_id;
  // False (the default) when the member indexes name every member of every
  // policy, as in every state the log is folded into; true in a state that
  // holds only part of them (an audit state restricted to one subject:
  // projections/point_in_time.h), where IsPolicyMember scans instead.
  bool partial_member_index = false;

  friend bool operator==(const IamState&, const IamState&) = default;
};

// Whether `member` matches more than itself ("*", "token:*", §4.3.1): such
// members live in IamState::policies_by_wildcard_member, every other one in
// policies_by_member, and only ever matches a subject equal to it.
inline bool IsWildcardMember(std::string_view member) {
  return member == "*" || member.ends_with(":*");
}

// Whether `member` is in `policy`'s member list. For a list of more than 16
// members O(1) through the member indexes (the entry of `member` names the
// policy by id), not a scan: a policy may have 100,000s of members. Short
// lists, and every list in a state with partial_member_index, are scanned.
// `policy` need not be in `state.policies` yet (a PolicyCreated being
// folded): only its id and its member list are read.
bool IsPolicyMember(const IamState& state, const Policy& policy,
                    std::string_view member);

// Folds one recorded event into `state`. Events come from the log, which only
// holds decided (valid) events; an event that cannot apply (e.g. renaming a
// token that does not exist) is a DataLoss naming the seq. `created`, when
// not null, receives the token a TokenCreated made (null otherwise).
Status Evolve(IamState& state, const RecordedEvent& event,
              const Token** created = nullptr);

// A deterministic byte encoding of the whole state (every field, every
// index-free map in key order): equal states give equal bytes, however they
// were built (snapshot + tail or full replay). The state digest printed by
// the tools is SHA-256 over these bytes (core has no crypto).
std::string CanonicalEncoding(const IamState& state);

// The inverse of CanonicalEncoding, with the member indexes rebuilt: what a
// projection snapshot is loaded with. Malformed bytes are kDataLoss.
StatusOr<IamState> DecodeCanonicalEncoding(std::string_view bytes);

}  // namespace iam

#endif  // IAMLEDGER_CORE_MODEL_H_
