// The front door of eventstore: the durable, hash-chained event log.
//
// Everything outside this folder sees only this header (and crypto.h for
// token secrets); RocksDB and FlatBuffers stay private to eventstore. The
// on-disk format is written down once, in eventstore/format.h.
#ifndef IAMLEDGER_EVENTSTORE_EVENT_STORE_H_
#define IAMLEDGER_EVENTSTORE_EVENT_STORE_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/events.h"
#include "core/status.h"

namespace iam::eventstore {

// Expected stream versions for optimistic concurrency.
inline constexpr uint64_t kAnyVersion = std::numeric_limits<uint64_t>::max();
inline constexpr uint64_t kNoStream = 0;  // the stream must not exist yet

struct StreamExpectation {
  std::string stream;
  uint64_t version = kAnyVersion;  // the stream's current version must equal it
};

// One atomic append: all events land in one synced batch, or none do.
struct AppendRequest {
  EventMetadata meta;
  std::vector<StreamExpectation>
      expected;               // checked before anything is written
  std::vector<Event> events;  // each goes to StreamOf(event)
  // Side writes to the `keys` column family (token data keys), in the same
  // atomic batch. Never part of the log or its hash chain.
  std::vector<std::pair<std::string, std::string>> key_puts;
  std::vector<std::string> key_deletes;
};

struct AppendResult {
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  // Cluster mode only: the request's id (EventMetadata::request_id) was
  // committed before (a retry after an unknown outcome); first/last are the
  // seqs of that commit and nothing new was written.
  bool already_committed = false;
};

using AppendCallback = std::function<void(StatusOr<AppendResult>)>;

// A checkpoint: the chain head at `seq`, authenticated with an HMAC.
struct Checkpoint {
  uint64_t seq = 0;
  Hash head{};
};

struct StoreStats {
  uint64_t appends = 0;  // AppendRequests committed
  uint64_t events = 0;   // events committed
  uint64_t groups = 0;   // synced write batches (group commits)
  uint64_t syncs = 0;    // WAL syncs reported by the engine (RocksDB)
  uint64_t checkpoints = 0;
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Queues an append for the writer thread; `done` runs on the writer thread
  // after the batch is synced and the apply sink has seen every event, or with
  // the error: kAborted (an expectation failed), kInvalidArgument (empty
  // request), kUnavailable (sticky write failure, or closed). Never blocks
  // on I/O.
  virtual void AppendAsync(AppendRequest request, AppendCallback done) = 0;

  // Appends and waits for the same outcome as AppendAsync. An
  // implementation may commit on the calling thread when its writer is idle
  // (no hand-off to the writer thread and back); the outcome is the same.
  virtual StatusOr<AppendResult> Append(AppendRequest request);

  // Delivers events seq in [from_seq, to_seq] in order to `sink`, each one
  // verified (FlatBuffers Verifier, seq, hash chain); DataLoss names the first
  // bad seq. Stops at the first non-OK status from the sink and returns it.
  virtual Status ReadFrom(
      uint64_t from_seq, EventSink* sink,
      uint64_t to_seq = std::numeric_limits<uint64_t>::max()) const = 0;

  // Highest committed seq (0 for an empty log).
  virtual uint64_t LastSeq() const = 0;
  // Current version of `stream`, 0 if it has no events.
  virtual uint64_t StreamVersion(const std::string& stream) const = 0;

  // Waits until LastSeq() > after or `timeout` passes; returns LastSeq().
  virtual uint64_t WaitForEvents(uint64_t after,
                                 std::chrono::milliseconds timeout) const = 0;

  // The newest checkpoint written, if any (seq 0 otherwise).
  virtual Checkpoint LastCheckpoint() const = 0;

  // The sticky error that stopped writes, or OK.
  virtual Status WriteError() const = 0;

  virtual StoreStats Stats() const = 0;

  // Reads a value of the `keys` column family (a token's wrapped data key).
  // kNotFound once deleted (crypto-shredded).
  virtual StatusOr<std::string> GetKey(const std::string& key) const = 0;

  // Projection snapshots (DESIGN.md §4), kept in `meta`. The snapshot is
  // opaque bytes describing the state after `seq`; PutSnapshot records the
  // chain hash at `seq` beside it, and GetSnapshot returns it only when
  // that hash still matches the log (else kNotFound with the reason, and the
  // caller folds the whole log).
  virtual Status PutSnapshot(uint64_t seq, std::string_view bytes) = 0;
  struct Snapshot {
    uint64_t seq = 0;
    std::string bytes;
  };
  virtual StatusOr<Snapshot> GetSnapshot() const = 0;

  // Token usage (API.md last_used_at; format.h meta "usage/"), outside the
  // log: PutUsage writes the records in one batch WITHOUT sync (a crash of
  // the machine may lose the last ones; the next synced append persists
  // them); a time of 0 deletes a token's record. ScanUsage visits every
  // record (start-up). Callable from any thread; never on the writer's
  // queue.
  virtual Status PutUsage(
      const std::vector<std::pair<std::string, Micros>>& records) = 0;
  virtual Status ScanUsage(
      const std::function<void(std::string_view id, Micros at)>& visit)
      const = 0;

  // Stops the writer after the queued appends, writes a checkpoint and
  // closes. Later appends fail with kUnavailable. Idempotent.
  virtual Status Close() = 0;

  // A consistent copy of the log for disaster recovery, taken while appends
  // go on: writes a checkpoint of the current head first, copies the
  // database to `to_dir` (a RocksDB checkpoint: hard links on the same
  // filesystem; `to_dir` must not exist, its parent must) and writes that
  // checkpoint to "<to_dir>.checkpoint", so the copy opens and verifies on
  // its own. Restore = put the copy, its .checkpoint file and the key file in
  // place. kAlreadyExists when `to_dir` exists; kUnimplemented for the
  // memory store.
  virtual Status CreateBackup(const std::string& to_dir);
};

// An injected filesystem under the RocksDB store: opaque here, defined in
// eventstore/storage_env.h (which includes RocksDB), so this header stays
// free of it. Tests put a fault-injecting rocksdb::FileSystem under the real
// store this way (tests/faults/fault_fs.h).
class StorageEnv;

struct StoreOptions {
  // Receives every committed event on the writer thread, after its batch is
  // synced and before the append completes. May be null.
  EventSink* apply_sink = nullptr;
  // Key for checkpoint HMACs (32 bytes). Empty: checkpoints are written
  // unauthenticated and not checked (tests and tools without the key).
  std::string checkpoint_key;
  const Clock* clock = SystemClock::Get();
  // Checkpoint every N events (and at Close).
  uint64_t checkpoint_interval = 1000;
  // Most requests taken into one group commit.
  size_t max_group_requests = 1024;
  // The filesystem the RocksDB store does all its I/O through; null: the
  // default (POSIX) one. The checkpoint file beside the data directory is
  // written with POSIX calls either way.
  std::shared_ptr<StorageEnv> storage_env;
  // TEST ONLY, never set in production: false makes the RocksDB store write
  // without syncing, so appends are acknowledged before they are durable.
  // The power-loss harness must catch it (tests/faults).
  bool sync_writes = true;
};

// Opens (creating if missing) the RocksDB log in `dir`. Refuses to open a log
// whose tail does not match its newest checkpoint (a cut or rolled-back log),
// naming `iamledger replay verify`.
StatusOr<std::unique_ptr<EventStore>> OpenRocksEventStore(
    const std::string& dir, StoreOptions options);

// The same store over memory: for tests. Shares the writer, encoding and
// verification with the RocksDB store.
std::unique_ptr<EventStore> NewMemoryEventStore(StoreOptions options);

// ---- offline verification (`iamledger replay verify|rebuild|export`) ----

struct VerifyOptions {
  // Key for checkpoint HMACs. Empty: checkpoints are compared with the log
  // but their MACs are not checked (the report says so).
  std::string checkpoint_key;
  // Receives every verified event in seq order (the fold). May be null. A
  // non-OK status stops the run and is returned.
  EventSink* sink = nullptr;
  // Events delivered: seq in [from_seq, to_seq] with recorded_at <= to_time
  // (recorded_at never decreases, so the run stops at the first later one).
  // With from_seq > 1 the chain is anchored at the hash of from_seq - 1.
  // A range that ends before the log does skips the whole-log checks (the
  // end of the log, checkpoints beyond it, stream heads).
  uint64_t from_seq = 1;
  uint64_t to_seq = std::numeric_limits<uint64_t>::max();
  Micros to_time = std::numeric_limits<Micros>::max();
  // DB::VerifyChecksum over every table file (all column families).
  bool verify_checksums = true;
  // Compare the stream heads in meta with the log after a whole-log run.
  // false for a reader beside a running server (the audit command line),
  // whose meta moves on while the log is read; every event is still
  // verified.
  bool check_stream_heads = true;
  // Called now and then with (last seq delivered, last seq of the log).
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct VerifyReport {
  uint64_t first_seq = 0;  // first and last seq delivered (0: none)
  uint64_t last_seq = 0;
  uint64_t events = 0;        // events delivered
  uint64_t log_last_seq = 0;  // the log's last seq
  uint64_t streams = 0;       // distinct streams among the delivered events
  Hash head{};                // hash of last_seq
  Micros last_recorded_at = 0;
  // The newest checkpoint (seq 0: none) and where it was found.
  Checkpoint checkpoint;
  std::string checkpoint_source;  // "meta", "file", "meta and file"
  bool checkpoint_mac_checked = false;
  bool checksums_verified = false;
  bool whole_log = false;  // the whole-log checks ran
  // Facts worth showing that are not failures ("no checkpoint file ...").
  std::vector<std::string> notes;
};

// Verifies the data directory `dir` without writing to it (a read-only open,
// which works beside a running server and on a backup copy), in the order
// of reliability.md §2: every event read with RocksDB block checksums; seqs
// gapless from 1; every envelope through the FlatBuffers Verifier and its
// hash recomputed; every link of the hash chain; stream versions 1, 2, ...
// per stream; recorded_at never decreasing; the newest checkpoint (meta and
// "<dir>.checkpoint") authentic (with a key), covered by the log and equal
// to the chain at its seq; the stream heads in meta equal to the log's; then
// DB::VerifyChecksum. Each event goes to the sink after it verified, on the
// calling thread; reading and decoding run on a second thread beside it.
// A damaged log is kDataLoss "seq N: <what>" naming the first bad seq; a log
// cut below its checkpoint is reported as such ("log ends at seq N but
// checkpoint covers M"), not refused as OpenRocksEventStore does.
StatusOr<VerifyReport> VerifyLog(const std::string& dir,
                                 const VerifyOptions& options);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_EVENT_STORE_H_
