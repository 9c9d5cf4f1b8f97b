// A small client of etcd's v3 JSON gateway (etcd 3.4: POST /v3/kv/range,
// /v3/kv/txn, /v3/kv/deleterange, /v3/kv/compaction, /v3/lease/grant,
// /v3/lease/keepalive, /v3/lease/revoke, the /v3/watch stream). Keys and
// values are raw bytes here; the base64 of the gateway stays inside
// etcd_client.cc, and so does the HTTP library (libcurl). No Boost, no curl,
// no JSON in this header.
//
// Contract:
//  - One EtcdClient is used by one thread at a time (it keeps one connection
//    alive). Make one per thread.
//  - Every call has a deadline (EtcdClientOptions::timeout). A transport
//    failure or timeout tries the next endpoint, round robin, within that
//    deadline; etcd's own errors are not retried. A transport failure is
//    kUnavailable: the outcome of a write is then unknown (callers fence
//    their writes with compares, so a retried txn cannot apply twice).
//  - Reads are linearizable unless `serializable` is asked for.
#ifndef IAMLEDGER_EVENTSTORE_ETCD_CLIENT_H_
#define IAMLEDGER_EVENTSTORE_ETCD_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"

namespace iam::eventstore {

struct EtcdKeyValue {
  std::string key;
  std::string value;
  int64_t create_revision = 0;
  int64_t mod_revision = 0;
  int64_t version = 0;
  int64_t lease = 0;
};

struct EtcdRange {
  int64_t revision = 0;  // the store's revision when it was read
  std::vector<EtcdKeyValue> kvs;
  bool more = false;  // a limit cut the answer short
  int64_t count = 0;
};

// One comparison of a transaction.
struct EtcdCompare {
  enum class Target { kVersion, kCreate, kMod, kValue };
  enum class Result { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = Target::kValue;
  Result result = Result::kEqual;
  int64_t number = 0;  // kVersion, kCreate, kMod
  std::string value;   // kValue
  // Non-empty: the comparison holds for every key in [key, range_end) (an
  // empty range compares a key that does not exist).
  std::string range_end;

  static EtcdCompare ValueEquals(std::string key, std::string value);
  // create_revision == rev (0: the key does not exist).
  static EtcdCompare CreateRevisionEquals(std::string key, int64_t rev);
  // No key in [key, range_end) exists.
  static EtcdCompare NoKeyIn(std::string key, std::string range_end);
};

// One operation of a transaction.
struct EtcdOp {
  enum class Kind { kPut, kRange, kDelete };
  Kind kind = Kind::kPut;
  std::string key;
  std::string value;      // kPut
  std::string range_end;  // kRange, kDelete ("" = just `key`)
  int64_t lease = 0;      // kPut
  int64_t limit = 0;      // kRange (0 = no limit)

  static EtcdOp Put(std::string key, std::string value, int64_t lease = 0);
  static EtcdOp Get(std::string key, std::string range_end = "",
                    int64_t limit = 0);
  static EtcdOp Delete(std::string key, std::string range_end = "");
};

struct EtcdTxnResult {
  bool succeeded = false;
  int64_t revision = 0;
  // One per kRange op of the branch that ran, in order.
  std::vector<EtcdRange> ranges;
};

struct EtcdWatchEvent {
  bool is_delete = false;
  EtcdKeyValue kv;
};

struct EtcdWatchResponse {
  int64_t revision = 0;
  bool created = false;
  bool canceled = false;
  int64_t compact_revision = 0;  // set when canceled because compacted
  std::string cancel_reason;
  std::vector<EtcdWatchEvent> events;
};

struct EtcdClientOptions {
  // Deadline of one call, all endpoints tried included.
  std::chrono::milliseconds timeout{2000};
  // Connecting to one endpoint.
  std::chrono::milliseconds connect_timeout{500};
};

class EtcdClient {
 public:
  // `endpoints`: base URLs, e.g. "http://127.0.0.1:2379".
  EtcdClient(std::vector<std::string> endpoints,
             EtcdClientOptions options = {});
  ~EtcdClient();
  EtcdClient(const EtcdClient&) = delete;
  EtcdClient& operator=(const EtcdClient&) = delete;

  // Keys in [key, range_end) ("" = just key), up to `limit` (0 = all).
  StatusOr<EtcdRange> Range(const std::string& key,
                            const std::string& range_end = "",
                            int64_t limit = 0, bool serializable = false);
  // Returns the new revision.
  StatusOr<int64_t> Put(const std::string& key, const std::string& value,
                        int64_t lease = 0);
  StatusOr<EtcdTxnResult> Txn(const std::vector<EtcdCompare>& compares,
                              const std::vector<EtcdOp>& success,
                              const std::vector<EtcdOp>& failure);
  // Returns the number of keys deleted.
  StatusOr<int64_t> DeleteRange(const std::string& key,
                                const std::string& range_end = "");
  // Drops history at or below `revision`.
  Status Compact(int64_t revision);

  // A lease of `ttl_seconds`; returns its id.
  StatusOr<int64_t> LeaseGrant(int64_t ttl_seconds);
  // Renews a lease; returns its remaining TTL, 0 when it has expired.
  StatusOr<int64_t> LeaseKeepAlive(int64_t id);
  Status LeaseRevoke(int64_t id);

  // Watches [key, range_end) from `start_revision`, calling `on_response`
  // for every message of the stream, on this thread, until it returns
  // false, `*stop` becomes true (checked at least every 100 ms), the
  // stream breaks or etcd cancels the watch (then on_response saw
  // canceled). Connecting has the call's timeout; the stream itself none.
  // Returns OK when on_response or *stop ended it, else why it broke.
  Status Watch(const std::string& key, const std::string& range_end,
               int64_t start_revision,
               const std::function<bool(const EtcdWatchResponse&)>& on_response,
               const std::atomic<bool>* stop);

  // The endpoint the next call goes to first.
  std::string CurrentEndpoint() const;

  // The smallest key greater than every key starting with `prefix`.
  static std::string PrefixEnd(const std::string& prefix);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "URL[,URL...]" (each http://HOST:PORT); kInvalidArgument names the
// bad one.
StatusOr<std::vector<std::string>> ParseEtcdEndpoints(const std::string& list);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_ETCD_CLIENT_H_
