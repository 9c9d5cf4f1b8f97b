// Time as a dependency, so tests and replay can control it.
#ifndef IAMLEDGER_CORE_CLOCK_H_
#define IAMLEDGER_CORE_CLOCK_H_

#include <atomic>
#include <string>

#include "core/events.h"

namespace iam {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in microseconds, UTC.
  virtual Micros Now() const = 0;
};

// The wall clock.
class SystemClock final : public Clock {
 public:
  Micros Now() const override;
  // A process-wide instance.
  static const Clock* Get();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Micros start = 1'700'000'000'000'000) : now_(start) {}
  Micros Now() const override { return now_.load(); }
  void Advance(Micros by) { now_ += by; }
  void Set(Micros to) { now_ = to; }

 private:
  std::atomic<Micros> now_;
};

// "2026-11-28T09:14:03.120511Z" (microseconds) or, with seconds_only,
// "2026-11-28T09:14:03Z" as Automate renders created_at/updated_at.
std::string FormatRfc3339(Micros t, bool seconds_only = false);
// Parses RFC 3339 with optional fraction and "Z" or a numeric offset.
StatusOr<Micros> ParseRfc3339(const std::string& text);

}  // namespace iam

#endif  // IAMLEDGER_CORE_CLOCK_H_
