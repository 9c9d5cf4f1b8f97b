// StringMap (core/model.h) against std::unordered_map: random inserts,
// erases (by key and by iterator), lookups, iteration, copies, equality and
// reserve, across many incremental growths, so that every operation also
// runs while a growth is draining.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <string>
#include <unordered_map>

#include "core/model.h"

namespace iam {
namespace {

using Model = std::unordered_map<std::string, uint64_t>;

// Everything `m` holds, in key order, read by iteration.
std::map<std::string, uint64_t> Contents(const StringMap<uint64_t>& m) {
  std::map<std::string, uint64_t> out;
  size_t n = 0;
  for (const auto& [k, v] : m) {
    out[k] = v;
    ++n;
  }
  CHECK(n == m.size());  // each entry once
  return out;
}

void CheckSame(const StringMap<uint64_t>& m, const Model& model) {
  REQUIRE(m.size() == model.size());
  CHECK(Contents(m) ==
        std::map<std::string, uint64_t>(model.begin(), model.end()));
  for (const auto& [k, v] : model) {
    REQUIRE(m.contains(k));
    CHECK(m.at(k) == v);
    CHECK(m.find(k)->second == v);
  }
}

TEST_CASE("string map: matches std::unordered_map through many growths") {
  std::mt19937_64 rng(20261202);
  StringMap<uint64_t> m;
  Model model;
  auto key = [&](uint64_t i) { return "token/t-" + std::to_string(i); };
  uint64_t next = 0;
  for (int step = 0; step < 200000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {  // insert or update
      const std::string k = key(next++);
      const uint64_t v = rng();
      m[k] = v;
      model[k] = v;
    } else if (op < 8 && !model.empty()) {  // erase an existing key
      const std::string k = key(rng() % next);
      CHECK(m.erase(k) == model.erase(k));
    } else if (op == 8 && !model.empty()) {  // erase through find's iterator
      const std::string k = key(rng() % next);
      auto it = m.find(k);
      CHECK((it != m.end()) == (model.count(k) == 1));
      if (it != m.end()) {
        m.erase(it);
        model.erase(k);
      }
    } else {  // lookups of present and absent keys
      const std::string k = key(rng() % (next + 10));
      CHECK(m.contains(k) == (model.count(k) == 1));
      CHECK((m.find(k) == m.end()) == (model.count(k) == 0));
    }
    // Full comparisons at sizes where a growth is under way, too.
    if (step % 9973 == 0) CheckSame(m, model);
  }
  CheckSame(m, model);
  CHECK(m.size() > 50000);  // it grew many times
}

TEST_CASE("string map: copies, equality, reserve and clear mid-growth") {
  StringMap<uint64_t> m;
  Model model;
  // 13 inserts past a 3/4-full table of 16: a growth is draining now.
  for (uint64_t i = 0; i < 13; ++i) {
    m["s" + std::to_string(i)] = i;
    model["s" + std::to_string(i)] = i;
  }
  StringMap<uint64_t> copy = m;
  CheckSame(copy, model);
  CHECK(copy == m);
  copy["s3"] = 99;
  CHECK(!(copy == m));
  copy["s3"] = 3;
  CHECK(copy == m);
  copy.erase("s5");
  CHECK(!(copy == m));

  for (uint64_t i = 13; i < 5000; ++i) {
    m["s" + std::to_string(i)] = i;
    model["s" + std::to_string(i)] = i;
    if (i == 25) {  // mid-growth: reserve finishes it, then grows outright
      m.reserve(4000);
      CheckSame(m, model);
    }
  }
  CheckSame(m, model);
  StringMap<uint64_t> rebuilt;
  for (const auto& [k, v] : model) rebuilt[k] = v;
  CHECK(rebuilt == m);
  CHECK(m == rebuilt);

  m.clear();
  CHECK(m.empty());
  CHECK(m.begin() == m.end());
  CHECK(!m.contains("s1"));
  m["again"] = 1;
  CHECK(m.size() == 1);
  CHECK(m.at("again") == 1);
}

}  // namespace
}  // namespace iam
