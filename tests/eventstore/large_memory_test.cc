// HugePageMemory (eventstore/large_memory.h): blocks are zero and aligned,
// and a block readied for a Prepare hint comes with its pages faulted in
// (the point: the table that takes it does not zero tens of MB on the
// writer's thread). Page faults are counted with getrusage's minor faults.
#include "eventstore/large_memory.h"

#include <doctest/doctest.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>

namespace iam::eventstore {
namespace {

long MinorFaults() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_minflt;
}

// Writes a byte to every 4 KiB page of `p` after checking it reads zero;
// returns the minor faults that took on this thread.
long TouchAll(unsigned char* p, size_t bytes, bool* all_zero) {
  const long before = MinorFaults();
  bool zero = true;
  for (size_t off = 0; off < bytes; off += 4096) {
    zero = zero && p[off] == 0;
    p[off] = 1;
  }
  *all_zero = zero;
  return MinorFaults() - before;
}

// Polls `done` every `poll` until it holds or 60 s have passed.
template <typename Done>
void WaitUntil(Done done, std::chrono::milliseconds poll) {
  const auto limit =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!done() && std::chrono::steady_clock::now() < limit) {
    std::this_thread::sleep_for(poll);
  }
}

TEST_CASE("huge page memory: zero, aligned, and readied ahead when asked") {
  LargeMemory* memory = HugePageMemory();
  constexpr size_t kBytes = size_t{64} << 20;

  // Small blocks: zero even when the heap hands back dirty memory.
  for (int round = 0; round < 2; ++round) {
    auto* small = static_cast<unsigned char*>(memory->Allocate(4000));
    CHECK(reinterpret_cast<uintptr_t>(small) % 64 == 0);
    bool zero = true;
    for (size_t i = 0; i < 4000; ++i) zero = zero && small[i] == 0;
    CHECK(zero);
    std::memset(small, 0xff, 4000);
    memory->Free(small, 4000);
  }

  // Not prepared: mapped lazily, so the caller faults its pages in.
  auto* cold = static_cast<unsigned char*>(memory->Allocate(kBytes));
  CHECK(reinterpret_cast<uintptr_t>(cold) % (size_t{2} << 20) == 0);
  bool zero = false;
  const long cold_faults = TouchAll(cold, kBytes, &zero);
  CHECK(zero);
  memory->Free(cold, kBytes);

  // Prepared: once readied, taking it and touching every page faults
  // (nearly) nothing on this thread.
  const size_t ready_before = HugePageMemoryReadyBytes();
  memory->Prepare(kBytes);
  WaitUntil([&] { return HugePageMemoryReadyBytes() >= ready_before + kBytes; },
            std::chrono::milliseconds(5));
  REQUIRE(HugePageMemoryReadyBytes() >= ready_before + kBytes);
  auto* warm = static_cast<unsigned char*>(memory->Allocate(kBytes));
  CHECK(HugePageMemoryReadyBytes() == ready_before);  // it took that block
  const long warm_faults = TouchAll(warm, kBytes, &zero);
  CHECK(zero);
  memory->Free(warm, kBytes);
  CAPTURE(cold_faults);
  CAPTURE(warm_faults);
  // 64 MiB is 32 huge pages or 16,384 small ones when the caller faults it.
  CHECK(cold_faults >= 32);
  CHECK(warm_faults < 8);

  // A hint answered before its block is ready (a fast fold outgrows the
  // preparer): the block is not kept. The worker readies in order, so once
  // a block hinted after it is ready, the first one has been dealt with.
  // Both ways: taken while still queued, and (most likely: 256 MiB takes
  // the worker far longer than 2 ms) while being readied.
  const size_t before = HugePageMemoryReadyBytes();
  memory->Prepare(kBytes);
  memory->Free(memory->Allocate(kBytes), kBytes);  // at once: still queued
  constexpr size_t kBig = 4 * kBytes;
  memory->Prepare(kBig);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  void* taken = memory->Allocate(kBig);
  constexpr size_t kLater = kBytes + (size_t{2} << 20);
  memory->Prepare(kLater);
  WaitUntil([&] { return HugePageMemoryReadyBytes() >= before + kLater; },
            std::chrono::milliseconds(5));
  CHECK(HugePageMemoryReadyBytes() == before + kLater);
  memory->Free(taken, kBig);
  memory->Free(memory->Allocate(kLater), kLater);
  CHECK(HugePageMemoryReadyBytes() == before);

  // A hint nobody answers (a table that stopped growing short of its 3/4):
  // its block is unmapped once held longer than the hold, here 2 s.
  SetHugePageHoldForTesting(std::chrono::seconds(2));
  memory->Prepare(kBytes);
  WaitUntil([&] { return HugePageMemoryReadyBytes() >= before + kBytes; },
            std::chrono::milliseconds(1));
  REQUIRE(HugePageMemoryReadyBytes() == before + kBytes);  // readied...
  WaitUntil([&] { return HugePageMemoryReadyBytes() == before; },
            std::chrono::milliseconds(20));
  CHECK(HugePageMemoryReadyBytes() == before);  // ...then dropped
  SetHugePageHoldForTesting(std::chrono::seconds(60));
}

}  // namespace
}  // namespace iam::eventstore
