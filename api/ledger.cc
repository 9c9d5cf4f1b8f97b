#include "api/ledger.h"

#include <filesystem>

#include "core/defaults.h"

namespace iam::api {

std::string DefaultKeyFile(const std::string& data_dir) {
  std::filesystem::path dir(data_dir);
  while (dir.has_relative_path() && !dir.has_filename()) dir = dir.parent_path();
  return (dir.parent_path() / "iamledger.key").string();
}

StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options) {
  std::unique_ptr<Ledger> ledger(new Ledger());
  const std::string key_file = options.key_file.empty()
                                   ? DefaultKeyFile(options.data_dir)
                                   : options.key_file;
  IAM_ASSIGN_OR_RETURN(ledger->keys_, eventstore::LoadOrCreateMasterKeys(
                                          key_file, options.create_key));
  eventstore::StoreOptions store_options;
  store_options.apply_sink = &ledger->projections_;
  store_options.checkpoint_key = ledger->keys_.checkpoint_key;
  IAM_ASSIGN_OR_RETURN(ledger->store_, eventstore::OpenRocksEventStore(
                                           options.data_dir, store_options));
  // Catch up: the same Apply as live writes.
  IAM_RETURN_IF_ERROR(ledger->store_->ReadFrom(
      ledger->projections_.last_seq() + 1, &ledger->projections_));
  if (ledger->store_->LastSeq() == 0) {
    eventstore::AppendRequest init;
    init.meta = {"system", "init", ""};
    init.events =
        FactoryDefaultEvents(eventstore::ToHex(eventstore::RandomBytes(8)));
    IAM_RETURN_IF_ERROR(ledger->store_->Append(std::move(init)).status());
  }
  return ledger;
}

Ledger::~Ledger() { Close().IgnoreError(); }

Status Ledger::Close() {
  if (!store_) return OkStatus();
  return store_->Close();
}

}  // namespace iam::api
