#include "projections/projections.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <variant>

#include "core/lifecycle.h"

namespace iam::projections {
namespace {

uint64_t Load64(const void* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  return x ^ (x >> 32);
}

}  // namespace

// ---- DigestIndex -----------------------------------------------------------

DigestIndex::Key DigestIndex::KeyOf(std::string_view digest) {
  Key k;
  k.exact = digest.size() == kKeySize;
  if (k.exact) {
    std::memcpy(k.bytes, digest.data(), kKeySize);
    return k;
  }
  // Another length (tests, a damaged state): a fold of it. Slots with such
  // keys are confirmed against the token's digest.
  uint64_t h = 0xcbf29ce484222325ULL ^ digest.size();
  for (unsigned char c : digest) h = (h ^ c) * 0x100000001b3ULL;
  for (size_t i = 0; i < kKeySize / 8; ++i) {
    const uint64_t lane = Mix(h + i * 0x9e3779b97f4a7c15ULL);
    std::memcpy(k.bytes + 8 * i, &lane, 8);
  }
  return k;
}

size_t DigestIndex::HomeOf(const unsigned char* key) {
  return static_cast<size_t>(Mix(Load64(key) ^ Load64(key + 8)));
}

size_t DigestIndex::FindSlot(std::string_view digest, const Key& key) const {
  auto find_in = [&](const SlotArray& slots) -> size_t {
    if (slots.empty()) return npos;
    const size_t mask = slots.size() - 1;
    for (size_t i = HomeOf(key.bytes) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.token == 0) return npos;
      if (s.token != kMoved && ((s.token & kExactKey) != 0) == key.exact &&
          Load64(s.key) == Load64(key.bytes) &&
          Load64(s.key + 8) == Load64(key.bytes + 8) &&
          Load64(s.key + 16) == Load64(key.bytes + 16) &&
          Load64(s.key + 24) == Load64(key.bytes + 24) &&
          (key.exact || s.first()->value_digest == digest)) {
        return i;
      }
    }
  };
  if (size_t i = find_in(slots_); i != npos) return i;
  if (draining_.empty()) return npos;
  const size_t i = find_in(draining_);
  return i == npos ? npos : slots_.size() + i;
}

std::string_view DigestIndex::DigestOf(const Slot& slot) const {
  if (slot.token & kExactKey) {
    return std::string_view(reinterpret_cast<const char*>(slot.key), kKeySize);
  }
  return slot.first()->value_digest;
}

void DigestIndex::Place(const Slot& slot) {
  const size_t mask = slots_.size() - 1;
  size_t i = HomeOf(slot.key) & mask;
  while (slots_[i].token != 0) i = (i + 1) & mask;
  slots_[i] = slot;
}

void DigestIndex::StartGrowing() {
  while (!draining_.empty()) MoveSome();  // not reached: drained by now
  const size_t capacity = std::max<size_t>(16, slots_.size() * 2);
  draining_used_ = used_;
  draining_ = std::move(slots_);
  drained_ = 0;
  slots_ = SlotArray(capacity);
  next_prepared_ = false;
  if (draining_used_ == 0) draining_ = SlotArray();
}

void DigestIndex::MoveOver(Slot& from) {
  if (from.token == 0 || from.token == kMoved) return;
  Place(from);
  from = Slot{};
  from.token = kMoved;
  --draining_used_;
}

void DigestIndex::MoveSome() {
  if (draining_.empty()) return;
  const size_t stop = std::min(draining_.size(), drained_ + kMovesPerInsert);
  for (; drained_ < stop; ++drained_) MoveOver(draining_[drained_]);
  if (drained_ == draining_.size() || draining_used_ == 0) {
    draining_ = SlotArray();
    drained_ = 0;
    draining_used_ = 0;
  }
}

void DigestIndex::RemoveSlot(size_t gap) {
  --used_;
  if (gap >= slots_.size()) {  // draining: a tombstone keeps the runs
    Slot& s = draining_[gap - slots_.size()];
    s = Slot{};
    s.token = kMoved;
    --draining_used_;
    return;
  }
  // Backward-shift deletion: later slots of the run move into the gap when
  // their home is not between the gap and themselves.
  const size_t mask = slots_.size() - 1;
  for (size_t i = (gap + 1) & mask; slots_[i].token != 0; i = (i + 1) & mask) {
    const size_t home = HomeOf(slots_[i].key) & mask;
    if (((i - home) & mask) >= ((i - gap) & mask)) {
      slots_[gap] = slots_[i];
      gap = i;
    }
  }
  slots_[gap] = Slot{};
}

void DigestIndex::Insert(const Token* token) {
  const std::string& digest = token->value_digest;
  const Key key = KeyOf(digest);
  size_t i = FindSlot(digest, key);
  if (i == npos) {
    if (4 * (used_ - draining_used_ + 1) > 3 * slots_.size()) StartGrowing();
    Slot s;
    s.token = reinterpret_cast<uintptr_t>(token) | (key.exact ? kExactKey : 0);
    std::memcpy(s.key, key.bytes, kKeySize);
    Describe(s, token);
    Place(s);
    ++used_;
    MoveSome();
    slots_.NameNextWhenDue(used_ - draining_used_, &next_prepared_);
    return;
  }
  // A shared digest: the tokens by id, the first one in the slot.
  Slot& s = SlotAt(i);
  std::vector<const Token*>& list = shared_[digest];
  if (!(s.token & kShared)) list = {s.first()};
  auto by_id = [](const Token* a, const Token* b) { return a->id < b->id; };
  list.insert(std::lower_bound(list.begin(), list.end(), token, by_id), token);
  s.token = reinterpret_cast<uintptr_t>(list.front()) | (s.token & kExactKey) |
            kShared;
  s.usage_mark = 0;
}

void DigestIndex::Erase(const Token* token) {
  const std::string& digest = token->value_digest;
  const size_t i = FindSlot(digest, KeyOf(digest));
  if (i == npos) return;
  Slot& s = SlotAt(i);
  if (!(s.token & kShared)) {
    if (s.first() == token) RemoveSlot(i);
    return;
  }
  auto it = shared_.find(std::string_view(digest));
  std::vector<const Token*>& list = it->second;
  std::erase(list, token);
  if (list.empty()) {  // not reached: a shared digest has two tokens or more
    shared_.erase(it);
    RemoveSlot(i);
  } else if (list.size() == 1) {
    s.token = reinterpret_cast<uintptr_t>(list.front()) | (s.token & kExactKey);
    s.usage_mark = 0;  // it may have been another token's
    Describe(s, list.front());
    shared_.erase(it);
  } else {
    s.token = reinterpret_cast<uintptr_t>(list.front()) |
              (s.token & kExactKey) | kShared;
  }
}

void DigestIndex::Clear() {
  slots_ = SlotArray();
  draining_ = SlotArray();
  drained_ = 0;
  draining_used_ = 0;
  used_ = 0;
  next_prepared_ = false;
  shared_.clear();
}

void DigestIndex::Prefetch(std::string_view digest) const {
  if (slots_.empty()) return;
  const Key key = KeyOf(digest);
  const size_t home = HomeOf(key.bytes);
  __builtin_prefetch(&slots_[home & (slots_.size() - 1)], 1);
  if (!draining_.empty()) {
    __builtin_prefetch(&draining_[home & (draining_.size() - 1)], 1);
  }
}

void DigestIndex::Describe(Slot& slot, const Token* token) {
  slot.flags =
      (token->active ? kActive : 0) | (token->expires_at != 0 ? kExpires : 0);
  if (token->id.size() <= kInlineId) {
    slot.id_size = static_cast<uint8_t>(token->id.size());
    std::memcpy(slot.id, token->id.data(), token->id.size());
  } else {
    slot.id_size = kInlineId + 1;
  }
}

void DigestIndex::Refresh(const Token* token) {
  const size_t i = FindSlot(token->value_digest, KeyOf(token->value_digest));
  if (i == npos) return;
  Slot& s = SlotAt(i);
  if (!(s.token & kShared) && s.first() == token) Describe(s, token);
}

const Token* DigestIndex::FindActive(std::string_view digest) const {
  const size_t i = FindSlot(digest, KeyOf(digest));
  if (i == npos) return nullptr;
  const Slot& s = SlotAt(i);
  if (!(s.token & kShared)) {
    const Token* t = s.first();
    return (s.flags & kActive) ? t : nullptr;
  }
  for (const Token* t : shared_.find(digest)->second) {
    if (t->active) return t;
  }
  return nullptr;
}

DigestIndex::Found DigestIndex::FindForAuthentication(
    std::string_view digest) const {
  Found out;
  const size_t i = FindSlot(digest, KeyOf(digest));
  if (i == npos) return out;
  const Slot& s = SlotAt(i);
  if (!(s.token & kShared)) {
    if (!(s.flags & kActive)) return out;
    out.token = s.first();
    out.expires = (s.flags & kExpires) != 0;
    out.usage_mark = &s.usage_mark;
    out.id = s.id_size <= kInlineId ? std::string_view(s.id, s.id_size)
                                    : std::string_view(out.token->id);
    return out;
  }
  for (const Token* t : shared_.find(digest)->second) {
    if (t->active) {
      out.token = t;
      out.expires = t->expires_at != 0;
      out.id = t->id;
      return out;
    }
  }
  return out;
}

const std::string& DigestIndex::Ids::front() const {
  return index_->SlotAt(slot_).first()->id;
}

StringList DigestIndex::Ids::list() const {
  const Slot& s = index_->SlotAt(slot_);
  if (!(s.token & kShared)) return {s.first()->id};
  StringList out;
  for (const Token* t : index_->shared_.find(index_->DigestOf(s))->second) {
    out.push_back(t->id);
  }
  return out;
}

void DigestIndex::Settle(const_iterator& it, size_t slot) const {
  const size_t n = slots_.size() + draining_.size();
  while (slot < n &&
         (SlotAt(slot).token == 0 || SlotAt(slot).token == kMoved)) {
    ++slot;
  }
  it = const_iterator();
  if (slot >= n) return;
  it.end_ = false;
  it.index_ = this;
  it.slot_ = slot;
  it.entry_.first = DigestOf(SlotAt(slot));
  it.entry_.second.index_ = this;
  it.entry_.second.slot_ = slot;
}

DigestIndex::const_iterator DigestIndex::begin() const {
  const_iterator it;
  Settle(it, 0);
  return it;
}

DigestIndex::const_iterator DigestIndex::find(std::string_view digest) const {
  const_iterator it;
  const size_t i = FindSlot(digest, KeyOf(digest));
  if (i != npos) Settle(it, i);
  return it;
}

bool DigestIndex::contains(std::string_view digest) const {
  return FindSlot(digest, KeyOf(digest)) != npos;
}

StringList DigestIndex::at(std::string_view digest) const {
  auto it = find(digest);
  return it == end() ? StringList() : it->second.list();
}

bool operator==(const DigestIndex& a, const DigestIndex& b) {
  if (a.used_ != b.used_) return false;
  for (const auto& entry : a) {
    if (entry.second.list() != b.at(entry.first)) return false;
  }
  return true;
}

// ---- View ------------------------------------------------------------------

View::View(const View& other) : state(other.state), history(other.history) {
  for (const auto& [id, token] : state.tokens) tokens_by_digest.Insert(&token);
  RebuildPrevious();
}

void View::RebuildPrevious() {
  previous_digests.clear();
  for (const auto& [id, token] : state.tokens) {
    if (!token.previous_value_digest.empty()) {
      previous_digests[token.previous_value_digest] = &token;
    }
  }
}

const Token* View::UsableTokenByDigest(const std::string& digest,
                                       Micros now) const {
  const Token* t = tokens_by_digest.FindActive(digest);
  if (t != nullptr) return TokenUsableAt(*t, now) ? t : nullptr;
  if (previous_digests.empty()) return nullptr;
  auto it = previous_digests.find(digest);
  if (it == previous_digests.end()) return nullptr;
  return PreviousValueUsableAt(*it->second, now) ? it->second : nullptr;
}

View::Authenticated View::Authenticate(std::string_view digest,
                                       Micros now) const {
  Authenticated out;
  const DigestIndex::Found f = tokens_by_digest.FindForAuthentication(digest);
  if (f.token != nullptr) {
    // Active (the entry says so); an expiry is checked on the token.
    if (!f.expires || TokenUsableAt(*f.token, now)) {
      out = {f.token, f.id, f.usage_mark};
    }
    return out;
  }
  if (previous_digests.empty()) return out;
  auto it = previous_digests.find(std::string(digest));  // a previous value
  if (it != previous_digests.end() && PreviousValueUsableAt(*it->second, now)) {
    out.token = it->second;
    out.id = it->second->id;
  }
  return out;
}

View& View::operator=(const View& other) {
  if (this == &other) return *this;
  state = other.state;
  history = other.history;
  tokens_by_digest.Clear();
  for (const auto& [id, token] : state.tokens) tokens_by_digest.Insert(&token);
  RebuildPrevious();
  return *this;
}

// ---- Projections -----------------------------------------------------------

Status Projections::Apply(const RecordedEvent& event) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  return ApplyLocked(event);
}

// Events of a batch applied under one hold of the lock; readers wait at most
// for this many.
constexpr size_t kEventsPerLock = 256;
// The slots of event i + kLookAhead are requested while event i is applied
// (a hash table slot at a million streams is a cache miss each).
constexpr size_t kLookAhead = 4;

Status Projections::ApplyBatch(const RecordedEvent* events, size_t n) {
  for (size_t i = 0; i < std::min(n, kLookAhead); ++i) Prefetch(events[i]);
  for (size_t done = 0; done < n;) {
    const size_t end = std::min(n, done + kEventsPerLock);
    std::unique_lock<std::shared_mutex> lock(mu_);
    for (; done < end; ++done) {
      if (done + kLookAhead < n) Prefetch(events[done + kLookAhead]);
      IAM_RETURN_IF_ERROR(ApplyLocked(events[done]));
    }
  }
  return OkStatus();
}

void Projections::Prefetch(const RecordedEvent& event) const {
  view_.state.stream_versions.Prefetch(event.stream);
  view_.history.Prefetch(event.stream);
  if (const auto* e = std::get_if<TokenCreated>(&event.event)) {
    view_.tokens_by_digest.Prefetch(e->value_digest);
  }
}

Status Projections::ApplyLocked(const RecordedEvent& event) {
  if (event.seq != view_.state.last_seq + 1) {
    return DataLossError("seq " + std::to_string(event.seq) +
                         ": projections are at seq " +
                         std::to_string(view_.state.last_seq));
  }
  // A token about to be deleted (or to change its value) leaves the
  // indexes while it still has its old digests.
  const Token* deleted = nullptr;
  const Token* rotated = nullptr;
  std::string old_previous;
  auto unindex = [&](const std::string& id) -> const Token* {
    auto it = view_.state.tokens.find(id);
    if (it == view_.state.tokens.end()) return nullptr;
    view_.tokens_by_digest.Erase(&it->second);
    old_previous = it->second.previous_value_digest;
    if (!old_previous.empty()) view_.previous_digests.erase(old_previous);
    return &it->second;
  };
  auto reindex = [&](const Token* t) {
    view_.tokens_by_digest.Insert(t);
    if (!t->previous_value_digest.empty()) {
      view_.previous_digests[t->previous_value_digest] = t;
    }
  };
  if (const auto* e = std::get_if<TokenDeleted>(&event.event)) {
    deleted = unindex(e->id);
  } else if (const auto* r = std::get_if<TokenRotated>(&event.event)) {
    rotated = unindex(r->id);
  }
  // The slots this event updates after Evolve, requested now: at a million
  // streams each is a cache miss, which then overlaps with Evolve's work.
  Prefetch(event);
  const Token* created = nullptr;
  Status s = Evolve(view_.state, event, &created);
  if (!s.ok()) {
    if (deleted != nullptr) reindex(deleted);
    if (rotated != nullptr) reindex(rotated);
    return s;
  }
  if (created != nullptr) view_.tokens_by_digest.Insert(created);
  if (rotated != nullptr) reindex(rotated);
  // What the digest index keeps of a token changed in place.
  const std::string* changed = nullptr;
  if (const auto* e = std::get_if<TokenStatusToggled>(&event.event)) {
    changed = &e->id;
  } else if (const auto* x = std::get_if<TokenExpirySet>(&event.event)) {
    changed = &x->id;
  }
  if (changed != nullptr) {
    auto it = view_.state.tokens.find(*changed);
    if (it != view_.state.tokens.end()) {
      view_.tokens_by_digest.Refresh(&it->second);
    }
  }
  view_.history[event.stream].push_back(event.seq);
  return OkStatus();
}

uint64_t Projections::last_seq() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return view_.state.last_seq;
}

namespace {

constexpr std::string_view kSnapshotMagic = "iamledger-snapshot/1";

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
bool GetU64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i)
    *v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(8);
  return true;
}
bool GetBytes(std::string_view& in, std::string_view* out) {
  uint64_t n = 0;
  if (!GetU64(in, &n) || n > in.size()) return false;
  *out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string Projections::EncodeSnapshot(uint64_t* seq) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (seq != nullptr) *seq = view_.state.last_seq;
  std::string out(kSnapshotMagic);
  std::string state = CanonicalEncoding(view_.state);
  PutU64(out, state.size());
  out += state;
  PutU64(out, view_.history.size());
  for (const auto& [stream, seqs] : view_.history) {
    PutU64(out, stream.size());
    out += stream;
    PutU64(out, seqs.size());
    for (uint64_t seq : seqs) PutU64(out, seq);
  }
  return out;
}

Status Projections::LoadSnapshot(std::string_view in) {
  auto bad = [] { return DataLossError("projection snapshot is malformed"); };
  if (!in.starts_with(kSnapshotMagic)) return bad();
  in.remove_prefix(kSnapshotMagic.size());
  std::string_view state_bytes;
  if (!GetBytes(in, &state_bytes)) return bad();
  IAM_ASSIGN_OR_RETURN(IamState state, DecodeCanonicalEncoding(state_bytes));
  View view;
  view.state = std::move(state);
  uint64_t streams = 0;
  if (!GetU64(in, &streams) || streams > in.size()) return bad();
  for (uint64_t i = 0; i < streams; ++i) {
    std::string_view stream;
    uint64_t n = 0;
    if (!GetBytes(in, &stream) || !GetU64(in, &n) || n > in.size() / 8)
      return bad();
    auto& seqs = view.history[std::string(stream)];
    seqs.resize(n);
    for (auto& seq : seqs) GetU64(in, &seq);
  }
  if (!in.empty()) return bad();
  for (const auto& [id, token] : view.state.tokens) {
    view.tokens_by_digest.Insert(&token);
    if (!token.previous_value_digest.empty()) {
      view.previous_digests[token.previous_value_digest] = &token;
    }
  }
  std::unique_lock<std::shared_mutex> lock(mu_);
  view_ = std::move(view);
  return OkStatus();
}

}  // namespace iam::projections
