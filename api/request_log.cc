#include "api/request_log.h"

namespace iam::api {

void RequestLog::SetTokenSecretListener(
    std::function<void(const std::string&)> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

Status RequestLog::Apply(const RecordedEvent& e) {
  std::lock_guard<std::mutex> lock(mu_);
  if (listener_) {
    if (const auto* d = std::get_if<TokenDeleted>(&e.event)) {
      listener_(d->id);
    } else if (const auto* r = std::get_if<TokenRotated>(&e.event)) {
      listener_(r->id);
    }
  }
  const std::string& id = e.meta.request_id;
  if (id.empty()) return OkStatus();
  auto [it, inserted] = by_id_.try_emplace(id);
  Outcome& o = it->second;
  if (inserted) {
    o = Outcome{e.seq, e.seq, e.meta.actor, 1};
    order_.push_back(id);
    while (order_.size() > kRemembered) {
      by_id_.erase(order_.front());
      order_.pop_front();
    }
  } else if (o.last_seq + 1 == e.seq) {
    o.last_seq = e.seq;  // the same append, one more event
    ++o.events;
  }
  return OkStatus();
}

std::optional<RequestLog::Outcome> RequestLog::Find(
    const std::string& request_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_id_.find(request_id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

}  // namespace iam::api
