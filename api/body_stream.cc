#include "api/body_stream.h"

#include <algorithm>
#include <utility>

#include "api/http_types.h"

namespace iam::api {

BodyStream::BodyStream(size_t chunk_bytes, size_t max_chunks)
    : chunk_bytes_(std::max<size_t>(chunk_bytes, 1)),
      max_chunks_(std::max<size_t>(max_chunks, 1)) {}

bool BodyStream::Write(std::string_view bytes) {
  if (bytes.empty()) return true;
  if (current_.capacity() < chunk_bytes_) current_.reserve(chunk_bytes_);
  current_.append(bytes);
  if (current_.size() < chunk_bytes_) return true;
  std::unique_lock<std::mutex> lock(mu_);
  room_.wait(lock, [&] { return cancelled_ || pieces_.size() < max_chunks_; });
  if (cancelled_) {
    current_.clear();
    return false;
  }
  Piece piece;
  piece.bytes = std::move(current_);
  current_ = std::string();
  PushLocked(lock, std::move(piece));
  return true;
}

void BodyStream::End(const Status& status) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ended_) return;
  ended_ = true;
  if (cancelled_) return;
  // The end is never held back by max_chunks_: it adds at most one chunk.
  if (status.ok() && !current_.empty()) {
    Piece data;
    data.bytes = std::move(current_);
    pieces_.push_back(std::move(data));
  }
  current_ = std::string();
  Piece end;
  end.kind = status.ok() ? Piece::kEnd : Piece::kFailed;
  PushLocked(lock, std::move(end));
}

void BodyStream::PushLocked(std::unique_lock<std::mutex>& lock, Piece piece) {
  pieces_.push_back(std::move(piece));
  std::function<void()> ready = std::move(ready_);
  ready_ = nullptr;
  lock.unlock();
  if (ready) ready();
}

bool BodyStream::TakeOrWait(Piece* out, std::function<void()> ready) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pieces_.empty()) {
    if (!cancelled_) ready_ = std::move(ready);
    return false;
  }
  *out = std::move(pieces_.front());
  pieces_.pop_front();
  room_.notify_one();
  return true;
}

void BodyStream::Cancel() {
  std::function<void()> dropped;  // destroyed outside the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    pieces_.clear();
    dropped = std::move(ready_);
    ready_ = nullptr;
  }
  room_.notify_all();
}

StreamedReply::StreamedReply(std::function<void(HttpResponse)> respond,
                             std::string content_type, size_t inline_limit)
    : respond_(std::move(respond)),
      content_type_(std::move(content_type)),
      inline_limit_(inline_limit) {}

StreamedReply::~StreamedReply() {
  if (!ended_) End(InternalError("the answer was abandoned"), nullptr);
}

bool StreamedReply::Write(std::string_view bytes) {
  if (stream_ != nullptr) return stream_->Write(bytes);
  if (buffered_.size() + bytes.size() <= inline_limit_) {
    buffered_.append(bytes);
    return true;
  }
  // Past the limit: a 200 whose body is the stream, from here on.
  stream_ = std::make_shared<BodyStream>();
  HttpResponse r;
  r.headers.emplace("Content-Type", content_type_);
  r.stream = stream_;
  respond_(std::move(r));
  std::string head = std::move(buffered_);
  buffered_ = std::string();
  return stream_->Write(head) && stream_->Write(bytes);
}

void StreamedReply::End(
    const Status& status,
    const std::function<HttpResponse(const Status&)>& error) {
  if (ended_) return;
  ended_ = true;
  if (stream_ != nullptr) return stream_->End(status);
  if (!status.ok()) {
    if (error) {
      respond_(error(status));
    } else {
      HttpResponse r;
      r.status = 500;
      respond_(std::move(r));
    }
    return;
  }
  HttpResponse r;
  r.headers.emplace("Content-Type", content_type_);
  r.body = std::move(buffered_);
  respond_(std::move(r));
}

}  // namespace iam::api
