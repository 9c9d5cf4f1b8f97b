// RecordedEvent <-> Envelope bytes (format.h), and the hash chain's hash.
// The only code that includes the generated FlatBuffers header besides
// white-box tests.
#ifndef IAMLEDGER_EVENTSTORE_CODEC_H_
#define IAMLEDGER_EVENTSTORE_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/events.h"
#include "core/status.h"

namespace iam::eventstore {

// Encodes `event` (every field but `hash`, which it computes and stores into
// event->hash) as an Envelope.
std::string EncodeRecordedEvent(RecordedEvent* event);

// Verifies and decodes the value stored under `key_seq`: the FlatBuffers
// Verifier (bounded size, depth, tables), seq == key_seq, a known event
// type, stream == StreamOf(event), and the stored hash == the recomputed
// one. Any failure is kDataLoss "seq N: <what>". The chain link (prev_hash
// == hash of key_seq - 1) is the caller's to check.
StatusOr<RecordedEvent> DecodeRecordedEvent(uint64_t key_seq,
                                            std::string_view bytes);

// The same, into `*out`: its strings and lists keep their storage where they
// can (a reader decoding many events into one RecordedEvent allocates
// little). On error `*out` holds some mix of old and new fields.
Status DecodeRecordedEventInto(uint64_t key_seq, std::string_view bytes,
                               RecordedEvent* out);

// DecodeRecordedEventInto in two parts, for a reader that leaves the hash to
// another thread: every check but the last (the hash), with `*payload`
// receiving the bytes the hash covers; then VerifyRecordedEventHash, the
// check DecodeRecordedEventInto ends with. An event is verified, and may be
// used, only once both returned OK.
Status DecodeRecordedEventDeferringHash(uint64_t key_seq,
                                        std::string_view bytes,
                                        RecordedEvent* out,
                                        std::string* payload);
Status VerifyRecordedEventHash(const RecordedEvent& event,
                               std::string_view payload);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CODEC_H_
