// StringMap (core/model.h) against std::unordered_map: random inserts,
// erases (by key and by iterator), lookups, iteration, copies, equality and
// reserve, across many incremental growths, so that every operation also
// runs while a growth is draining; the same with values that own memory
// (the table constructs and destroys its entries itself: ASan checks it);
// and the Prepare hint a table 5/8 full gives its LargeMemory.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

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

TEST_CASE(
    "string map: values that own memory live exactly as long as their entry") {
  // Long strings and vectors (no small-string buffer): a slot copied,
  // moved, erased, left as a tombstone or destroyed with the map must
  // neither leak nor be used after free (the ASan suite runs this).
  using Values = std::vector<std::string>;
  std::mt19937_64 rng(20261203);
  StringMap<Values> m;
  std::unordered_map<std::string, Values> model;
  auto key = [](uint64_t i) {
    return "a stream name well past the small-string buffer/" +
           std::to_string(i);
  };
  auto value = [&] {
    return Values(1 + rng() % 3, std::string(40, 'a' + rng() % 26));
  };
  uint64_t next = 0;
  std::vector<StringMap<Values>> copies;
  for (int step = 0; step < 40000; ++step) {
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      const std::string k = key(next++);
      Values v = value();
      m[k] = v;
      model[k] = std::move(v);
    } else if (op < 8 && !model.empty()) {
      const std::string k = key(rng() % next);
      CHECK(m.erase(k) == model.erase(k));
    } else if (op == 8) {
      const std::string k = key(rng() % (next + 1));
      auto it = m.find(k);
      REQUIRE((it != m.end()) == (model.count(k) == 1));
      if (it != m.end()) CHECK(it->second == model.at(k));
    } else if (step % 97 == 0) {
      copies.push_back(m);  // copies mid-growth, too
      if (copies.size() > 3) {
        StringMap<Values> moved = std::move(copies.front());
        copies.erase(copies.begin());
        CHECK(moved.size() > 0);
        moved = copies.back();  // copy-assign over a live map
        CHECK(moved == copies.back());
      }
    }
  }
  REQUIRE(m.size() == model.size());
  for (const auto& [k, v] : model) CHECK(m.at(k) == v);
  StringMap<Values> other = m;
  m.clear();
  CHECK(m.empty());
  CHECK(other.size() == model.size());
  m = std::move(other);
  CHECK(m.size() == model.size());
}

TEST_CASE(
    "string map: assigning over a table of the same layout reuses its slots "
    "and equals the source") {
  // Two maps of one key sequence, diverged: same table sizes (the in-place
  // path, slot by slot), different entries, values and tombstones; also
  // mid-growth (a draining table of the same size) and across sizes (the
  // copy path). After each assignment the target equals the source and
  // stays independent of it.
  using Values = std::vector<std::string>;
  auto key = [](uint64_t i) {
    return "a key well past the small-string buffer/" + std::to_string(i);
  };
  for (uint64_t n : {uint64_t{10}, uint64_t{13}, uint64_t{3000}}) {
    CAPTURE(n);
    StringMap<Values> a, b;
    for (uint64_t i = 0; i < n; ++i) {
      a[key(i)] = Values(2, std::string(30, 'a'));
      b[key(i)] = Values(1, std::string(30, 'b'));
    }
    for (uint64_t i = 0; i < n; i += 3) a.erase(key(i));  // tombstones in a
    for (uint64_t i = 1; i < n; i += 4) b.erase(key(i));  // others in b
    b[key(n + 1)] = Values{"only in b"};
    const StringMap<Values> a_before = a;
    b = a;
    CHECK(b == a);
    CHECK(b.size() == a.size());
    for (uint64_t i = 0; i < n + 2; ++i) {
      CAPTURE(i);
      auto it = b.find(key(i));
      REQUIRE((it != b.end()) == a.contains(key(i)));
      if (it != b.end()) CHECK(it->second == a.at(key(i)));
    }
    b[key(2)] = Values{"changed after"};  // independent of the source
    b.erase(key(4));
    CHECK(a == a_before);
    for (uint64_t i = n; i < n + 40; ++i) b[key(i)] = Values{"grown"};
    StringMap<Values> c;  // a different layout: the copy path
    c[key(0)] = Values{"small"};
    c = b;
    CHECK(c == b);
    b = a;  // back over a grown table
    CHECK(b == a);
  }
}

// Records Prepare hints and the sizes allocated, then allocates as std does.
class RecordingMemory final : public LargeMemory {
 public:
  void* Allocate(size_t bytes) override {
    allocated.push_back(bytes);
    return StdLargeMemory()->Allocate(bytes);
  }
  void Free(void* p, size_t bytes) override {
    StdLargeMemory()->Free(p, bytes);
  }
  void Prepare(size_t bytes) override { prepared.push_back(bytes); }
  std::vector<size_t> allocated, prepared;
};

TEST_CASE(
    "large memory: zeroed, aligned; a half-full table names its next size") {
  for (size_t bytes : {size_t{1}, size_t{64}, size_t{1000}, size_t{1} << 20,
                       size_t{40} << 20}) {
    auto* p = static_cast<unsigned char*>(StdLargeMemory()->Allocate(bytes));
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    bool zero = true;
    for (size_t i = 0; i < bytes; i += 997) zero = zero && p[i] == 0;
    CHECK(zero);
    CHECK(p[bytes - 1] == 0);
    std::memset(p, 0xff, bytes);  // dirty it: the next block must be zero
    StdLargeMemory()->Free(p, bytes);
  }

  RecordingMemory memory;
  SetLargeMemory(&memory);
  {
    StringMap<uint64_t> m;
    for (uint64_t i = 0; i < 3000; ++i) m["k" + std::to_string(i)] = i;
    // Every growth allocated a table that a Prepare named before it (the
    // first table, of 16 slots, excepted), and each size was named once.
    REQUIRE(memory.allocated.size() >= 8);
    for (size_t i = 1; i < memory.allocated.size(); ++i) {
      CAPTURE(i);
      CHECK(std::count(memory.prepared.begin(), memory.prepared.end(),
                       memory.allocated[i]) == 1);
    }
    // Named at 5/8 full, before the growth at 3/4: at 3,000 of 4,096 slots
    // the newest hint is the table after the current one, not allocated.
    CHECK(memory.prepared.back() == 2 * memory.allocated.back());
  }
  SetLargeMemory(nullptr);
}

}  // namespace
}  // namespace iam
