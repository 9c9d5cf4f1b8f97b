#include "projections/projections.h"

#include <algorithm>
#include <type_traits>
#include <variant>

namespace iam::projections {
namespace {

void Unindex(View& v, const std::string& digest, const std::string& id) {
  auto it = v.tokens_by_digest.find(digest);
  if (it == v.tokens_by_digest.end()) return;
  std::erase(it->second, id);
  if (it->second.empty()) v.tokens_by_digest.erase(it);
}

// Keeps each id list sorted, so that the live fold, a replay and a loaded
// snapshot (which indexes the tokens in id order) hold the same lists and
// ActiveTokenByDigest picks the same token among several sharing a value.
void Index(View& v, const std::string& digest, const std::string& id) {
  auto& ids = v.tokens_by_digest[digest];
  ids.insert(std::lower_bound(ids.begin(), ids.end(), id), id);
}

}  // namespace

const Token* View::ActiveTokenByDigest(std::string_view digest) const {
  // The map is keyed by std::string: reuse one per thread rather than
  // allocate a key on every authentication.
  thread_local std::string key;
  key.assign(digest);
  auto it = tokens_by_digest.find(key);
  if (it == tokens_by_digest.end()) return nullptr;
  for (const auto& id : it->second) {
    auto t = state.tokens.find(id);
    if (t != state.tokens.end() && t->second.active) return &t->second;
  }
  return nullptr;
}

Status Projections::Apply(const RecordedEvent& event) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  if (event.seq != view_.state.last_seq + 1) {
    return DataLossError("seq " + std::to_string(event.seq) +
                         ": projections are at seq " +
                         std::to_string(view_.state.last_seq));
  }
  // The digest of a token about to be deleted is gone after Evolve.
  const TokenDeleted* deleted = std::get_if<TokenDeleted>(&event.event);
  std::string deleted_digest;
  if (deleted != nullptr) {
    auto it = view_.state.tokens.find(deleted->id);
    if (it != view_.state.tokens.end()) {
      deleted_digest = it->second.value_digest;
    }
  }
  IAM_RETURN_IF_ERROR(Evolve(view_.state, event));
  if (const auto* created = std::get_if<TokenCreated>(&event.event)) {
    Index(view_, created->value_digest, created->id);
  } else if (deleted != nullptr) {
    Unindex(view_, deleted_digest, deleted->id);
  }
  view_.history[event.stream].push_back(event.seq);
  return OkStatus();
}

uint64_t Projections::last_seq() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return view_.state.last_seq;
}

namespace {

constexpr std::string_view kSnapshotMagic = "iamledger-snapshot/1";

void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
bool GetU64(std::string_view& in, uint64_t* v) {
  if (in.size() < 8) return false;
  *v = 0;
  for (int i = 0; i < 8; ++i)
    *v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  in.remove_prefix(8);
  return true;
}
bool GetBytes(std::string_view& in, std::string_view* out) {
  uint64_t n = 0;
  if (!GetU64(in, &n) || n > in.size()) return false;
  *out = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

}  // namespace

std::string Projections::EncodeSnapshot(uint64_t* seq) const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  if (seq != nullptr) *seq = view_.state.last_seq;
  std::string out(kSnapshotMagic);
  std::string state = CanonicalEncoding(view_.state);
  PutU64(out, state.size());
  out += state;
  PutU64(out, view_.history.size());
  for (const auto& [stream, seqs] : view_.history) {
    PutU64(out, stream.size());
    out += stream;
    PutU64(out, seqs.size());
    for (uint64_t seq : seqs) PutU64(out, seq);
  }
  return out;
}

Status Projections::LoadSnapshot(std::string_view in) {
  auto bad = [] { return DataLossError("projection snapshot is malformed"); };
  if (!in.starts_with(kSnapshotMagic)) return bad();
  in.remove_prefix(kSnapshotMagic.size());
  std::string_view state_bytes;
  if (!GetBytes(in, &state_bytes)) return bad();
  IAM_ASSIGN_OR_RETURN(IamState state, DecodeCanonicalEncoding(state_bytes));
  View view;
  view.state = std::move(state);
  uint64_t streams = 0;
  if (!GetU64(in, &streams) || streams > in.size()) return bad();
  for (uint64_t i = 0; i < streams; ++i) {
    std::string_view stream;
    uint64_t n = 0;
    if (!GetBytes(in, &stream) || !GetU64(in, &n) || n > in.size() / 8)
      return bad();
    auto& seqs = view.history[std::string(stream)];
    seqs.resize(n);
    for (auto& seq : seqs) GetU64(in, &seq);
  }
  if (!in.empty()) return bad();
  for (const auto& [id, token] : view.state.tokens)
    view.tokens_by_digest[token.value_digest].push_back(id);
  std::unique_lock<std::shared_mutex> lock(mu_);
  view_ = std::move(view);
  return OkStatus();
}

}  // namespace iam::projections
