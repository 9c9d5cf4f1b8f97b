// core/lifecycle.h: expiry rules and edges, rotation, revocation, filters,
// and the state encoding of the lifecycle fields.
#include "core/lifecycle.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/decide.h"
#include "core/model.h"

namespace iam {
namespace {

constexpr Micros kS = kMicrosPerSecond;
constexpr Micros kNow = 1'800'000'000 * kS;

// Folds events as the log would (seqs from 1, versions per stream).
void Fold(IamState& state, const std::vector<Event>& events, Micros at = kNow) {
  for (const Event& e : events) {
    RecordedEvent rec;
    rec.seq = state.last_seq + 1;
    rec.recorded_at = at;
    rec.stream = StreamOf(e);
    auto it = state.stream_versions.find(rec.stream);
    rec.stream_version = it == state.stream_versions.end() ? 1 : it->second + 1;
    rec.event = e;
    REQUIRE(Evolve(state, rec).ok());
  }
}

Caller Admin() {
  Caller c;
  c.subjects = {"local:admin"};
  return c;
}

TokenCreated Created(std::string id, Micros expires_at = 0) {
  TokenCreated t{id, "T", true, {}, "digest-" + id, "sealed-" + id};
  t.expires_at = expires_at;
  return t;
}

TEST_CASE("lifecycle: durations") {
  CHECK(ParseDuration("90d").value() == 90 * 86400 * kS);
  CHECK(ParseDuration("12h").value() == 12 * 3600 * kS);
  CHECK(ParseDuration("30m").value() == 30 * 60 * kS);
  CHECK(ParseDuration("45s").value() == 45 * kS);
  for (const char* bad :
       {"", "d", "0d", "-1d", "1w", "1.5h", "h1", "1 d", "99999999999d"}) {
    CAPTURE(bad);
    CHECK(ParseDuration(bad).status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(FormatDuration(90 * 86400 * kS) == "90d");
  CHECK(FormatDuration(36 * 3600 * kS) == "36h");
  CHECK(FormatDuration(61 * kS) == "61s");
}

TEST_CASE("lifecycle: a token authenticates until 1 us before expires_at") {
  Token t;
  t.active = true;
  CHECK(TokenUsableAt(t, kNow));  // no expiry
  t.expires_at = kNow;
  CHECK(TokenUsableAt(t, kNow - kS));
  CHECK(TokenUsableAt(t, kNow - 1));
  CHECK_FALSE(TokenUsableAt(t, kNow));  // at expires_at: refused
  CHECK_FALSE(TokenUsableAt(t, kNow + kS));
  t.active = false;
  t.expires_at = 0;
  CHECK_FALSE(TokenUsableAt(t, kNow));
}

TEST_CASE("lifecycle: expiry on create") {
  const ExpiryContext free{kNow, 0};
  const ExpiryContext max{kNow, 90 * 86400 * kS};
  CHECK(ExpiryOnCreate(std::nullopt, free).value() == 0);
  CHECK(ExpiryOnCreate(kClearExpiry, free).value() == 0);
  CHECK(ExpiryOnCreate(kNow + kS, free).value() == kNow + kS);
  CHECK(ExpiryOnCreate(kNow, free).status().message() ==
        "expires_at 2027-01-15T08:00:00Z is not in the future (now is "
        "2027-01-15T08:00:00Z)");
  CHECK(ExpiryOnCreate(kNow - kS, free).status().code() ==
        StatusCode::kInvalidArgument);
  // The maximum: the default, the limit itself, 1 s past it.
  CHECK(ExpiryOnCreate(std::nullopt, max).value() == kNow + max.max_lifetime);
  CHECK(ExpiryOnCreate(kClearExpiry, max).value() == kNow + max.max_lifetime);
  CHECK(ExpiryOnCreate(kNow + max.max_lifetime, max).value() ==
        kNow + max.max_lifetime);
  Status past = ExpiryOnCreate(kNow + max.max_lifetime + kS, max).status();
  CHECK(past.code() == StatusCode::kInvalidArgument);
  CHECK(past.message().find("maximum token lifetime of 90d") !=
        std::string::npos);
}

TEST_CASE("lifecycle: expiry on update") {
  const ExpiryContext free{kNow, 0};
  const ExpiryContext max{kNow, 86400 * kS};
  const Micros current = kNow + 3600 * kS;
  // Omitted: kept (an Automate client renaming the token).
  CHECK(ExpiryOnUpdate(std::nullopt, current, free).value() == std::nullopt);
  CHECK(ExpiryOnUpdate(std::nullopt, current, max).value() == std::nullopt);
  // The same value: kept, even when past the maximum or in the past.
  CHECK(ExpiryOnUpdate(kNow + 10 * 86400 * kS, kNow + 10 * 86400 * kS, max)
            .value() == std::nullopt);
  CHECK(ExpiryOnUpdate(kNow - kS, kNow - kS, free).value() == std::nullopt);
  // "" clears, unless a maximum is enforced.
  CHECK(ExpiryOnUpdate(kClearExpiry, current, free).value() == Micros{0});
  CHECK(ExpiryOnUpdate(kClearExpiry, 0, free).value() == std::nullopt);
  CHECK(ExpiryOnUpdate(kClearExpiry, current, max).status().message() ==
        "expires_at cannot be cleared: a maximum token lifetime of 1d is "
        "enforced");
  // A new value: future, within the maximum.
  CHECK(ExpiryOnUpdate(kNow + kS, current, free).value() == kNow + kS);
  CHECK(ExpiryOnUpdate(kNow, current, free).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(ExpiryOnUpdate(kNow + 86400 * kS + kS, current, max).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("lifecycle: decide create and update with expiry") {
  IamState state;
  CreateToken create;
  create.id = "t";
  create.name = "T";
  create.secret = TokenSecret{false, 30, true, "d", "s"};
  create.expires_at = kNow + kS;
  create.expiry = {kNow, 0};
  auto d = Decide(create, state, Admin());
  REQUIRE(d.ok());
  REQUIRE(d->events.size() == 1);
  CHECK(std::get<TokenCreated>(d->events[0]).expires_at == kNow + kS);
  create.expires_at = kNow - kS;
  CHECK(Decide(create, state, Admin()).status().code() ==
        StatusCode::kInvalidArgument);

  Fold(state, {Created("t", kNow + 60 * kS)});
  UpdateToken update;
  update.id = "t";
  update.name = "T";
  update.expiry = {kNow, 0};
  // Without expires_at: nothing changes.
  d = Decide(update, state, Admin());
  REQUIRE(d.ok());
  CHECK(d->events.empty());
  // A rename without expires_at keeps it.
  update.name = "U";
  d = Decide(update, state, Admin());
  REQUIRE(d.ok());
  REQUIRE(d->events.size() == 1);
  CHECK(EventTypeName(d->events[0]) == "TokenRenamed");
  // With one: TokenExpirySet after the Automate fields.
  update.expires_at = kNow + 120 * kS;
  d = Decide(update, state, Admin());
  REQUIRE(d.ok());
  REQUIRE(d->events.size() == 2);
  CHECK(d->events[1] == Event(TokenExpirySet{"t", kNow + 120 * kS}));
  update.expires_at = kClearExpiry;
  d = Decide(update, state, Admin());
  REQUIRE(d.ok());
  CHECK(d->events.back() == Event(TokenExpirySet{"t", 0}));
}

TEST_CASE("lifecycle: rotation grace edges and evolve") {
  IamState state;
  Fold(state, {Created("t")});
  RotateToken cmd{"t", std::nullopt, kNow, "digest-new", "sealed-new"};
  auto d = DecideRotateToken(cmd, state, Admin());
  REQUIRE(d.ok());
  CHECK(d->events[0] == Event(TokenRotated{"t", "digest-new", "sealed-new",
                                           kNow}));  // default grace 0
  cmd.grace_seconds = kMaxGraceSeconds;
  CHECK(DecideRotateToken(cmd, state, Admin()).ok());
  cmd.grace_seconds = kMaxGraceSeconds + 1;
  CHECK(DecideRotateToken(cmd, state, Admin()).status().message() ==
        "grace_seconds must be between 0 and 604800 (7 days); it is 604801");
  cmd.grace_seconds = -1;
  CHECK(DecideRotateToken(cmd, state, Admin()).status().code() ==
        StatusCode::kInvalidArgument);
  cmd.grace_seconds = 60;
  cmd.id = "missing";
  CHECK(DecideRotateToken(cmd, state, Admin()).status().code() ==
        StatusCode::kNotFound);

  cmd.id = "t";
  d = DecideRotateToken(cmd, state, Admin());
  REQUIRE(d.ok());
  Fold(state, d->events);
  const Token& t = state.tokens.at("t");
  CHECK(t.value_digest == "digest-new");
  CHECK(t.sealed_value == "sealed-new");
  CHECK(t.previous_value_digest == "digest-t");
  CHECK(t.previous_value_expires_at == kNow + 60 * kS);
  // The previous value: 1 s before the end of the grace yes, at it no.
  CHECK(PreviousValueUsableAt(t, kNow + 59 * kS));
  CHECK_FALSE(PreviousValueUsableAt(t, kNow + 60 * kS));
  CHECK_FALSE(PreviousValueUsableAt(t, kNow + 61 * kS));
  Token inactive = t;
  inactive.active = false;
  CHECK_FALSE(PreviousValueUsableAt(inactive, kNow));
}

TEST_CASE("lifecycle: revoke deactivates active tokens once, in id order") {
  IamState state;
  Fold(state, {Created("b"), Created("a"), Created("c"),
               TokenStatusToggled{"c", false}});
  auto d = DecideRevokeTokens(RevokeTokens{"", {"b", "a", "c", "x", "a"}},
                              state, Admin());
  REQUIRE(d.ok());
  CHECK(d->events == std::vector<Event>{TokenStatusToggled{"a", false},
                                        TokenStatusToggled{"b", false}});
  CHECK(d->expected.size() == 2);
  d = DecideRevokeTokens(RevokeTokens{"", {"c"}}, state, Admin());
  CHECK(d->events.empty());
}

TEST_CASE("lifecycle: inventory filters") {
  Token t;
  t.active = true;
  t.projects = {"p1"};
  CHECK(MatchesFilter(t, TokenFilter{}, 0));
  TokenFilter f;
  f.active = false;
  CHECK_FALSE(MatchesFilter(t, f, 0));
  f.active = true;
  CHECK(MatchesFilter(t, f, 0));
  f.projects = {"p2", "p1"};
  CHECK(MatchesFilter(t, f, 0));
  f.projects = {"p2"};
  CHECK_FALSE(MatchesFilter(t, f, 0));
  f = TokenFilter{};
  f.expires_before = kNow;
  CHECK_FALSE(MatchesFilter(t, f, 0));  // never expires
  t.expires_at = kNow - 1;
  CHECK(MatchesFilter(t, f, 0));
  t.expires_at = kNow;
  CHECK_FALSE(MatchesFilter(t, f, 0));
  f = TokenFilter{};
  f.unused_since = kNow;
  CHECK(MatchesFilter(t, f, 0));  // never used
  CHECK(MatchesFilter(t, f, kNow - 1));
  CHECK_FALSE(MatchesFilter(t, f, kNow));
}

TEST_CASE(
    "lifecycle: the state encoding is unchanged without lifecycle "
    "fields, and keeps them otherwise") {
  IamState plain;
  Fold(plain, {Created("a"), Created("b")});
  const std::string v1 = CanonicalEncoding(plain);
  CHECK(v1.find("iamledger-state/1") != std::string::npos);
  CHECK(DecodeCanonicalEncoding(v1).value() == plain);

  IamState with = plain;
  Fold(with, {TokenExpirySet{"a", kNow + kS},
              TokenRotated{"b", "d2", "s2", kNow + 5 * kS}});
  const std::string v2 = CanonicalEncoding(with);
  CHECK(v2.find("iamledger-state/2") != std::string::npos);
  auto decoded = DecodeCanonicalEncoding(v2);
  REQUIRE(decoded.ok());
  CHECK(*decoded == with);
  CHECK(decoded->tokens.at("a").expires_at == kNow + kS);
  CHECK(decoded->tokens.at("b").previous_value_digest == "digest-b");
  // Clearing the expiry again gives back the version 1 bytes' shape.
  IamState cleared = plain;
  Fold(cleared, {TokenExpirySet{"a", 0}});
  CHECK(CanonicalEncoding(cleared).find("iamledger-state/1") !=
        std::string::npos);
}

}  // namespace
}  // namespace iam
