#include "tests/fuzz/fuzz_env.h"

#include <cstdlib>

#include "core/defaults.h"

namespace iam::fuzz {

MemoryLedger::MemoryLedger(api::ServiceOptions options) {
  keys = eventstore::DeriveMasterKeys(std::string(32, 'f'));
  eventstore::StoreOptions so;
  so.apply_sink = &projections;
  so.checkpoint_key = keys.checkpoint_key;
  store = eventstore::NewMemoryEventStore(so);
  eventstore::AppendRequest init;
  init.meta = {"system", "init", ""};
  init.events = FactoryDefaultEvents("fuzz-ledger");
  if (!store->Append(std::move(init)).ok()) std::abort();
  service =
      std::make_unique<api::Service>(store.get(), &projections, keys, options);
  service->SetReady(true);
}

MemoryLedger::~MemoryLedger() {
  service->Shutdown();
  service.reset();
  store->Close().IgnoreError();
}

}  // namespace iam::fuzz
