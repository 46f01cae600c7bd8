// Whether a request may start on an origin now: the origin's Retry-After
// pause, its concurrency permits (`per_host`) and its token bucket (`rate`).
// Asio only (a channel as the permit pool, timers to wait): no Beast.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// A token bucket: `rate` tokens a second, at most `burst` saved up.
/// Thread safety: not synchronised (admission holds it behind its mutex).
class token_bucket {
 public:
  token_bucket(double burst, clock::time_point now) : tokens_(burst), refilled_(now) {}

  /// Takes one token at `now`; returns how long the caller must wait before
  /// using it (zero when one was saved up). Tokens may go negative: waiters
  /// queue up in time, each `1/rate` after the previous.
  std::chrono::nanoseconds take(double rate, double burst, clock::time_point now);

 private:
  double tokens_;
  clock::time_point refilled_;
};

using permit_channel =
    boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

/// Holds one permit of an origin while alive.
/// Thread safety: one owner.
class permit_guard {
 public:
  permit_guard() = default;
  explicit permit_guard(permit_channel* ch) : ch_(ch) {}
  permit_guard(permit_guard&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
  permit_guard& operator=(permit_guard&& o) noexcept {
    release();
    ch_ = std::exchange(o.ch_, nullptr);
    return *this;
  }
  ~permit_guard() { release(); }
  void release();

 private:
  permit_channel* ch_ = nullptr;
};

/// The admission state of one origin.
/// Thread safety: every member from any thread (the bucket behind a mutex
/// never held across a suspension, the pause an atomic, the channel
/// thread-safe).
class admission {
 public:
  admission(const boost::asio::any_io_executor& ex, std::uint32_t per_host, double rate,
            double burst);

  /// True when a request may have to wait here (permits, a rate, a pause):
  /// otherwise the caller skips `admit` and its coroutine frame.
  bool limited() const {
    return permits_ != nullptr || rate() > 0 || paused_until() > clock::now();
  }

  /// Waits for the pause to end, a permit (held in `permit`) and a rate
  /// token, then for a pause another worker's 429 started meanwhile. False
  /// when the wait was cancelled.
  boost::asio::awaitable<bool> admit(permit_guard& permit);

  /// Sets the token bucket's rate (requests a second; 0 = unlimited) from
  /// now on, as a robots.txt Crawl-delay does; the burst stays.
  void set_rate(double rate) { rate_.store(rate, std::memory_order_relaxed); }
  double rate() const { return rate_.load(std::memory_order_relaxed); }

  /// Pauses the origin until `t` (later pauses win, earlier ones are ignored).
  void pause_until(clock::time_point t);
  clock::time_point paused_until() const {
    return clock::time_point(clock::duration(paused_until_.load(std::memory_order_relaxed)));
  }

 private:
  std::unique_ptr<permit_channel> permits_;
  std::atomic<double> rate_;
  double burst_;
  std::mutex mutex_;
  token_bucket bucket_;
  std::atomic<clock::rep> paused_until_{0};
};

/// Waits `d` on the calling coroutine's executor; false when cancelled.
/// Thread safety: as the executor.
boost::asio::awaitable<bool> sleep_for(std::chrono::nanoseconds d);

}  // namespace sluice::stages::http
