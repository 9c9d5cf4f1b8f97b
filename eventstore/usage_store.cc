#include "eventstore/usage_store.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "eventstore/event_store.h"

namespace iam::eventstore {

uint64_t UsageStore::KeyOf(std::string_view id) {
  // std::hash mixed once more (the low bits pick the shard, the next ones
  // the slot); never 0, the empty mark.
  uint64_t h = std::hash<std::string_view>()(id);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return h | 1;
}

UsageStore::Slot* UsageStore::Find(const Shard& shard, uint64_t key) {
  if (shard.capacity == 0) return nullptr;
  const size_t mask = shard.capacity - 1;
  for (size_t i = (key >> 6) & mask;; i = (i + 1) & mask) {
    Slot& s = shard.slots[i];
    if (s.key == key) return &s;
    if (s.key == 0) return nullptr;
  }
}

UsageStore::Slot* UsageStore::Insert(Shard& shard, uint64_t key) {
  if (Slot* s = Find(shard, key)) return s;
  if (2 * (shard.used + 1) > shard.capacity) {
    const size_t capacity = shard.capacity == 0 ? 64 : 2 * shard.capacity;
    auto slots = std::make_unique<Slot[]>(capacity);
    for (size_t i = 0; i < shard.capacity; ++i) {
      const Slot& from = shard.slots[i];
      if (from.key == 0) continue;
      for (size_t k = (from.key >> 6) & (capacity - 1);;
           k = (k + 1) & (capacity - 1)) {
        if (slots[k].key == 0) {
          slots[k].key = from.key;
          slots[k].last.store(from.last.load(std::memory_order_relaxed),
                              std::memory_order_relaxed);
          break;
        }
      }
    }
    shard.slots = std::move(slots);
    shard.capacity = capacity;
  }
  const size_t mask = shard.capacity - 1;
  for (size_t i = (key >> 6) & mask;; i = (i + 1) & mask) {
    Slot& s = shard.slots[i];
    if (s.key == 0) {
      s.key = key;
      ++shard.used;
      return &s;
    }
  }
}

UsageStore::UsageStore(EventStore* store, Micros interval,
                       std::chrono::milliseconds flush_interval)
    : store_(store), interval_(interval), flush_interval_(flush_interval) {
  if (store_ == nullptr) return;
  load_status_ = store_->ScanUsage([this](std::string_view id, Micros at) {
    const uint64_t key = KeyOf(id);
    Slot* s = Insert(ShardOf(key), key);
    s->last.store(at, std::memory_order_relaxed);
    persisted_[std::string(id)] = at;
  });
  flusher_ = std::thread([this] { FlushLoop(); });
}

UsageStore::~UsageStore() {
  Stop();
  Node* n = pending_.exchange(nullptr);
  while (n != nullptr) {
    Node* next = n->next;
    delete n;
    n = next;
  }
}

void UsageStore::Reserve(std::string_view id) {
  const uint64_t key = KeyOf(id);
  Shard& shard = ShardOf(key);
  std::unique_lock<std::shared_mutex> lock(shard.mu);
  Insert(shard, key);
}

Micros UsageStore::Touch(std::string_view id, Micros now) {
  const uint64_t key = KeyOf(id);
  Shard& shard = ShardOf(key);
  {
    std::shared_lock<std::shared_mutex> lock(shard.mu);
    if (Slot* s = Find(shard, key)) {
      Micros last = s->last.load(std::memory_order_relaxed);
      if (now - last < interval_) return last;  // the common case
      if (!s->last.compare_exchange_strong(last, now,
                                           std::memory_order_relaxed)) {
        return last;  // another request recorded it (`last` reloaded)
      }
      Push(id, now);
      return now;
    }
  }
  // Not reserved (used before its creation was answered): tell the flusher
  // once (the hint table keeps a burst of requests from pushing a node
  // each).
  std::atomic<uint64_t>& hint = hints_[(key >> 20) % kHints];
  if (hint.load(std::memory_order_relaxed) == key) return 0;  // queued before
  hint.store(key, std::memory_order_relaxed);
  Push(id, now);
  return now;
}

void UsageStore::TouchAndMark(std::string_view id, Micros now,
                              std::atomic_ref<uint32_t> mark) {
  const Micros last = Touch(id, now);
  // Whole seconds, rounded down: the mark never overstates the record. A
  // record before 1970 or past 2106 leaves no mark (every call is a Touch).
  const Micros seconds = last / 1'000'000;
  if (seconds > 0 && seconds <= Micros{UINT32_MAX}) {
    mark.store(static_cast<uint32_t>(seconds), std::memory_order_relaxed);
  }
}

void UsageStore::Push(std::string_view id, Micros at) {
  Node* node = new Node{std::string(id), at, nullptr};
  node->next = pending_.load(std::memory_order_relaxed);
  while (!pending_.compare_exchange_weak(
      node->next, node, std::memory_order_release, std::memory_order_relaxed)) {
  }
}

Micros UsageStore::LastUsed(std::string_view id) const {
  const uint64_t key = KeyOf(id);
  const Shard& shard = ShardOf(key);
  std::shared_lock<std::shared_mutex> lock(shard.mu);
  const Slot* s = Find(shard, key);
  return s == nullptr ? 0 : s->last.load(std::memory_order_relaxed);
}

void UsageStore::Forget(const std::string& id) {
  const uint64_t key = KeyOf(id);
  Shard& shard = ShardOf(key);
  {
    // Open addressing without tombstones: the slot stays, reset to "never
    // used" (a re-created token of this id starts unused).
    std::unique_lock<std::shared_mutex> lock(shard.mu);
    if (Slot* s = Find(shard, key)) s->last.store(0, std::memory_order_relaxed);
  }
  hints_[(key >> 20) % kHints].store(0, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(flush_mu_);
  forgotten_.push_back(id);
}

Status UsageStore::Flush() {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  Node* n = pending_.exchange(nullptr, std::memory_order_acquire);
  // Oldest first, so the latest use of a token wins.
  std::vector<Node*> nodes;
  for (; n != nullptr; n = n->next) nodes.push_back(n);
  std::reverse(nodes.begin(), nodes.end());
  std::vector<std::pair<std::string, Micros>> records;
  for (std::string& id : forgotten_) {
    persisted_.erase(id);
    records.emplace_back(std::move(id), 0);
  }
  forgotten_.clear();
  auto forgotten = [&](const std::string& id) {
    return std::any_of(records.begin(), records.end(),
                       [&](const auto& r) { return r.first == id; });
  };
  std::unordered_map<std::string, Micros> due;  // id -> time to write
  for (Node* node : nodes) {
    if (!records.empty() && forgotten(node->id)) {  // deleted meanwhile
      delete node;
      continue;
    }
    const uint64_t key = KeyOf(node->id);
    Shard& shard = ShardOf(key);
    {
      std::unique_lock<std::shared_mutex> lock(shard.mu);
      Slot* s = Insert(shard, key);
      if (s->last.load(std::memory_order_relaxed) < node->at) {
        s->last.store(node->at, std::memory_order_relaxed);
      }
    }
    // At most one record per interval, whatever raced in Touch.
    auto [it, fresh] = persisted_.try_emplace(node->id, node->at);
    if (fresh || node->at - it->second >= interval_) {
      it->second = node->at;
      due[node->id] = node->at;
    }
    delete node;
  }
  records.insert(records.end(), due.begin(), due.end());
  if (records.empty() || store_ == nullptr) return OkStatus();
  std::sort(records.begin(), records.end());
  size_t written = 0;
  for (const auto& r : records) written += r.second != 0 ? 1 : 0;
  Status s = store_->PutUsage(records);
  if (s.ok()) records_written_ += written;
  return s;
}

void UsageStore::FlushLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stop_cv_.wait_for(lock, flush_interval_, [&] { return stopping_; })) {
    lock.unlock();
    Flush().IgnoreError();  // usage is best effort; the next flush retries
    lock.lock();
  }
}

void UsageStore::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  // Every call flushes what came since: requests still finishing after the
  // first Stop are kept by the next one (before the store closes).
  if (store_ != nullptr) Flush().IgnoreError();
}

}  // namespace iam::eventstore
