// VerifyLog (event_store.h): the offline check behind `iamledger replay`.
#include <rocksdb/db.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "eventstore/checkpoint.h"
#include "eventstore/codec.h"
#include "eventstore/crypto.h"
#include "eventstore/event_store.h"
#include "eventstore/format.h"
#include "eventstore/rocks_util.h"

namespace iam::eventstore {
namespace {

std::string N(uint64_t v) { return std::to_string(v); }

Status AtSeq(uint64_t seq, const std::string& what) {
  return DataLossError("seq " + N(seq) + ": " + what);
}

// One place a checkpoint was found (meta or the file), decoded without its
// MAC; `mac_error` holds the MAC failure when a key was given.
struct FoundCheckpoint {
  std::string where;  // "meta", "the checkpoint file <path>"
  Checkpoint cp;
  Status mac_error;
};

// The checkpoint file beside `dir`. Read before the database is opened:
// beside a running server, a checkpoint written after the open would cover
// events the open does not see.
Status ReadCheckpointFileOf(const std::string& dir, std::string_view key,
                            std::vector<FoundCheckpoint>* found) {
  const std::string path = CheckpointFileFor(dir);
  auto file = ReadCheckpointFile(path, "");
  if (file.ok()) {
    Status mac =
        key.empty() ? OkStatus() : ReadCheckpointFile(path, key).status();
    found->push_back({"the checkpoint file " + path, *file, mac});
  } else if (file.status().code() != StatusCode::kNotFound) {
    return DataLossError("the checkpoint file " + path + ": " +
                         file.status().message());
  }
  return OkStatus();
}

// The checkpoint in meta.
Status ReadMetaCheckpoint(const RocksDb& db, std::string_view key,
                          std::vector<FoundCheckpoint>* found) {
  auto meta = db.Get(db.meta(), kMetaCheckpointKey);
  if (meta.ok()) {
    IAM_ASSIGN_OR_RETURN(Checkpoint cp, DecodeCheckpoint(*meta, ""));
    Status mac =
        key.empty() ? OkStatus() : DecodeCheckpoint(*meta, key).status();
    found->push_back({"meta", cp, mac});
  } else if (meta.status().code() != StatusCode::kNotFound) {
    return meta.status();
  }
  return OkStatus();
}

// The highest seq stored in `events` (0 for none).
StatusOr<uint64_t> LastStoredSeq(const RocksDb& db) {
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.events()));
  it->SeekToLast();
  IAM_RETURN_IF_ERROR(FromRocks(it->status(), "read"));
  if (!it->Valid()) return uint64_t{0};
  uint64_t seq = 0;
  if (!DecodeSeqKey(ToView(it->key()), &seq)) {
    return DataLossError("the events family holds a key that is not a seq");
  }
  return seq;
}

// stream -> version of its last event, for the stream-version check. Keyed
// by a 64-bit hash of the stream name in an open-addressing table: one
// memory access per event where a node-based map makes three. A collision
// (p ~ n^2 / 2^65, about 1e-9 for a million streams) could only make a
// version gap look right or wrong; it cannot hide an edit, which the hash
// chain catches.
// Events whose slots are asked for ahead of their lookup (a slot of a table
// of a million streams is a cache miss).
constexpr size_t kLookAhead = 4;

class StreamVersions {
 public:
  StreamVersions() : slots_(1 << 16) {}

  // The slot of `stream`; a new one (version 0) sets *inserted.
  uint64_t& Find(std::string_view stream, bool* inserted) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    uint64_t key = std::hash<std::string_view>{}(stream);
    if (key == 0) key = 1;  // 0 marks an empty slot
    Slot* slot = Probe(slots_, key);
    *inserted = slot->key == 0;
    if (*inserted) {
      slot->key = key;
      ++size_;
    }
    return slot->version;
  }
  // Asks for the cache line of `stream`'s slot, ahead of Find.
  void Prefetch(std::string_view stream) const {
    uint64_t key = std::hash<std::string_view>{}(stream);
    if (key == 0) key = 1;
    __builtin_prefetch(&slots_[key & (slots_.size() - 1)], 1);
  }
  // The version of `stream`, 0 when it has none.
  uint64_t Get(std::string_view stream) {
    uint64_t key = std::hash<std::string_view>{}(stream);
    if (key == 0) key = 1;
    return Probe(slots_, key)->version;
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    uint64_t version = 0;
  };
  static Slot* Probe(std::vector<Slot>& slots, uint64_t key) {
    const size_t mask = slots.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      if (slots[i].key == key || slots[i].key == 0) return &slots[i];
    }
  }
  void Grow() {
    std::vector<Slot> bigger(slots_.size() * 2);
    for (const Slot& s : slots_) {
      if (s.key != 0) *Probe(bigger, s.key) = s;
    }
    slots_.swap(bigger);
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

// Consecutive stored events on their way from the reader to the checker:
// the raw values, and maybe already decoded by the reader. A batch is
// reused (BatchQueue::Spare): its buffers and its decoded events keep their
// storage, so that in the steady state decoding allocates next to nothing.
struct Batch {
  static constexpr size_t kEvents = 256;

  uint64_t first_seq = 0;
  // The values, back to back, each at an 8-aligned offset (FlatBuffers
  // then reads them in place, without an aligned copy).
  std::string bytes;
  std::vector<uint32_t> begins;  // offset of each value in `bytes`
  std::vector<uint32_t> ends;    // end offset of each value
  // Set when decoded: events[0, decoded_events) are the values up to the
  // first that failed, whose failure is `decode_error`. Entries past
  // decoded_events are left over from earlier use (their storage is reused).
  bool decoded = false;
  bool decoded_by_reader = false;
  std::vector<RecordedEvent> events;
  size_t decoded_events = 0;
  Status decode_error;
  // The reader's last batch carries why it stopped (OK: the end of the log
  // or to_seq) and, for a whole-log run, the stream heads in meta.
  bool last = false;
  Status end;
  std::vector<std::pair<std::string, uint64_t>> heads;

  size_t size() const { return ends.size(); }
  std::string_view value(size_t i) const {
    return std::string_view(bytes).substr(begins[i], ends[i] - begins[i]);
  }
  void Add(std::string_view value) {
    bytes.resize((bytes.size() + 7) & ~size_t{7});
    begins.push_back(static_cast<uint32_t>(bytes.size()));
    bytes.append(value);
    ends.push_back(static_cast<uint32_t>(bytes.size()));
  }
  // Decodes (and so verifies: Verifier, seq, stream, hash) every value, each
  // into an event whose storage it reuses.
  void Decode() {
    if (events.size() < size()) events.resize(size());
    decoded_events = 0;
    for (size_t i = 0; i < size(); ++i) {
      Status s = DecodeRecordedEventInto(first_seq + i, value(i), &events[i]);
      if (!s.ok()) {
        decode_error = std::move(s);
        break;
      }
      ++decoded_events;
    }
    decoded = true;
  }
  // Empties it, keeping the capacity (and the events' storage).
  void Clear() {
    first_seq = 0;
    bytes.clear();
    begins.clear();
    ends.clear();
    decoded = decoded_by_reader = last = false;
    decoded_events = 0;
    decode_error = end = OkStatus();
    heads.clear();
  }
};

// The bounded queue between the reader and the checker, and a pool of spent
// batches for reuse.
class BatchQueue {
 public:
  // False once cancelled (the checker gave up).
  bool Push(Batch batch) {
    std::unique_lock<std::mutex> lock(mu_);
    space_.wait(lock, [&] { return cancelled_ || full_.size() < kDepth; });
    if (cancelled_) return false;
    full_.push_back(std::move(batch));
    data_.notify_one();
    return true;
  }
  Batch Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    data_.wait(lock, [&] { return !full_.empty(); });
    Batch batch = std::move(full_.front());
    full_.pop_front();
    space_.notify_one();
    return batch;
  }
  // Batches waiting for the checker.
  size_t Depth() {
    std::lock_guard<std::mutex> lock(mu_);
    return full_.size();
  }
  // By the checker.
  void Recycle(Batch batch) {
    std::lock_guard<std::mutex> lock(mu_);
    if (spare_.size() < 2 * kDepth + 4) spare_.push_back(std::move(batch));
  }
  // By the reader: an empty batch.
  Batch Spare() {
    Batch batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!spare_.empty()) {
        batch = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    batch.Clear();
    return batch;
  }
  void Cancel() {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    space_.notify_all();
  }

 private:
  static constexpr size_t kDepth = 8;
  std::mutex mu_;
  std::condition_variable space_, data_;
  std::deque<Batch> full_;
  std::vector<Batch> spare_;
  bool cancelled_ = false;
};

// The reader: the stored values from `from` up to to_seq in key order, with
// the seqs checked gapless, handed over in batches. When the checker is
// behind, the reader decodes a batch itself, which balances the work of the
// two threads. After a whole-log scan it loads the stream heads in meta.
void ReadLog(const RocksDb& db, uint64_t from, uint64_t to_seq,
             BatchQueue* queue) {
  Batch batch = queue->Spare();
  batch.first_seq = from;
  auto finish = [&](Status end) {
    batch.last = true;
    batch.end = std::move(end);
    queue->Push(std::move(batch));
  };
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::unique_ptr<rocksdb::Iterator> it(db.db()->NewIterator(ro, db.events()));
  uint64_t expected = from;
  bool to_end = true;
  for (it->Seek(EncodeSeqKey(from)); it->Valid(); it->Next()) {
    uint64_t seq = 0;
    if (!DecodeSeqKey(ToView(it->key()), &seq)) {
      return finish(AtSeq(expected,
                          "missing (the events family holds a key that is "
                          "not a seq where it should be)"));
    }
    if (seq > to_seq) {
      to_end = false;
      break;
    }
    if (seq != expected) {
      return finish(AtSeq(
          expected, "missing (the next stored event is seq " + N(seq) + ")"));
    }
    batch.Add(ToView(it->value()));
    ++expected;
    if (batch.size() == Batch::kEvents) {
      if (queue->Depth() >= 2) {
        batch.Decode();
        batch.decoded_by_reader = true;
      }
      if (!queue->Push(std::move(batch))) return;  // cancelled
      batch = queue->Spare();
      batch.first_seq = expected;
    }
  }
  if (!it->status().ok()) {
    return finish(AtSeq(
        expected, "unreadable: " + FromRocks(it->status(), "read").message()));
  }
  if (to_end && from == 1) {
    std::unique_ptr<rocksdb::Iterator> heads(
        db.db()->NewIterator(rocksdb::ReadOptions(), db.meta()));
    const std::string prefix(kMetaStreamPrefix);
    for (heads->Seek(prefix);
         heads->Valid() && heads->key().starts_with(prefix); heads->Next()) {
      std::string stream(ToView(heads->key()).substr(prefix.size()));
      uint64_t version = 0;
      if (!DecodeSeqKey(ToView(heads->value()), &version)) {
        return finish(
            DataLossError("meta: malformed version of stream " + stream));
      }
      batch.heads.emplace_back(std::move(stream), version);
    }
    if (!heads->status().ok()) {
      return finish(FromRocks(heads->status(), "read meta"));
    }
  }
  finish(OkStatus());
}

}  // namespace

StatusOr<VerifyReport> VerifyLog(const std::string& dir,
                                 const VerifyOptions& options) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return NotFoundError("no iamledger data directory at " + dir);
  }
  std::vector<FoundCheckpoint> checkpoints;
  IAM_RETURN_IF_ERROR(
      ReadCheckpointFileOf(dir, options.checkpoint_key, &checkpoints));
  RocksDb db;
  if (Status s = db.Open(dir, /*read_only=*/true); !s.ok()) {
    // The open's advice to run `replay verify` is this very command.
    std::string msg = s.message();
    if (size_t cut = msg.find(". Refusing to open"); cut != std::string::npos)
      msg.resize(cut);
    return Status(s.code(), "cannot open " + dir + ": " + msg);
  }
  auto format = db.Get(db.meta(), kMetaFormatKey);
  if (!format.ok() && format.status().code() != StatusCode::kNotFound)
    return format.status();
  if (format.ok() && *format != kFormatVersion) {
    return FailedPreconditionError("data directory " + dir + " has format " +
                                   *format + "; this build reads format " +
                                   std::string(kFormatVersion));
  }

  VerifyReport report;
  // DB::VerifyChecksum reads every table file of every family; it runs
  // beside the scan (which checks the blocks it reads itself).
  Status checksums;
  std::thread checksum_thread;
  if (options.verify_checksums) {
    checksum_thread = std::thread([&] {
      rocksdb::ReadOptions ro;
      ro.fill_cache = false;
      checksums = FromRocks(db.db()->VerifyChecksum(ro), "verify checksums");
    });
  }
  struct Joiner {
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{checksum_thread};

  const bool has_file = !checkpoints.empty();
  IAM_RETURN_IF_ERROR(
      ReadMetaCheckpoint(db, options.checkpoint_key, &checkpoints));
  if (!has_file && !checkpoints.empty()) {
    report.notes.push_back("no checkpoint file " + CheckpointFileFor(dir) +
                           " (a copy of the data directory alone has none)");
  }
  IAM_ASSIGN_OR_RETURN(report.log_last_seq, LastStoredSeq(db));
  const uint64_t total = report.log_last_seq;

  // The anchor: the hash and time before from_seq.
  const uint64_t from = std::max<uint64_t>(options.from_seq, 1);
  if (from > total + 1) {
    return Status(StatusCode::kOutOfRange,
                  "seq " + N(from) + " is beyond the end of the log (seq " +
                      N(total) + ")");
  }
  Hash prev{};
  Micros last_time = std::numeric_limits<Micros>::min();
  if (from > 1) {
    std::string value;
    rocksdb::Status s = db.db()->Get(rocksdb::ReadOptions(), db.events(),
                                     EncodeSeqKey(from - 1), &value);
    if (s.IsNotFound()) return AtSeq(from - 1, "missing");
    IAM_RETURN_IF_ERROR(FromRocks(s, "read"));
    IAM_ASSIGN_OR_RETURN(RecordedEvent before,
                         DecodeRecordedEvent(from - 1, value));
    prev = before.hash;
    last_time = before.recorded_at;
  }

  // Two threads: the reader iterates (ReadLog); this one, the checker,
  // decodes what the reader did not, checks everything that depends on
  // order (chain links, recorded_at, stream versions, checkpoint heads) and
  // folds (the sink). Everything before a batch was handed over and checked
  // first, so the first failure found is the first bad seq.
  BatchQueue queue;
  std::thread reader([&] { ReadLog(db, from, options.to_seq, &queue); });
  struct Stopper {
    BatchQueue& queue;
    std::thread& reader;
    ~Stopper() {
      queue.Cancel();
      if (reader.joinable()) reader.join();
    }
  } stopper{queue, reader};

  StreamVersions versions;
  uint64_t next_progress = 1 << 16;
  bool stopped_by_time = false;
  // Checks `rec` against the events before it and takes it as the last
  // one; sets stopped_by_time (and takes nothing) for one past to_time.
  auto check = [&](const RecordedEvent& rec) -> Status {
    const uint64_t seq = rec.seq;
    if (rec.prev_hash != prev) {
      if (seq == 1) return AtSeq(1, "prev_hash is not 32 zero bytes");
      // seq - 1 verified against its own hash, so its content no longer
      // matches what seq committed to when it was written.
      return AtSeq(seq - 1,
                   "changed after it was written: its hash is not the "
                   "prev_hash recorded by seq " +
                       N(seq) + " (the chain breaks between seq " + N(seq - 1) +
                       " and seq " + N(seq) + ")");
    }
    if (rec.recorded_at < last_time) {
      return AtSeq(seq, "recorded_at goes backwards");
    }
    for (const auto& found : checkpoints) {
      if (found.cp.seq == seq && found.cp.head != rec.hash) {
        return AtSeq(seq, "hash differs from the checkpoint in " + found.where +
                              ": the log was rewritten up to here");
      }
    }
    bool inserted = false;
    uint64_t& version = versions.Find(rec.stream, &inserted);
    if (inserted && from > 1) {
      version = rec.stream_version - 1;  // no history before from_seq
    }
    if (rec.stream_version != version + 1) {
      return AtSeq(seq, "stream " + rec.stream + " goes from version " +
                            N(version) + " to " + N(rec.stream_version));
    }
    if (rec.recorded_at > options.to_time) {
      stopped_by_time = true;
      return OkStatus();
    }
    version = rec.stream_version;
    prev = rec.hash;
    last_time = rec.recorded_at;
    return OkStatus();
  };
  std::vector<std::pair<std::string, uint64_t>> heads;
  for (;;) {
    Batch batch = queue.Pop();
    if (!batch.decoded) batch.Decode();
    // First the checks, in order, up to the first failure (or the first
    // event past to_time); then the sink gets the events checked, as one
    // batch (a fold looks ahead in it). A failure of the sink's own comes
    // from an earlier event than the check's, so it is returned first.
    const RecordedEvent* events = batch.events.data();
    const size_t n = batch.decoded_events;
    for (size_t k = 0; k < std::min(n, kLookAhead); ++k) {
      versions.Prefetch(events[k].stream);
    }
    Status failure;
    size_t checked = 0;
    for (; checked < n; ++checked) {
      if (checked + kLookAhead < n) {
        versions.Prefetch(events[checked + kLookAhead].stream);
      }
      const RecordedEvent& rec = events[checked];
      failure = check(rec);
      if (!failure.ok() || stopped_by_time) break;
    }
    if (options.sink != nullptr && checked > 0) {
      IAM_RETURN_IF_ERROR(options.sink->ApplyBatch(events, checked));
    }
    if (checked > 0) {
      if (report.events == 0) report.first_seq = events[0].seq;
      report.events += checked;
      report.last_seq = events[checked - 1].seq;
      report.last_recorded_at = events[checked - 1].recorded_at;
    }
    IAM_RETURN_IF_ERROR(failure);
    if (stopped_by_time) break;
    IAM_RETURN_IF_ERROR(batch.decode_error);
    if (options.progress && report.last_seq >= next_progress) {
      options.progress(report.last_seq, total);
      next_progress = report.last_seq + (1 << 16);
    }
    if (batch.last) {
      IAM_RETURN_IF_ERROR(batch.end);
      heads = std::move(batch.heads);
      break;
    }
    queue.Recycle(std::move(batch));
  }
  queue.Cancel();  // the reader may be ahead of to_time
  reader.join();
  report.head = prev;
  report.streams = versions.size();
  if (options.progress) options.progress(report.last_seq, total);

  // The newest checkpoint must be covered by the log.
  const FoundCheckpoint* newest = nullptr;
  for (const auto& found : checkpoints) {
    if (newest == nullptr || found.cp.seq > newest->cp.seq) newest = &found;
  }
  if (newest != nullptr) {
    report.checkpoint = newest->cp;
    if (newest->cp.seq > report.log_last_seq) {
      return AtSeq(report.log_last_seq + 1,
                   "missing: log ends at seq " + N(report.log_last_seq) +
                       " but checkpoint covers " + N(newest->cp.seq) +
                       " (the checkpoint in " + newest->where +
                       "): events were cut off, or the data directory was "
                       "rolled back (restoring an older backup without its "
                       ".checkpoint file looks the same)");
    }
    for (const auto& found : checkpoints) {
      if (!found.mac_error.ok()) {
        return DataLossError("the checkpoint in " + found.where + ": " +
                             found.mac_error.message());
      }
    }
    report.checkpoint_mac_checked = !options.checkpoint_key.empty();
    if (!report.checkpoint_mac_checked) {
      report.notes.push_back("checkpoint MAC not checked (no key file)");
    }
    std::string sources;
    for (const auto& found : checkpoints) {
      if (found.cp.seq != newest->cp.seq) {
        report.notes.push_back("the checkpoint in " + found.where +
                               " is older (seq " + N(found.cp.seq) + ")");
      } else {
        sources += sources.empty() ? found.where : " and " + found.where;
      }
    }
    report.checkpoint_source = sources;
  } else if (report.log_last_seq > 0) {
    report.notes.push_back(
        "no checkpoint yet (one is written every 1,000 events and when the "
        "server stops)");
  }

  // The stream heads in meta, written with every batch, must equal the log.
  report.whole_log =
      from == 1 && !stopped_by_time && report.last_seq == report.log_last_seq;
  if (report.whole_log && options.check_stream_heads) {
    for (const auto& [stream, meta_version] : heads) {
      const uint64_t log_version = versions.Get(stream);
      if (meta_version > log_version) {
        return AtSeq(report.log_last_seq + 1,
                     "missing: log ends at seq " + N(report.log_last_seq) +
                         " but meta records stream " + stream + " at version " +
                         N(meta_version) + " (the log holds " + N(log_version) +
                         "): events were cut off");
      }
      if (meta_version < log_version) {
        return DataLossError("meta records stream " + stream + " at version " +
                             N(meta_version) + " but the log holds version " +
                             N(log_version));
      }
    }
    if (heads.size() != versions.size()) {
      return DataLossError("meta lacks the version of " +
                           N(versions.size() - heads.size()) +
                           " stream(s) in the log");
    }
  }

  if (checksum_thread.joinable()) checksum_thread.join();
  if (!checksums.ok()) {
    return DataLossError("RocksDB block checksums: " + checksums.message());
  }
  report.checksums_verified = options.verify_checksums;
  return report;
}

}  // namespace iam::eventstore
