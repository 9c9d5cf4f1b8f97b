// Cluster mode (cluster.h): etcd as the commit point of StoreImpl, the
// follower that takes every batch in from etcd, the election and the
// retention of etcd's window. Key layout: format.h.
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "eventstore/cluster.h"
#include "eventstore/cluster_seed.h"
#include "eventstore/codec.h"
#include "eventstore/commit_point.h"
#include "eventstore/etcd_client.h"
#include "eventstore/format.h"
#include "eventstore/store_impl.h"

namespace iam::eventstore {

// ---- the batch value (format.h) -------------------------------------------

namespace {

void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutLp(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t* v) {
    if (in_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v = (*v << 8) | static_cast<uint8_t>(in_[i]);
    in_.remove_prefix(4);
    return true;
  }
  bool U64(uint64_t* v) {
    if (in_.size() < 8) return false;
    DecodeSeqKey(in_.substr(0, 8), v);
    in_.remove_prefix(8);
    return true;
  }
  bool Lp(std::string* s) {
    uint32_t n = 0;
    if (!U32(&n) || in_.size() < n) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool Skip(std::string_view prefix) {
    if (!in_.starts_with(prefix)) return false;
    in_.remove_prefix(prefix.size());
    return true;
  }
  bool Done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string EncodeCommitBatch(const CommitBatch& batch) {
  std::string out(kBatchMagic);
  PutU32(out, static_cast<uint32_t>(batch.events.size()));
  for (const auto& [seq, envelope] : batch.events) {
    out += EncodeSeqKey(seq);
    PutLp(out, envelope);
  }
  PutU32(out, static_cast<uint32_t>(batch.key_puts.size()));
  for (const auto& [k, v] : batch.key_puts) {
    PutLp(out, k);
    PutLp(out, v);
  }
  PutU32(out, static_cast<uint32_t>(batch.key_deletes.size()));
  for (const auto& k : batch.key_deletes) PutLp(out, k);
  return out;
}

StatusOr<CommitBatch> DecodeCommitBatch(std::string_view bytes) {
  CommitBatch batch;
  Reader r(bytes);
  uint32_t n = 0;
  auto bad = [] { return DataLossError("a cluster batch is malformed"); };
  if (!r.Skip(kBatchMagic) || !r.U32(&n)) return bad();
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t seq = 0;
    std::string envelope;
    if (!r.U64(&seq) || !r.Lp(&envelope)) return bad();
    batch.events.emplace_back(seq, std::move(envelope));
  }
  if (!r.U32(&n)) return bad();
  for (uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.Lp(&k) || !r.Lp(&v)) return bad();
    batch.key_puts.emplace_back(std::move(k), std::move(v));
  }
  if (!r.U32(&n)) return bad();
  for (uint32_t i = 0; i < n; ++i) {
    std::string k;
    if (!r.Lp(&k)) return bad();
    batch.key_deletes.push_back(std::move(k));
  }
  if (!r.Done() || batch.events.empty()) return bad();
  return batch;
}

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string SeqText(uint64_t seq) { return std::to_string(seq); }

std::string EncodeHead(const ChainHead& head) {
  std::string out = EncodeSeqKey(head.seq);
  out.append(reinterpret_cast<const char*>(head.hash.data()), head.hash.size());
  return out;
}

bool DecodeHead(std::string_view v, ChainHead* head) {
  if (v.size() != 40) return false;
  DecodeSeqKey(v.substr(0, 8), &head->seq);
  std::memcpy(head->hash.data(), v.data() + 8, 32);
  return true;
}

class EtcdCluster final : public Cluster, public CommitPoint {
 public:
  explicit EtcdCluster(ClusterOptions options)
      : options_(std::move(options)),
        head_key_(options_.prefix + "head"),
        leader_key_(options_.prefix + "leader"),
        batch_prefix_(options_.prefix + "batch/"),
        applied_prefix_(options_.prefix + "applied/"),
        restore_key_(options_.prefix + "restore"),
        writer_client_(options_.etcd_endpoints, WriterClientOptions()),
        follow_client_(options_.etcd_endpoints, ReaderClientOptions()),
        elector_client_(options_.etcd_endpoints, ReaderClientOptions()) {}

  ~EtcdCluster() override { Stop(); }

  void Attach(StoreImpl* store) { store_ = store; }

  // Whether etcd answers at all (used once at open).
  Status Probe() { return elector_client_.Range(head_key_).status(); }

  Status Start() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_contact_ = SteadyClock::now();
      started_ = true;
    }
    follower_ = std::thread([this] { FollowLoop(); });
    elector_ = std::thread([this] { ElectLoop(); });
    return OkStatus();
  }

  void Stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    watch_abort_ = true;
    cv_.notify_all();
    if (follower_.joinable()) follower_.join();
    if (elector_.joinable()) elector_.join();
    leader_rev_ = 0;
    // Give up leadership (and our applied key) at once rather than after
    // the lease runs out.
    if (lease_id_ != 0) elector_client_.LeaseRevoke(lease_id_).IgnoreError();
    lease_id_ = 0;
  }

  ClusterStatus GetStatus() const override {
    ClusterStatus s;
    const auto now = SteadyClock::now();
    std::lock_guard<std::mutex> lock(mu_);
    s.role = !fatal_.ok()              ? ClusterRole::kStopped
             : leader_rev_.load() != 0 ? ClusterRole::kLeader
                                       : ClusterRole::kFollower;
    s.leader_name = leader_name_;
    s.leader_url = leader_url_;
    s.applied_seq = store_->LastSeq();
    s.cluster_seq = cluster_seq_;
    s.caught_up = caught_up_;
    if (!fatal_.ok()) {
      s.cut_off = true;
      s.reason = "replication stopped: " + fatal_.message();
    } else if (now - last_contact_ > options_.max_staleness) {
      s.cut_off = true;
      s.reason =
          "cut off from etcd for " +
          SeqText(std::chrono::duration_cast<milliseconds>(now - last_contact_)
                      .count()) +
          " ms (more than --max-staleness)";
    } else if (behind_since_ != SteadyClock::time_point() &&
               now - behind_since_ > options_.max_staleness) {
      s.cut_off = true;
      s.reason = "this node's log (seq " + SeqText(s.applied_seq) +
                 ") has been behind the cluster (seq " + SeqText(cluster_seq_) +
                 ") for more than --max-staleness";
    }
    return s;
  }

  bool WaitForSeq(uint64_t seq, milliseconds timeout) const override {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      auto now = SteadyClock::now();
      if (now >= deadline) return store_->LastSeq() >= seq;
      uint64_t last = store_->WaitForEvents(
          seq - 1, std::chrono::duration_cast<milliseconds>(deadline - now));
      if (last >= seq) return true;
    }
  }

  // ---- the commit point (writer thread) ----

  CommitOutcome Commit(const ChainHead& prev, const ChainHead& next,
                       const CommitBatch& batch) override {
    const int64_t rev = leader_rev_.load();
    if (rev == 0) {
      return {UnavailableError("this node is not the cluster's leader" +
                               LeaderHint()),
              {}};
    }
    std::vector<EtcdCompare> compares = {
        EtcdCompare::CreateRevisionEquals(leader_key_, rev),
        prev.seq == 0 ? EtcdCompare::CreateRevisionEquals(head_key_, 0)
                      : EtcdCompare::ValueEquals(head_key_, EncodeHead(prev))};
    std::vector<EtcdOp> success = {
        EtcdOp::Put(BatchKey(prev.seq + 1), EncodeCommitBatch(batch)),
        EtcdOp::Put(head_key_, EncodeHead(next))};
    std::vector<EtcdOp> failure = {
        EtcdOp::Get(head_key_), EtcdOp::Get(leader_key_),
        EtcdOp::Get(BatchKey(prev.seq + 1),
                    EtcdClient::PrefixEnd(batch_prefix_), 64)};
    auto result = writer_client_.Txn(compares, success, failure);
    if (!result.ok()) {
      return {UnavailableError("etcd did not confirm the commit (its outcome "
                               "is unknown; retry): " +
                               result.status().message()),
              {}};
    }
    MarkContact();
    if (result->succeeded) return {OkStatus(), {}};
    if (result->ranges.size() != 3) {
      return {UnavailableError("etcd: unexpected txn answer"), {}};
    }
    const EtcdRange& leader = result->ranges[1];
    if (leader.kvs.empty() || leader.kvs[0].create_revision != rev) {
      StepDown();
      return {UnavailableError("this node lost the cluster's leadership; "
                               "retry"),
              {}};
    }
    CommitOutcome out;
    ChainHead head;
    if (!result->ranges[0].kvs.empty())
      DecodeHead(result->ranges[0].kvs[0].value, &head);
    out.status = AbortedError("the cluster's head is at seq " +
                              SeqText(head.seq) + ", not " + SeqText(prev.seq));
    for (const auto& kv : result->ranges[2].kvs) {
      auto batch_or = DecodeCommitBatch(kv.value);
      if (!batch_or.ok()) {
        out.status = batch_or.status();
        break;
      }
      out.missed.push_back(std::move(*batch_or));
    }
    return out;
  }

 private:
  static EtcdClientOptions WriterClientOptions() {
    EtcdClientOptions o;
    o.timeout = milliseconds(3000);
    return o;
  }
  static EtcdClientOptions ReaderClientOptions() {
    EtcdClientOptions o;
    o.timeout = milliseconds(1500);
    return o;
  }

  std::string BatchKey(uint64_t first_seq) const {
    return batch_prefix_ + EncodeSeqKey(first_seq);
  }

  std::string LeaderHint() const {
    std::lock_guard<std::mutex> lock(mu_);
    return leader_name_.empty() ? "" : " (the leader is " + leader_name_ + ")";
  }

  void MarkContact() {
    std::lock_guard<std::mutex> lock(mu_);
    last_contact_ = SteadyClock::now();
  }

  void StepDown() {
    leader_rev_ = 0;
    std::lock_guard<std::mutex> lock(mu_);
    if (leader_name_ == options_.node_name) {
      leader_name_.clear();
      leader_url_.clear();
    }
  }

  bool Stopping() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stopping_ || !fatal_.ok();
  }

  // Sleeps `d` unless stopping; false when stopping.
  bool Sleep(milliseconds d) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, d, [&] { return stopping_ || !fatal_.ok(); });
    return !stopping_ && fatal_.ok();
  }

  void Fatal(const Status& why) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!fatal_.ok()) return;
      fatal_ = why;
    }
    leader_rev_ = 0;
    watch_abort_ = true;
    cv_.notify_all();
    if (options_.on_fatal) options_.on_fatal(why);
  }

  // Hands a batch to the writer thread and waits for it.
  Status Replicate(CommitBatch batch) {
    std::promise<iam::Status> done;
    auto future = done.get_future();
    store_->ReplicateAsync(std::move(batch),
                           [&done](Status s) { done.set_value(std::move(s)); });
    return future.get();
  }

  // Takes in one batch value from etcd; false when the node must stop.
  bool TakeIn(const EtcdKeyValue& kv) {
    auto batch = DecodeCommitBatch(kv.value);
    if (!batch.ok()) {
      Fatal(DataLossError("the batch after seq " + SeqText(store_->LastSeq()) +
                          " in etcd: " + batch.status().message()));
      return false;
    }
    Status s = Replicate(std::move(*batch));
    if (!s.ok()) {
      if (s.code() == StatusCode::kUnavailable && Stopping()) return false;
      Fatal(s);
      return false;
    }
    return true;
  }

  // ---- following: range from the next seq, then watch ----

  // ": the cluster was restored ... <what to do>" when etcd holds the
  // record of a restore (cluster_seed.h) older than this node's log; ""
  // otherwise (or when etcd does not answer). `client`: the calling
  // thread's.
  std::string RestoreHint(EtcdClient& client, uint64_t local_seq) {
    auto r = client.Range(restore_key_);
    if (!r.ok() || r->kvs.empty()) return "";
    auto rec = ParseRestoreRecord(r->kvs[0].value);
    if (!rec.ok() || local_seq <= rec->seq) return "";
    return ": the cluster was restored from a backup at seq " +
           SeqText(rec->seq) + " (`iamledger cluster seed`, " + rec->at +
           ", from " + rec->from + "), which rolled back seqs " +
           SeqText(rec->seq + 1) + ".." + SeqText(local_seq) +
           " that this node's log still holds. Rebuild this node: stop it, "
           "move its data directory and its .checkpoint file away, then "
           "either copy a current backup of a node of the restored cluster "
           "(or the backup it was restored from) with its .checkpoint file "
           "in their place, or start it empty (README \"Backup and restore "
           "in a cluster\")";
  }

  // A node whose log goes past a restored head must hold the restored
  // cluster's events after it, not the ones the restore rolled back: its
  // seq R+1 is compared with the cluster's first batch after the restore
  // (when etcd still holds it). False when the node must stop.
  bool CheckNotRolledBack() {
    auto r = follow_client_.Range(restore_key_);
    if (!r.ok() || r->kvs.empty()) return true;
    auto rec = ParseRestoreRecord(r->kvs[0].value);
    if (!rec.ok() || !rec->done || store_->LastSeq() <= rec->seq) return true;
    const uint64_t after = rec->seq + 1;
    auto b = follow_client_.Range(BatchKey(after));
    if (!b.ok() || b->kvs.empty())
      return true;  // not there (yet): the head
                    // compare or the chain tells
    auto batch = DecodeCommitBatch(b->kvs[0].value);
    if (!batch.ok()) return true;  // TakeIn reports it
    auto theirs = DecodeRecordedEvent(after, batch->events.front().second);
    struct HashOf final : EventSink {
      Hash hash{};
      Status Apply(const RecordedEvent& e) override {
        hash = e.hash;
        return OkStatus();
      }
    } ours;
    if (!theirs.ok() || !store_->ReadFrom(after, &ours, after).ok())
      return true;
    if (theirs->hash == ours.hash) return true;
    Fatal(DataLossError("seq " + SeqText(after) +
                        ": this node's event differs from the cluster's" +
                        RestoreHint(follow_client_, store_->LastSeq())));
    return false;
  }

  void FollowLoop() {
    if (!CheckNotRolledBack()) return;
    while (!Stopping()) {
      const uint64_t next = store_->LastSeq() + 1;
      auto range = follow_client_.Range(
          BatchKey(next), EtcdClient::PrefixEnd(batch_prefix_), 64);
      if (!range.ok()) {
        if (!Sleep(milliseconds(200))) return;
        continue;
      }
      if (!range->kvs.empty()) {
        uint64_t first = 0;
        auto batch = DecodeCommitBatch(range->kvs[0].value);
        if (batch.ok()) first = batch->events.front().first;
        if (batch.ok() && first > next) {
          Fatal(FailedPreconditionError(
              "seq " + SeqText(next) +
              " is no longer in etcd (its window starts at seq " +
              SeqText(first) +
              "): this node fell behind the cluster's retention window. "
              "Bootstrap it from a peer's backup (README, \"Running a "
              "cluster\"), then start it again"));
          return;
        }
        for (const auto& kv : range->kvs) {
          if (!TakeIn(kv)) return;
        }
        if (range->more) continue;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        caught_up_ = true;
      }
      watch_abort_ = false;
      if (Stopping()) return;
      bool gap = false;
      Status watched = follow_client_.Watch(
          batch_prefix_, EtcdClient::PrefixEnd(batch_prefix_),
          range->revision + 1,
          [&](const EtcdWatchResponse& r) {
            for (const auto& ev : r.events) {
              if (ev.is_delete) continue;  // retention
              if (ev.kv.key.size() != batch_prefix_.size() + 8) continue;
              uint64_t first = 0;
              DecodeSeqKey(
                  std::string_view(ev.kv.key).substr(batch_prefix_.size()),
                  &first);
              if (first > store_->LastSeq() + 1) {
                gap = true;  // read the range again
                return false;
              }
              if (!TakeIn(ev.kv)) return false;
            }
            return true;
          },
          &watch_abort_);
      if (!watched.ok() && !gap && !Sleep(milliseconds(100))) return;
    }
  }

  // ---- election, health, applied seq, retention ----

  void ElectLoop() {
    const milliseconds tick(150);
    auto last_keepalive = SteadyClock::now();
    auto last_applied_put = SteadyClock::time_point();
    auto last_retention = SteadyClock::now();
    uint64_t applied_put = 0;
    const auto ttl =
        std::chrono::duration_cast<milliseconds>(options_.lease_ttl);
    while (Sleep(tick)) {
      const auto now = SteadyClock::now();
      if (!store_->WriteError().ok()) {
        Fatal(store_->WriteError());
        return;
      }
      // The lease: ours, renewed every third of its TTL.
      if (lease_id_ == 0) {
        auto id = elector_client_.LeaseGrant(options_.lease_ttl.count());
        if (id.ok()) {
          lease_id_ = *id;
          last_keepalive = now;
        }
      } else if (now - last_keepalive >= ttl / 3) {
        auto left = elector_client_.LeaseKeepAlive(lease_id_);
        if (left.ok() && *left > 0) {
          last_keepalive = now;
        } else if ((left.ok() && *left == 0) || now - last_keepalive > ttl) {
          lease_id_ = 0;  // expired: whatever we held under it is gone
          StepDown();
        }
      }
      if (leader_rev_ != 0 && now - last_keepalive > ttl) StepDown();

      // One linearizable round trip: the head, the leader and (for the
      // leader's retention) every node's applied seq; our applied seq put.
      const ChainHead local = store_->Head();
      std::vector<EtcdOp> ops = {
          EtcdOp::Get(head_key_), EtcdOp::Get(leader_key_),
          EtcdOp::Get(applied_prefix_, EtcdClient::PrefixEnd(applied_prefix_))};
      if (lease_id_ != 0 && (local.seq != applied_put ||
                             now - last_applied_put > milliseconds(1000))) {
        ops.push_back(EtcdOp::Put(applied_prefix_ + options_.node_name,
                                  EncodeSeqKey(local.seq), lease_id_));
      }
      auto r = elector_client_.Txn({}, ops, {});
      if (!r.ok() || r->ranges.size() != 3) continue;
      MarkContact();
      if (ops.size() == 4) {
        applied_put = local.seq;
        last_applied_put = now;
      }
      ChainHead head;
      if (!r->ranges[0].kvs.empty())
        DecodeHead(r->ranges[0].kvs[0].value, &head);
      if (head.seq < local.seq) {
        std::string hint = RestoreHint(elector_client_, local.seq);
        Fatal(DataLossError(
            "seq " + SeqText(local.seq) +
            ": this node's log is ahead of the cluster's head (seq " +
            SeqText(head.seq) + ")" +
            (hint.empty()
                 ? "; was etcd reset? This data directory belongs to another "
                   "cluster. If etcd was lost, restore the cluster from a "
                   "backup with `iamledger cluster seed` (README \"Backup "
                   "and restore in a cluster\")"
                 : hint)));
        return;
      }
      if (head.seq == local.seq && local.seq > 0 && head.hash != local.hash) {
        Fatal(DataLossError("seq " + SeqText(local.seq) +
                            ": fork: the cluster's head hash differs from "
                            "this node's" +
                            RestoreHint(elector_client_, local.seq)));
        return;
      }
      UpdateLeader(r->ranges[1], head, local);
      {
        std::lock_guard<std::mutex> lock(mu_);
        cluster_seq_ = head.seq;
        if (head.seq > local.seq) {
          if (behind_since_ == SteadyClock::time_point()) behind_since_ = now;
        } else {
          behind_since_ = SteadyClock::time_point();
        }
        // A watch that stopped delivering (its member hangs): start over.
        if (behind_since_ != SteadyClock::time_point() &&
            now - behind_since_ > milliseconds(1000) &&
            now - last_kick_ > milliseconds(1000)) {
          watch_abort_ = true;
          last_kick_ = now;
        }
      }
      if (leader_rev_ != 0 &&
          now - last_retention > options_.retention_interval) {
        last_retention = now;
        Retain(head, r->ranges[2]);
      }
    }
  }

  void UpdateLeader(const EtcdRange& leader, const ChainHead& head,
                    const ChainHead& local) {
    if (leader.kvs.empty()) {
      StepDown();
      {
        std::lock_guard<std::mutex> lock(mu_);
        leader_name_.clear();
        leader_url_.clear();
      }
      if (lease_id_ != 0) Campaign(head, local);
      return;
    }
    const EtcdKeyValue& kv = leader.kvs[0];
    if (leader_rev_ != 0 && kv.create_revision != leader_rev_) StepDown();
    size_t nl = kv.value.find('\n');
    std::lock_guard<std::mutex> lock(mu_);
    leader_name_ = kv.value.substr(0, nl);
    leader_url_ = nl == std::string::npos ? "" : kv.value.substr(nl + 1);
  }

  void Campaign(const ChainHead& head, const ChainHead& local) {
    // Only a node that holds the whole log may lead (it reads the head
    // first: the commit compares it anyway).
    if (local.seq < head.seq) return;
    auto r = elector_client_.Txn(
        {EtcdCompare::CreateRevisionEquals(leader_key_, 0)},
        {EtcdOp::Put(leader_key_,
                     options_.node_name + "\n" + options_.advertise_url,
                     lease_id_)},
        {});
    if (!r.ok() || !r->succeeded) return;
    leader_rev_ = r->revision;  // the put's revision is its create_revision
    {
      std::lock_guard<std::mutex> lock(mu_);
      leader_name_ = options_.node_name;
      leader_url_ = options_.advertise_url;
    }
    if (head.seq == 0 && local.seq == 0 && options_.initial_append) {
      store_->AppendAsync(options_.initial_append(),
                          [](StatusOr<AppendResult>) {});
    }
  }

  // Deletes the batches that every live node has applied and that lie
  // more than retain_events behind the head, then compacts etcd.
  void Retain(const ChainHead& head, const EtcdRange& applied) {
    uint64_t floor = store_->LastSeq();
    for (const auto& kv : applied.kvs) {
      uint64_t seq = 0;
      if (DecodeSeqKey(kv.value, &seq)) floor = std::min(floor, seq);
    }
    if (head.seq <= options_.retain_events) return;
    floor = std::min(floor, head.seq - options_.retain_events);
    if (floor == 0) return;
    // The first batch that starts after the floor: everything before it is
    // applied everywhere (nodes apply whole batches).
    auto after = elector_client_.Range(BatchKey(floor + 1),
                                       EtcdClient::PrefixEnd(batch_prefix_), 1);
    if (!after.ok() || after->kvs.empty()) return;
    const std::string& end = after->kvs[0].key;
    auto first = elector_client_.Range(batch_prefix_, end, 1);
    if (!first.ok() || first->kvs.empty()) return;  // nothing to delete
    auto deleted =
        elector_client_.Txn({}, {EtcdOp::Delete(batch_prefix_, end)}, {});
    if (!deleted.ok()) return;
    elector_client_.Compact(deleted->revision).IgnoreError();
  }

  const ClusterOptions options_;
  const std::string head_key_;
  const std::string leader_key_;
  const std::string batch_prefix_;
  const std::string applied_prefix_;
  const std::string restore_key_;
  StoreImpl* store_ = nullptr;

  EtcdClient writer_client_;   // the writer thread's
  EtcdClient follow_client_;   // the follower's
  EtcdClient elector_client_;  // the elector's (and Stop's)

  std::atomic<int64_t> leader_rev_{0};  // 0: not the leader
  std::atomic<int64_t> lease_id_{0};
  std::atomic<bool> watch_abort_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  Status fatal_;
  std::string leader_name_;
  std::string leader_url_;
  uint64_t cluster_seq_ = 0;
  bool caught_up_ = false;
  SteadyClock::time_point last_contact_ = SteadyClock::now();
  SteadyClock::time_point behind_since_{};
  SteadyClock::time_point last_kick_{};

  std::thread follower_;
  std::thread elector_;
};

}  // namespace

StatusOr<ClusterStore> OpenClusterEventStore(const std::string& dir,
                                             StoreOptions options,
                                             ClusterOptions cluster_options) {
  if (cluster_options.etcd_endpoints.empty()) {
    return InvalidArgumentError("cluster mode needs --etcd");
  }
  if (cluster_options.node_name.empty() ||
      cluster_options.node_name.find_first_of("\n/") != std::string::npos) {
    return InvalidArgumentError(
        "--node-name must be non-empty, without '/' or newlines");
  }
  auto cluster = std::make_unique<EtcdCluster>(std::move(cluster_options));
  // Groups stay well below etcd's request limit (1.5 MiB by default).
  options.max_group_requests =
      std::min<size_t>(options.max_group_requests, 256);
  IAM_ASSIGN_OR_RETURN(
      auto store, OpenRocksStoreImpl(dir, std::move(options), cluster.get()));
  cluster->Attach(store.get());
  ClusterStore out;
  out.cluster = std::move(cluster);
  out.store = std::move(store);
  return out;
}

}  // namespace iam::eventstore
