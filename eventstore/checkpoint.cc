#include "eventstore/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "eventstore/crypto.h"
#include "eventstore/format.h"

namespace iam::eventstore {
namespace {

std::string Mac(const Checkpoint& cp, std::string_view key) {
  if (key.empty()) return std::string(32, '\0');
  std::string msg(kCheckpointDomain);
  msg += EncodeSeqKey(cp.seq);
  msg.append(reinterpret_cast<const char*>(cp.head.data()), cp.head.size());
  return HmacSha256(key, msg);
}

Status CheckMac(const Checkpoint& cp, std::string_view mac,
                std::string_view key) {
  if (key.empty()) return OkStatus();
  if (!ConstantTimeEquals(Mac(cp, key), mac)) {
    return DataLossError("checkpoint at seq " + std::to_string(cp.seq) +
                         " fails its HMAC: it was altered, or the key file "
                         "is not the one this log was written with");
  }
  return OkStatus();
}

bool FromHex(std::string_view hex, std::string* out) {
  if (hex.size() % 2) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(hex[i]), lo = nib(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

Status SyncDir(const std::string& path) {
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos)
    dir = slash == 0 ? "/" : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return UnavailableError("cannot open directory " + dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return UnavailableError("fsync of directory " + dir + " failed");
  return OkStatus();
}

}  // namespace

std::string EncodeCheckpoint(const Checkpoint& cp, std::string_view key) {
  std::string out = EncodeSeqKey(cp.seq);
  out.append(reinterpret_cast<const char*>(cp.head.data()), cp.head.size());
  out += Mac(cp, key);
  return out;
}

std::string CheckpointFileLine(const Checkpoint& cp, std::string_view key) {
  return "iamledger-checkpoint v1 " + std::to_string(cp.seq) + " " +
         ToHex(cp.head) + " " + ToHex(Mac(cp, key)) + "\n";
}

StatusOr<Checkpoint> DecodeCheckpoint(std::string_view record,
                                      std::string_view key) {
  if (record.size() != 8 + 32 + 32)
    return DataLossError("checkpoint record has a wrong size");
  Checkpoint cp;
  DecodeSeqKey(record.substr(0, 8), &cp.seq);
  std::memcpy(cp.head.data(), record.data() + 8, 32);
  IAM_RETURN_IF_ERROR(CheckMac(cp, record.substr(40), key));
  return cp;
}

StatusOr<Checkpoint> ParseCheckpointFileLine(std::string_view line,
                                             std::string_view key) {
  std::istringstream in{std::string(line)};
  std::string magic, version, seq, head_hex, mac_hex;
  in >> magic >> version >> seq >> head_hex >> mac_hex;
  std::string head, mac;
  Checkpoint cp;
  // from_chars, not stoull: a seq past 2^64-1 is a malformed file, not an
  // exception out of the parser (found by snapshot_fuzz).
  const auto [end, ec] =
      std::from_chars(seq.data(), seq.data() + seq.size(), cp.seq);
  if (magic != "iamledger-checkpoint" || version != "v1" || seq.empty() ||
      seq.find_first_not_of("0123456789") != std::string::npos ||
      ec != std::errc() || end != seq.data() + seq.size() ||
      !FromHex(head_hex, &head) || head.size() != 32 ||
      !FromHex(mac_hex, &mac) || mac.size() != 32) {
    return DataLossError("checkpoint file is malformed");
  }
  std::memcpy(cp.head.data(), head.data(), 32);
  IAM_RETURN_IF_ERROR(CheckMac(cp, mac, key));
  return cp;
}

StatusOr<Checkpoint> ReadCheckpointFile(const std::string& path,
                                        std::string_view key) {
  std::ifstream in(path);
  if (!in) return NotFoundError("no checkpoint file " + path);
  std::string line;
  std::getline(in, line);
  return ParseCheckpointFileLine(line, key);
}

Status WriteCheckpointFile(const std::string& path, const Checkpoint& cp,
                           std::string_view key) {
  std::string tmp = path + ".tmp";
  std::string line = CheckpointFileLine(cp, key);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return UnavailableError("cannot write " + tmp + ": " +
                            std::strerror(errno));
  }
  bool ok = ::write(fd, line.data(), line.size()) ==
                static_cast<ssize_t>(line.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    return UnavailableError("cannot write checkpoint file " + path);
  }
  return SyncDir(path);
}

}  // namespace iam::eventstore
