#include "eventstore/usage_store.h"

#include <algorithm>
#include <functional>
#include <utility>

#include "eventstore/event_store.h"

namespace iam::eventstore {

UsageStore::UsageStore(EventStore* store, Micros interval,
                       std::chrono::milliseconds flush_interval)
    : store_(store), interval_(interval), flush_interval_(flush_interval) {
  if (store_ == nullptr) return;
  load_status_ = store_->ScanUsage([this](std::string_view id, Micros at) {
    uint64_t hash = 0;
    Shard& shard = ShardOf(id, &hash);
    auto entry = std::make_unique<Entry>();
    entry->last.store(at, std::memory_order_relaxed);
    entry->persisted = at;
    shard.entries.emplace(std::string(id), std::move(entry));
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

UsageStore::Shard& UsageStore::ShardOf(std::string_view id,
                                       uint64_t* hash) const {
  *hash = std::hash<std::string_view>()(id) | 1;
  return shards_[*hash % kShards];
}

void UsageStore::Touch(std::string_view id, Micros now) {
  uint64_t hash = 0;
  Shard& shard = ShardOf(id, &hash);
  {
    std::shared_lock<std::shared_mutex> lock(shard.mu);
    auto it = shard.entries.find(id);
    if (it != shard.entries.end()) {
      Entry& e = *it->second;
      Micros last = e.last.load(std::memory_order_relaxed);
      if (now - last < interval_) return;  // the common case
      if (!e.last.compare_exchange_strong(last, now,
                                          std::memory_order_relaxed)) {
        return;  // another request recorded it
      }
      Push(id, now);
      return;
    }
  }
  // Not seen since start: tell the flusher once (the hint table keeps a
  // burst of requests from pushing a node each).
  std::atomic<uint64_t>& hint = hints_[(hash >> 7) % kHints];
  if (hint.load(std::memory_order_relaxed) == hash) return;
  hint.store(hash, std::memory_order_relaxed);
  Push(id, now);
}

void UsageStore::Push(std::string_view id, Micros at) {
  Node* node = new Node{std::string(id), at, nullptr};
  node->next = pending_.load(std::memory_order_relaxed);
  while (!pending_.compare_exchange_weak(
      node->next, node, std::memory_order_release, std::memory_order_relaxed)) {
  }
}

Micros UsageStore::LastUsed(std::string_view id) const {
  uint64_t hash = 0;
  const Shard& shard = ShardOf(id, &hash);
  std::shared_lock<std::shared_mutex> lock(shard.mu);
  auto it = shard.entries.find(id);
  return it == shard.entries.end()
             ? 0
             : it->second->last.load(std::memory_order_relaxed);
}

void UsageStore::Forget(const std::string& id) {
  uint64_t hash = 0;
  Shard& shard = ShardOf(id, &hash);
  {
    std::unique_lock<std::shared_mutex> lock(shard.mu);
    shard.entries.erase(id);
  }
  hints_[(hash >> 7) % kHints].store(0, std::memory_order_relaxed);
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
  std::unordered_map<std::string, Micros> due;  // id -> time to write
  std::vector<std::pair<std::string, Micros>> records;
  for (std::string& id : forgotten_) records.emplace_back(std::move(id), 0);
  forgotten_.clear();
  auto forgotten = [&](const std::string& id) {
    return std::any_of(records.begin(), records.end(),
                       [&](const auto& r) { return r.first == id; });
  };
  for (Node* node : nodes) {
    if (!records.empty() && forgotten(node->id)) {  // deleted meanwhile
      delete node;
      continue;
    }
    uint64_t hash = 0;
    Shard& shard = ShardOf(node->id, &hash);
    std::unique_lock<std::shared_mutex> lock(shard.mu);
    auto [it, inserted] = shard.entries.try_emplace(node->id);
    if (inserted) {
      it->second = std::make_unique<Entry>();
      it->second->last.store(node->at, std::memory_order_relaxed);
    }
    Entry& e = *it->second;
    // At most one record per interval, whatever raced in Touch.
    if (e.persisted == 0 || node->at - e.persisted >= interval_) {
      e.persisted = node->at;
      if (e.last.load(std::memory_order_relaxed) < node->at) {
        e.last.store(node->at, std::memory_order_relaxed);
      }
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
