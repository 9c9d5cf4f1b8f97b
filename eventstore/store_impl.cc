#include "eventstore/store_impl.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "eventstore/checkpoint.h"
#include "eventstore/codec.h"
#include "eventstore/format.h"

namespace iam::eventstore {
namespace {

std::string SeqText(uint64_t seq) { return std::to_string(seq); }

// Reads and verifies the single event at `seq`.
StatusOr<RecordedEvent> ReadOne(const LogBackend& backend, uint64_t seq) {
  std::optional<StatusOr<RecordedEvent>> found;
  Status s = backend.Scan(seq, seq, [&](uint64_t key, std::string_view value) {
    found.emplace(DecodeRecordedEvent(key, value));
    return OkStatus();
  });
  if (!s.ok()) return s;
  if (!found) return DataLossError("seq " + SeqText(seq) + ": missing");
  return std::move(*found);
}

}  // namespace

StoreImpl::StoreImpl(std::unique_ptr<LogBackend> backend, StoreOptions options,
                     CommitPoint* commit_point)
    : backend_(std::move(backend)),
      options_(std::move(options)),
      commit_point_(commit_point),
      inline_commits_(backend_->CommitWaitsForDisk()) {}

StatusOr<std::unique_ptr<StoreImpl>> StoreImpl::Open(
    std::unique_ptr<LogBackend> backend, StoreOptions options,
    CommitPoint* commit_point) {
  std::unique_ptr<StoreImpl> store(
      new StoreImpl(std::move(backend), std::move(options), commit_point));
  IAM_RETURN_IF_ERROR(store->Recover());
  if (commit_point != nullptr)
    IAM_RETURN_IF_ERROR(store->IndexRecentRequests());
  store->writer_ = std::thread([s = store.get()] { s->WriterLoop(); });
  store->checkpointer_ =
      std::thread([s = store.get()] { s->CheckpointerLoop(); });
  return store;
}

StoreImpl::~StoreImpl() { Close().IgnoreError(); }

Status StoreImpl::Recover() {
  IAM_ASSIGN_OR_RETURN(last_seq_, backend_->LastSeq());
  if (last_seq_ > 0) {
    IAM_ASSIGN_OR_RETURN(RecordedEvent last, ReadOne(*backend_, last_seq_));
    head_ = last.hash;
    last_recorded_at_ = last.recorded_at;
  }
  {
    std::unordered_map<std::string, uint64_t> heads;
    IAM_RETURN_IF_ERROR(backend_->LoadStreamHeads(&heads));
    stream_versions_.reserve(heads.size());
    for (const auto& [stream, version] : heads) {
      stream_versions_[stream] = version;
    }
  }

  // The newest authentic checkpoint, from meta or from the file beside the
  // data directory (which survives a rollback of the directory itself).
  const std::string& key = options_.checkpoint_key;
  Checkpoint newest;
  auto meta = backend_->GetMeta(kMetaCheckpointKey);
  if (meta.ok()) {
    IAM_ASSIGN_OR_RETURN(newest, DecodeCheckpoint(*meta, key));
  } else if (meta.status().code() != StatusCode::kNotFound) {
    return meta.status();
  }
  if (std::string path = backend_->CheckpointFilePath(); !path.empty()) {
    auto file = ReadCheckpointFile(path, key);
    if (file.ok()) {
      if (file->seq > newest.seq) newest = *file;
    } else if (file.status().code() != StatusCode::kNotFound) {
      return file.status();
    }
  }
  if (newest.seq > last_seq_) {
    return DataLossError(
        "the log ends at seq " + SeqText(last_seq_) +
        " but a checkpoint covers seq " + SeqText(newest.seq) +
        ": events were cut off or the data directory was rolled back. Run "
        "`iamledger replay verify --data-dir DIR` to see what is there. If "
        "this is a deliberate restore from a backup, put the backup's "
        ".checkpoint file in place too (" +
        (backend_->CheckpointFilePath().empty()
             ? std::string("none for memory")
             : backend_->CheckpointFilePath()) +
        "), which acknowledges the older state.");
  }
  if (newest.seq > 0) {
    IAM_ASSIGN_OR_RETURN(RecordedEvent at, ReadOne(*backend_, newest.seq));
    if (at.hash != newest.head) {
      return DataLossError("seq " + SeqText(newest.seq) +
                           ": hash differs from the checkpoint; the log was "
                           "rewritten. Run `iamledger replay verify`.");
    }
  }
  checkpoint_ = newest;
  return OkStatus();
}

void StoreImpl::AppendAsync(AppendRequest request, AppendCallback done) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!stopping_) {
      queue_.push_back(Pending{std::move(request), std::move(done)});
      queue_cv_.notify_one();
      return;
    }
  }
  done(UnavailableError("the event store is closed"));
}

StatusOr<AppendResult> StoreImpl::Append(AppendRequest request) {
  bool alone = false;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return UnavailableError("the event store is closed");
    // Alone: nothing queued, nothing being committed, no other Append
    // waiting, and none seen lately. Otherwise the writer thread groups this
    // one with the others; finding the store busy keeps group commit on for
    // the next kBusyGroups groups (appenders that come one at a time on a
    // busy CPU still share syncs).
    alone = inline_commits_ && !committing_ && queue_.empty() &&
            waiting_appends_ == 0 && busy_groups_ == 0;
    if (alone) {
      committing_ = true;
    } else {
      if (committing_ || !queue_.empty() || waiting_appends_ > 0) {
        busy_groups_ = kBusyGroups;
      }
      ++waiting_appends_;
    }
  }
  if (!alone) {
    StatusOr<AppendResult> result = EventStore::Append(std::move(request));
    std::lock_guard<std::mutex> lock(queue_mu_);
    --waiting_appends_;
    return result;
  }
  StatusOr<AppendResult> result = InternalError("append not completed");
  std::deque<Pending> group(1);
  group.front().request = std::move(request);
  group.front().done = [&result](StatusOr<AppendResult> r) {
    result = std::move(r);
  };
  CommitGroup(group);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    committing_ = false;
    // The writer waits for committing_ to clear only when there is work
    // for it (queued meanwhile) or it is to exit: waking it otherwise cost
    // two context switches per append of a lone appender.
    wake = !queue_.empty() || stopping_;
  }
  if (wake) queue_cv_.notify_all();
  return result;
}

void StoreImpl::ReplicateAsync(CommitBatch batch,
                               std::function<void(Status)> done) {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (!stopping_) {
      Pending p;
      p.replicated = std::make_unique<CommitBatch>(std::move(batch));
      p.replicated_done = std::move(done);
      queue_.push_back(std::move(p));
      queue_cv_.notify_one();
      return;
    }
  }
  done(UnavailableError("the event store is closed"));
}

ChainHead StoreImpl::Head() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return ChainHead{last_seq_, head_};
}

void StoreImpl::WriterLoop() {
  for (;;) {
    std::deque<Pending> group;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(
          lock, [&] { return !committing_ && (stopping_ || !queue_.empty()); });
      if (queue_.empty()) return;  // stopping, and everything is done
      committing_ = true;
      if (busy_groups_ > 0) --busy_groups_;
      // A replicated batch goes alone; appends group up to the next one.
      if (queue_.front().replicated) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        size_t n = std::min(queue_.size(), options_.max_group_requests);
        for (size_t i = 0; i < n && !queue_.front().replicated; ++i) {
          group.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    // committing_ clears before the appenders hear their results: an
    // appender that appends again at once must find the store idle (and
    // commit inline), not still committing (which would keep a lone
    // appender on this thread, two context switches per append).
    auto committed = [this] {
      std::lock_guard<std::mutex> lock(queue_mu_);
      committing_ = false;
    };
    if (group.front().replicated) {
      Status s = WriteError();
      if (s.ok()) s = Ingest(*group.front().replicated);
      committed();
      group.front().replicated_done(s);
    } else {
      CommitGroup(group, committed);
    }
  }
}

const AppendResult* StoreImpl::FindCommittedRequest(
    const std::string& id) const {
  auto it = committed_requests_.find(id);
  return it == committed_requests_.end() ? nullptr : &it->second;
}

void StoreImpl::RememberRequests(const std::vector<RecordedEvent>& recorded) {
  if (commit_point_ == nullptr) return;
  constexpr size_t kRemember = 100000;
  for (const auto& rec : recorded) {
    const std::string& id = rec.meta.request_id;
    if (id.empty()) continue;
    auto [it, inserted] =
        committed_requests_.try_emplace(id, AppendResult{rec.seq, rec.seq});
    if (inserted) {
      committed_order_.push_back(id);
    } else if (it->second.last_seq + 1 == rec.seq) {
      it->second.last_seq = rec.seq;  // the same append, one more event
    }
  }
  while (committed_order_.size() > kRemember) {
    committed_requests_.erase(committed_order_.front());
    committed_order_.pop_front();
  }
}

Status StoreImpl::IndexRecentRequests() {
  class Collect final : public EventSink {
   public:
    explicit Collect(StoreImpl* s) : s_(s) {}
    Status Apply(const RecordedEvent& e) override {
      one_[0] = e;
      s_->RememberRequests(one_);
      return OkStatus();
    }

   private:
    StoreImpl* s_;
    std::vector<RecordedEvent> one_ = std::vector<RecordedEvent>(1);
  } collect(this);
  const uint64_t from = last_seq_ > 20000 ? last_seq_ - 20000 : 1;
  return ReadFrom(from, &collect, last_seq_);
}

void StoreImpl::Publish(
    uint64_t seq, const Hash& head, Micros recorded_at,
    const std::unordered_map<std::string, uint64_t>& touched,
    const std::vector<RecordedEvent>& recorded, uint64_t appends) {
  const uint64_t before = last_seq_;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    last_seq_ = seq;
    head_ = head;
    last_recorded_at_ = std::max(last_recorded_at_, recorded_at);
    for (auto& [stream, version] : touched) stream_versions_[stream] = version;
    stats_.groups++;
    stats_.events += recorded.size();
    stats_.appends += appends;
  }
  RememberRequests(recorded);
  if (options_.apply_sink != nullptr) {
    for (const auto& rec : recorded) {
      Status applied = options_.apply_sink->Apply(rec);
      if (!applied.ok()) {
        // Durable but not applied: stop writing rather than diverge.
        std::lock_guard<std::mutex> lock(state_mu_);
        write_error_ = InternalError("applying seq " + SeqText(rec.seq) +
                                     " failed: " + applied.message());
        break;
      }
    }
  }
  const uint64_t interval = std::max<uint64_t>(options_.checkpoint_interval, 1);
  if (seq / interval > before / interval) {
    {
      std::lock_guard<std::mutex> lock(state_mu_);
      checkpoint_due_ = true;
    }
    checkpoint_cv_.notify_one();
  }
  new_events_cv_.notify_all();
}

void StoreImpl::CheckpointerLoop() {
  std::unique_lock<std::mutex> lock(state_mu_);
  for (;;) {
    checkpoint_cv_.wait(lock, [&] { return checkpoint_due_ || closed_; });
    if (!checkpoint_due_) return;  // closed; Close writes the last one
    checkpoint_due_ = false;
    lock.unlock();
    Status cp = WriteCheckpoint();
    lock.lock();
    if (!cp.ok() && write_error_.ok()) write_error_ = cp;
  }
}

Status StoreImpl::Ingest(const CommitBatch& in) {
  if (in.events.empty()) {
    return InvalidArgumentError("a replicated batch needs events");
  }
  const uint64_t first = in.events.front().first;
  const uint64_t last = in.events.back().first;
  if (last <= last_seq_) {
    // Already here (the leader's own commit, seen again through the watch):
    // it must be the same event.
    IAM_ASSIGN_OR_RETURN(RecordedEvent theirs,
                         DecodeRecordedEvent(last, in.events.back().second));
    Hash ours = head_;
    if (last != last_seq_) {
      IAM_ASSIGN_OR_RETURN(RecordedEvent local, ReadOne(*backend_, last));
      ours = local.hash;
    }
    if (theirs.hash != ours) {
      return DataLossError("seq " + SeqText(last) +
                           ": fork: the cluster's event differs from this "
                           "node's log");
    }
    return OkStatus();
  }
  if (first != last_seq_ + 1) {
    return DataLossError(
        "seq " + SeqText(last_seq_ + 1) +
        ": missing from the cluster log (the next batch starts at seq " +
        SeqText(first) + ")");
  }
  std::unordered_map<std::string, uint64_t> touched;
  auto version_of = [&](const std::string& stream) -> uint64_t {
    if (auto it = touched.find(stream); it != touched.end()) return it->second;
    auto it = stream_versions_.find(stream);
    return it == stream_versions_.end() ? 0 : it->second;
  };
  CommitBatch local;
  std::vector<RecordedEvent> recorded;
  recorded.reserve(in.events.size());
  Hash prev = head_;
  uint64_t expected = first;
  for (const auto& [seq, bytes] : in.events) {
    if (seq != expected) {
      return DataLossError("seq " + SeqText(expected) +
                           ": missing from its batch (found seq " +
                           SeqText(seq) + ")");
    }
    IAM_ASSIGN_OR_RETURN(RecordedEvent rec, DecodeRecordedEvent(seq, bytes));
    if (rec.prev_hash != prev) {
      return DataLossError("seq " + SeqText(seq) +
                           ": prev_hash is not the hash of seq " +
                           SeqText(seq - 1) + " on this node (a fork)");
    }
    if (rec.stream_version != version_of(rec.stream) + 1) {
      return DataLossError("seq " + SeqText(seq) + ": stream " + rec.stream +
                           " version " + SeqText(rec.stream_version) +
                           " does not follow " +
                           SeqText(version_of(rec.stream)));
    }
    touched[rec.stream] = rec.stream_version;
    prev = rec.hash;
    ++expected;
    local.events.emplace_back(seq, bytes);
    recorded.push_back(std::move(rec));
  }
  local.stream_heads.assign(touched.begin(), touched.end());
  local.key_puts = in.key_puts;
  local.key_deletes = in.key_deletes;
  if (Status s = backend_->Commit(local); !s.ok()) {
    std::lock_guard<std::mutex> lock(state_mu_);
    write_error_ = s;
    return s;
  }
  Publish(last, prev, recorded.back().recorded_at, touched, recorded,
          /*appends=*/0);
  return WriteError();
}

void StoreImpl::CommitGroup(std::deque<Pending>& group,
                            const std::function<void()>& committed) {
  std::vector<StatusOr<AppendResult>> results;
  results.reserve(group.size());
  Status error = WriteError();
  if (!error.ok()) {
    if (committed) committed();
    for (auto& p : group) {
      p.done(UnavailableError("writes are stopped after a failed write: " +
                              error.message()));
    }
    return;
  }

  // Only this thread changes the committed state, so it may read it
  // without the lock; it publishes under the lock after the sync.
  // In cluster mode a group whose commit found the cluster's head moved on
  // takes in what it missed and is built again on the new head (the
  // requests' stream expectations decide again), a few times at most; the
  // requests keep their events until then.
  const bool cluster = commit_point_ != nullptr;
  constexpr int kClusterRounds = 8;
  for (int round = 0;; ++round) {
    results.clear();
    const Micros now = std::max(options_.clock->Now(), last_recorded_at_);
    uint64_t seq = last_seq_;
    Hash head = head_;
    std::unordered_map<std::string, uint64_t> touched;  // stream -> version
    auto version_of = [&](const std::string& stream) -> uint64_t {
      if (auto it = touched.find(stream); it != touched.end())
        return it->second;
      auto it = stream_versions_.find(stream);
      return it == stream_versions_.end() ? 0 : it->second;
    };

    CommitBatch batch;
    std::vector<RecordedEvent> recorded;
    uint64_t appends = 0;
    for (auto& p : group) {
      AppendRequest& req = p.request;
      if (req.events.empty()) {
        results.emplace_back(InvalidArgumentError("an append needs events"));
        continue;
      }
      if (cluster) {
        if (const AppendResult* done =
                FindCommittedRequest(req.meta.request_id)) {
          AppendResult again = *done;
          again.already_committed = true;
          results.emplace_back(again);
          continue;
        }
      }
      Status conflict;
      for (const auto& e : req.expected) {
        uint64_t actual = version_of(e.stream);
        if (e.version != kAnyVersion && e.version != actual) {
          conflict = AbortedError("stream " + e.stream + " is at version " +
                                  SeqText(actual) + ", expected " +
                                  SeqText(e.version));
          break;
        }
      }
      if (!conflict.ok()) {
        results.emplace_back(conflict);
        continue;
      }
      AppendResult result{seq + 1, seq + req.events.size()};
      for (auto& event : req.events) {
        RecordedEvent rec;
        rec.seq = ++seq;
        rec.recorded_at = now;
        rec.meta = req.meta;
        rec.stream = StreamOf(event);
        rec.stream_version = version_of(rec.stream) + 1;
        touched[rec.stream] = rec.stream_version;
        rec.prev_hash = head;
        rec.event = cluster ? event : std::move(event);
        batch.events.emplace_back(rec.seq, EncodeRecordedEvent(&rec));
        head = rec.hash;
        recorded.push_back(std::move(rec));
      }
      // In the log's order: a request's deletes, then its puts. Cluster
      // mode keeps the request (a retry after an unknown outcome).
      for (auto& k : req.key_deletes) {
        batch.AddKeyDelete(cluster ? k : std::move(k));
      }
      for (auto& [k, v] : req.key_puts) {
        if (cluster) {
          batch.AddKeyPut(k, v);
        } else {
          batch.AddKeyPut(std::move(k), std::move(v));
        }
      }
      results.emplace_back(result);
      ++appends;
    }
    if (batch.events.empty()) break;

    if (cluster) {
      CommitOutcome outcome = commit_point_->Commit(
          ChainHead{last_seq_, head_}, ChainHead{seq, head}, batch);
      if (!outcome.status.ok()) {
        Status taken;
        for (const auto& missed : outcome.missed) {
          taken = Ingest(missed);
          if (!taken.ok()) break;
        }
        if (!taken.ok()) {
          std::lock_guard<std::mutex> lock(state_mu_);
          if (write_error_.ok()) write_error_ = taken;
        }
        if (taken.ok() && outcome.status.code() == StatusCode::kAborted &&
            round + 1 < kClusterRounds) {
          continue;  // build the group again on the new head
        }
        const Status& why = taken.ok() ? outcome.status : taken;
        for (auto& r : results) {
          if (r.ok() && !r->already_committed) {
            r = UnavailableError("not committed: " + why.message());
          }
        }
        break;
      }
    }

    batch.stream_heads.assign(touched.begin(), touched.end());
    Status s = backend_->Commit(batch);
    if (!s.ok()) {
      {
        std::lock_guard<std::mutex> lock(state_mu_);
        write_error_ = s;
      }
      for (auto& r : results) {
        if (r.ok() && !r->already_committed)
          r = UnavailableError("write failed: " + s.message());
      }
    } else {
      Publish(seq, head, now, touched, recorded, appends);
    }
    break;
  }
  if (committed) committed();
  for (size_t i = 0; i < group.size(); ++i)
    group[i].done(std::move(results[i]));
}

Status StoreImpl::WriteCheckpoint() {
  std::lock_guard<std::mutex> cp_lock(checkpoint_mu_);
  Checkpoint cp;
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    cp = Checkpoint{last_seq_, head_};
    if (cp.seq == 0 || cp.seq <= checkpoint_.seq) return OkStatus();
  }
  const std::string& key = options_.checkpoint_key;
  IAM_RETURN_IF_ERROR(
      backend_->PutMeta(kMetaCheckpointKey, EncodeCheckpoint(cp, key)));
  if (std::string path = backend_->CheckpointFilePath(); !path.empty()) {
    IAM_RETURN_IF_ERROR(WriteCheckpointFile(path, cp, key));
  }
  std::lock_guard<std::mutex> lock(state_mu_);
  checkpoint_ = cp;
  stats_.checkpoints++;
  return OkStatus();
}

// Defined at the bottom: delivers [from, to] verified, in order.
namespace {
Status DeliverVerified(const LogBackend& backend, uint64_t from, uint64_t to,
                       const Hash& prev, EventSink* sink);
}  // namespace

Status StoreImpl::ReadFrom(uint64_t from_seq, EventSink* sink,
                           uint64_t to_seq) const {
  const uint64_t from = std::max<uint64_t>(from_seq, 1);
  const uint64_t to = std::min(to_seq, LastSeq());
  if (from > to) return OkStatus();
  Hash prev{};
  if (from > 1) {
    IAM_ASSIGN_OR_RETURN(RecordedEvent before, ReadOne(*backend_, from - 1));
    prev = before.hash;
  }
  return DeliverVerified(*backend_, from, to, prev, sink);
}

uint64_t StoreImpl::LastSeq() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return last_seq_;
}

uint64_t StoreImpl::StreamVersion(const std::string& stream) const {
  std::lock_guard<std::mutex> lock(state_mu_);
  auto it = stream_versions_.find(stream);
  return it == stream_versions_.end() ? 0 : it->second;
}

uint64_t StoreImpl::WaitForEvents(uint64_t after,
                                  std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(state_mu_);
  new_events_cv_.wait_for(lock, timeout,
                          [&] { return last_seq_ > after || closed_; });
  return last_seq_;
}

Checkpoint StoreImpl::LastCheckpoint() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return checkpoint_;
}

Status StoreImpl::WriteError() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  return write_error_;
}

StoreStats StoreImpl::Stats() const {
  std::lock_guard<std::mutex> lock(state_mu_);
  StoreStats stats = stats_;
  stats.syncs = backend_->Syncs();
  return stats;
}

StatusOr<std::string> StoreImpl::GetKey(const std::string& key) const {
  return backend_->GetKey(key);
}

Status StoreImpl::PutUsage(
    const std::vector<std::pair<std::string, Micros>>& records) {
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    if (closed_) return UnavailableError("the event store is closed");
  }
  return backend_->PutUsage(records);
}

Status StoreImpl::ScanUsage(
    const std::function<void(std::string_view, Micros)>& visit) const {
  return backend_->ScanUsage(visit);
}

// meta "snapshot" = u64be(seq) || hash of seq (32) || bytes.
Status StoreImpl::PutSnapshot(uint64_t seq, std::string_view bytes) {
  if (seq == 0) return InvalidArgumentError("a snapshot needs seq >= 1");
  IAM_ASSIGN_OR_RETURN(RecordedEvent at, ReadOne(*backend_, seq));
  std::string value = EncodeSeqKey(seq);
  value.append(reinterpret_cast<const char*>(at.hash.data()), at.hash.size());
  value.append(bytes);
  return backend_->PutLargeMeta(kMetaSnapshotKey, value);
}

StatusOr<EventStore::Snapshot> StoreImpl::GetSnapshot() const {
  IAM_ASSIGN_OR_RETURN(std::string value, backend_->GetMeta(kMetaSnapshotKey));
  Snapshot snap;
  if (value.size() < 40 || !DecodeSeqKey(value.substr(0, 8), &snap.seq)) {
    return NotFoundError("snapshot record is malformed");
  }
  if (snap.seq > LastSeq())
    return NotFoundError("snapshot is ahead of the log");
  IAM_ASSIGN_OR_RETURN(RecordedEvent at, ReadOne(*backend_, snap.seq));
  if (std::memcmp(at.hash.data(), value.data() + 8, 32) != 0) {
    return NotFoundError("snapshot does not match the log at seq " +
                         SeqText(snap.seq));
  }
  snap.bytes = value.substr(40);
  return snap;
}

Status StoreImpl::Close() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
    queue_cv_.notify_all();
  }
  // Only a store that opened (and so started its writer) checkpoints.
  if (!writer_.joinable()) return OkStatus();
  writer_.join();
  {
    std::lock_guard<std::mutex> lock(state_mu_);
    closed_ = true;
  }
  new_events_cv_.notify_all();
  checkpoint_cv_.notify_one();
  checkpointer_.join();
  return WriteError().ok() ? WriteCheckpoint() : OkStatus();
}

// ---- ReadFrom's helpers -----------------------------------------------------

namespace {

// Verifies the events of a scan in order: no gap, each one decoded and
// verified (DecodeRecordedEventInto), each linked to the one before.
class ChainReader {
 public:
  ChainReader(uint64_t from, const Hash& prev) : expected_(from), prev_(prev) {}

  // The stored event `seq` into `*rec`; the first failure, named exactly.
  // With `deferred_payload`, the event's own hash is left to the caller
  // (VerifyRecordedEventHash with what it receives), unless the link fails:
  // a sequential read checks an event's hash before its link.
  Status Next(uint64_t seq, std::string_view value, RecordedEvent* rec,
              std::string* deferred_payload = nullptr) {
    if (seq != expected_) {
      return DataLossError("seq " + SeqText(expected_) +
                           ": missing (the next stored event is seq " +
                           SeqText(seq) + ")");
    }
    if (deferred_payload == nullptr) {
      IAM_RETURN_IF_ERROR(DecodeRecordedEventInto(seq, value, rec));
    } else {
      IAM_RETURN_IF_ERROR(
          DecodeRecordedEventDeferringHash(seq, value, rec, deferred_payload));
    }
    if (rec->prev_hash != prev_) {
      if (deferred_payload != nullptr) {
        IAM_RETURN_IF_ERROR(VerifyRecordedEventHash(*rec, *deferred_payload));
      }
      return DataLossError("seq " + SeqText(seq) +
                           ": prev_hash is not the hash of seq " +
                           SeqText(seq - 1) + " (the chain is broken)");
    }
    prev_ = rec->hash;
    ++expected_;
    return OkStatus();
  }

  // After the scan: events up to `to` must all have been there.
  Status Finish(uint64_t to) const {
    if (expected_ <= to) {
      return DataLossError("seq " + SeqText(expected_) + ": missing");
    }
    return OkStatus();
  }

 private:
  uint64_t expected_;
  Hash prev_;
};

// Reads of at least this many events run the scan, verification and
// decoding on a thread of their own while the calling thread applies the
// events (EventSink::ApplyBatch), a few bounded batches behind. The hash
// check of a batch (SHA-256 over each event, a good part of the reading) is
// left to the calling thread when it keeps up, so that the two threads share
// the work.
constexpr uint64_t kPipelineMin = 4096;
constexpr size_t kBatchEvents = 512;
constexpr size_t kBatches = 32;
// A side that ran out of work (the applier without a full batch, the reader
// without a free one) sleeps until this many are ready, or the other side
// ends: each then runs for a while without waking the other. On a loaded
// machine a wake-up costs a scheduling delay, so hand-offs are few.
constexpr size_t kWakeAfter = 8;
static_assert(2 * kWakeAfter + 2 <= kBatches);

class ReadPipeline {
 public:
  ReadPipeline(const LogBackend& backend, uint64_t from, uint64_t to,
               const Hash& prev)
      : backend_(backend), from_(from), to_(to), prev_(prev) {
    for (size_t i = 0; i < kBatches; ++i) {
      batches_[i].events.resize(kBatchEvents);
      batches_[i].payloads.resize(kBatchEvents);
      free_.push_back(i);
    }
  }

  // Applies every event to `sink` on this thread, in order. The result is
  // what the sequential read returns: the first failure of the scan, of
  // verification or of the sink, whichever comes first in log order.
  Status Run(EventSink* sink) {
    std::thread reader([this] { ReadAll(); });
    Status result;
    for (;;) {
      size_t i;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (full_.empty() && !done_) {
          applier_waits_ = true;
          applier_cv_.wait(lock,
                           [&] { return full_.size() >= kWakeAfter || done_; });
          applier_waits_ = false;
        }
        if (full_.empty()) {  // done, and everything was applied
          result = end_;
          break;
        }
        i = full_.front();
        full_.pop_front();
      }
      Batch& b = batches_[i];
      // Events up to the first bad hash go to the sink; that failure comes
      // after any of the sink's on earlier events.
      size_t verified = b.n;
      Status hash;
      if (b.hash_deferred) {
        for (size_t k = 0; k < b.n; ++k) {
          hash = VerifyRecordedEventHash(b.events[k], b.payloads[k]);
          if (!hash.ok()) {
            verified = k;
            break;
          }
        }
      }
      Status applied = sink->ApplyBatch(b.events.data(), verified);
      if (applied.ok()) applied = std::move(hash);
      b.n = 0;
      std::lock_guard<std::mutex> lock(mu_);
      free_.push_back(i);
      if (!applied.ok()) {
        stop_ = true;
        reader_cv_.notify_all();
        result = applied;
        break;
      }
      if (reader_waits_ && free_.size() >= kWakeAfter) reader_cv_.notify_one();
    }
    reader.join();
    return result;
  }

 private:
  struct Batch {
    std::vector<RecordedEvent> events;
    std::vector<std::string> payloads;  // when hash_deferred
    size_t n = 0;
    bool hash_deferred = false;  // the applier checks the hashes
  };

  static constexpr size_t kNone = ~size_t{0};

  // A free batch, or kNone once the applier stopped. Its hashes are left
  // to the applier unless batches wait for it (then the reader has time).
  size_t TakeFree() {
    std::unique_lock<std::mutex> lock(mu_);
    if (free_.empty() && !stop_) {
      reader_waits_ = true;
      reader_cv_.wait(lock,
                      [&] { return free_.size() >= kWakeAfter || stop_; });
      reader_waits_ = false;
    }
    if (stop_) return kNone;
    size_t i = free_.back();
    free_.pop_back();
    batches_[i].hash_deferred = full_.size() < 2;
    return i;
  }

  void Publish(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    full_.push_back(i);
    if (applier_waits_ && full_.size() >= kWakeAfter) applier_cv_.notify_one();
  }

  void ReadAll() {
    ChainReader chain(from_, prev_);
    size_t cur = TakeFree();
    Status s;
    if (cur != kNone) {
      s = backend_.Scan(
          from_, to_, [&](uint64_t seq, std::string_view value) -> Status {
            Batch& b = batches_[cur];
            IAM_RETURN_IF_ERROR(
                chain.Next(seq, value, &b.events[b.n],
                           b.hash_deferred ? &b.payloads[b.n] : nullptr));
            if (++b.n == kBatchEvents) {
              Publish(cur);
              cur = TakeFree();
              if (cur == kNone) return AbortedError("read stopped");
            }
            return OkStatus();
          });
      if (s.ok()) s = chain.Finish(to_);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (cur != kNone && batches_[cur].n > 0) full_.push_back(cur);
    end_ = s;
    done_ = true;
    applier_cv_.notify_all();
  }

  const LogBackend& backend_;
  const uint64_t from_;
  const uint64_t to_;
  const Hash prev_;
  Batch batches_[kBatches];

  std::mutex mu_;
  std::condition_variable applier_cv_;  // full batches, or done_
  std::condition_variable reader_cv_;   // free batches, or stop_
  std::vector<size_t> free_;            // batches the reader may fill
  std::deque<size_t> full_;             // batches to apply, in log order
  bool applier_waits_ = false;
  bool reader_waits_ = false;
  bool done_ = false;  // the reader has published everything
  Status end_;         // how its scan ended
  bool stop_ = false;  // the applier stopped: the reader stops too
};

Status DeliverVerified(const LogBackend& backend, uint64_t from, uint64_t to,
                       const Hash& prev, EventSink* sink) {
  if (to - from + 1 >= kPipelineMin) {
    ReadPipeline pipeline(backend, from, to, prev);
    return pipeline.Run(sink);
  }
  ChainReader chain(from, prev);
  RecordedEvent rec;  // one, reused: decoding allocates little
  IAM_RETURN_IF_ERROR(backend.Scan(
      from, to, [&](uint64_t seq, std::string_view value) -> Status {
        IAM_RETURN_IF_ERROR(chain.Next(seq, value, &rec));
        return sink->Apply(rec);
      }));
  return chain.Finish(to);
}

}  // namespace

}  // namespace iam::eventstore
