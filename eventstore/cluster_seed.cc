// `iamledger cluster seed` (cluster_seed.h): a verified backup's head and
// log window into an empty etcd, in the key layout of format.h.
#include "eventstore/cluster_seed.h"

#include <chrono>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "eventstore/checkpoint.h"
#include "eventstore/codec.h"
#include "eventstore/commit_point.h"
#include "eventstore/crypto.h"
#include "eventstore/etcd_client.h"
#include "eventstore/format.h"
#include "eventstore/rocks_util.h"

namespace iam::eventstore {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr std::string_view kRecordFormat = "iamledger-restore-v1";
// A seeded batch stays well below etcd's request limit (1.5 MiB by default,
// base64 in the JSON gateway) and holds as many events as a live group.
constexpr size_t kBatchEvents = 256;
constexpr size_t kBatchBytes = 512 * 1024;

std::string N(uint64_t v) { return std::to_string(v); }

// P "head" (format.h): u64be(seq) || hash.
std::string EncodeHead(uint64_t seq, const Hash& hash) {
  std::string out = EncodeSeqKey(seq);
  out.append(reinterpret_cast<const char*>(hash.data()), hash.size());
  return out;
}

bool DecodeHead(std::string_view v, uint64_t* seq, Hash* hash) {
  if (v.size() != 40) return false;
  DecodeSeqKey(v.substr(0, 8), seq);
  std::memcpy(hash->data(), v.data() + 8, 32);
  return true;
}

bool ParseHex(std::string_view hex, Hash* out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string KeyOfToken(const std::string& id) { return "token/" + id; }

// One event of the window, as stored in the backup.
struct WindowEvent {
  uint64_t seq = 0;
  std::string bytes;
  std::string put_key;     // a token created or rotated here
  std::string delete_key;  // a token deleted here
};

// Reads [first, last] of the backup's log, each event decoded and its hash
// checked, chained within the window and ending on `head`; the data keys
// of its tokens; the puts and deletes of keys the events imply.
Status ReadWindow(const std::string& dir, uint64_t first, uint64_t last,
                  const Hash& head, std::vector<WindowEvent>* events,
                  std::unordered_map<std::string, std::string>* keys) {
  RocksDb db;
  IAM_RETURN_IF_ERROR(db.Open(dir, /*read_only=*/true));
  std::unique_ptr<rocksdb::Iterator> it(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.events()));
  Hash prev{};
  uint64_t expected = first;
  for (it->Seek(EncodeSeqKey(first)); it->Valid() && expected <= last;
       it->Next(), ++expected) {
    uint64_t seq = 0;
    if (!DecodeSeqKey(ToView(it->key()), &seq) || seq != expected) {
      return DataLossError("seq " + N(expected) +
                           ": missing from the backup's log");
    }
    WindowEvent ev;
    ev.seq = seq;
    ev.bytes.assign(it->value().data(), it->value().size());
    IAM_ASSIGN_OR_RETURN(RecordedEvent rec, DecodeRecordedEvent(seq, ev.bytes));
    if (seq == 1 && rec.prev_hash != Hash{}) {
      return DataLossError("seq 1: prev_hash is not zero");
    }
    if (seq > first && rec.prev_hash != prev) {
      return DataLossError("seq " + N(seq) + ": prev_hash is not the hash of " +
                           "seq " + N(seq - 1));
    }
    prev = rec.hash;
    if (const auto* c = std::get_if<TokenCreated>(&rec.event)) {
      ev.put_key = KeyOfToken(c->id);
    } else if (const auto* r = std::get_if<TokenRotated>(&rec.event)) {
      ev.put_key = KeyOfToken(r->id);
    } else if (const auto* d = std::get_if<TokenDeleted>(&rec.event)) {
      ev.delete_key = KeyOfToken(d->id);
    }
    events->push_back(std::move(ev));
  }
  IAM_RETURN_IF_ERROR(FromRocks(it->status(), "read the backup's log"));
  if (expected != last + 1) {
    return DataLossError("seq " + N(expected) +
                         ": missing from the backup's log");
  }
  if (prev != head) {
    return DataLossError("seq " + N(last) +
                         ": the backup changed while it was read (its hash "
                         "is not the verified head's)");
  }
  std::unique_ptr<rocksdb::Iterator> kit(
      db.db()->NewIterator(rocksdb::ReadOptions(), db.keys()));
  for (kit->SeekToFirst(); kit->Valid(); kit->Next()) {
    (*keys)[std::string(ToView(kit->key()))] =
        std::string(ToView(kit->value()));
  }
  return FromRocks(kit->status(), "read the backup's data keys");
}

// The window cut into batches; each carries the current data key of a
// token at the token's last creation or rotation in the window, and the
// deletes of keys at their tokens' deletion (unless recreated later in the
// same batch: a batch writes its puts before its deletes).
std::vector<CommitBatch> CutBatches(
    const std::vector<WindowEvent>& events,
    const std::unordered_map<std::string, std::string>& keys) {
  std::unordered_map<std::string, uint64_t> last_put;
  for (const auto& ev : events) {
    if (!ev.put_key.empty()) last_put[ev.put_key] = ev.seq;
  }
  std::vector<CommitBatch> out;
  size_t bytes = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const WindowEvent& ev = events[i];
    if (out.empty() || out.back().events.size() >= kBatchEvents ||
        bytes + ev.bytes.size() > kBatchBytes) {
      out.emplace_back();
      bytes = 0;
    }
    CommitBatch& b = out.back();
    b.events.emplace_back(ev.seq, ev.bytes);
    bytes += ev.bytes.size();
    if (!ev.put_key.empty() && last_put[ev.put_key] == ev.seq) {
      if (auto k = keys.find(ev.put_key); k != keys.end()) {
        b.AddKeyPut(k->first, k->second);
        bytes += k->first.size() + k->second.size();
      }
    }
    if (!ev.delete_key.empty()) b.AddKeyDelete(ev.delete_key);
  }
  return out;
}

std::string RecordText(bool done, uint64_t seq, const Hash& head,
                       const std::string& checkpoint_line,
                       uint64_t window_first, uint64_t batches,
                       const std::string& at, const std::string& from) {
  Json j = {{"format", kRecordFormat},
            {"state", done ? "done" : "seeding"},
            {"seq", seq},
            {"head", ToHex(head)},
            {"checkpoint", checkpoint_line},
            {"window_first", window_first},
            {"batches", batches},
            {"at", at},
            {"from", from},
            {"by", "iamledger cluster seed"}};
  try {
    return j.dump();
  } catch (const Json::exception&) {  // a path that is not UTF-8
    j["from"] = "(not UTF-8)";
    return j.dump();
  }
}

// A txn retried while etcd's answer is unknown (transport failure): every
// one the seed makes is fenced, so a retry cannot apply twice.
StatusOr<EtcdTxnResult> TxnRetried(EtcdClient& etcd,
                                   const std::vector<EtcdCompare>& compares,
                                   const std::vector<EtcdOp>& success,
                                   const std::vector<EtcdOp>& failure) {
  StatusOr<EtcdTxnResult> r = UnavailableError("not tried");
  for (int attempt = 0; attempt < 5; ++attempt) {
    r = etcd.Txn(compares, success, failure);
    if (r.ok() || r.status().code() != StatusCode::kUnavailable) return r;
    std::this_thread::sleep_for(milliseconds(500));
  }
  return r;
}

std::string Describe(const std::string& prefix, const EtcdTxnResult& r) {
  // ranges: head, leader, restore, the prefix (limit 1, with its count).
  std::string what =
      N(r.ranges.size() == 4 ? r.ranges[3].count : 0) + " keys under " + prefix;
  if (r.ranges.size() != 4) return what;
  if (!r.ranges[0].kvs.empty()) {
    uint64_t seq = 0;
    Hash hash{};
    if (DecodeHead(r.ranges[0].kvs[0].value, &seq, &hash))
      what += ", the cluster's head at seq " + N(seq);
  }
  if (!r.ranges[1].kvs.empty()) {
    const std::string& v = r.ranges[1].kvs[0].value;
    what += ", a leader (" + v.substr(0, v.find('\n')) + ")";
  }
  if (!r.ranges[2].kvs.empty()) {
    auto rec = ParseRestoreRecord(r.ranges[2].kvs[0].value);
    if (rec.ok()) {
      what += ", the record of a restore from a backup at seq " + N(rec->seq) +
              " (" + rec->at + ", " +
              (rec->done ? "finished" : "not finished") + ")";
    }
  }
  return what;
}

}  // namespace

StatusOr<RestoreRecord> ParseRestoreRecord(std::string_view text) {
  Json j = Json::parse(text, nullptr, false);
  RestoreRecord rec;
  auto bad = [] { return DataLossError("the restore record is malformed"); };
  if (!j.is_object() || j.value("format", "") != kRecordFormat) return bad();
  try {
    rec.done = j.at("state").get<std::string>() == "done";
    rec.seq = j.at("seq").get<uint64_t>();
    if (!ParseHex(j.at("head").get<std::string>(), &rec.head)) return bad();
    rec.window_first = j.at("window_first").get<uint64_t>();
    rec.at = j.value("at", "");
    rec.from = j.value("from", "");
  } catch (const Json::exception&) {
    return bad();
  }
  return rec;
}

StatusOr<SeedReport> SeedClusterFromBackup(const SeedOptions& options) {
  if (options.etcd_endpoints.empty()) {
    return InvalidArgumentError("no etcd endpoints given (--etcd)");
  }
  if (options.checkpoint_key.empty()) {
    return InvalidArgumentError(
        "the key file is required: the backup's checkpoint is checked with "
        "it");
  }
  if (options.window_events == 0) {
    return InvalidArgumentError("the window must hold at least one event");
  }
  SeedReport report;
  // 1. The backup, verified as `replay verify` does.
  VerifyOptions vo;
  vo.checkpoint_key = options.checkpoint_key;
  vo.sink = options.sink;
  auto verified = VerifyLog(options.backup_dir, vo);
  if (!verified.ok()) {
    return Status(verified.status().code(),
                  "the backup " + options.backup_dir +
                      " does not verify, nothing was written to etcd: " +
                      verified.status().message());
  }
  report.verified = *verified;
  const VerifyReport& v = report.verified;
  if (v.last_seq == 0) {
    return FailedPreconditionError("the backup " + options.backup_dir +
                                   " holds no events");
  }
  if (v.checkpoint.seq == 0 ||
      v.checkpoint_source.find("file") == std::string::npos ||
      !v.checkpoint_mac_checked) {
    return FailedPreconditionError(
        "the backup " + options.backup_dir + " has no checkpoint file (" +
        CheckpointFileFor(options.backup_dir) +
        "): `backup create` writes it beside the copy; copy it along (the "
        "seed checks the backup against it)");
  }
  const uint64_t head_seq = v.last_seq;
  const Hash head = v.head;
  const uint64_t first = head_seq > options.window_events
                             ? head_seq - options.window_events + 1
                             : 1;
  report.window_first = first;

  // 2. The window, read back raw (the exact bytes of the log).
  std::vector<WindowEvent> events;
  std::unordered_map<std::string, std::string> keys;
  if (Status s =
          ReadWindow(options.backup_dir, first, head_seq, head, &events, &keys);
      !s.ok()) {
    return Status(s.code(), "the backup " + options.backup_dir + ": " +
                                s.message() + "; nothing was written to etcd");
  }
  std::vector<CommitBatch> batches = CutBatches(events, keys);
  events.clear();
  report.batches = batches.size();

  // 3. The claim: only on an empty prefix.
  EtcdClientOptions eo;
  eo.timeout = milliseconds(5000);
  EtcdClient etcd(options.etcd_endpoints, eo);
  const std::string& p = options.prefix;
  const std::string head_key = p + "head", leader_key = p + "leader",
                    restore_key = p + "restore", batch_prefix = p + "batch/";
  const std::string leader_value = std::string(kSeedLeaderName) + "\n";
  const std::string at = FormatRfc3339(options.clock->Now(), true);
  const std::string checkpoint_line =
      CheckpointFileLine(v.checkpoint, options.checkpoint_key);
  auto record = [&](bool done, const std::string& when) {
    return RecordText(done, head_seq, head, checkpoint_line, first,
                      batches.size(), when, options.backup_dir);
  };
  auto claimed = etcd.Txn(
      {EtcdCompare::NoKeyIn(p, EtcdClient::PrefixEnd(p))},
      {EtcdOp::Put(head_key, EncodeHead(head_seq, head)),
       EtcdOp::Put(restore_key, record(false, at)),
       EtcdOp::Put(leader_key, leader_value)},
      {EtcdOp::Get(head_key), EtcdOp::Get(leader_key), EtcdOp::Get(restore_key),
       EtcdOp::Get(p, EtcdClient::PrefixEnd(p), 1)});
  if (!claimed.ok()) {
    return Status(claimed.status().code(),
                  "etcd did not answer the claim (" +
                      claimed.status().message() +
                      "); check --etcd and run the same command again");
  }
  int64_t claim_rev = claimed->revision;
  std::string started_at = at;
  if (!claimed->succeeded) {
    // An unfinished seed of this very backup head resumes; anything else
    // is a cluster (or its remains) that the seed never writes over.
    const auto& r = *claimed;
    bool resumable = false;
    if (r.ranges.size() == 4 && !r.ranges[2].kvs.empty() &&
        !r.ranges[1].kvs.empty() && r.ranges[1].kvs[0].value == leader_value) {
      auto rec = ParseRestoreRecord(r.ranges[2].kvs[0].value);
      if (rec.ok() && !rec->done && rec->seq == head_seq && rec->head == head &&
          rec->window_first == first) {
        resumable = true;
        claim_rev = r.ranges[1].kvs[0].create_revision;
        started_at = rec->at;
      }
    }
    if (!resumable) {
      return FailedPreconditionError(
          "etcd is not empty (" + Describe(p, r) +
          "); `cluster seed` never writes over a cluster's log, nothing was "
          "written. If that cluster is live, restore single nodes from a "
          "peer's backup instead (README \"Bootstrap a node from a peer's "
          "backup\"); if it is a leftover to discard (a cluster started by "
          "mistake before the seed, an unfinished seed of another backup), "
          "stop every node and empty it first: etcdctl del --prefix " +
          p);
    }
    report.resumed = true;
  }

  // 4. The batches, in seq order, each fenced on the seed's leader key.
  const EtcdCompare fence =
      EtcdCompare::CreateRevisionEquals(leader_key, claim_rev);
  auto lost = [&](const std::string& what) {
    return FailedPreconditionError(
        "the seed lost its hold on etcd while writing " + what +
        " (the leader key " + leader_key +
        " changed: something else writes there); stopped. Stop every node, "
        "empty etcd (etcdctl del --prefix " +
        p + ") and seed again");
  };
  auto unanswered = [&](const Status& s) {
    return Status(s.code(), "etcd did not answer (" + s.message() +
                                "); run the same command again: it resumes");
  };
  uint64_t done = 0;
  const uint64_t total = head_seq - first + 1;
  for (const CommitBatch& b : batches) {
    const std::string key = batch_prefix + EncodeSeqKey(b.events.front().first);
    auto put =
        TxnRetried(etcd, {fence}, {EtcdOp::Put(key, EncodeCommitBatch(b))}, {});
    if (!put.ok()) return unanswered(put.status());
    if (!put->succeeded) return lost("seq " + N(b.events.front().first));
    done += b.events.size();
    if (options.progress) options.progress(done, total);
  }

  // 5. Done: the leader key goes (nodes elect one), the record stays.
  const std::string final_record = record(true, started_at);
  auto finished = TxnRetried(
      etcd, {fence},
      {EtcdOp::Delete(leader_key), EtcdOp::Put(restore_key, final_record)}, {});
  if (!finished.ok()) return unanswered(finished.status());
  if (!finished->succeeded) return lost("the end of the seed");
  report.record = final_record;
  return report;
}

}  // namespace iam::eventstore
