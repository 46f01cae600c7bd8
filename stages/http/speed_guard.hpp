// Deadlines of the http consumer's phases, and its speed guard (curl's
// speedcheck): pure arithmetic over time points, unit-tested without I/O.
#pragma once

#include <chrono>
#include <cstdint>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// When a phase must end: the earlier of its own limit (from `from`) and the
/// attempt's deadline; `own_first` says the phase's limit came first (so a
/// timeout is that phase's kind, not timeout_total). A zero limit is none.
struct phase_deadline {
  clock::time_point at;
  bool own_first = false;
};

/// Thread safety: pure.
inline phase_deadline phase_limit(clock::time_point attempt_deadline,
                                  std::chrono::nanoseconds limit, clock::time_point from) {
  if (limit <= std::chrono::nanoseconds::zero()) {
    return {attempt_deadline, false};
  }
  auto t = from + limit;
  return t < attempt_deadline ? phase_deadline{t, true} : phase_deadline{attempt_deadline, false};
}

/// The body must arrive at `min_speed` bytes/s or more, measured over windows
/// of `window`: a window that reaches its quota starts the next one; one that
/// ends short fails the attempt as too_slow. Inactive when min_speed is 0.
/// Thread safety: one owner (the worker reading the body).
class speed_guard {
 public:
  speed_guard(std::uint64_t min_speed, std::chrono::nanoseconds window, clock::time_point now)
      : window_(window),
        start_(now),
        quota_(static_cast<double>(min_speed) * std::chrono::duration<double>(window).count()),
        active_(min_speed > 0 && window > std::chrono::nanoseconds::zero()) {}

  bool active() const { return active_; }

  /// The deadline of the next read: the current window's end, if it comes
  /// before the attempt's deadline.
  phase_deadline next_read(clock::time_point attempt_deadline) const {
    if (!active_) {
      return {attempt_deadline, false};
    }
    return phase_limit(attempt_deadline, window_, start_);
  }

  /// Counts `n` body bytes received by `now`.
  void add(std::uint64_t n, clock::time_point now) {
    if (!active_) {
      return;
    }
    bytes_ += n;
    if (static_cast<double>(bytes_) >= quota_) {
      start_ = now;
      bytes_ = 0;
    }
  }

  /// Bytes counted in the current window (for the too_slow message).
  std::uint64_t window_bytes() const { return bytes_; }

 private:
  std::chrono::nanoseconds window_;
  clock::time_point start_;
  double quota_;
  std::uint64_t bytes_ = 0;
  bool active_;
};

}  // namespace sluice::stages::http
