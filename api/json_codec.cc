#include "api/json_codec.h"

#include <array>
#include <exception>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

#include "core/clock.h"

namespace iam::api {
namespace {

// ordered_json keeps insertion order: fields appear in proto order.
using Json = nlohmann::ordered_json;

constexpr std::string_view kProtoPackage = "chef.automate.api.iam.v2.";

std::string Dump(const Json& j, bool pretty) {
  // error_handler replace: never throws on (impossible) invalid UTF-8.
  return j.dump(pretty ? 2 : -1, ' ', false, Json::error_handler_t::replace);
}

Json StringArray(const StringList& list) {
  Json a = Json::array();
  for (const std::string& s : list) a.push_back(s);
  return a;
}

Json StatementObject(const Statement& s) {
  Json j = Json::object();
  j["effect"] = EffectName(s.effect);
  j["actions"] = StringArray(s.actions);
  j["role"] = s.role;
  j["resources"] = StringArray(s.resources);
  j["projects"] = StringArray(s.projects);
  return j;
}

Json StatementArray(const std::vector<Statement>& statements) {
  Json a = Json::array();
  for (const Statement& s : statements) a.push_back(StatementObject(s));
  return a;
}

// ------------------------------------------------- the token fast path
//
// A token is encoded on every authenticated GET /tokens/{id}, so it is
// written directly instead of through a DOM: the bytes are exactly those
// Dump() gives for the object {id, name, value, active, created_at,
// updated_at, projects} (compact and pretty; the codec tests pin both).
// Strings outside printable ASCII, or holding '"' or '\\', go through
// nlohmann's own escaper, so escaping and invalid-UTF-8 replacement cannot
// drift from the DOM path.
class TokenWriter {
 public:
  explicit TokenWriter(bool pretty) : pretty_(pretty) { out_.reserve(256); }

  std::string Take() { return std::move(out_); }

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }

  // `key`: one of the literal field names (plain ASCII, nothing to escape).
  void Key(std::string_view key) {
    Item();
    out_ += '"';
    out_.append(key);
    out_.append(pretty_ ? "\": " : "\":");
    after_key_ = true;
  }
  void Value(std::string_view s) {
    Item();
    String(s);
  }
  void Value(bool b) {
    Item();
    out_.append(b ? "true" : "false");
  }
  // expires_at, last_used_at: whole seconds as Time(), else with the
  // microseconds (a client may set a fractional expiry).
  void ExactTime(Micros t) {
    if (t % 1'000'000 == 0) return Time(t);
    Item();
    String(FormatRfc3339(t, /*seconds_only=*/false));
  }
  // created_at / updated_at: FormatRfc3339(t, seconds_only=true).
  void Time(Micros t) {
    Item();
    out_ += '"';
    AppendRfc3339Seconds(t);
    out_ += '"';
  }

 private:
  static constexpr int kMaxDepth = 8;

  void Open(char c) {
    Item();
    out_ += c;
    first_[depth_++] = true;  // depth stays tiny: token shapes only
  }
  void Close(char c) {
    const bool empty = first_[--depth_];
    if (pretty_ && !empty) {
      out_ += '\n';
      out_.append(static_cast<size_t>(depth_) * 2, ' ');
    }
    out_ += c;
  }
  // Separator and indentation before a key or a value in a container (a
  // value right after its key has none).
  void Item() {
    if (after_key_) {
      after_key_ = false;
      return;
    }
    if (depth_ == 0) return;
    if (!first_[depth_ - 1]) out_ += ',';
    first_[depth_ - 1] = false;
    if (pretty_) {
      out_ += '\n';
      out_.append(static_cast<size_t>(depth_) * 2, ' ');
    }
  }
  // Printable ASCII other than '"' and '\\': copied as is.
  static constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> plain{};
    for (int c = 0x20; c < 0x7F; ++c) plain[c] = c != '"' && c != '\\';
    return plain;
  }();

  void String(std::string_view s) {
    for (char c : s) {
      if (!kPlain[static_cast<unsigned char>(c)]) {
        out_ += Dump(Json(std::string(s)), false);  // nlohmann's escaping
        return;
      }
    }
    out_ += '"';
    out_.append(s);
    out_ += '"';
  }
  // "YYYY-MM-DDTHH:MM:SSZ" without gmtime_r/strftime for years 1000..9999
  // (days to civil date: H. Hinnant's algorithm); anything else takes
  // FormatRfc3339 itself.
  void AppendRfc3339Seconds(Micros t) {
    const int64_t secs = t >= 0 ? t / 1'000'000 : (t - 999'999) / 1'000'000;
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
    const int64_t sod = secs - days * 86400;
    days += 719468;
    const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    const int64_t doe = days - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    const int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    if (year < 1000 || year > 9999) {
      out_.append(FormatRfc3339(t, /*seconds_only=*/true));
      return;
    }
    char buf[20];
    auto two = [&buf](int at, int64_t v) {
      buf[at] = static_cast<char>('0' + v / 10);
      buf[at + 1] = static_cast<char>('0' + v % 10);
    };
    two(0, year / 100);
    two(2, year % 100);
    buf[4] = '-';
    two(5, month);
    buf[7] = '-';
    two(8, day);
    buf[10] = 'T';
    two(11, sod / 3600);
    buf[13] = ':';
    two(14, sod / 60 % 60);
    buf[16] = ':';
    two(17, sod % 60);
    buf[19] = 'Z';
    out_.append(buf, sizeof(buf));
  }

  const bool pretty_;
  std::string out_;
  bool first_[kMaxDepth] = {};
  int depth_ = 0;
  bool after_key_ = false;
};

// A token as Automate shows it, fields in proto order; then the lifecycle
// fields of API.md, only when set.
void WriteToken(TokenWriter& w, const Token& t, std::string_view value,
                Micros last_used_at) {
  w.BeginObject();
  w.Key("id");
  w.Value(t.id);
  w.Key("name");
  w.Value(t.name);
  w.Key("value");
  w.Value(value);
  w.Key("active");
  w.Value(t.active);
  w.Key("created_at");
  w.Time(t.created_at);
  w.Key("updated_at");
  w.Time(t.updated_at);
  w.Key("projects");
  w.BeginArray();
  for (const std::string& p : t.projects) w.Value(p);
  w.EndArray();
  if (t.expires_at != 0) {
    w.Key("expires_at");
    w.ExactTime(t.expires_at);
  }
  if (last_used_at != 0) {
    w.Key("last_used_at");
    w.ExactTime(last_used_at);
  }
  w.EndObject();
}

Json PolicyObject(const Policy& p) {
  Json j = Json::object();
  j["name"] = p.name;
  j["id"] = p.id;
  j["type"] = PolicyTypeName(p.type);
  j["members"] = StringArray(p.members);
  j["statements"] = StatementArray(p.statements);
  j["projects"] = StringArray(p.projects);
  return j;
}

Json RoleObject(const Role& r) {
  Json j = Json::object();
  j["name"] = r.name;
  j["id"] = r.id;
  j["type"] = PolicyTypeName(r.type);
  j["actions"] = StringArray(r.actions);
  j["projects"] = StringArray(r.projects);
  return j;
}

Json ProjectObject(const Project& p) {
  Json j = Json::object();
  j["name"] = p.name;
  j["id"] = p.id;
  j["type"] = PolicyTypeName(p.type);
  j["status"] = "NO_RULES";
  return j;
}

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// The payload of an event, secrets excluded.
Json EventData(const Event& event) {
  Json j = Json::object();
  std::visit(Overloaded{
                 [&](const LedgerInitialized& e) {
                   j["format_version"] = e.format_version;
                   j["ledger_id"] = e.ledger_id;
                 },
                 [&](const TokenCreated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["active"] = e.active;
                   j["projects"] = StringArray(e.projects);
                   if (e.expires_at != 0) {
                     j["expires_at"] = FormatRfc3339(e.expires_at);
                   }
                 },
                 [&](const TokenRenamed& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                 },
                 [&](const TokenProjectsAssigned& e) {
                   j["id"] = e.id;
                   j["projects"] = StringArray(e.projects);
                 },
                 [&](const TokenStatusToggled& e) {
                   j["id"] = e.id;
                   j["active"] = e.active;
                 },
                 [&](const TokenDeleted& e) { j["id"] = e.id; },
                 [&](const PolicyCreated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["type"] = PolicyTypeName(e.type);
                   j["members"] = StringArray(e.members);
                   j["statements"] = StatementArray(e.statements);
                   j["projects"] = StringArray(e.projects);
                 },
                 [&](const PolicyUpdated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["type"] = PolicyTypeName(e.type);
                   j["statements"] = StatementArray(e.statements);
                   j["projects"] = StringArray(e.projects);
                 },
                 [&](const PolicyMembersAdded& e) {
                   j["id"] = e.id;
                   j["members"] = StringArray(e.members);
                 },
                 [&](const PolicyMembersRemoved& e) {
                   j["id"] = e.id;
                   j["members"] = StringArray(e.members);
                 },
                 [&](const PolicyDeleted& e) { j["id"] = e.id; },
                 [&](const RoleCreated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["type"] = PolicyTypeName(e.type);
                   j["actions"] = StringArray(e.actions);
                   j["projects"] = StringArray(e.projects);
                 },
                 [&](const RoleUpdated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["type"] = PolicyTypeName(e.type);
                   j["actions"] = StringArray(e.actions);
                   j["projects"] = StringArray(e.projects);
                 },
                 [&](const RoleDeleted& e) { j["id"] = e.id; },
                 [&](const ProjectCreated& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                   j["type"] = PolicyTypeName(e.type);
                 },
                 [&](const ProjectRenamed& e) {
                   j["id"] = e.id;
                   j["name"] = e.name;
                 },
                 [&](const ProjectDeleted& e) { j["id"] = e.id; },
                 [&](const TokenExpirySet& e) {
                   j["id"] = e.id;
                   j["expires_at"] =
                       e.expires_at == 0 ? "" : FormatRfc3339(e.expires_at);
                 },
                 [&](const TokenRotated& e) {  // never the digest or value
                   j["id"] = e.id;
                   j["previous_value_expires_at"] =
                       FormatRfc3339(e.previous_value_expires_at);
                 },
             },
             event);
  return j;
}

Json EventObject(const RecordedEvent& e, bool with_stream) {
  Json j = Json::object();
  j["seq"] = e.seq;
  j["type"] = EventTypeName(e.event);
  j["recorded_at"] = FormatRfc3339(e.recorded_at, /*seconds_only=*/false);
  j["actor"] = e.meta.actor;
  j["request_id"] = e.meta.request_id;
  j["source"] = e.meta.source;
  if (with_stream) j["stream"] = e.stream;
  j["stream_version"] = e.stream_version;
  j["data"] = EventData(e.event);
  return j;
}

// ----------------------------------------------------------------- parsing

Status BadJson(std::string what) {
  return InvalidArgumentError("invalid JSON body: " + std::move(what));
}

// A SAX pass before the DOM is built: bounds nesting (so a 10,000-deep
// "[[[[" costs nothing), refuses duplicate keys and NUL in strings, and
// turns syntax errors into a message that echoes no part of the body.
class Checker final : public nlohmann::json_sax<Json> {
 public:
  Status status;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t& s) override { return CheckString(s); }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    keys_.emplace_back();
    return Enter();
  }
  bool key(string_t& k) override {
    if (!CheckString(k)) return false;
    if (!keys_.back().insert(k).second) {
      status = BadJson("duplicate key \"" + k + "\"");
      return false;
    }
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    keys_.emplace_back();  // keeps keys_ and depth aligned
    return Enter();
  }
  bool end_array() override {
    keys_.pop_back();
    --depth_;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception&) override {
    if (status.ok()) {
      status = BadJson("syntax error at byte " + std::to_string(position));
    }
    return false;
  }

 private:
  bool Enter() {
    if (++depth_ > kMaxJsonDepth) {
      status = BadJson("nesting deeper than " + std::to_string(kMaxJsonDepth) +
                       " levels");
      return false;
    }
    return true;
  }
  bool CheckString(const std::string& s) {
    if (s.find('\0') != std::string::npos) {
      status = BadJson("strings must not contain NUL (\\u0000)");
      return false;
    }
    return true;
  }

  int depth_ = 0;
  std::vector<std::set<std::string>> keys_;
};

bool IsBlankBody(std::string_view body) {
  for (char c : body) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return true;
}

// The body as a JSON object; empty body -> {}.
StatusOr<Json> ParseObject(std::string_view body) {
  if (IsBlankBody(body)) return Json::object();
  // A raw NUL is never valid JSON, and the parser would stop reading there.
  if (body.find('\0') != std::string_view::npos) {
    return BadJson("a NUL byte is not valid JSON");
  }
  Checker checker;
  const bool ok = Json::sax_parse(body.begin(), body.end(), &checker,
                                  Json::input_format_t::json,
                                  /*strict=*/true);
  if (!ok || !checker.status.ok()) {
    return checker.status.ok() ? BadJson("syntax error") : checker.status;
  }
  Json j = Json::parse(body.begin(), body.end(), nullptr,
                       /*allow_exceptions=*/false);
  if (j.is_discarded()) return BadJson("syntax error");
  if (!j.is_object()) return BadJson("the top level must be an object");
  return j;
}

struct FieldSpec {
  std::string_view proto;  // "skip_policies"
  std::string_view json;   // "skipPolicies" (== proto when no underscore)
};

// Reads one message object: maps keys to known fields (by proto or JSON
// name), refuses unknown keys unless lax, then offers typed getters. A
// getter leaves its output untouched when the field is absent or null.
class MessageReader {
 public:
  MessageReader(std::string_view message, bool lax)
      : message_(std::string(kProtoPackage) + std::string(message)),
        lax_(lax) {}

  Status Open(const Json& obj, std::initializer_list<FieldSpec> fields) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      const std::string& key = it.key();
      const FieldSpec* spec = nullptr;
      for (const FieldSpec& f : fields) {
        if (key == f.proto || key == f.json) {
          spec = &f;
          break;
        }
      }
      if (spec == nullptr) {
        if (lax_) continue;
        return InvalidArgumentError("unknown field \"" + key + "\" in " +
                                    message_);
      }
      auto [pos, inserted] = found_.emplace(spec->proto, Entry{key, &*it});
      if (!inserted) {
        return InvalidArgumentError("field \"" + std::string(spec->proto) +
                                    "\" given twice (as \"" + pos->second.key +
                                    "\" and \"" + key + "\") in " + message_);
      }
    }
    return OkStatus();
  }

  Status String(std::string_view field, std::string* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_string()) return WrongType(*e, "a string");
    *out = e->value->get_ref<const std::string&>();
    return OkStatus();
  }

  Status Bool(std::string_view field, bool* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_boolean()) return WrongType(*e, "true or false");
    *out = e->value->get<bool>();
    return OkStatus();
  }

  // A string field whose absence means something else than "" (absent or
  // null -> nullopt).
  Status OptionalString(std::string_view field,
                        std::optional<std::string>* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_string()) return WrongType(*e, "a string");
    *out = e->value->get_ref<const std::string&>();
    return OkStatus();
  }

  // An integer (jsonpb also accepts a decimal string); absent or null ->
  // nullopt.
  Status OptionalInt(std::string_view field,
                     std::optional<int64_t>* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    const Json& v = *e->value;
    if (v.is_number_integer()) {
      if (v.is_number_unsigned() &&
          v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
        return WrongType(*e, "an integer");
      }
      *out = v.get<int64_t>();
      return OkStatus();
    }
    if (v.is_string()) {
      const std::string& t = v.get_ref<const std::string&>();
      size_t start = !t.empty() && t[0] == '-' ? 1 : 0;
      if (t.size() > start && t.size() - start <= 18 &&
          t.find_first_not_of("0123456789", start) == std::string::npos) {
        *out = std::stoll(t);
        return OkStatus();
      }
    }
    return WrongType(*e, "an integer");
  }

  // expires_at: an RFC 3339 time, or "" (kClearExpiry); absent or null ->
  // nullopt.
  Status Expiry(std::string_view field, std::optional<Micros>* out) const {
    std::optional<std::string> text;
    IAM_RETURN_IF_ERROR(OptionalString(field, &text));
    if (!text) return OkStatus();
    if (text->empty()) {
      *out = kClearExpiry;
      return OkStatus();
    }
    auto t = ParseRfc3339(*text);
    if (!t.ok()) {
      return InvalidArgumentError("invalid value for field \"" +
                                  std::string(field) + "\" in " + message_ +
                                  ": expected an RFC 3339 time such as "
                                  "2026-12-31T23:59:59Z, or \"\"");
    }
    *out = *t;
    return OkStatus();
  }

  // google.protobuf.BoolValue: absent or null -> nullopt.
  Status OptionalBool(std::string_view field, std::optional<bool>* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_boolean()) return WrongType(*e, "true, false or null");
    *out = e->value->get<bool>();
    return OkStatus();
  }

  Status Strings(std::string_view field, StringList* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_array()) return WrongType(*e, "an array of strings");
    StringList list;
    list.reserve(e->value->size());
    for (const Json& item : *e->value) {
      if (!item.is_string()) return WrongType(*e, "an array of strings");
      list.push_back(item.get_ref<const std::string&>());
    }
    *out = std::move(list);
    return OkStatus();
  }

  // An array of objects, each handed to `decode`.
  template <typename T, typename F>
  Status Messages(std::string_view field, std::vector<T>* out,
                  F&& decode) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    if (!e->value->is_array()) return WrongType(*e, "an array of objects");
    std::vector<T> list;
    list.reserve(e->value->size());
    for (const Json& item : *e->value) {
      if (!item.is_object()) return WrongType(*e, "an array of objects");
      T value;
      IAM_RETURN_IF_ERROR(decode(item, &value));
      list.push_back(std::move(value));
    }
    *out = std::move(list);
    return OkStatus();
  }

  // chef.automate.api.iam.v2.Statement.Effect: by name or number.
  Status EffectField(std::string_view field, Effect* out) const {
    const Entry* e = Get(field);
    if (e == nullptr) return OkStatus();
    const Json& v = *e->value;
    if (v.is_string()) {
      const std::string& name = v.get_ref<const std::string&>();
      if (name == "ALLOW") {
        *out = Effect::kAllow;
      } else if (name == "DENY") {
        *out = Effect::kDeny;
      } else {
        return InvalidArgumentError(
            "invalid value for enum field \"" + e->key + "\" in " + message_ +
            ": unknown value \"" + name +
            "\" for enum chef.automate.api.iam.v2.Statement.Effect");
      }
      return OkStatus();
    }
    if (v.is_number_integer()) {
      // is_number_integer covers both signed and unsigned storage.
      const bool is_zero = v.is_number_unsigned() ? v.get<uint64_t>() == 0
                                                  : v.get<int64_t>() == 0;
      const bool is_one = v.is_number_unsigned() ? v.get<uint64_t>() == 1
                                                 : v.get<int64_t>() == 1;
      if (is_zero) {
        *out = Effect::kAllow;
        return OkStatus();
      }
      if (is_one) {
        *out = Effect::kDeny;
        return OkStatus();
      }
      return InvalidArgumentError("invalid value for enum field \"" + e->key +
                                  "\" in " + message_ +
                                  ": unknown number for enum "
                                  "chef.automate.api.iam.v2.Statement.Effect");
    }
    return WrongType(*e, "\"ALLOW\", \"DENY\", 0 or 1");
  }

  bool lax() const { return lax_; }

 private:
  struct Entry {
    std::string key;  // as the client wrote it
    const Json* value;
  };

  const Entry* Get(std::string_view field) const {
    auto it = found_.find(field);
    if (it == found_.end() || it->second.value->is_null()) return nullptr;
    return &it->second;
  }

  Status WrongType(const Entry& e, std::string_view expected) const {
    return InvalidArgumentError("invalid value for field \"" + e.key +
                                "\" in " + message_ + ": expected " +
                                std::string(expected));
  }

  std::string message_;
  bool lax_;
  std::map<std::string_view, Entry, std::less<>> found_;
};

Status DecodeStatement(const Json& obj, bool lax, Statement* out) {
  MessageReader r("Statement", lax);
  IAM_RETURN_IF_ERROR(r.Open(obj, {{"effect", "effect"},
                                   {"actions", "actions"},
                                   {"role", "role"},
                                   {"resources", "resources"},
                                   {"projects", "projects"}}));
  IAM_RETURN_IF_ERROR(r.EffectField("effect", &out->effect));
  IAM_RETURN_IF_ERROR(r.Strings("actions", &out->actions));
  IAM_RETURN_IF_ERROR(r.String("role", &out->role));
  IAM_RETURN_IF_ERROR(r.Strings("resources", &out->resources));
  IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
  return OkStatus();
}

Status ReadStatements(const MessageReader& r, std::vector<Statement>* out) {
  const bool lax = r.lax();
  return r.Messages<Statement>("statements", out,
                               [lax](const Json& item, Statement* s) {
                                 return DecodeStatement(item, lax, s);
                               });
}

// Runs `decode` over the parsed body, converting any stray library
// exception into InvalidArgument (our interfaces never throw).
template <typename T, typename F>
StatusOr<T> DecodeBody(std::string_view body, F&& decode) {
  try {
    StatusOr<Json> j = ParseObject(body);
    if (!j.ok()) return j.status();
    T out{};
    Status s = decode(*j, &out);
    if (!s.ok()) return s;
    return out;
  } catch (const std::exception&) {
    return BadJson("could not be decoded");
  }
}

template <typename T>
StatusOr<T> DecodeMembers(std::string_view body, bool lax,
                          std::string_view path_id, std::string_view message) {
  return DecodeBody<T>(body, [&](const Json& j, T* out) {
    MessageReader r(message, lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"}, {"members", "members"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.Strings("members", &out->members));
    out->id = std::string(path_id);
    return OkStatus();
  });
}

}  // namespace

// ------------------------------------------------------------------ errors

int HttpStatusFromCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kCancelled:
      return 408;
    case StatusCode::kUnknown:
      return 500;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kDeadlineExceeded:
      return 504;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kResourceExhausted:
      return 429;
    case StatusCode::kFailedPrecondition:
      return 400;
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kOutOfRange:
      return 400;
    case StatusCode::kUnimplemented:
      return 501;
    case StatusCode::kInternal:
      return 500;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDataLoss:
      return 500;
    case StatusCode::kUnauthenticated:
      return 401;
  }
  return 500;
}

Status IfMatchFailedError(std::string_view detail) {
  std::string m(kIfMatchFailedPrefix);
  if (!detail.empty()) {
    m += ": ";
    m += detail;
  }
  return FailedPreconditionError(std::move(m));
}

bool IsIfMatchFailed(const Status& status) {
  return status.code() == StatusCode::kFailedPrecondition &&
         status.message().compare(0, kIfMatchFailedPrefix.size(),
                                  kIfMatchFailedPrefix) == 0;
}

int HttpStatusFor(const Status& status) {
  if (IsIfMatchFailed(status)) return 412;
  return HttpStatusFromCode(status.code());
}

std::string PublicMessage(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInternal:
    case StatusCode::kUnknown:
    case StatusCode::kDataLoss:
      return "internal error";
    default:
      return status.message();
  }
}

std::string ErrorBody(const Status& status, bool pretty) {
  const std::string m = PublicMessage(status);
  Json j = Json::object();
  j["error"] = m;
  j["code"] = static_cast<int>(status.code());
  j["message"] = m;
  j["details"] = Json::array();
  return Dump(j, pretty);
}

HttpResponse ErrorResponse(const Status& status, bool pretty) {
  HttpResponse r;
  r.status = HttpStatusFor(status);
  r.headers.emplace("Content-Type", "application/json");
  r.body = ErrorBody(status, pretty);
  return r;
}

HttpResponse JsonResponse(std::string body, int status) {
  HttpResponse r;
  r.status = status;
  r.headers.emplace("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

// ---------------------------------------------------------------- encoding

std::string_view PolicyTypeName(PolicyType type) {
  return type == PolicyType::kChefManaged ? "CHEF_MANAGED" : "CUSTOM";
}

std::string_view EffectName(Effect effect) {
  return effect == Effect::kDeny ? "DENY" : "ALLOW";
}

std::string TokenJson(const Token& token, std::string_view value, bool pretty,
                      Micros last_used_at) {
  TokenWriter w(pretty);
  w.BeginObject();
  w.Key("token");
  WriteToken(w, token, value, last_used_at);
  w.EndObject();
  return w.Take();
}

std::string RotatedTokenJson(const Token& token, std::string_view value,
                             bool pretty, Micros last_used_at) {
  TokenWriter w(pretty);
  w.BeginObject();
  w.Key("token");
  WriteToken(w, token, value, last_used_at);
  w.Key("previous_value_expires_at");
  w.ExactTime(token.previous_value_expires_at);
  w.EndObject();
  return w.Take();
}

std::string TokenListJson(const std::vector<TokenWithValue>& tokens,
                          bool pretty) {
  TokenWriter w(pretty);
  w.BeginObject();
  w.Key("tokens");
  w.BeginArray();
  for (const TokenWithValue& t : tokens) {
    if (t.token != nullptr) WriteToken(w, *t.token, t.value, t.last_used_at);
  }
  w.EndArray();
  w.EndObject();
  return w.Take();
}

std::string PolicyJson(const Policy& policy, bool pretty) {
  Json j = Json::object();
  j["policy"] = PolicyObject(policy);
  return Dump(j, pretty);
}

std::string PolicyListJson(const std::vector<const Policy*>& policies,
                           bool pretty) {
  Json a = Json::array();
  for (const Policy* p : policies) {
    if (p != nullptr) a.push_back(PolicyObject(*p));
  }
  Json j = Json::object();
  j["policies"] = std::move(a);
  return Dump(j, pretty);
}

std::string RoleJson(const Role& role, bool pretty) {
  Json j = Json::object();
  j["role"] = RoleObject(role);
  return Dump(j, pretty);
}

std::string RoleListJson(const std::vector<const Role*>& roles, bool pretty) {
  Json a = Json::array();
  for (const Role* r : roles) {
    if (r != nullptr) a.push_back(RoleObject(*r));
  }
  Json j = Json::object();
  j["roles"] = std::move(a);
  return Dump(j, pretty);
}

std::string ProjectJson(const Project& project, bool pretty) {
  Json j = Json::object();
  j["project"] = ProjectObject(project);
  return Dump(j, pretty);
}

std::string ProjectListJson(const std::vector<const Project*>& projects,
                            bool pretty) {
  Json a = Json::array();
  for (const Project* p : projects) {
    if (p != nullptr) a.push_back(ProjectObject(*p));
  }
  Json j = Json::object();
  j["projects"] = std::move(a);
  return Dump(j, pretty);
}

std::string MembersJson(const StringList& members, bool pretty) {
  Json j = Json::object();
  j["members"] = StringArray(members);
  return Dump(j, pretty);
}

std::string PolicyVersionJson(bool pretty) {
  Json v = Json::object();
  v["major"] = "V2";
  v["minor"] = "V1";
  Json j = Json::object();
  j["version"] = std::move(v);
  return Dump(j, pretty);
}

std::string EmptyJson(bool pretty) { return Dump(Json::object(), pretty); }

std::string EndpointsJson(const std::map<std::string, MethodsAllowed>& eps,
                          bool pretty) {
  Json endpoints = Json::object();
  for (const auto& [path, m] : eps) {
    Json e = Json::object();
    e["get"] = m.get;
    e["put"] = m.put;
    e["post"] = m.post;
    e["delete"] = m.del;
    e["patch"] = m.patch;
    endpoints[path] = std::move(e);
  }
  Json j = Json::object();
  j["endpoints"] = std::move(endpoints);
  return Dump(j, pretty);
}

std::string EventJson(const RecordedEvent& event, bool with_stream,
                      bool pretty) {
  return Dump(EventObject(event, with_stream), pretty);
}

std::string HistoryJson(const std::vector<RecordedEvent>& events, bool pretty) {
  Json a = Json::array();
  for (const RecordedEvent& e : events) a.push_back(EventObject(e, false));
  Json j = Json::object();
  j["events"] = std::move(a);
  return Dump(j, pretty);
}

std::string EventFeedJson(const std::vector<RecordedEvent>& events,
                          uint64_t next, bool pretty) {
  Json a = Json::array();
  for (const RecordedEvent& e : events) a.push_back(EventObject(e, true));
  Json j = Json::object();
  j["events"] = std::move(a);
  j["next"] = next;
  return Dump(j, pretty);
}

// ---------------------------------------------------------------- decoding

StatusOr<CreateTokenRequest> DecodeCreateToken(std::string_view body,
                                               bool lax) {
  return DecodeBody<CreateTokenRequest>(
      body, [&](const Json& j, CreateTokenRequest* out) {
        MessageReader r("CreateTokenReq", lax);
        IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                       {"name", "name"},
                                       {"active", "active"},
                                       {"value", "value"},
                                       {"projects", "projects"},
                                       {"expires_at", "expiresAt"}}));
        IAM_RETURN_IF_ERROR(r.String("id", &out->cmd.id));
        IAM_RETURN_IF_ERROR(r.String("name", &out->cmd.name));
        IAM_RETURN_IF_ERROR(r.OptionalBool("active", &out->cmd.active));
        IAM_RETURN_IF_ERROR(r.String("value", &out->value));
        IAM_RETURN_IF_ERROR(r.Strings("projects", &out->cmd.projects));
        return r.Expiry("expires_at", &out->cmd.expires_at);
      });
}

StatusOr<UpdateToken> DecodeUpdateToken(std::string_view body, bool lax,
                                        std::string_view path_id) {
  return DecodeBody<UpdateToken>(body, [&](const Json& j, UpdateToken* out) {
    MessageReader r("UpdateTokenReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                   {"name", "name"},
                                   {"active", "active"},
                                   {"projects", "projects"},
                                   {"expires_at", "expiresAt"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.OptionalBool("active", &out->active));
    IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
    IAM_RETURN_IF_ERROR(r.Expiry("expires_at", &out->expires_at));
    out->id = std::string(path_id);
    return OkStatus();
  });
}

StatusOr<CreatePolicy> DecodeCreatePolicy(std::string_view body, bool lax) {
  return DecodeBody<CreatePolicy>(body, [&](const Json& j, CreatePolicy* out) {
    MessageReader r("CreatePolicyReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                   {"name", "name"},
                                   {"members", "members"},
                                   {"statements", "statements"},
                                   {"projects", "projects"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.Strings("members", &out->members));
    IAM_RETURN_IF_ERROR(ReadStatements(r, &out->statements));
    IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
    return OkStatus();
  });
}

StatusOr<UpdatePolicy> DecodeUpdatePolicy(std::string_view body, bool lax,
                                          std::string_view path_id) {
  return DecodeBody<UpdatePolicy>(body, [&](const Json& j, UpdatePolicy* out) {
    MessageReader r("UpdatePolicyReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                   {"name", "name"},
                                   {"members", "members"},
                                   {"statements", "statements"},
                                   {"projects", "projects"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.Strings("members", &out->members));
    IAM_RETURN_IF_ERROR(ReadStatements(r, &out->statements));
    IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
    out->id = std::string(path_id);
    return OkStatus();
  });
}

StatusOr<ReplacePolicyMembers> DecodeReplacePolicyMembers(
    std::string_view body, bool lax, std::string_view path_id) {
  return DecodeMembers<ReplacePolicyMembers>(body, lax, path_id,
                                             "ReplacePolicyMembersReq");
}

StatusOr<AddPolicyMembers> DecodeAddPolicyMembers(std::string_view body,
                                                  bool lax,
                                                  std::string_view path_id) {
  return DecodeMembers<AddPolicyMembers>(body, lax, path_id,
                                         "AddPolicyMembersReq");
}

StatusOr<RemovePolicyMembers> DecodeRemovePolicyMembers(
    std::string_view body, bool lax, std::string_view path_id) {
  return DecodeMembers<RemovePolicyMembers>(body, lax, path_id,
                                            "RemovePolicyMembersReq");
}

StatusOr<CreateRole> DecodeCreateRole(std::string_view body, bool lax) {
  return DecodeBody<CreateRole>(body, [&](const Json& j, CreateRole* out) {
    MessageReader r("CreateRoleReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                   {"name", "name"},
                                   {"actions", "actions"},
                                   {"projects", "projects"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.Strings("actions", &out->actions));
    IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
    return OkStatus();
  });
}

StatusOr<UpdateRole> DecodeUpdateRole(std::string_view body, bool lax,
                                      std::string_view path_id) {
  return DecodeBody<UpdateRole>(body, [&](const Json& j, UpdateRole* out) {
    MessageReader r("UpdateRoleReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"},
                                   {"name", "name"},
                                   {"actions", "actions"},
                                   {"projects", "projects"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.Strings("actions", &out->actions));
    IAM_RETURN_IF_ERROR(r.Strings("projects", &out->projects));
    out->id = std::string(path_id);
    return OkStatus();
  });
}

StatusOr<CreateProject> DecodeCreateProject(std::string_view body, bool lax) {
  return DecodeBody<CreateProject>(body, [&](const Json& j,
                                             CreateProject* out) {
    MessageReader r("CreateProjectReq", lax);
    IAM_RETURN_IF_ERROR(r.Open(
        j,
        {{"id", "id"}, {"name", "name"}, {"skip_policies", "skipPolicies"}}));
    IAM_RETURN_IF_ERROR(r.String("id", &out->id));
    IAM_RETURN_IF_ERROR(r.String("name", &out->name));
    IAM_RETURN_IF_ERROR(r.Bool("skip_policies", &out->skip_policies));
    return OkStatus();
  });
}

StatusOr<UpdateProject> DecodeUpdateProject(std::string_view body, bool lax,
                                            std::string_view path_id) {
  return DecodeBody<UpdateProject>(
      body, [&](const Json& j, UpdateProject* out) {
        MessageReader r("UpdateProjectReq", lax);
        IAM_RETURN_IF_ERROR(r.Open(j, {{"id", "id"}, {"name", "name"}}));
        IAM_RETURN_IF_ERROR(r.String("id", &out->id));
        IAM_RETURN_IF_ERROR(r.String("name", &out->name));
        out->id = std::string(path_id);
        return OkStatus();
      });
}

StatusOr<IntrospectSomeRequest> DecodeIntrospectSome(std::string_view body,
                                                     bool lax) {
  return DecodeBody<IntrospectSomeRequest>(
      body, [&](const Json& j, IntrospectSomeRequest* out) {
        MessageReader r("IntrospectSomeReq", lax);
        IAM_RETURN_IF_ERROR(r.Open(j, {{"paths", "paths"}}));
        IAM_RETURN_IF_ERROR(r.Strings("paths", &out->paths));
        return OkStatus();
      });
}

StatusOr<IntrospectRequest> DecodeIntrospect(std::string_view body, bool lax) {
  return DecodeBody<IntrospectRequest>(
      body, [&](const Json& j, IntrospectRequest* out) {
        MessageReader r("IntrospectReq", lax);
        IAM_RETURN_IF_ERROR(
            r.Open(j, {{"path", "path"}, {"parameters", "parameters"}}));
        IAM_RETURN_IF_ERROR(r.String("path", &out->path));
        IAM_RETURN_IF_ERROR(r.Strings("parameters", &out->parameters));
        return OkStatus();
      });
}

StatusOr<BackupRequest> DecodeBackup(std::string_view body, bool lax) {
  return DecodeBody<BackupRequest>(
      body, [&](const Json& j, BackupRequest* out) {
        MessageReader r("BackupReq", lax);
        IAM_RETURN_IF_ERROR(r.Open(j, {{"to", "to"}}));
        IAM_RETURN_IF_ERROR(r.String("to", &out->to));
        return OkStatus();
      });
}

// ------------------------------------------------- token lifecycle

StatusOr<RevokeTokensRequest> DecodeRevokeTokens(std::string_view body,
                                                 bool lax) {
  return DecodeBody<RevokeTokensRequest>(
      body, [&](const Json& j, RevokeTokensRequest* out) {
        MessageReader r("RevokeTokensReq", lax);
        IAM_RETURN_IF_ERROR(r.Open(j, {{"values", "values"}}));
        IAM_RETURN_IF_ERROR(r.Strings("values", &out->values));
        return OkStatus();
      });
}

StatusOr<RotateTokenRequest> DecodeRotateToken(std::string_view body, bool lax,
                                               std::string_view path_id) {
  return DecodeBody<RotateTokenRequest>(body, [&](const Json& j,
                                                  RotateTokenRequest* out) {
    MessageReader r("RotateTokenReq", lax);
    IAM_RETURN_IF_ERROR(
        r.Open(j, {{"id", "id"}, {"grace_seconds", "graceSeconds"}}));
    IAM_RETURN_IF_ERROR(r.OptionalInt("grace_seconds", &out->grace_seconds));
    out->id = std::string(path_id);
    return OkStatus();
  });
}

std::string RevokedJson(size_t revoked, bool pretty) {
  Json j = Json::object();
  j["revoked"] = revoked;
  return Dump(j, pretty);
}

StatusOr<DecodedCommand> DecodeCommand(RouteId route, std::string_view body,
                                       bool lax, std::string_view path_id) {
  auto wrap = [](auto decoded) -> StatusOr<DecodedCommand> {
    if (!decoded.ok()) return decoded.status();
    return DecodedCommand{Command(std::move(decoded).value()), ""};
  };
  const std::string id(path_id);
  switch (route) {
    case RouteId::kCreateToken: {
      auto d = DecodeCreateToken(body, lax);
      if (!d.ok()) return d.status();
      return DecodedCommand{Command(std::move(d->cmd)), std::move(d->value)};
    }
    case RouteId::kUpdateToken:
      return wrap(DecodeUpdateToken(body, lax, path_id));
    case RouteId::kDeleteToken:
      return DecodedCommand{Command(DeleteToken{id}), ""};
    case RouteId::kRotateToken: {
      auto d = DecodeRotateToken(body, lax, path_id);
      if (!d.ok()) return d.status();
      RotateToken cmd;
      cmd.id = d->id;
      cmd.grace_seconds = d->grace_seconds;
      return DecodedCommand{Command(std::move(cmd)), ""};
    }
    case RouteId::kCreatePolicy:
      return wrap(DecodeCreatePolicy(body, lax));
    case RouteId::kUpdatePolicy:
      return wrap(DecodeUpdatePolicy(body, lax, path_id));
    case RouteId::kDeletePolicy:
      return DecodedCommand{Command(DeletePolicy{id}), ""};
    case RouteId::kReplacePolicyMembers:
      return wrap(DecodeReplacePolicyMembers(body, lax, path_id));
    case RouteId::kAddPolicyMembers:
      return wrap(DecodeAddPolicyMembers(body, lax, path_id));
    case RouteId::kRemovePolicyMembers:
      return wrap(DecodeRemovePolicyMembers(body, lax, path_id));
    case RouteId::kCreateRole:
      return wrap(DecodeCreateRole(body, lax));
    case RouteId::kUpdateRole:
      return wrap(DecodeUpdateRole(body, lax, path_id));
    case RouteId::kDeleteRole:
      return DecodedCommand{Command(DeleteRole{id}), ""};
    case RouteId::kCreateProject:
      return wrap(DecodeCreateProject(body, lax));
    case RouteId::kUpdateProject:
      return wrap(DecodeUpdateProject(body, lax, path_id));
    case RouteId::kDeleteProject:
      return DecodedCommand{Command(DeleteProject{id}), ""};
    default:
      return InvalidArgumentError("not a command route");
  }
}

}  // namespace iam::api
