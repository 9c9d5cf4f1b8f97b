#include "eventstore/large_memory.h"

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>

namespace iam::eventstore {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr std::align_val_t kLineAlign{64};  // LargeMemory's contract

class HugePages final : public LargeMemory {
 public:
  void* Allocate(size_t bytes) override {
    if (bytes < kHugePage) return ::operator new(bytes, kLineAlign);
    // Map a huge page more than needed and keep an aligned part.
    const size_t want = (bytes + kHugePage - 1) & ~(kHugePage - 1);
    void* p = ::mmap(nullptr, want + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    const auto base = reinterpret_cast<uintptr_t>(p);
    const uintptr_t start = (base + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
    if (start > base) ::munmap(p, start - base);
    const uintptr_t end = start + want;
    if (base + want + kHugePage > end) {
      ::munmap(reinterpret_cast<void*>(end), base + want + kHugePage - end);
    }
    ::madvise(reinterpret_cast<void*>(start), want, MADV_HUGEPAGE);
    return reinterpret_cast<void*>(start);
  }
  void Free(void* p, size_t bytes) override {
    if (p == nullptr) return;
    if (bytes < kHugePage) {
      ::operator delete(p, kLineAlign);
      return;
    }
    ::munmap(p, (bytes + kHugePage - 1) & ~(kHugePage - 1));
  }
};

}  // namespace

LargeMemory* HugePageMemory() {
  static HugePages* const memory = new HugePages();  // never destroyed
  return memory;
}

}  // namespace iam::eventstore
