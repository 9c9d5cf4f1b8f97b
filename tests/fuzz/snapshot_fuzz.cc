// Snapshot and checkpoint decoding: bytes as a projection snapshot
// (Projections::LoadSnapshot, which must leave the view unchanged when it
// refuses), as a canonical state encoding, as a checkpoint record and as a
// checkpoint file line (with and without the key). A state that decodes
// encodes back to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/model.h"
#include "eventstore/checkpoint.h"
#include "projections/projections.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  {
    iam::projections::Projections p;
    const std::string before = p.EncodeSnapshot();
    iam::Status s = p.LoadSnapshot(bytes);
    if (!s.ok() && p.EncodeSnapshot() != before) std::abort();
    if (s.ok()) p.EncodeSnapshot();  // a loaded view encodes
  }
  {
    auto state = iam::DecodeCanonicalEncoding(bytes);
    if (state.ok() && iam::CanonicalEncoding(*state) != bytes) {
      // Not every accepted encoding need be canonical, but re-decoding the
      // canonical form must give the same state.
      auto again = iam::DecodeCanonicalEncoding(iam::CanonicalEncoding(*state));
      if (!again.ok() || !(*again == *state)) std::abort();
    }
  }
  const std::string key(32, 'k');
  for (std::string_view k : {std::string_view(), std::string_view(key)}) {
    auto cp = iam::eventstore::DecodeCheckpoint(bytes, k);
    if (cp.ok() && iam::eventstore::EncodeCheckpoint(*cp, k) != bytes &&
        !k.empty())
      std::abort();  // an authenticated record is exactly its encoding
    auto line = iam::eventstore::ParseCheckpointFileLine(bytes, k);
    if (line.ok() && !k.empty()) {
      // A line that passes the MAC names the same checkpoint when rewritten.
      auto back = iam::eventstore::ParseCheckpointFileLine(
          iam::eventstore::CheckpointFileLine(*line, k), k);
      if (!back.ok() || back->seq != line->seq || back->head != line->head)
        std::abort();
    }
  }
  return 0;
}
