#include "eventstore/codec.h"

#include <cstring>
#include <optional>
#include <type_traits>

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
                      Bytes(b, e.sealed_value))
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
        } else {
          static_assert(std::is_same_v<T, ProjectDeleted>);
          return {fb::Event::ProjectDeleted,
                  fb::CreateProjectDeleted(b, b.CreateString(e.id)).Union()};
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

void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutLp(std::string& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// format.h "Hash chain".
Hash ComputeHash(const Hash& prev, uint64_t seq, Micros recorded_at,
                 const EventMetadata& meta, std::string_view stream,
                 uint64_t stream_version, std::string_view payload) {
  std::string buf;
  buf.reserve(128 + payload.size());
  buf.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  buf.append(kEventHashDomain);
  PutU64(buf, seq);
  PutU64(buf, static_cast<uint64_t>(recorded_at));
  PutLp(buf, meta.actor);
  PutLp(buf, meta.request_id);
  PutLp(buf, meta.source);
  PutLp(buf, stream);
  PutU64(buf, stream_version);
  PutLp(buf, payload);
  return Sha256(buf);
}

// ---- decoding -------------------------------------------------------------

std::string Str(const String* s) { return s ? s->str() : std::string(); }
StringList List(const Vector<Offset<String>>* v) {
  StringList out;
  if (!v) return out;
  out.reserve(v->size());
  for (const auto* s : *v) out.push_back(Str(s));
  return out;
}
std::string ByteString(const Vector<uint8_t>* v) {
  return v ? std::string(reinterpret_cast<const char*>(v->data()), v->size())
           : std::string();
}
PolicyType FromFb(fb::PolicyType t) { return static_cast<PolicyType>(t); }
std::vector<Statement> StatementsOf(const Vector<Offset<fb::Statement>>* v) {
  std::vector<Statement> out;
  if (!v) return out;
  for (const auto* s : *v) {
    out.push_back(Statement{static_cast<Effect>(s->effect()),
                            List(s->actions()), Str(s->role()),
                            List(s->resources()), List(s->projects())});
  }
  return out;
}

// Null when the type is unknown (a newer writer, or damage).
std::optional<Event> DecodeBody(const fb::Payload& p) {
  switch (p.event_type()) {
    case fb::Event::LedgerInitialized: {
      auto* e = p.event_as_LedgerInitialized();
      return LedgerInitialized{e->format_version(), Str(e->ledger_id())};
    }
    case fb::Event::TokenCreated: {
      auto* e = p.event_as_TokenCreated();
      return TokenCreated{Str(e->id()),
                          Str(e->name()),
                          e->active(),
                          List(e->projects()),
                          ByteString(e->value_digest()),
                          ByteString(e->sealed_value())};
    }
    case fb::Event::TokenRenamed: {
      auto* e = p.event_as_TokenRenamed();
      return TokenRenamed{Str(e->id()), Str(e->name())};
    }
    case fb::Event::TokenProjectsAssigned: {
      auto* e = p.event_as_TokenProjectsAssigned();
      return TokenProjectsAssigned{Str(e->id()), List(e->projects())};
    }
    case fb::Event::TokenStatusToggled: {
      auto* e = p.event_as_TokenStatusToggled();
      return TokenStatusToggled{Str(e->id()), e->active()};
    }
    case fb::Event::TokenDeleted:
      return TokenDeleted{Str(p.event_as_TokenDeleted()->id())};
    case fb::Event::PolicyCreated: {
      auto* e = p.event_as_PolicyCreated();
      return PolicyCreated{Str(e->id()),
                           Str(e->name()),
                           FromFb(e->type()),
                           List(e->members()),
                           StatementsOf(e->statements()),
                           List(e->projects())};
    }
    case fb::Event::PolicyUpdated: {
      auto* e = p.event_as_PolicyUpdated();
      return PolicyUpdated{Str(e->id()), Str(e->name()), FromFb(e->type()),
                           StatementsOf(e->statements()), List(e->projects())};
    }
    case fb::Event::PolicyMembersAdded: {
      auto* e = p.event_as_PolicyMembersAdded();
      return PolicyMembersAdded{Str(e->id()), List(e->members())};
    }
    case fb::Event::PolicyMembersRemoved: {
      auto* e = p.event_as_PolicyMembersRemoved();
      return PolicyMembersRemoved{Str(e->id()), List(e->members())};
    }
    case fb::Event::PolicyDeleted:
      return PolicyDeleted{Str(p.event_as_PolicyDeleted()->id())};
    case fb::Event::RoleCreated: {
      auto* e = p.event_as_RoleCreated();
      return RoleCreated{Str(e->id()), Str(e->name()), FromFb(e->type()),
                         List(e->actions()), List(e->projects())};
    }
    case fb::Event::RoleUpdated: {
      auto* e = p.event_as_RoleUpdated();
      return RoleUpdated{Str(e->id()), Str(e->name()), FromFb(e->type()),
                         List(e->actions()), List(e->projects())};
    }
    case fb::Event::RoleDeleted:
      return RoleDeleted{Str(p.event_as_RoleDeleted()->id())};
    case fb::Event::ProjectCreated: {
      auto* e = p.event_as_ProjectCreated();
      return ProjectCreated{Str(e->id()), Str(e->name()), FromFb(e->type())};
    }
    case fb::Event::ProjectRenamed: {
      auto* e = p.event_as_ProjectRenamed();
      return ProjectRenamed{Str(e->id()), Str(e->name())};
    }
    case fb::Event::ProjectDeleted:
      return ProjectDeleted{Str(p.event_as_ProjectDeleted()->id())};
    case fb::Event::NONE:
      break;
  }
  return std::nullopt;
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
  if (bytes.size() > kMaxEnvelopeBytes) return Bad(key_seq, "value too large");
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
  const fb::Payload* payload = env->payload_nested_root();
  std::optional<Event> event = DecodeBody(*payload);
  if (!event) return Bad(key_seq, "unknown event type");

  RecordedEvent out;
  out.seq = env->seq();
  out.recorded_at = env->recorded_at();
  out.meta = {Str(env->actor()), Str(env->request_id()), Str(env->source())};
  out.stream = Str(env->stream());
  out.stream_version = env->stream_version();
  std::memcpy(out.prev_hash.data(), env->prev_hash()->bytes()->data(), 32);
  std::memcpy(out.hash.data(), env->hash()->bytes()->data(), 32);
  out.event = std::move(*event);
  if (out.stream != StreamOf(out.event)) {
    return Bad(key_seq, "stream \"" + out.stream + "\" does not match its " +
                            std::string(EventTypeName(out.event)));
  }
  std::string_view payload_bytes(
      reinterpret_cast<const char*>(env->payload()->data()),
      env->payload()->size());
  Hash expected = ComputeHash(out.prev_hash, out.seq, out.recorded_at, out.meta,
                              out.stream, out.stream_version, payload_bytes);
  if (expected != out.hash) {
    return Bad(key_seq, "hash mismatch (event content was changed)");
  }
  return out;
}

}  // namespace iam::eventstore
