#include "api/ledger.h"

#include <filesystem>

#include "core/defaults.h"

namespace iam::api {

std::string DefaultKeyFile(const std::string& data_dir) {
  std::filesystem::path dir(data_dir);
  while (dir.has_relative_path() && !dir.has_filename())
    dir = dir.parent_path();
  return (dir.parent_path() / "iamledger.key").string();
}

namespace {

// Loads `snapshot` into `p` when it loads and describes its seq; else `p` is
// left empty (the log is the truth: the caller folds it from seq 1).
void LoadSnapshotOrNothing(const eventstore::EventStore::Snapshot& snapshot,
                           projections::Projections* p) {
  Status loaded = p->LoadSnapshot(snapshot.bytes);
  if (!loaded.ok() || p->last_seq() != snapshot.seq) {
    p->LoadSnapshot(projections::Projections().EncodeSnapshot()).IgnoreError();
  }
}

}  // namespace

StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options) {
  std::unique_ptr<Ledger> ledger(new Ledger());
  const std::string key_file = options.key_file.empty()
                                   ? DefaultKeyFile(options.data_dir)
                                   : options.key_file;
  IAM_ASSIGN_OR_RETURN(ledger->keys_, eventstore::LoadOrCreateMasterKeys(
                                          key_file, options.create_key));
  eventstore::StoreOptions store_options;
  ledger->tee_.first = &ledger->projections_;
  ledger->tee_.second = options.observer;
  store_options.apply_sink = &ledger->tee_;
  store_options.checkpoint_key = ledger->keys_.checkpoint_key;
  store_options.storage_env = options.storage_env;
  store_options.sync_writes = options.sync_writes;
  if (options.cluster) {
    eventstore::ClusterOptions co = *options.cluster;
    if (!co.initial_append) {
      co.initial_append = [] {
        eventstore::AppendRequest init;
        init.meta = {"system", "init", ""};
        init.events =
            FactoryDefaultEvents(eventstore::ToHex(eventstore::RandomBytes(8)));
        return init;
      };
    }
    IAM_ASSIGN_OR_RETURN(eventstore::ClusterStore cs,
                         eventstore::OpenClusterEventStore(
                             options.data_dir, store_options, std::move(co)));
    ledger->cluster_ = std::move(cs.cluster);
    ledger->store_ = std::move(cs.store);
  } else {
    IAM_ASSIGN_OR_RETURN(ledger->store_, eventstore::OpenRocksEventStore(
                                             options.data_dir, store_options));
  }
  // Start from the newest snapshot that still matches the chain, if any;
  // a snapshot that does not load is ignored (the log is the truth).
  auto snapshot = ledger->store_->GetSnapshot();
  if (snapshot.ok()) LoadSnapshotOrNothing(*snapshot, &ledger->projections_);
  // Catch up: the same Apply as live writes.
  IAM_RETURN_IF_ERROR(ledger->store_->ReadFrom(
      ledger->projections_.last_seq() + 1, &ledger->tee_));
  if (ledger->cluster_) {
    IAM_RETURN_IF_ERROR(ledger->cluster_->Start());
  } else if (ledger->store_->LastSeq() == 0) {
    eventstore::AppendRequest init;
    init.meta = {"system", "init", ""};
    init.events =
        FactoryDefaultEvents(eventstore::ToHex(eventstore::RandomBytes(8)));
    IAM_RETURN_IF_ERROR(ledger->store_->Append(std::move(init)).status());
  }
  return ledger;
}

Ledger::~Ledger() { Close().IgnoreError(); }

Status Ledger::Tee::Apply(const RecordedEvent& event) {
  IAM_RETURN_IF_ERROR(first->Apply(event));
  return second == nullptr ? OkStatus() : second->Apply(event);
}

Status Ledger::Tee::ApplyBatch(const RecordedEvent* events, size_t n) {
  if (second == nullptr) return first->ApplyBatch(events, n);
  return EventSink::ApplyBatch(events, n);
}

Status Ledger::WriteSnapshot() {
  // The private fold: the newest snapshot (when it still loads) plus the log
  // after it, up to the head as it is now.
  const uint64_t head = store_->LastSeq();
  auto current = store_->GetSnapshot();
  if (head == 0 || (current.ok() && current->seq == head)) return OkStatus();
  projections::Projections fold;
  if (current.ok()) {
    LoadSnapshotOrNothing(*current, &fold);
    current = NotFoundError("");  // frees its bytes before the fold grows
  }
  IAM_RETURN_IF_ERROR(store_->ReadFrom(fold.last_seq() + 1, &fold, head));
  uint64_t seq = 0;
  std::string bytes = fold.EncodeSnapshot(&seq);
  return store_->PutSnapshot(seq, bytes);
}

Status Ledger::Close() {
  if (!store_ || closed_) return OkStatus();
  closed_ = true;
  if (cluster_) cluster_->Stop();
  Status closed = store_->Close();
  if (!closed.ok()) return closed;
  // Nothing writes now: the live projections are the state at the head.
  uint64_t seq = 0;
  std::string bytes = projections_.EncodeSnapshot(&seq);
  if (seq == 0) return OkStatus();
  auto current = store_->GetSnapshot();
  if (current.ok() && current->seq == seq) return OkStatus();
  return store_->PutSnapshot(seq, bytes);
}

}  // namespace iam::api
