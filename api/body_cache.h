// The encoded JSON body of GET /apis/iam/v2/tokens/{id} per token stream
// version, so that an unchanged token is not copied, its value not opened
// and its JSON not written again on every read (issue 13).
//
// Contract: Get returns a body only for the exact (id, version, pretty,
// last_used_at) it was Put with; a body is a pure function of those (the
// token's state at a version, its value, which only a new version changes,
// the layout and the coarse last-used time). The body holds the token's
// value: Forget(id) drops it (bytes cleansed) and must be called wherever
// WrappedKeyCache::Forget is (DeleteToken, RotateToken), and the epoch keeps
// a Put that raced a Forget out, like WrappedKeyCache. Bounded: at
// kMaxEntries the cache is emptied. Thread-safe.
#ifndef IAMLEDGER_API_BODY_CACHE_H_
#define IAMLEDGER_API_BODY_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/events.h"

namespace iam::api {

class TokenBodyCache {
 public:
  static constexpr size_t kMaxEntries = 16384;

  struct Key {
    uint64_t version = 0;
    bool pretty = false;
    Micros last_used_at = 0;
  };

  ~TokenBodyCache();

  // The body of `id` at `key` into *body, or false and the epoch for Put.
  bool Get(std::string_view id, const Key& key, std::string* body,
           uint64_t* epoch);
  void Put(std::string_view id, const Key& key, const std::string& body,
           uint64_t epoch);
  void Forget(std::string_view id);

 private:
  struct Entry {
    Key key;
    std::string body;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const {
      return std::hash<std::string_view>()(s);
    }
  };
  void ClearLocked();

  std::mutex mu_;
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>>
      entries_;         // guarded
  uint64_t epoch_ = 0;  // guarded
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_BODY_CACHE_H_
