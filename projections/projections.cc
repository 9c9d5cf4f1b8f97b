#include "projections/projections.h"

#include <algorithm>
#include <type_traits>
#include <variant>

namespace iam::projections {
namespace {

void Unindex(View& v, const Token& token) {
  auto it = v.tokens_by_digest.find(token.value_digest);
  if (it == v.tokens_by_digest.end()) return;
  std::erase(it->second, token.id);
  if (it->second.empty()) v.tokens_by_digest.erase(it);
}

}  // namespace

const Token* View::ActiveTokenByDigest(std::string_view digest) const {
  auto it = tokens_by_digest.find(std::string(digest));
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
  std::optional<Token> deleted;
  if (const auto* del = std::get_if<TokenDeleted>(&event.event)) {
    auto it = view_.state.tokens.find(del->id);
    if (it != view_.state.tokens.end()) deleted = it->second;
  }
  IAM_RETURN_IF_ERROR(Evolve(view_.state, event));
  if (const auto* created = std::get_if<TokenCreated>(&event.event)) {
    view_.tokens_by_digest[created->value_digest].push_back(created->id);
  } else if (deleted) {
    Unindex(view_, *deleted);
  }
  view_.history[event.stream].push_back(event.seq);
  return OkStatus();
}

uint64_t Projections::last_seq() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return view_.state.last_seq;
}

}  // namespace iam::projections
