// The LargeMemory (core/model.h) of the server and the benchmarks: blocks of
// 2 MiB or more are mapped on their own, aligned to 2 MiB and offered to the
// kernel for transparent huge pages (madvise MADV_HUGEPAGE), so that random
// lookups in a table of a million entries miss the TLB rarely; smaller ones
// come from operator new (64-byte aligned, cleared). Prepare(bytes) readies a
// block on a thread of its own (mapped, every page touched) for the next
// Allocate of that size, so a growing table does not zero tens of MB on its
// caller's thread; one nobody takes within 60 s is unmapped (a table growing
// slower than 1/8 of its size a minute pays its zeroing itself, as before).
// Core cannot map memory itself (std only, DESIGN.md §1), so a process installs
// this at the top of main:
//   iam::SetLargeMemory(iam::eventstore::HugePageMemory());
#ifndef IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_
#define IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_

#include <chrono>
#include <cstddef>

#include "core/model.h"

namespace iam::eventstore {

// A process-wide instance, never destroyed. Memory it gives is zeroed.
LargeMemory* HugePageMemory();
// Bytes HugePageMemory() has readied for Prepare hints and not yet handed
// out (tests, diagnostics).
size_t HugePageMemoryReadyBytes();
// How long a readied block nobody takes is kept (60 s; tests shorten it).
void SetHugePageHoldForTesting(std::chrono::milliseconds hold);

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_
