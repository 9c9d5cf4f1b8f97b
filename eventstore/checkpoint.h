// Checkpoint records (format.h): encode, decode, authenticate.
#ifndef IAMLEDGER_EVENTSTORE_CHECKPOINT_H_
#define IAMLEDGER_EVENTSTORE_CHECKPOINT_H_

#include <string>
#include <string_view>

#include "eventstore/event_store.h"

namespace iam::eventstore {

// The binary record for meta, and the one-line text for the file.
std::string EncodeCheckpoint(const Checkpoint& cp, std::string_view key);
std::string CheckpointFileLine(const Checkpoint& cp, std::string_view key);

// Parses either form. With a non-empty key the MAC must verify
// (kDataLoss otherwise); with an empty key it is not checked.
StatusOr<Checkpoint> DecodeCheckpoint(std::string_view record,
                                      std::string_view key);
StatusOr<Checkpoint> ParseCheckpointFileLine(std::string_view line,
                                             std::string_view key);

// Reads and parses the checkpoint file; kNotFound when it does not exist.
StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path,
                                        std::string_view key);
// Writes the file atomically (temp + fsync + rename + fsync dir).
Status WriteCheckpointFile(const std::string& path, const Checkpoint& cp,
                           std::string_view key);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_CHECKPOINT_H_
