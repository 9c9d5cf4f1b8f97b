// F2: bytes as a stored event value: the envelope decoder and verifier
// (FlatBuffers Verifier, seq, stream, hash), in both the one-step and the
// deferred-hash forms, which must agree. A verified event is applied to a
// fresh fold: verify passes => apply never reads out of bounds (ASan), and
// a verified event re-encodes into one that decodes to the same event.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/model.h"
#include "eventstore/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint64_t seq = 1 + (data[0] % 4);  // the key it was stored under
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  auto one = iam::eventstore::DecodeRecordedEvent(seq, bytes);
  iam::RecordedEvent deferred;
  std::string payload;
  iam::Status first = iam::eventstore::DecodeRecordedEventDeferringHash(
      seq, bytes, &deferred, &payload);
  iam::Status second =
      first.ok() ? iam::eventstore::VerifyRecordedEventHash(deferred, payload)
                 : first;
  if (one.ok() != second.ok()) std::abort();  // the two paths disagree
  if (!one.ok()) {
    if (one.status().message().empty()) std::abort();
    return 0;
  }
  // FlatBuffers bytes are not canonical, so the hash (over the stored
  // payload bytes) may change on re-encoding; the event itself may not.
  iam::RecordedEvent copy = *one;
  std::string again = iam::eventstore::EncodeRecordedEvent(&copy);
  auto back = iam::eventstore::DecodeRecordedEvent(copy.seq, again);
  if (!back.ok() || !(*back == copy)) std::abort();
  iam::IamState state;
  iam::Evolve(state, *one).IgnoreError();  // may not apply; must not crash
  return 0;
}
