#include "eventstore/codec.h"

#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "eventstore/crypto.h"
#include "eventstore/format.h"
#include "iam_events_generated.h"

namespace iam::eventstore {
namespace {

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;
using flatbuffers::String;
using flatbuffers::Vector;

// ---- encoding -------------------------------------------------------------

Offset<Vector<Offset<String>>> Strings(FlatBufferBuilder& b,
                                       const StringList& list) {
  return b.CreateVectorOfStrings(list);
}
Offset<Vector<uint8_t>> Bytes(FlatBufferBuilder& b, const std::string& s) {
  return b.CreateVector(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
fb::PolicyType ToFb(PolicyType t) { return static_cast<fb::PolicyType>(t); }

Offset<Vector<Offset<fb::Statement>>> Statements(
    FlatBufferBuilder& b, const std::vector<Statement>& statements) {
  std::vector<Offset<fb::Statement>> out;
  out.reserve(statements.size());
  for (const auto& s : statements) {
    out.push_back(
        fb::CreateStatement(b, static_cast<fb::Effect>(s.effect),
                            Strings(b, s.actions), b.CreateString(s.role),
                            Strings(b, s.resources), Strings(b, s.projects)));
  }
  return b.CreateVector(out);
}

// Returns the union type and offset of one event table.
std::pair<fb::Event, Offset<void>> EncodeBody(FlatBufferBuilder& b,
                                              const Event& event) {
  return std::visit(
      [&b](const auto& e) -> std::pair<fb::Event, Offset<void>> {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, LedgerInitialized>) {
          return {fb::Event::LedgerInitialized,
                  fb::CreateLedgerInitialized(b, e.format_version,
                                              b.CreateString(e.ledger_id))
                      .Union()};
        } else if constexpr (std::is_same_v<T, TokenCreated>) {
          return {fb::Event::TokenCreated,
                  fb::CreateTokenCreated(
                      b, b.CreateString(e.id), b.CreateString(e.name), e.active,
                      Strings(b, e.projects), Bytes(b, e.value_digest),
                      Bytes(b, e.sealed_value), e.expires_at)
                      .Union()};
        } else if constexpr (std::is_same_v<T, TokenRenamed>) {
          return {fb::Event::TokenRenamed,
                  fb::CreateTokenRenamed(b, b.CreateString(e.id),
                                         b.CreateString(e.name))
                      .Union()};
        } else if constexpr (std::is_same_v<T, TokenProjectsAssigned>) {
          return {fb::Event::TokenProjectsAssigned,
                  fb::CreateTokenProjectsAssigned(b, b.CreateString(e.id),
                                                  Strings(b, e.projects))
                      .Union()};
        } else if constexpr (std::is_same_v<T, TokenStatusToggled>) {
          return {
              fb::Event::TokenStatusToggled,
              fb::CreateTokenStatusToggled(b, b.CreateString(e.id), e.active)
                  .Union()};
        } else if constexpr (std::is_same_v<T, TokenDeleted>) {
          return {fb::Event::TokenDeleted,
                  fb::CreateTokenDeleted(b, b.CreateString(e.id)).Union()};
        } else if constexpr (std::is_same_v<T, PolicyCreated>) {
          return {fb::Event::PolicyCreated,
                  fb::CreatePolicyCreated(
                      b, b.CreateString(e.id), b.CreateString(e.name),
                      ToFb(e.type), Strings(b, e.members),
                      Statements(b, e.statements), Strings(b, e.projects))
                      .Union()};
        } else if constexpr (std::is_same_v<T, PolicyUpdated>) {
          return {fb::Event::PolicyUpdated,
                  fb::CreatePolicyUpdated(b, b.CreateString(e.id),
                                          b.CreateString(e.name), ToFb(e.type),
                                          Statements(b, e.statements),
                                          Strings(b, e.projects))
                      .Union()};
        } else if constexpr (std::is_same_v<T, PolicyMembersAdded>) {
          return {fb::Event::PolicyMembersAdded,
                  fb::CreatePolicyMembersAdded(b, b.CreateString(e.id),
                                               Strings(b, e.members))
                      .Union()};
        } else if constexpr (std::is_same_v<T, PolicyMembersRemoved>) {
          return {fb::Event::PolicyMembersRemoved,
                  fb::CreatePolicyMembersRemoved(b, b.CreateString(e.id),
                                                 Strings(b, e.members))
                      .Union()};
        } else if constexpr (std::is_same_v<T, PolicyDeleted>) {
          return {fb::Event::PolicyDeleted,
                  fb::CreatePolicyDeleted(b, b.CreateString(e.id)).Union()};
        } else if constexpr (std::is_same_v<T, RoleCreated>) {
          return {fb::Event::RoleCreated,
                  fb::CreateRoleCreated(b, b.CreateString(e.id),
                                        b.CreateString(e.name), ToFb(e.type),
                                        Strings(b, e.actions),
                                        Strings(b, e.projects))
                      .Union()};
        } else if constexpr (std::is_same_v<T, RoleUpdated>) {
          return {fb::Event::RoleUpdated,
                  fb::CreateRoleUpdated(b, b.CreateString(e.id),
                                        b.CreateString(e.name), ToFb(e.type),
                                        Strings(b, e.actions),
                                        Strings(b, e.projects))
                      .Union()};
        } else if constexpr (std::is_same_v<T, RoleDeleted>) {
          return {fb::Event::RoleDeleted,
                  fb::CreateRoleDeleted(b, b.CreateString(e.id)).Union()};
        } else if constexpr (std::is_same_v<T, ProjectCreated>) {
          return {fb::Event::ProjectCreated,
                  fb::CreateProjectCreated(b, b.CreateString(e.id),
                                           b.CreateString(e.name), ToFb(e.type))
                      .Union()};
        } else if constexpr (std::is_same_v<T, ProjectRenamed>) {
          return {fb::Event::ProjectRenamed,
                  fb::CreateProjectRenamed(b, b.CreateString(e.id),
                                           b.CreateString(e.name))
                      .Union()};
        } else if constexpr (std::is_same_v<T, ProjectDeleted>) {
          return {fb::Event::ProjectDeleted,
                  fb::CreateProjectDeleted(b, b.CreateString(e.id)).Union()};
        } else if constexpr (std::is_same_v<T, TokenExpirySet>) {
          return {
              fb::Event::TokenExpirySet,
              fb::CreateTokenExpirySet(b, b.CreateString(e.id), e.expires_at)
                  .Union()};
        } else {
          static_assert(std::is_same_v<T, TokenRotated>);
          return {fb::Event::TokenRotated,
                  fb::CreateTokenRotated(
                      b, b.CreateString(e.id), Bytes(b, e.value_digest),
                      Bytes(b, e.sealed_value), e.previous_value_expires_at)
                      .Union()};
        }
      },
      event);
}

std::string EncodePayload(const Event& event) {
  FlatBufferBuilder b(256);
  auto [type, body] = EncodeBody(b, event);
  b.Finish(fb::CreatePayload(b, type, body));
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()),
                     b.GetSize());
}

// format.h "Hash chain", fed to SHA-256 in pieces: the fields before the
// payload are gathered in a buffer on the stack, the payload is hashed where
// it lies.
class HashInput {
 public:
  explicit HashInput(Sha256Stream& sha) : sha_(sha) {}
  void Bytes(const void* p, size_t n) {
    if (n_ + n > sizeof(buf_)) {
      Flush();
      if (n > sizeof(buf_)) {
        sha_.Update(std::string_view(static_cast<const char*>(p), n));
        return;
      }
    }
    std::memcpy(buf_ + n_, p, n);
    n_ += n;
  }
  void U32(uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * (3 - i)));
    Bytes(b, 4);
  }
  void U64(uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * (7 - i)));
    Bytes(b, 8);
  }
  void Lp(std::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    Bytes(s.data(), s.size());
  }
  void Flush() {
    if (n_ > 0) sha_.Update(std::string_view(buf_, n_));
    n_ = 0;
  }

 private:
  Sha256Stream& sha_;
  char buf_[256];
  size_t n_ = 0;
};

Hash ComputeHash(const Hash& prev, uint64_t seq, Micros recorded_at,
                 const EventMetadata& meta, std::string_view stream,
                 uint64_t stream_version, std::string_view payload) {
  thread_local Sha256Stream sha;
  HashInput in(sha);
  in.Bytes(prev.data(), prev.size());
  in.Bytes(kEventHashDomain.data(), kEventHashDomain.size());
  in.U64(seq);
  in.U64(static_cast<uint64_t>(recorded_at));
  in.Lp(meta.actor);
  in.Lp(meta.request_id);
  in.Lp(meta.source);
  in.Lp(stream);
  in.U64(stream_version);
  in.U32(static_cast<uint32_t>(payload.size()));
  in.Flush();
  sha.Update(payload);
  return sha.Finish();
}

// ---- decoding -------------------------------------------------------------

PolicyType FromFb(fb::PolicyType t) { return static_cast<PolicyType>(t); }

// Decoding in place: every field of the event from the payload, assigned
// into an existing event so that strings and lists keep their storage.
void Assign(std::string& out, const String* s) {
  if (s == nullptr) {
    out.clear();
  } else {
    out.assign(s->c_str(), s->size());
  }
}
void AssignList(StringList& out, const Vector<Offset<String>>* v) {
  if (v == nullptr) {
    out.clear();
    return;
  }
  out.resize(v->size());
  for (uint32_t i = 0; i < v->size(); ++i) Assign(out[i], v->Get(i));
}
void AssignBytes(std::string& out, const Vector<uint8_t>* v) {
  if (v == nullptr) {
    out.clear();
  } else {
    out.assign(reinterpret_cast<const char*>(v->data()), v->size());
  }
}
void AssignStatements(std::vector<Statement>& out,
                      const Vector<Offset<fb::Statement>>* v) {
  if (v == nullptr) {
    out.clear();
    return;
  }
  out.resize(v->size());
  for (uint32_t i = 0; i < v->size(); ++i) {
    const fb::Statement* s = v->Get(i);
    Statement& st = out[i];
    st.effect = static_cast<Effect>(s->effect());
    AssignList(st.actions, s->actions());
    Assign(st.role, s->role());
    AssignList(st.resources, s->resources());
    AssignList(st.projects, s->projects());
  }
}

// The alternative T of `e`, kept when `e` holds one already.
template <typename T>
T& Reuse(Event& e) {
  if (T* t = std::get_if<T>(&e)) return *t;
  return e.emplace<T>();
}

// The event of `p` into `*out`; false when the type is unknown (a newer
// writer, or damage).
bool DecodeBodyInto(const fb::Payload& p, Event* out) {
  // The Verifier accepts a union whose type is set but whose table is
  // absent; every case below reads the table (found by
  // tests/fuzz/envelope_fuzz: a null dereference before the hash check).
  if (p.event() == nullptr) return false;
  switch (p.event_type()) {
    case fb::Event::LedgerInitialized: {
      auto* e = p.event_as_LedgerInitialized();
      auto& t = Reuse<LedgerInitialized>(*out);
      t.format_version = e->format_version();
      Assign(t.ledger_id, e->ledger_id());
      return true;
    }
    case fb::Event::TokenCreated: {
      auto* e = p.event_as_TokenCreated();
      auto& t = Reuse<TokenCreated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.active = e->active();
      AssignList(t.projects, e->projects());
      AssignBytes(t.value_digest, e->value_digest());
      AssignBytes(t.sealed_value, e->sealed_value());
      t.expires_at = e->expires_at();
      return true;
    }
    case fb::Event::TokenRenamed: {
      auto* e = p.event_as_TokenRenamed();
      auto& t = Reuse<TokenRenamed>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      return true;
    }
    case fb::Event::TokenProjectsAssigned: {
      auto* e = p.event_as_TokenProjectsAssigned();
      auto& t = Reuse<TokenProjectsAssigned>(*out);
      Assign(t.id, e->id());
      AssignList(t.projects, e->projects());
      return true;
    }
    case fb::Event::TokenStatusToggled: {
      auto* e = p.event_as_TokenStatusToggled();
      auto& t = Reuse<TokenStatusToggled>(*out);
      Assign(t.id, e->id());
      t.active = e->active();
      return true;
    }
    case fb::Event::TokenDeleted:
      Assign(Reuse<TokenDeleted>(*out).id, p.event_as_TokenDeleted()->id());
      return true;
    case fb::Event::PolicyCreated: {
      auto* e = p.event_as_PolicyCreated();
      auto& t = Reuse<PolicyCreated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.type = FromFb(e->type());
      AssignList(t.members, e->members());
      AssignStatements(t.statements, e->statements());
      AssignList(t.projects, e->projects());
      return true;
    }
    case fb::Event::PolicyUpdated: {
      auto* e = p.event_as_PolicyUpdated();
      auto& t = Reuse<PolicyUpdated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.type = FromFb(e->type());
      AssignStatements(t.statements, e->statements());
      AssignList(t.projects, e->projects());
      return true;
    }
    case fb::Event::PolicyMembersAdded: {
      auto* e = p.event_as_PolicyMembersAdded();
      auto& t = Reuse<PolicyMembersAdded>(*out);
      Assign(t.id, e->id());
      AssignList(t.members, e->members());
      return true;
    }
    case fb::Event::PolicyMembersRemoved: {
      auto* e = p.event_as_PolicyMembersRemoved();
      auto& t = Reuse<PolicyMembersRemoved>(*out);
      Assign(t.id, e->id());
      AssignList(t.members, e->members());
      return true;
    }
    case fb::Event::PolicyDeleted:
      Assign(Reuse<PolicyDeleted>(*out).id, p.event_as_PolicyDeleted()->id());
      return true;
    case fb::Event::RoleCreated: {
      auto* e = p.event_as_RoleCreated();
      auto& t = Reuse<RoleCreated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.type = FromFb(e->type());
      AssignList(t.actions, e->actions());
      AssignList(t.projects, e->projects());
      return true;
    }
    case fb::Event::RoleUpdated: {
      auto* e = p.event_as_RoleUpdated();
      auto& t = Reuse<RoleUpdated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.type = FromFb(e->type());
      AssignList(t.actions, e->actions());
      AssignList(t.projects, e->projects());
      return true;
    }
    case fb::Event::RoleDeleted:
      Assign(Reuse<RoleDeleted>(*out).id, p.event_as_RoleDeleted()->id());
      return true;
    case fb::Event::ProjectCreated: {
      auto* e = p.event_as_ProjectCreated();
      auto& t = Reuse<ProjectCreated>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      t.type = FromFb(e->type());
      return true;
    }
    case fb::Event::ProjectRenamed: {
      auto* e = p.event_as_ProjectRenamed();
      auto& t = Reuse<ProjectRenamed>(*out);
      Assign(t.id, e->id());
      Assign(t.name, e->name());
      return true;
    }
    case fb::Event::ProjectDeleted:
      Assign(Reuse<ProjectDeleted>(*out).id, p.event_as_ProjectDeleted()->id());
      return true;
    case fb::Event::TokenExpirySet: {
      auto* e = p.event_as_TokenExpirySet();
      auto& t = Reuse<TokenExpirySet>(*out);
      Assign(t.id, e->id());
      t.expires_at = e->expires_at();
      return true;
    }
    case fb::Event::TokenRotated: {
      auto* e = p.event_as_TokenRotated();
      auto& t = Reuse<TokenRotated>(*out);
      Assign(t.id, e->id());
      AssignBytes(t.value_digest, e->value_digest());
      AssignBytes(t.sealed_value, e->sealed_value());
      t.previous_value_expires_at = e->previous_value_expires_at();
      return true;
    }
    case fb::Event::NONE:
      break;
  }
  return false;
}

// stream == StreamOf(event), without building the string: StreamOf is the
// stream of the event's type with no id (computed once per type), then the
// id; LedgerInitialized's stream has none.
bool StreamMatches(std::string_view stream, const Event& event) {
  static const auto* prefixes = [] {
    auto* out = new std::vector<std::string>;
    [&]<size_t... I>(std::index_sequence<I...>) {
      (out->push_back(StreamOf(Event(std::in_place_index<I>))), ...);
    }
    (std::make_index_sequence<std::variant_size_v<Event>>());
    return out;
  }();
  const std::string& prefix = (*prefixes)[event.index()];
  return std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, LedgerInitialized>) {
          return stream == prefix;
        } else {
          return stream.size() == prefix.size() + e.id.size() &&
                 stream.starts_with(prefix) && stream.ends_with(e.id);
        }
      },
      event);
}

Status Bad(uint64_t seq, std::string_view what) {
  return DataLossError("seq " + std::to_string(seq) + ": " + std::string(what));
}

}  // namespace

std::string EncodeRecordedEvent(RecordedEvent* e) {
  std::string payload = EncodePayload(e->event);
  e->hash = ComputeHash(e->prev_hash, e->seq, e->recorded_at, e->meta,
                        e->stream, e->stream_version, payload);
  FlatBufferBuilder b(256 + payload.size());
  auto payload_off = b.CreateVector(
      reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  fb::Hash32 prev(
      flatbuffers::span<const uint8_t, 32>(e->prev_hash.data(), 32));
  fb::Hash32 hash(flatbuffers::span<const uint8_t, 32>(e->hash.data(), 32));
  auto env = fb::CreateEnvelope(
      b, e->seq, e->recorded_at, b.CreateString(e->meta.actor),
      b.CreateString(e->meta.request_id), b.CreateString(e->meta.source),
      b.CreateString(e->stream), e->stream_version, &prev, &hash, payload_off);
  fb::FinishEnvelopeBuffer(b, env);
  return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()),
                     b.GetSize());
}

StatusOr<RecordedEvent> DecodeRecordedEvent(uint64_t key_seq,
                                            std::string_view bytes) {
  RecordedEvent out;
  IAM_RETURN_IF_ERROR(DecodeRecordedEventInto(key_seq, bytes, &out));
  return out;
}

namespace {

// Every check of DecodeRecordedEventInto but the last, the hash; `*payload`
// receives the payload bytes (inside `bytes`) that the hash covers.
Status DecodeUnhashed(uint64_t key_seq, std::string_view bytes,
                      RecordedEvent* out, std::string_view* payload) {
  if (bytes.size() > kMaxEnvelopeBytes) return Bad(key_seq, "value too large");
  // FlatBuffers reads scalars in place, so a buffer at an address that is
  // not 8-aligned (RocksDB hands out values at any offset) would be read
  // misaligned (undefined behaviour; found by tests/fuzz/envelope_fuzz):
  // such a value is decoded from an aligned copy. `*payload` then points
  // into the copy, valid until this thread's next decode.
  thread_local std::vector<uint64_t> aligned;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % alignof(uint64_t) != 0) {
    aligned.resize(bytes.size() / sizeof(uint64_t) + 1);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    bytes = std::string_view(reinterpret_cast<const char*>(aligned.data()),
                             bytes.size());
  }
  const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
  flatbuffers::Verifier verifier(data, bytes.size(), kMaxEnvelopeDepth,
                                 kMaxEnvelopeTables);
  if (!fb::EnvelopeBufferHasIdentifier(data) ||
      !fb::VerifyEnvelopeBuffer(verifier)) {
    return Bad(key_seq, "envelope fails FlatBuffers verification");
  }
  const fb::Envelope* env = fb::GetEnvelope(data);
  if (env->seq() != key_seq) {
    return Bad(key_seq, "envelope holds seq " + std::to_string(env->seq()) +
                            " (events moved or swapped)");
  }
  if (!env->prev_hash() || !env->hash() || !env->payload()) {
    return Bad(key_seq, "envelope lacks hash or payload");
  }
  if (!DecodeBodyInto(*env->payload_nested_root(), &out->event)) {
    return Bad(key_seq, "unknown event type");
  }
  out->seq = env->seq();
  out->recorded_at = env->recorded_at();
  Assign(out->meta.actor, env->actor());
  Assign(out->meta.request_id, env->request_id());
  Assign(out->meta.source, env->source());
  Assign(out->stream, env->stream());
  out->stream_version = env->stream_version();
  std::memcpy(out->prev_hash.data(), env->prev_hash()->bytes()->data(), 32);
  std::memcpy(out->hash.data(), env->hash()->bytes()->data(), 32);
  if (!StreamMatches(out->stream, out->event)) {
    return Bad(key_seq, "stream \"" + out->stream + "\" does not match its " +
                            std::string(EventTypeName(out->event)));
  }
  *payload =
      std::string_view(reinterpret_cast<const char*>(env->payload()->data()),
                       env->payload()->size());
  return OkStatus();
}

}  // namespace

Status DecodeRecordedEventInto(uint64_t key_seq, std::string_view bytes,
                               RecordedEvent* out) {
  std::string_view payload;
  IAM_RETURN_IF_ERROR(DecodeUnhashed(key_seq, bytes, out, &payload));
  return VerifyRecordedEventHash(*out, payload);
}

Status DecodeRecordedEventDeferringHash(uint64_t key_seq,
                                        std::string_view bytes,
                                        RecordedEvent* out,
                                        std::string* payload) {
  std::string_view view;
  IAM_RETURN_IF_ERROR(DecodeUnhashed(key_seq, bytes, out, &view));
  payload->assign(view);
  return OkStatus();
}

Status VerifyRecordedEventHash(const RecordedEvent& event,
                               std::string_view payload) {
  const Hash expected =
      ComputeHash(event.prev_hash, event.seq, event.recorded_at, event.meta,
                  event.stream, event.stream_version, payload);
  if (expected != event.hash) {
    return Bad(event.seq, "hash mismatch (event content was changed)");
  }
  return OkStatus();
}

}  // namespace iam::eventstore
