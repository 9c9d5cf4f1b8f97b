// The on-disk format of iamledger, written down once. Everything that reads
// or writes these bytes lives in eventstore/ and follows this page.
//
// One RocksDB database per data directory, three column families:
//
//   events   key   = u64be(seq)                 seq = 1, 2, 3, ... no gaps
//            value = Envelope FlatBuffer         (schema/iam_events.fbs,
//                                                 file identifier "IAME")
//   keys     key   = "token/" + token id
//            value = the token's data key, sealed (AES-256-GCM) under the
//                    wrapping key, aad = the key string. Deleted with the
//                    token (crypto-shredding); never part of the log.
//   meta     "format"           -> "1"   (kFormatVersion)
//            "checkpoint"       -> checkpoint record (below)
//            "stream/" + stream -> u64be(current stream version); written in
//                                  the same batch as the stream's events
//            "snapshot"         -> projection snapshot (projections layer),
//                                  a large value (below)
//            "snapshot" + "\0part\0" + u64be(generation) + u32be(i)
//                               -> part i of that generation of "snapshot"
//            "usage/" + token id -> u64be(last_used_at, unix micros): token
//                                  usage (API.md last_used_at), outside the
//                                  hash chain, written without sync, at most
//                                  once per token per 15 minutes; deleted
//                                  with the token
//
// Hash chain. Every envelope carries prev_hash (the hash of seq - 1; 32 zero
// bytes for seq 1) and
//   hash = SHA-256(prev_hash || canonical)
//   canonical = "iamledger-event-v1" || u64be(seq) || i64be(recorded_at)
//               || lp(actor) || lp(request_id) || lp(source) || lp(stream)
//               || u64be(stream_version) || lp(payload)
//   lp(x) = u32be(len(x)) || x, and payload = the exact nested Payload bytes.
//
// Checkpoint record (meta "checkpoint", and the text file
// "<data dir>.checkpoint" beside the data directory):
//   binary: u64be(seq) || head hash (32) || mac (32)
//   file:   "iamledger-checkpoint v1 <seq> <head hex> <mac hex>\n"
//   mac = HMAC-SHA256(checkpoint key, "iamledger-checkpoint-v1" ||
//                     u64be(seq) || head); all zeros when written without key.
//
// Cluster mode (DESIGN.md §10): the commit point is etcd, under a prefix
// P (default "/iamledger/"):
//
//   P "head"            -> u64be(seq) || hash (32): the chain head
//   P "leader"          -> node name "\n" advertise URL; put with the
//                          leader's lease (its create_revision fences
//                          every commit)
//   P "batch/" + u64be(first seq)
//                       -> one group commit, encoded:
//        "IAMB1" || u32be(n) || n * (u64be(seq) || lp(envelope))
//                || u32be(k) || k * (lp(key) || lp(wrapped data key))
//                || u32be(d) || d * lp(deleted key)
//        the envelopes are the exact bytes of the local `events` family
//        (same hash chain); the keys are the `keys` family's writes.
//   P "applied/" + node -> u64be(seq the node has applied); put with the
//                          node's lease, so a stopped node drops out
#ifndef IAMLEDGER_EVENTSTORE_FORMAT_H_
#define IAMLEDGER_EVENTSTORE_FORMAT_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace iam::eventstore {

inline constexpr std::string_view kFormatVersion = "1";  // DO NOT CHANGE
inline constexpr std::string_view kEventsFamily = "events";
inline constexpr std::string_view kKeysFamily = "keys";
inline constexpr std::string_view kMetaFamily = "meta";
inline constexpr std::string_view kMetaFormatKey = "format";
inline constexpr std::string_view kMetaCheckpointKey = "checkpoint";
inline constexpr std::string_view kMetaStreamPrefix = "stream/";
inline constexpr std::string_view kMetaSnapshotKey = "snapshot";
inline constexpr std::string_view kMetaUsagePrefix = "usage/";

inline constexpr std::string_view kEventHashDomain = "iamledger-event-v1";
inline constexpr std::string_view kCheckpointDomain = "iamledger-checkpoint-v1";

// Verifier limits for one envelope (events are small; these bound a hostile
// or corrupted value).
inline constexpr size_t kMaxEnvelopeBytes = 1 << 20;
inline constexpr unsigned kMaxEnvelopeDepth = 16;
inline constexpr unsigned kMaxEnvelopeTables = 10000;

inline std::string EncodeSeqKey(uint64_t seq) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(seq & 0xff);
    seq >>= 8;
  }
  return key;
}

inline constexpr std::string_view kBatchMagic = "IAMB1";

// False when `key` is not 8 bytes.
inline bool DecodeSeqKey(std::string_view key, uint64_t* seq) {
  if (key.size() != 8) return false;
  uint64_t v = 0;
  for (unsigned char c : key) v = (v << 8) | c;
  *seq = v;
  return true;
}

// Large meta values (LogBackend::PutLargeMeta; the snapshot), RocksDB: the
// value itself in parts of at most kLargeMetaPart bytes under
// LargeMetaPartKey(key, generation, i), and under `key` the head
//   kLargeMetaMagic || u64be(generation) || u32be(parts) || u64be(size)
// (a meta value never starts with 0xFF otherwise: seqs are big-endian).
// A head without its parts is data loss; a value under `key` that is not a
// head is the whole value (as every format-1 store wrote it before parts).
inline constexpr size_t kLargeMetaPart = size_t{1} << 20;
inline constexpr std::string_view kLargeMetaMagic = "\xFFlarge1";
inline std::string EncodeU32be(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}
inline std::string LargeMetaPartKey(std::string_view key, uint64_t generation,
                                    uint32_t i) {
  std::string k(key);
  k.append("\0part\0", 6);
  return k + EncodeSeqKey(generation) + EncodeU32be(i);
}
inline std::string EncodeLargeMetaHead(uint64_t generation, uint32_t parts,
                                       uint64_t size) {
  return std::string(kLargeMetaMagic) + EncodeSeqKey(generation) +
         EncodeU32be(parts) + EncodeSeqKey(size);
}
inline bool DecodeLargeMetaHead(std::string_view h, uint64_t* generation,
                                uint32_t* parts, uint64_t* size) {
  const size_t m = kLargeMetaMagic.size();
  if (h.size() != m + 20 || !h.starts_with(kLargeMetaMagic)) return false;
  DecodeSeqKey(h.substr(m, 8), generation);
  *parts = 0;
  for (size_t i = m + 8; i < m + 12; ++i) {
    *parts = (*parts << 8) | static_cast<unsigned char>(h[i]);
  }
  return DecodeSeqKey(h.substr(m + 12, 8), size);
}

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_FORMAT_H_
