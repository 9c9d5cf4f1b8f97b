#include "core/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace iam {

Micros SystemClock::Now() const {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const Clock* SystemClock::Get() {
  static const SystemClock clock;
  return &clock;
}

std::string FormatRfc3339(Micros t, bool seconds_only) {
  Micros secs = t >= 0 ? t / 1'000'000 : (t - 999'999) / 1'000'000;
  int64_t frac = t - secs * 1'000'000;
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!seconds_only) {
    std::snprintf(buf + n, sizeof(buf) - n, ".%06lld",
                  static_cast<long long>(frac));
    n += 7;
  }
  buf[n++] = 'Z';
  return std::string(buf, n);
}

StatusOr<Micros> ParseRfc3339(const std::string& text) {
  auto bad = [&] {
    return InvalidArgumentError("invalid RFC 3339 time \"" + text +
                                "\"; expected e.g. 2026-11-28T14:00:00Z");
  };
  int y, mo, d, h, mi, s, consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h,
                  &mi, &s, &consumed) != 6 ||
      consumed != 19) {
    return bad();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60)
    return bad();
  size_t i = 19;
  int64_t micros = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    int digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (digits < 6) micros = micros * 10 + (text[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad();
    for (; digits < 6; ++digits) micros *= 10;
  }
  int64_t offset = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i + 6 == text.size() && (text[i] == '+' || text[i] == '-') &&
             text[i + 3] == ':') {
    int oh, om;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2)
      return bad();
    offset = (oh * 3600 + om * 60) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != text.size()) return bad();
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset;
  return secs * 1'000'000 + micros;
}

}  // namespace iam
