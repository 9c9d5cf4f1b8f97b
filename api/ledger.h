// A data directory opened for use: master keys, the event store, and the
// projections caught up with the log (factory defaults appended to a new
// log). What `serve` and the offline command line share.
#ifndef IAMLEDGER_API_LEDGER_H_
#define IAMLEDGER_API_LEDGER_H_

#include <memory>
#include <string>

#include "core/status.h"
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
};

// "iamledger.key" in the data directory's parent.
std::string DefaultKeyFile(const std::string& data_dir);

class Ledger {
 public:
  // Opens keys and store, folds the log into the projections and, for an
  // empty log, appends LedgerInitialized and the factory defaults (actor
  // "system").
  static StatusOr<std::unique_ptr<Ledger>> Open(const LedgerOptions& options);
  ~Ledger();

  eventstore::EventStore* store() { return store_.get(); }
  projections::Projections* projections() { return &projections_; }
  const eventstore::MasterKeys& keys() const { return keys_; }

  // Writes a projection snapshot at the current seq to `meta` (a no-op when
  // the newest snapshot is already there).
  Status WriteSnapshot();

  // Closes the store (writes a checkpoint) and writes a snapshot.
  // Idempotent.
  Status Close();

 private:
  Ledger() = default;
  eventstore::MasterKeys keys_;
  projections::Projections projections_;
  std::unique_ptr<eventstore::EventStore> store_;
  bool closed_ = false;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_LEDGER_H_
