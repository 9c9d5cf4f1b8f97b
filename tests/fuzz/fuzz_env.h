// What the fuzz targets (tests/fuzz) share: a fresh in-memory ledger (memory
// event store, projections, factory defaults) and the service over it, the
// same composition `serve` uses minus RocksDB and sockets.
#ifndef IAMLEDGER_TESTS_FUZZ_FUZZ_ENV_H_
#define IAMLEDGER_TESTS_FUZZ_FUZZ_ENV_H_

#include <memory>

#include "api/service.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "projections/projections.h"

namespace iam::fuzz {

struct MemoryLedger {
  // Opens a fresh log with the factory defaults applied.
  explicit MemoryLedger(api::ServiceOptions options = {});
  ~MemoryLedger();
  projections::Projections projections;
  eventstore::MasterKeys keys;
  std::unique_ptr<eventstore::EventStore> store;
  std::unique_ptr<api::Service> service;
};

}  // namespace iam::fuzz

#endif  // IAMLEDGER_TESTS_FUZZ_FUZZ_ENV_H_
