#include "api/audit.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "api/json_codec.h"
#include "core/audit.h"
#include "core/authorize.h"
#include "core/clock.h"
#include "core/decide.h"
#include "core/ids.h"
#include "eventstore/crypto.h"

namespace iam::api {
namespace {

using Json = nlohmann::ordered_json;
namespace au = iam::audit;

constexpr size_t kMaxWhatIfRequests = 100;

std::string Dump(const Json& j, bool pretty) {
  return j.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace);
}

// Whether `s` is written into a JSON string as it is: no control byte, no
// byte past 0x7e (DEL or UTF-8, which the library checks and may replace),
// no '"' or '\\'. Eight bytes at a time (most strings of an answer are
// ids and member expressions, checked millions of times).
bool PlainAscii(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  // Whether a byte of `w` is 0, and below whether one is < 0x20: the
  // classic word tests, exact as a whole (not per byte).
  auto zero_byte = [](uint64_t w) { return (w - kOnes) & ~w & kHigh; };
  auto bad = [&](uint64_t w) {
    return (w & kHigh) |                                 // >= 0x80
           ((w - 0x2020202020202020ULL) & ~w & kHigh) |  // < 0x20
           zero_byte(w ^ (kOnes * '"')) | zero_byte(w ^ (kOnes * '\\')) |
           zero_byte(w ^ (kOnes * 0x7f));
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    if (bad(w) != 0) return false;
  }
  for (; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') return false;
  }
  return true;
}

// The answers of check, who and diff written straight out, byte for byte
// as Dump of the equivalent ordered_json writes them (compact, or 2-space
// indented when `pretty`): a whole-log diff has millions of grants, and
// building them as JSON values first cost more than the query. Bytes are
// staged in a buffer of `staging` bytes and handed on a buffer at a time (a
// call per value cost more than the formatting): to the AnswerSink given,
// in order, or into a string (Take) without one.
class Writer {
 public:
  explicit Writer(bool pretty, size_t staging = 64 * 1024,
                  const AnswerSink* sink = nullptr)
      : pretty_(pretty),
        sink_(sink),
        capacity_(std::max<size_t>(staging, 64)),
        buf_(new char[capacity_]) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  Writer& BeginObject() { return Open('{'); }
  Writer& EndObject() { return Close('}'); }
  Writer& BeginArray() { return Open('['); }
  Writer& EndArray() { return Close(']'); }
  // The key of the next value in the current object.
  Writer& Key(std::string_view key) {
    Element();
    AppendString(key);
    if (pretty_) {
      Put(": ");
    } else {
      Put(':');
    }
    after_key_ = true;
    return *this;
  }
  Writer& String(std::string_view s) {
    Element();
    AppendString(s);
    return *this;
  }
  Writer& Uint(uint64_t v) {
    Element();
    char* p = Space(24);
    used_ += static_cast<size_t>(std::to_chars(p, p + 24, v).ptr - p);
    return *this;
  }
  Writer& Bool(bool v) {
    Element();
    Put(v ? std::string_view("true") : std::string_view("false"));
    return *this;
  }
  Writer& Uints(const std::vector<uint64_t>& v) {
    if (pretty_) {
      BeginArray();
      for (uint64_t x : v) Uint(x);
      return EndArray();
    }
    // Compact: "[1,2,3]" in one go.
    Element();
    Put('[');
    for (size_t i = 0; i < v.size(); ++i) {
      char* p = Space(25);
      char* q = p;
      if (i != 0) *q++ = ',';
      q = std::to_chars(q, p + 25, v[i]).ptr;
      used_ += static_cast<size_t>(q - p);
    }
    Put(']');
    return *this;
  }
  // A JSON value (the small parts built as values, what-if's results).
  Writer& Value(const Json& j) {
    switch (j.type()) {
      case Json::value_t::object:
        BeginObject();
        for (const auto& [k, v] : j.items()) Key(k).Value(v);
        return EndObject();
      case Json::value_t::array:
        BeginArray();
        for (const auto& v : j) Value(v);
        return EndArray();
      case Json::value_t::string:
        return String(j.get_ref<const std::string&>());
      default:
        Element();
        Put(Dump(j, false));
        return *this;
    }
  }
  // An object whose first members are `head` (written by a compact Writer
  // up to and including the last key, e.g. `{"a":1,"b":`): the value of that
  // key comes next, then EndObject. Compact writers only.
  Writer& ObjectHead(std::string_view head) {
    Element();
    Put(head);
    empty_.push_back(false);
    after_key_ = true;
    return *this;
  }
  // Appends to *into a copy of what is written from now until EndCapture
  // (no nesting): a value to Repeat later, after it has gone to the sink.
  // Many captures may share one string (no allocation per capture).
  void BeginCapture(std::string* into) {
    capture_ = into;
    capture_from_ = used_;
  }
  void EndCapture() {
    capture_->append(buf_.get() + capture_from_, used_ - capture_from_);
    capture_ = nullptr;
  }
  // Writes `bytes` (a captured value written at the same depth: its
  // indentation is the same) as the next element or value.
  Writer& Repeat(std::string_view bytes) {
    Element();
    Put(bytes);
    return *this;
  }
  // `,"key":` written as it is inside the current object, after its first
  // member (compact writers only): the value follows.
  Writer& Raw(std::string_view raw) {
    Put(raw);
    after_key_ = true;
    return *this;
  }
  bool pretty() const { return pretty_; }
  // False once the sink has refused bytes (what follows is dropped).
  bool ok() const { return ok_; }
  // The end of the answer: what is staged goes to the sink; false when the
  // sink refused any of it.
  bool Finish() {
    Flush();
    return ok_;
  }
  // The answer, without a sink.
  std::string Take() {
    Flush();
    return std::move(out_);
  }

 private:
  Writer& Open(char c) {
    Element();
    Put(c);
    empty_.push_back(true);
    return *this;
  }
  Writer& Close(char c) {
    const bool empty = empty_.back();
    empty_.pop_back();
    if (!empty && pretty_) Indent();
    Put(c);
    return *this;
  }
  // Separates and indents an element of the enclosing array or object
  // (not the value after a key).
  void Element() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (empty_.empty()) return;
    if (!empty_.back()) Put(',');
    empty_.back() = false;
    if (pretty_) Indent();
  }
  void Indent() {
    const size_t n = 1 + 2 * empty_.size();
    if (n > capacity_) {
      Put('\n');
      Flush();
      PutDirect(std::string(n - 1, ' '));
      return;
    }
    char* p = Space(n);
    p[0] = '\n';
    std::memset(p + 1, ' ', n - 1);
    used_ += n;
  }
  void AppendString(std::string_view s) {
    if (!PlainAscii(s)) {
      // Escapes and UTF-8 (and its replacement when invalid) as the JSON
      // library writes them.
      Put(Json(std::string(s))
              .dump(-1, ' ', false, Json::error_handler_t::replace));
      return;
    }
    if (s.size() + 2 > capacity_) {
      Put('"');
      Put(s);
      Put('"');
      return;
    }
    char* p = Space(s.size() + 2);
    p[0] = '"';
    std::memcpy(p + 1, s.data(), s.size());
    p[s.size() + 1] = '"';
    used_ += s.size() + 2;
  }
  // Room for `n` <= capacity_ bytes at buf_ + used_ (the caller advances
  // used_ by what it writes).
  char* Space(size_t n) {
    if (capacity_ - used_ < n) Flush();
    return buf_.get() + used_;
  }
  void Put(char c) {
    if (used_ == capacity_) Flush();
    buf_[used_++] = c;
  }
  void Put(std::string_view s) {
    if (s.size() > capacity_ - used_) {
      Flush();
      if (s.size() > capacity_ / 2) return PutDirect(s);
    }
    std::memcpy(buf_.get() + used_, s.data(), s.size());
    used_ += s.size();
  }
  // Bytes past the staging buffer, which has just been flushed.
  void PutDirect(std::string_view s) {
    if (capture_ != nullptr) capture_->append(s);
    Emit(s);
  }
  void Flush() {
    if (capture_ != nullptr) {
      capture_->append(buf_.get() + capture_from_, used_ - capture_from_);
      capture_from_ = 0;
    }
    Emit(std::string_view(buf_.get(), used_));
    used_ = 0;
  }
  void Emit(std::string_view s) {
    if (s.empty()) return;
    if (sink_ == nullptr) {
      out_.append(s);
    } else if (ok_ && !(*sink_)(s)) {
      ok_ = false;
    }
  }

  const bool pretty_;
  const AnswerSink* const sink_;
  bool after_key_ = false;
  bool ok_ = true;
  std::vector<char> empty_;  // per open container: nothing in it yet
  std::string out_;          // without a sink
  const size_t capacity_;
  std::unique_ptr<char[]> buf_;  // staged bytes, after out_ or the sink's
  size_t used_ = 0;
  std::string* capture_ = nullptr;  // while capturing
  size_t capture_from_ = 0;         // in buf_
};

// Captured values kept for the length of an answer, in blocks that never
// move (no allocation per value, no copy on growth): a value is captured
// into scratch(), then Keep() copies it into a block and returns where.
class CaptureBlocks {
 public:
  std::string* scratch() {
    scratch_.clear();
    return &scratch_;
  }
  std::string_view Keep() {
    if (blocks_.empty() ||
        blocks_.back().capacity() - blocks_.back().size() < scratch_.size()) {
      blocks_.emplace_back().reserve(std::max(kBlock, scratch_.size()));
    }
    std::string& b = blocks_.back();
    const size_t at = b.size();
    b.append(scratch_);  // within capacity: the block does not move
    return std::string_view(b).substr(at);
  }

 private:
  // Under malloc's mmap threshold: blocks come from (and go back to) the
  // heap that the next answer reuses. 4 MiB blocks were mapped afresh
  // each time, and faulting their pages in cost ~3.5% of a who.
  static constexpr size_t kBlock = 64 << 10;
  std::string scratch_;
  std::deque<std::string> blocks_;
};

// The staging buffer of a streamed answer: the sink's pieces.
constexpr size_t kStaging = 256 * 1024;

// The end of an answer: Cancelled when the sink refused bytes.
Status Finished(Writer& w) {
  if (!w.Finish()) return CancelledError("the reader of the answer is gone");
  return OkStatus();
}

// A query's answer collected into a string.
StatusOr<std::string> Collect(
    const std::function<Status(const AnswerSink&)>& query) {
  std::string out;
  const AnswerSink sink = [&out](std::string_view bytes) {
    out.append(bytes);
    return true;
  };
  IAM_RETURN_IF_ERROR(query(sink));
  return out;
}

void WriteReasons(Writer& w, const std::vector<DecidingStatement>& reasons) {
  // Compact answers write each key as a fixed piece (`,"key":`): the same
  // bytes, without a pass through the escaper per key.
  const bool compact = !w.pretty();
  auto key = [&](std::string_view name, std::string_view piece) -> Writer& {
    return compact ? w.Raw(piece) : w.Key(name);
  };
  w.BeginArray();
  for (const auto& r : reasons) {
    if (compact) {
      w.ObjectHead("{\"policy_id\":");
    } else {
      w.BeginObject().Key("policy_id");
    }
    w.String(r.policy_id);
    key("statement", ",\"statement\":").Uint(r.statement);
    key("effect", ",\"effect\":").String(au::EffectName(r.effect));
    key("role", ",\"role\":").String(r.role);
    key("member", ",\"member\":").String(r.member);
    w.EndObject();
  }
  w.EndArray();
}

// The grant fields before "seqs" (GrantJson's order).
void WriteGrantFields(Writer& w, const au::Grant& g) {
  w.Key("effect").String(au::EffectName(g.effect));
  w.Key("action").String(g.action);
  w.Key("resource").String(g.resource);
  w.Key("project").String(g.project);
  w.Key("policy_id").String(g.policy_id);
  w.Key("statement").Uint(g.statement);
  w.Key("role").String(g.role);
  w.Key("seqs");
}

// The diff's "subjects" array, streamed from au::ForEachDiff. A grant's
// fields are written once per grant and copied for every subject that
// gains or loses it (compact answers; pretty ones are written in full), and
// a subject's grants from one provenance share one list of seqs, written
// once per subject and copied.
class DiffWriter {
 public:
  explicit DiffWriter(Writer& w) : w_(w) { w_.BeginArray(); }
  void Subject(const std::string& subject,
               const std::vector<au::GrantChangeRef>& gained,
               const std::vector<au::GrantChangeRef>& lost) {
    seqs_at_.clear();
    w_.BeginObject();
    w_.Key("subject").String(subject);
    w_.Key("gained");
    Changes(gained);
    w_.Key("lost");
    Changes(lost);
    w_.EndObject();
  }
  void Finish() { w_.EndArray(); }

 private:
  void Changes(const std::vector<au::GrantChangeRef>& list) {
    w_.BeginArray();
    for (const auto& c : list) {
      if (w_.pretty()) {
        w_.BeginObject();
        WriteGrantFields(w_, *c.grant);
      } else {
        auto [it, fresh] = heads_.try_emplace(c.grant);
        if (fresh) {
          Writer head(false, 256);
          head.BeginObject();
          WriteGrantFields(head, *c.grant);
          it->second = head.Take();
        }
        w_.ObjectHead(it->second);
      }
      // The seqs: the same list for every grant of a provenance (and at the
      // same depth in "gained" and "lost").
      auto at = std::find_if(seqs_at_.begin(), seqs_at_.end(),
                             [&](const auto& s) { return s.seqs == c.seqs; });
      if (at != seqs_at_.end()) {
        w_.Repeat(at->bytes);
      } else {
        std::string bytes;
        w_.BeginCapture(&bytes);
        w_.Uints(*c.seqs);
        w_.EndCapture();
        seqs_at_.push_back({c.seqs, std::move(bytes)});
      }
      w_.EndObject();
    }
    w_.EndArray();
  }

  Writer& w_;
  std::unordered_map<const au::Grant*, std::string> heads_;
  // This subject's lists of seqs written so far, as written.
  struct Written {
    const std::vector<uint64_t>* seqs;
    std::string bytes;
  };
  std::vector<Written> seqs_at_;
};

void WriteDiff(Writer& w, const std::vector<au::SubjectDiff>& diff) {
  DiffWriter out(w);
  std::vector<au::GrantChangeRef> gained, lost;
  for (const auto& d : diff) {
    gained.clear();
    lost.clear();
    for (const auto& c : d.gained) gained.push_back({&c.grant, &c.seqs});
    for (const auto& c : d.lost) lost.push_back({&c.grant, &c.seqs});
    out.Subject(d.subject, gained, lost);
  }
  out.Finish();
}

StatusOr<std::string> Required(const QueryParams& params,
                               std::string_view key) {
  auto it = params.find(std::string(key));
  if (it == params.end() || it->second.empty()) {
    return InvalidArgumentError("missing parameter \"" + std::string(key) +
                                "\"");
  }
  return it->second;
}

StringList AllValues(const QueryParams& params, const std::string& key) {
  StringList out;
  auto [first, last] = params.equal_range(key);
  for (auto it = first; it != last; ++it) {
    if (!it->second.empty()) out.push_back(it->second);
  }
  return out;
}

// The writes a what-if may hold: every command but a rotation (its new value
// cannot be modelled without minting one).
bool IsWriteRoute(RouteId r) {
  return IsCommandRoute(r) && r != RouteId::kRotateToken;
}

struct WhatIfRequest {
  std::string method;
  std::string path;
  std::string body;  // JSON text; "" when absent
};

StatusOr<std::vector<WhatIfRequest>> ParseWhatIf(std::string_view body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto bad = [](std::string m) { return InvalidArgumentError(std::move(m)); };
  if (j.is_discarded()) return bad("what-if body is not valid JSON");
  if (!j.is_object()) return bad("what-if body must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "requests") return bad("unknown field \"" + key + "\"");
  }
  if (!j.contains("requests") || !j["requests"].is_array() ||
      j["requests"].empty() || j["requests"].size() > kMaxWhatIfRequests) {
    return bad("\"requests\" must be an array of 1 to " +
               std::to_string(kMaxWhatIfRequests) + " requests");
  }
  std::vector<WhatIfRequest> out;
  for (const auto& r : j["requests"]) {
    const std::string at = "requests[" + std::to_string(out.size()) + "]";
    if (!r.is_object()) return bad(at + " must be an object");
    WhatIfRequest w;
    for (const auto& [key, value] : r.items()) {
      if (key == "method" || key == "path") {
        if (!value.is_string())
          return bad(at + "." + key + " must be a string");
        (key == "method" ? w.method : w.path) = value.get<std::string>();
      } else if (key == "body") {
        if (!value.is_object()) return bad(at + ".body must be an object");
        w.body = value.dump();
      } else {
        return bad(at + ": unknown field \"" + key + "\"");
      }
    }
    if (w.method.empty() || w.path.empty()) {
      return bad(at + " needs \"method\" and \"path\"");
    }
    RouteMatch m = Match(w.method, w.path);
    if (m.ok() && !IsWriteRoute(m.id())) {
      return bad(at + ": what-if does not decide " + w.method + " " + w.path +
                 " (only the writes of tokens, policies, members, roles and "
                 "projects)");
    }
    out.push_back(std::move(w));
  }
  return out;
}

}  // namespace

bool IsAuditRoute(RouteId route) {
  return route == RouteId::kAuditCheck || route == RouteId::kAuditWho ||
         route == RouteId::kAuditDiff || route == RouteId::kAuditWhatIf;
}

Audit::Audit(projections::EventReader reader,
             std::function<StatusOr<uint64_t>()> head,
             projections::PointInTimeOptions options, const Clock* clock)
    : clock_(clock != nullptr ? clock : SystemClock::Get()),
      timeline_(std::make_unique<projections::PointInTime>(std::move(reader),
                                                           options)),
      head_(std::move(head)) {}

Audit::Audit(const eventstore::EventStore* store,
             projections::PointInTimeOptions options, const Clock* clock)
    : Audit(
          [store](uint64_t after, uint64_t to, EventSink* sink) -> Status {
            if (to <= after) return OkStatus();
            return store->ReadFrom(after + 1, sink, to);
          },
          [store]() -> StatusOr<uint64_t> { return store->LastSeq(); }, options,
          clock) {}

std::unique_ptr<Audit> Audit::Offline(const std::string& data_dir,
                                      projections::PointInTimeOptions options) {
  auto reader = [data_dir](uint64_t after, uint64_t to,
                           EventSink* sink) -> Status {
    if (to <= after) return OkStatus();
    eventstore::VerifyOptions o;
    o.verify_checksums = false;    // the blocks read are checked anyway
    o.check_stream_heads = false;  // a server may be writing beside us
    o.from_seq = after + 1;
    o.to_seq = to;
    o.sink = sink;
    return eventstore::VerifyLog(data_dir, o).status();
  };
  std::unique_ptr<Audit> audit(
      new Audit(std::move(reader), nullptr, options, nullptr));
  projections::PointInTime* timeline = audit->timeline_.get();
  audit->head_ = [timeline] { return timeline->CatchUp(); };
  return audit;
}

StatusOr<Audit::At> Audit::Point(const QueryParams& params,
                                 std::string_view name, uint64_t head,
                                 uint64_t fallback) {
  const std::string time_key(name);
  const std::string seq_key = time_key + "_seq";
  const bool has_time = params.contains(time_key);
  const bool has_seq = params.contains(seq_key);
  if (has_time && has_seq) {
    return InvalidArgumentError("give " + time_key + " or " + seq_key +
                                ", not both");
  }
  if (has_seq) {
    IAM_ASSIGN_OR_RETURN(uint64_t seq,
                         QueryUint(params, seq_key, fallback,
                                   std::numeric_limits<uint64_t>::max()));
    if (seq > head) {
      return InvalidArgumentError(seq_key + " " + std::to_string(seq) +
                                  " is past the end of the log (seq " +
                                  std::to_string(head) + ")");
    }
    IAM_ASSIGN_OR_RETURN(Micros time, timeline_->TimeOf(seq));
    return At{seq, time};
  }
  if (has_time) {
    auto t = ParseRfc3339(params.find(time_key)->second);
    if (!t.ok()) {
      return InvalidArgumentError(
          time_key + " must be an RFC 3339 time, e.g. 2026-11-24T14:00:00Z");
    }
    IAM_ASSIGN_OR_RETURN(uint64_t seq, timeline_->SeqAt(*t, head));
    return At{seq, *t};
  }
  if (fallback == head) return At{head, clock_->Now()};
  IAM_ASSIGN_OR_RETURN(Micros time, timeline_->TimeOf(fallback));
  return At{fallback, time};
}

Status Audit::Check(const QueryParams& params, bool pretty,
                    const AnswerSink& sink) {
  au::CheckQuery q;
  IAM_ASSIGN_OR_RETURN(q.subject, Required(params, "subject"));
  IAM_ASSIGN_OR_RETURN(q.action, Required(params, "action"));
  IAM_ASSIGN_OR_RETURN(q.resource, Required(params, "resource"));
  q.projects = AllValues(params, "project");
  IAM_ASSIGN_OR_RETURN(uint64_t head, head_());
  IAM_ASSIGN_OR_RETURN(At at, Point(params, "at", head, head));
  IAM_ASSIGN_OR_RETURN(auto state,
                       timeline_->SubjectStateAt(at.seq, q.subject));
  q.at = at.time;
  au::CheckResult r = au::Check(*state, q);
  Writer w(pretty, kStaging, &sink);
  w.BeginObject();
  w.Key("allowed").Bool(r.allowed);
  w.Key("at_seq").Uint(at.seq);
  w.Key("reasons");
  WriteReasons(w, r.reasons);
  if (!r.note.empty()) w.Key("note").String(r.note);
  w.EndObject();
  return Finished(w);
}

Status Audit::Who(const QueryParams& params, bool pretty,
                  const AnswerSink& sink) {
  IAM_ASSIGN_OR_RETURN(std::string action, Required(params, "action"));
  IAM_ASSIGN_OR_RETURN(std::string resource, Required(params, "resource"));
  StringList projects = AllValues(params, "project");
  IAM_ASSIGN_OR_RETURN(uint64_t head, head_());
  IAM_ASSIGN_OR_RETURN(At at, Point(params, "at", head, head));
  IAM_ASSIGN_OR_RETURN(auto state, timeline_->StateAt(at.seq));
  Writer w(pretty, kStaging, &sink);
  w.BeginObject();
  w.Key("at_seq").Uint(at.seq);
  w.Key("members").BeginArray();
  bool in_tokens = false;
  // Each member visit's "reasons" array as written (where in
  // member_bytes): a token that is also a member expression has the same
  // one (at the same depth).
  CaptureBlocks member_bytes;
  std::vector<std::string_view> member_reasons;
  au::ForEachWho(
      *state, action, resource, projects, at.time,
      [&](bool token, std::string_view subject,
          const std::vector<DecidingStatement>& reasons, size_t same_as) {
        if (!w.ok()) return;  // the reader is gone
        if (token && !in_tokens) {
          w.EndArray();
          w.Key("tokens").BeginArray();
          in_tokens = true;
        }
        w.BeginObject();
        if (token) {
          w.Key("id").String(subject.substr(std::string_view("token:").size()));
        } else {
          w.Key("member").String(subject);
        }
        w.Key("reasons");
        if (same_as != au::kNotShared) {
          w.Repeat(member_reasons[same_as]);
        } else if (token) {
          WriteReasons(w, reasons);
        } else {
          w.BeginCapture(member_bytes.scratch());
          WriteReasons(w, reasons);
          w.EndCapture();
          member_reasons.push_back(member_bytes.Keep());
        }
        w.EndObject();
      });
  if (!in_tokens) {
    w.EndArray();
    w.Key("tokens").BeginArray();
  }
  w.EndArray();
  w.EndObject();
  return Finished(w);
}

Status Audit::Diff(const QueryParams& params, bool pretty,
                   const AnswerSink& sink) {
  IAM_ASSIGN_OR_RETURN(uint64_t head, head_());
  IAM_ASSIGN_OR_RETURN(At from_at, Point(params, "from", head, 0));
  IAM_ASSIGN_OR_RETURN(At to_at, Point(params, "to", head, head));
  const uint64_t from = from_at.seq, to = to_at.seq;
  if (from > to) {
    return InvalidArgumentError("the from point (seq " + std::to_string(from) +
                                ") is after the to point (seq " +
                                std::to_string(to) + ")");
  }
  std::string subject;
  if (auto it = params.find("subject"); it != params.end()) {
    if (it->second.empty()) return InvalidArgumentError("subject is empty");
    subject = it->second;
  }
  IAM_ASSIGN_OR_RETURN(auto before, timeline_->StateAt(from));
  IAM_ASSIGN_OR_RETURN(auto after, timeline_->StateAt(to));
  Status error;
  auto seqs = [&](const std::string& stream) {
    auto v = timeline_->StreamSeqs(stream, from, to);
    if (!v.ok()) {
      error = v.status();
      return std::vector<uint64_t>{};
    }
    return std::move(*v);
  };
  auto members = [this](uint64_t seq) {
    return timeline_->MemberChangeAt(seq);
  };
  Writer w(pretty, kStaging, &sink);
  w.BeginObject();
  w.Key("from_seq").Uint(from);
  w.Key("to_seq").Uint(to);
  w.Key("subjects");
  DiffWriter out(w);
  au::ForEachDiff(
      *before, from_at.time, *after, to_at.time, seqs, members, subject,
      [&](const std::string& s, const std::vector<au::GrantChangeRef>& gained,
          const std::vector<au::GrantChangeRef>& lost) {
        if (w.ok() && error.ok()) out.Subject(s, gained, lost);
      });
  IAM_RETURN_IF_ERROR(error);
  out.Finish();
  w.EndObject();
  return Finished(w);
}

StatusOr<std::string> Audit::Check(const QueryParams& params, bool pretty) {
  return Collect(
      [&](const AnswerSink& sink) { return Check(params, pretty, sink); });
}
StatusOr<std::string> Audit::Who(const QueryParams& params, bool pretty) {
  return Collect(
      [&](const AnswerSink& sink) { return Who(params, pretty, sink); });
}
StatusOr<std::string> Audit::Diff(const QueryParams& params, bool pretty) {
  return Collect(
      [&](const AnswerSink& sink) { return Diff(params, pretty, sink); });
}

Status Audit::ValidateWhatIf(std::string_view body) {
  return ParseWhatIf(body).status();
}

StatusOr<std::string> Audit::WhatIf(std::string_view body,
                                    const StringList& subjects,
                                    const ExpiryContext& expiry, bool pretty) {
  IAM_ASSIGN_OR_RETURN(std::vector<WhatIfRequest> requests, ParseWhatIf(body));
  IAM_ASSIGN_OR_RETURN(uint64_t head, head_());
  IAM_ASSIGN_OR_RETURN(auto now, timeline_->StateAt(head));
  IamState state = *now;  // the copy the requests change
  std::map<std::string, std::vector<uint64_t>> would_be;  // stream -> seqs
  std::map<uint64_t, StringList> member_changes;          // seq -> members
  const Micros recorded_at = expiry.now;
  Json results = Json::array();
  for (const WhatIfRequest& w : requests) {
    Json r{{"method", w.method}, {"path", w.path}};
    std::vector<uint64_t> seqs;
    RouteMatch m = Match(w.method, w.path);
    if (!m.ok()) {  // as the router answers: 400, 404 or 405
      const int status = RoutingErrorResponse(m).status;
      r["status"] = status;
      r["error"] = status == 400   ? m.status.message()
                   : status == 404 ? "Not Found"
                                   : "Method Not Allowed";
      r["seqs"] = seqs;
      results.push_back(std::move(r));
      continue;
    }
    auto decide = [&]() -> Status {
      IAM_ASSIGN_OR_RETURN(DecodedCommand decoded,
                           DecodeCommand(m.id(), w.body.empty() ? "{}" : w.body,
                                         /*lax=*/false, m.Param("id")));
      if (auto* create = std::get_if<CreateToken>(&decoded.command)) {
        // The value's shape as the write path sees it; no value is made,
        // sealed or kept.
        TokenSecret& secret = create->secret;
        secret.supplied = !decoded.token_value.empty();
        secret.length = secret.supplied ? decoded.token_value.size() : 53;
        secret.acceptable =
            !secret.supplied ||
            eventstore::IsAcceptableTokenValue(decoded.token_value);
        if (secret.acceptable && create->id.empty()) {
          create->id = DeriveIdFromName(create->name);
        }
        create->expiry = expiry;
      } else if (auto* update = std::get_if<UpdateToken>(&decoded.command)) {
        update->expiry = expiry;
      }
      AuthzDecision authz =
          Authorize(state, subjects, m.resource, m.action, nullptr);
      if (!authz.allowed) return PermissionDeniedError("Permission Denied");
      Caller caller;
      caller.subjects = subjects;
      caller.filter = std::move(authz.filter);
      caller.may_assign = MayAssignFunc(state, subjects);
      IAM_ASSIGN_OR_RETURN(Decision d,
                           iam::Decide(decoded.command, state, caller));
      for (Event& e : d.events) {
        RecordedEvent rec;
        rec.seq = state.last_seq + 1;
        rec.recorded_at = recorded_at;
        rec.meta.actor = subjects.empty() ? "" : subjects.front();
        rec.stream = StreamOf(e);
        auto v = state.stream_versions.find(rec.stream);
        rec.stream_version =
            (v == state.stream_versions.end() ? 0 : v->second) + 1;
        rec.event = std::move(e);
        IAM_RETURN_IF_ERROR(Evolve(state, rec));
        if (const auto* a = std::get_if<PolicyMembersAdded>(&rec.event)) {
          member_changes[rec.seq] = a->members;
        } else if (const auto* r =
                       std::get_if<PolicyMembersRemoved>(&rec.event)) {
          member_changes[rec.seq] = r->members;
        }
        would_be[rec.stream].push_back(rec.seq);
        seqs.push_back(rec.seq);
      }
      return OkStatus();
    };
    Status s = decide();
    r["status"] = s.ok() ? 200 : HttpStatusFor(s);
    if (!s.ok()) r["error"] = PublicMessage(s);
    r["seqs"] = seqs;
    results.push_back(std::move(r));
  }
  auto seqs_of = [&](const std::string& stream) {
    auto it = would_be.find(stream);
    return it == would_be.end() ? std::vector<uint64_t>{} : it->second;
  };
  auto members_of = [&](uint64_t seq) -> const StringList* {
    auto it = member_changes.find(seq);
    return it == member_changes.end() ? nullptr : &it->second;
  };
  auto diff =
      au::Diff(*now, expiry.now, state, expiry.now, seqs_of, "", members_of);
  Writer out(pretty);
  out.BeginObject();
  out.Key("at_seq").Uint(head);
  out.Key("results").Value(results);
  out.Key("from_seq").Uint(head);
  out.Key("to_seq").Uint(state.last_seq);
  out.Key("subjects");
  WriteDiff(out, diff);
  out.EndObject();
  return out.Take();
}

}  // namespace iam::api
