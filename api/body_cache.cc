#include "api/body_cache.h"

#include <openssl/crypto.h>

namespace iam::api {

namespace {
bool Same(const TokenBodyCache::Key& a, const TokenBodyCache::Key& b) {
  return a.version == b.version && a.pretty == b.pretty &&
         a.last_used_at == b.last_used_at;
}
}  // namespace

TokenBodyCache::~TokenBodyCache() {
  std::lock_guard<std::mutex> lock(mu_);
  ClearLocked();
}

bool TokenBodyCache::Get(std::string_view id, const Key& key, std::string* body,
                         uint64_t* epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !Same(it->second.key, key)) {
    *epoch = epoch_;
    return false;
  }
  *body = it->second.body;
  return true;
}

void TokenBodyCache::Put(std::string_view id, const Key& key,
                         const std::string& body, uint64_t epoch) {
  std::lock_guard<std::mutex> lock(mu_);
  if (epoch != epoch_) return;  // a Forget finished meanwhile
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxEntries) ClearLocked();
    it = entries_.emplace(std::string(id), Entry{}).first;
  } else {
    OPENSSL_cleanse(it->second.body.data(), it->second.body.size());
  }
  it->second.key = key;
  it->second.body = body;
}

void TokenBodyCache::Forget(std::string_view id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) {
    OPENSSL_cleanse(it->second.body.data(), it->second.body.size());
    entries_.erase(it);
  }
  ++epoch_;
}

void TokenBodyCache::ClearLocked() {
  for (auto& [id, e] : entries_) OPENSSL_cleanse(e.body.data(), e.body.size());
  entries_.clear();
}

}  // namespace iam::api
