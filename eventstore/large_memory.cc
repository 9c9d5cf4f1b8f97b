#include "eventstore/large_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <thread>
#include <utility>
#include <vector>

namespace iam::eventstore {
namespace {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kPage = 4096;
constexpr std::align_val_t kLineAlign{64};  // LargeMemory's contract
// The most readied (or being readied) at once; a hint past it is dropped.
constexpr size_t kMaxPrepared = size_t{512} << 20;

size_t RoundUp(size_t bytes) {
  return (bytes + kHugePage - 1) & ~(kHugePage - 1);
}

// `want` bytes (a multiple of kHugePage) at a 2 MiB boundary, zero (fresh
// from the kernel), offered for huge pages; nothing faulted in yet.
void* MapAligned(size_t want) {
  // Map a huge page more than needed and keep an aligned part.
  void* p = ::mmap(nullptr, want + kHugePage, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
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

// Large blocks are mapped on their own. Prepare(bytes) has a thread of its
// own (started on the first hint, normal priority: it must not be starved
// while it holds the address space's lock in a page fault) map a block and
// write a zero to each of its pages, so the kernel zeroes them there; the
// next Allocate of that size takes it. On this kind of VM a first-touched
// page costs ~3.3 ms/MB, so a table of a million 64-byte slots made on the
// writer's thread stalled it for ~200 ms (issue 12 item 8).
class HugePages final : public LargeMemory {
 public:
  void* Allocate(size_t bytes) override {
    if (bytes < kHugePage) {
      void* p = ::operator new(bytes, kLineAlign);
      std::memset(p, 0, bytes);
      return p;
    }
    const size_t want = RoundUp(bytes);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto hint = wanted_.find(want);
      if (hint != wanted_.end()) {
        // This allocation answers a hint of its size: a readied block if
        // there is one; else the hint is moot (one still queued is
        // dropped, one being readied is unmapped when done).
        if (--hint->second == 0) wanted_.erase(hint);
        auto it = ready_.find(want);
        if (it != ready_.end() && !it->second.empty()) {
          void* p = it->second.back().block;
          it->second.pop_back();
          prepared_bytes_ -= want;
          ready_bytes_ -= want;
          return p;
        }
        for (auto q = queue_.begin(); q != queue_.end(); ++q) {
          if (*q == want) {
            queue_.erase(q);
            prepared_bytes_ -= want;
            break;
          }
        }
      }
    }
    void* p = MapAligned(want);
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }

  void Free(void* p, size_t bytes) override {
    if (p == nullptr) return;
    if (bytes < kHugePage) {
      ::operator delete(p, kLineAlign);
      return;
    }
    ::munmap(p, RoundUp(bytes));
  }

  void Prepare(size_t bytes) override {
    if (bytes < kHugePage) return;
    const size_t want = RoundUp(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    if (prepared_bytes_ + want > kMaxPrepared) return;
    prepared_bytes_ += want;
    ++wanted_[want];
    queue_.push_back(want);
    if (!started_) {
      started_ = true;
      std::thread([this] { Work(); }).detach();  // lives as long as we do
    }
    cv_.notify_one();
  }

 private:
  void Work() {
    for (;;) {
      size_t want;
      {
        std::unique_lock<std::mutex> lock(mu_);
        while (queue_.empty()) {
          const auto tick = std::min<std::chrono::steady_clock::duration>(
              hold_, std::chrono::seconds(1));
          if (!cv_.wait_for(lock, tick, [&] { return !queue_.empty(); })) {
            DropExpired(lock);
          }
        }
        want = queue_.front();
        queue_.pop_front();
      }
      void* p = MapAligned(want);
      if (p != nullptr) {
        auto* bytes = static_cast<volatile char*>(p);
        for (size_t off = 0; off < want; off += kPage) bytes[off] = 0;
      }
      std::unique_lock<std::mutex> lock(mu_);
      auto hint = wanted_.find(want);
      std::vector<Ready>& ready = ready_[want];
      if (p != nullptr && hint != wanted_.end() &&
          ready.size() < hint->second) {
        ready.push_back({p, std::chrono::steady_clock::now()});
        ready_bytes_ += want;
        continue;
      }
      prepared_bytes_ -= want;  // failed, or no longer wanted
      lock.unlock();
      if (p != nullptr) ::munmap(p, want);
    }
  }

  // Unmaps the ready blocks older than hold_ and drops their hints; `lock`
  // holds mu_ and is held again on return.
  void DropExpired(std::unique_lock<std::mutex>& lock) {
    const auto now = std::chrono::steady_clock::now();
    std::vector<std::pair<void*, size_t>> drop;
    for (auto& [size, blocks] : ready_) {
      for (size_t i = 0; i < blocks.size();) {
        if (now - blocks[i].at < hold_) {
          ++i;
          continue;
        }
        drop.emplace_back(blocks[i].block, size);
        blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
        auto hint = wanted_.find(size);
        if (hint != wanted_.end() && --hint->second == 0) wanted_.erase(hint);
        prepared_bytes_ -= size;
        ready_bytes_ -= size;
      }
    }
    if (drop.empty()) return;
    lock.unlock();
    for (auto [block, size] : drop) ::munmap(block, size);
    lock.lock();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  std::deque<size_t> queue_;  // sizes still to ready
  struct Ready {
    void* block;
    std::chrono::steady_clock::time_point at;  // when it was readied
  };
  std::map<size_t, std::vector<Ready>> ready_;  // size -> readied blocks
  // A readied block nobody took within this long is unmapped and its hint
  // dropped: a hint from a table that stops growing before its 3/4 (a
  // private fold for a snapshot, an audit timeline) does not pin memory.
  std::chrono::steady_clock::duration hold_ = std::chrono::seconds(60);
  // Size -> hints not yet answered by an Allocate. A block readied when
  // there are no more hints of its size than ready blocks is unmapped: a
  // block nobody will take is not kept.
  std::map<size_t, size_t> wanted_;
  size_t prepared_bytes_ = 0;  // queued + being readied + ready
  size_t ready_bytes_ = 0;

 public:
  size_t ReadyBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_bytes_;
  }
  void SetHold(std::chrono::steady_clock::duration hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }
};

HugePages* Instance() {
  static HugePages* const memory = new HugePages();  // never destroyed
  return memory;
}

}  // namespace

LargeMemory* HugePageMemory() { return Instance(); }

size_t HugePageMemoryReadyBytes() { return Instance()->ReadyBytes(); }

void SetHugePageHoldForTesting(std::chrono::milliseconds hold) {
  Instance()->SetHold(hold);
}

}  // namespace iam::eventstore
