// DigestIndex (projections/projections.h) against a plain digest -> ids map:
// random inserts and erases of tokens, some sharing a digest, with 32-byte
// and short digests, across many incremental growths, so that lookups,
// authentication lookups, iteration and equality also run while a growth is
// draining.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "projections/projections.h"

namespace iam::projections {
namespace {

using Model = std::map<std::string, std::set<std::string>>;  // digest -> ids

void CheckSame(const DigestIndex& index, const Model& model,
               const std::map<std::string, Token>& tokens) {
  REQUIRE(index.size() == model.size());
  size_t n = 0;
  for (const auto& entry : index) {
    ++n;
    auto it = model.find(std::string(entry.first));
    REQUIRE(it != model.end());
    CHECK(entry.second.list() ==
          StringList(it->second.begin(), it->second.end()));
  }
  CHECK(n == model.size());
  for (const auto& [digest, ids] : model) {
    REQUIRE(index.contains(digest));
    CHECK(index.at(digest) == StringList(ids.begin(), ids.end()));
    const Token* active = index.FindActive(digest);
    REQUIRE(active != nullptr);  // every token here is active
    CHECK(active->id == *ids.begin());
    DigestIndex::Found found = index.FindForAuthentication(digest);
    REQUIRE(found.token == &tokens.at(*ids.begin()));
    CHECK(found.id == *ids.begin());
  }
}

TEST_CASE("digest index: matches a map through many growths") {
  std::mt19937_64 rng(20261202);
  std::map<std::string, Token> tokens;  // nodes stay put
  DigestIndex index;
  Model model;
  uint64_t next = 0;
  auto digest_of = [&](uint64_t i) {
    // Mostly 32-byte digests (the exact-key slots), some short ones, and
    // every 50th token shares the digest of an earlier one.
    if (i % 50 == 49) i = rng() % i;
    std::string d = "digest-" + std::to_string(i);
    if (i % 7 != 0) d.resize(32, '#');
    return d;
  };
  for (int step = 0; step < 120000; ++step) {
    if (rng() % 10 < 7 || tokens.empty()) {
      const std::string id = "t-" + std::to_string(next);
      Token t;
      t.id = id;
      t.active = true;
      t.value_digest = digest_of(next++);
      const Token* p = &tokens.emplace(id, std::move(t)).first->second;
      index.Insert(p);
      model[p->value_digest].insert(id);
    } else {
      auto it = tokens.begin();
      std::advance(it, rng() % std::min<size_t>(tokens.size(), 64));
      index.Erase(&it->second);
      auto m = model.find(it->second.value_digest);
      m->second.erase(it->first);
      if (m->second.empty()) model.erase(m);
      tokens.erase(it);
    }
    if (step % 7919 == 0) CheckSame(index, model, tokens);
  }
  CheckSame(index, model, tokens);
  CHECK(index.size() > 40000);  // it grew many times

  // Equality with an index built in one go (no growth under way there).
  DigestIndex rebuilt;
  for (const auto& [id, t] : tokens) rebuilt.Insert(&t);
  CHECK(rebuilt == index);
  CHECK(index == rebuilt);
  index.Clear();
  CHECK(index.size() == 0);
  CHECK(index.begin() == index.end());
}

}  // namespace
}  // namespace iam::projections
