// The LargeMemory (core/model.h) of the server and the benchmarks: blocks of
// 2 MiB or more are mapped on their own, aligned to 2 MiB and offered to the
// kernel for transparent huge pages (madvise MADV_HUGEPAGE), so that random
// lookups in a table of a million entries miss the TLB rarely; smaller ones
// come from operator new (64-byte aligned). Core cannot map memory itself (std
// only, DESIGN.md §1), so a process installs this at the top of main:
//   iam::SetLargeMemory(iam::eventstore::HugePageMemory());
#ifndef IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_
#define IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_

#include "core/model.h"

namespace iam::eventstore {

// A process-wide instance, never destroyed. Memory it maps is zeroed.
LargeMemory* HugePageMemory();

}  // namespace iam::eventstore

#endif  // IAMLEDGER_EVENTSTORE_LARGE_MEMORY_H_
