// A data directory opened for use: master keys, the event store, and the
// projections caught up with the log (factory defaults appended to a new
// log). What `serve` and the offline command line share.
#ifndef IAMLEDGER_API_LEDGER_H_
#define IAMLEDGER_API_LEDGER_H_

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "eventstore/cluster.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "projections/projections.h"

namespace iam::api {

struct LedgerOptions {
  std::string data_dir = "./data";
  // Empty: "iamledger.key" beside the data directory.
  std::string key_file;
  // Create the key file when missing (serve does; tools that only read
  // do not).
  bool create_key = true;
  // Passed to the store (StoreOptions): an injected filesystem (tests), and
  // the test-only switch that turns syncing off.
  std::shared_ptr<eventstore::StorageEnv> storage_env;
  bool sync_writes = true;
  // Cluster mode (DESIGN.md §10): the log's commit point is etcd and this
  // directory one replica. Unset: the single-node RocksDB log. The factory
  // defaults are then appended by the cluster's first leader (unless
  // `cluster->initial_append` is set), not here.
  std::optional<eventstore::ClusterOptions> cluster;
  // Sees every applied event right after the projections, at start-up and
  // live (on the store's writer thread). May be null; must outlive the
  // ledger.
  EventSink* observer = nullptr;
};

// "iamledger.key" in the data directory's parent.
std::string DefaultKeyFile(const std::string& data_dir);

class Ledger {
 public:
  // Opens keys and store, folds the log into the projections and, for an
  // empty log, appends LedgerInitialized and the factory defaults (actor
  // "system"). In cluster mode it then starts following the cluster
  // (Cluster::Start): the projections catch up with etcd from then on.
  static StatusOr<std::unique_ptr<Ledger>> Open(const LedgerOptions& options);
  ~Ledger();

  eventstore::EventStore* store() { return store_.get(); }
  projections::Projections* projections() { return &projections_; }
  // The cluster this replica follows; null in single-node mode.
  eventstore::Cluster* cluster() { return cluster_.get(); }
  const eventstore::MasterKeys& keys() const { return keys_; }

  // Writes a projection snapshot at the log's head to `meta` (a no-op when
  // the newest snapshot is already there). It never reads the live
  // projections, so writers never wait for it: it folds a private state from
  // the newest snapshot and the log after it, which costs a second copy of
  // the state while it runs (freed on return) and the CPU of decoding,
  // folding and encoding. Safe to call from any thread while the store takes
  // writes; run it on a background thread.
  Status WriteSnapshot();

  // Stops following the cluster (if any), closes the store (writes a
  // checkpoint) and writes a snapshot. Idempotent.
  Status Close();

 private:
  Ledger() = default;
  // Projections first, then the observer (the store's apply sink).
  class Tee final : public EventSink {
   public:
    Status Apply(const RecordedEvent& event) override;
    // Without an observer, the projections' own ApplyBatch.
    Status ApplyBatch(const RecordedEvent* events, size_t n) override;
    EventSink* first = nullptr;
    EventSink* second = nullptr;
  };
  eventstore::MasterKeys keys_;
  projections::Projections projections_;
  Tee tee_;
  // Declared before the store: destroyed after it (it owns the store's
  // commit point).
  std::unique_ptr<eventstore::Cluster> cluster_;
  std::unique_ptr<eventstore::EventStore> store_;
  bool closed_ = false;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_LEDGER_H_
