// LogBackend over a MemoryLog.
#include "eventstore/format.h"
#include "eventstore/log_backend.h"
#include "eventstore/memory_log.h"
#include "eventstore/store_impl.h"

namespace iam::eventstore {
namespace {

std::string HeadValue(uint64_t v) { return EncodeSeqKey(v); }

class MemoryBackend final : public LogBackend {
 public:
  explicit MemoryBackend(std::shared_ptr<MemoryLog> log)
      : log_(std::move(log)) {}

  Status Commit(const CommitBatch& batch) override {
    std::lock_guard<std::mutex> lock(log_->mu);
    if (log_->fail_commits) return UnavailableError("injected write failure");
    for (const auto& [seq, value] : batch.events) log_->events[seq] = value;
    for (const auto& [stream, version] : batch.stream_heads)
      log_->meta[std::string(kMetaStreamPrefix) + stream] = HeadValue(version);
    for (const auto& [k, v] : batch.key_puts) log_->keys[k] = v;
    for (const auto& k : batch.key_deletes) log_->keys.erase(k);
    log_->syncs++;
    return OkStatus();
  }

  Status Scan(uint64_t from, uint64_t to,
              const std::function<Status(uint64_t, std::string_view)>& visit)
      const override {
    // Copy out under the lock so the visitor may take its time.
    std::vector<std::pair<uint64_t, std::string>> slice;
    {
      std::lock_guard<std::mutex> lock(log_->mu);
      for (auto it = log_->events.lower_bound(from);
           it != log_->events.end() && it->first <= to; ++it) {
        slice.emplace_back(it->first, it->second);
      }
    }
    for (const auto& [seq, value] : slice) {
      IAM_RETURN_IF_ERROR(visit(seq, value));
    }
    return OkStatus();
  }

  StatusOr<uint64_t> LastSeq() const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    return log_->events.empty() ? 0 : log_->events.rbegin()->first;
  }

  Status LoadStreamHeads(
      std::unordered_map<std::string, uint64_t>* heads) const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    for (auto it = log_->meta.lower_bound(std::string(kMetaStreamPrefix));
         it != log_->meta.end() && it->first.starts_with(kMetaStreamPrefix);
         ++it) {
      uint64_t v = 0;
      DecodeSeqKey(it->second, &v);
      (*heads)[it->first.substr(kMetaStreamPrefix.size())] = v;
    }
    return OkStatus();
  }

  StatusOr<std::string> GetMeta(std::string_view key) const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    auto it = log_->meta.find(std::string(key));
    if (it == log_->meta.end()) return NotFoundError("no meta value");
    return it->second;
  }
  Status PutMeta(std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> lock(log_->mu);
    log_->meta[std::string(key)] = std::string(value);
    return OkStatus();
  }
  StatusOr<std::string> GetKey(std::string_view key) const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    auto it = log_->keys.find(std::string(key));
    if (it == log_->keys.end()) return NotFoundError("no such key");
    return it->second;
  }
  Status PutUsage(
      const std::vector<std::pair<std::string, int64_t>>& records) override {
    std::lock_guard<std::mutex> lock(log_->mu);
    for (const auto& [id, at] : records) {
      const std::string key = std::string(kMetaUsagePrefix) + id;
      if (at == 0) {
        log_->meta.erase(key);
      } else {
        log_->meta[key] = std::to_string(at);
      }
    }
    return OkStatus();
  }
  Status ScanUsage(const std::function<void(std::string_view, int64_t)>& visit)
      const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    const std::string prefix(kMetaUsagePrefix);
    for (auto it = log_->meta.lower_bound(prefix);
         it != log_->meta.end() && it->first.starts_with(prefix); ++it) {
      visit(std::string_view(it->first).substr(prefix.size()),
            std::stoll(it->second));
    }
    return OkStatus();
  }
  uint64_t Syncs() const override {
    std::lock_guard<std::mutex> lock(log_->mu);
    return log_->syncs;
  }
  std::string CheckpointFilePath() const override { return ""; }

 private:
  std::shared_ptr<MemoryLog> log_;
};

}  // namespace

StatusOr<std::unique_ptr<EventStore>> OpenMemoryEventStore(
    std::shared_ptr<MemoryLog> log, StoreOptions options) {
  IAM_ASSIGN_OR_RETURN(
      auto store,
      StoreImpl::Open(std::make_unique<MemoryBackend>(std::move(log)),
                      std::move(options)));
  return std::unique_ptr<EventStore>(std::move(store));
}

std::unique_ptr<EventStore> NewMemoryEventStore(StoreOptions options) {
  auto store =
      OpenMemoryEventStore(std::make_shared<MemoryLog>(), std::move(options));
  return std::move(store).value();  // an empty log always opens
}

}  // namespace iam::eventstore
