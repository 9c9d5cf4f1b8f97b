// A response body sent while it is being made: answers too large to hold
// whole (an audit diff over a long log is hundreds of MiB) go to the
// connection in bounded chunks instead of one string. No Boost here.
//
// BodyStream is the channel between one producer thread and the connection
// that sends the body as HTTP/1.1 chunks (Transfer-Encoding: chunked; an
// HTTP/1.0 peer gets the bytes unframed and the connection closed after
// them). Memory is bounded: the producer blocks while `max_chunks` chunks
// wait for the socket, so a slow reader slows the query instead of growing
// a buffer; a reader that stops reading is cut by the server's write
// timeout, and the producer's next Write returns false.
//
// StreamedReply is what a handler uses: it sends a small answer whole
// (Content-Length, as every other response) and switches to a stream only
// once the answer passes `inline_limit`, so that errors found before the
// first byte (a bad parameter) are still ordinary error responses.
#ifndef IAMLEDGER_API_BODY_STREAM_H_
#define IAMLEDGER_API_BODY_STREAM_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace iam::api {

struct HttpResponse;

class BodyStream {
 public:
  // Chunks of at least `chunk_bytes` (the last may be shorter), at most
  // `max_chunks` waiting for the connection.
  explicit BodyStream(size_t chunk_bytes = size_t{1} << 20,
                      size_t max_chunks = 4);
  BodyStream(const BodyStream&) = delete;
  BodyStream& operator=(const BodyStream&) = delete;

  // ---- the producer (one thread) ----
  // Appends `bytes` to the body; may block while the connection catches up.
  // False once the connection is gone (the bytes are dropped): stop.
  bool Write(std::string_view bytes);
  // The end of the body, once: ok sends the last chunk; an error cuts the
  // connection without it, so the reader sees a truncated body rather than
  // a complete-looking one.
  void End(const Status& status);

  // ---- the connection ----
  struct Piece {
    enum Kind { kData, kEnd, kFailed } kind = kData;
    std::string bytes;  // kData only
  };
  // The next piece into `out` when there is one (true); otherwise false, and
  // `ready` is called (on the producer's thread, once) when there is.
  bool TakeOrWait(Piece* out, std::function<void()> ready);
  // The connection is gone: the producer's Writes fail from now on and a
  // pending `ready` is dropped.
  void Cancel();

 private:
  void PushLocked(std::unique_lock<std::mutex>& lock, Piece piece);

  const size_t chunk_bytes_;
  const size_t max_chunks_;
  std::string current_;  // the producer's chunk being filled (no lock)
  std::mutex mu_;
  std::condition_variable room_;
  std::deque<Piece> pieces_;
  std::function<void()> ready_;
  bool cancelled_ = false;
  bool ended_ = false;
};

class StreamedReply {
 public:
  // `respond` is called exactly once: with the whole answer, with the error
  // response, or (past `inline_limit`) with a 200 whose body is a stream.
  // `content_type` names the answer's media type.
  StreamedReply(std::function<void(HttpResponse)> respond,
                std::string content_type,
                size_t inline_limit = size_t{1} << 20);
  StreamedReply(const StreamedReply&) = delete;
  StreamedReply& operator=(const StreamedReply&) = delete;
  ~StreamedReply();

  // Appends to the answer; false once the connection is gone.
  bool Write(std::string_view bytes);
  // The producer's outcome. OK: the answer is complete. An error before
  // anything was streamed answers `error(status)`; after, the connection is
  // cut (BodyStream::End).
  void End(const Status& status,
           const std::function<HttpResponse(const Status&)>& error);
  // Whether the answer went out as a stream.
  bool streamed() const { return stream_ != nullptr; }

 private:
  std::function<void(HttpResponse)> respond_;
  const std::string content_type_;
  const size_t inline_limit_;
  std::string buffered_;
  std::shared_ptr<BodyStream> stream_;
  bool ended_ = false;
};

}  // namespace iam::api

#endif  // IAMLEDGER_API_BODY_STREAM_H_
