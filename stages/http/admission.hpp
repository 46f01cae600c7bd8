// Whether a request may start on an origin now: the origin's Retry-After
// pause, its concurrency permits (`per_host`, fixed or adaptive) and its
// token bucket (`rate`). Asio only (a channel as the permit pool, timers to
// wait): no Beast.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

struct config;

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

/// What one attempt tells the adaptive limit about its origin.
enum class congestion_signal {
  none,       ///< a response: its latency is a sample
  congested,  ///< a timeout, a connect failure, a 429 or a 503: back off
  ignore,     ///< anything else (a 404, a bad body): no sample
};

/// The control law of `per_host: auto`, per origin: additive increase,
/// multiplicative decrease (AIMD) on a concurrency limit, in the manner of
/// TCP congestion control and Vector's adaptive request concurrency.
///
/// - Slow start: until the first decrease, every fast sample adds one (the
///   limit doubles per round trip), so an origin reaches its level quickly.
/// - A window is `limit` samples (about one round trip at full use). When a
///   window ends, its mean latency is compared with the origin's baseline
///   (the lowest window mean seen, drifting up by 1% of the gap a window so a
///   path that got slower for good is accepted in time): more than
///   `k_tolerance` times the baseline decreases the limit; otherwise the
///   limit grows by one, if the window used it fully (in flight reached the
///   limit) and no request is still outstanding for longer than the
///   tolerance allows. Such a request, if it began after the last decrease,
///   is itself a decrease (a slow response shows before it arrives).
/// - A congestion signal decreases at once: limit × 0.9, at least one less.
///   0.9 (Vector's ratio) rather than TCP's 0.5: with limits in the single
///   digits, halving swings an origin between 4 and 9 when its capacity is 8,
///   0.9 keeps it at 8 or 9. Samples of requests that started before the
///   last decrease are ignored (they saw the old limit): one decrease per
///   round trip, as TCP's fast recovery.
/// The limit stays in [min, max].
/// Thread safety: not synchronised (admission holds it behind its mutex).
class aimd_limit {
 public:
  static constexpr double k_tolerance = 2.0;
  static constexpr double k_decrease = 0.9;

  aimd_limit(std::uint32_t min, std::uint32_t max)
      : min_(min), max_(max), limit_(min), window_size_(std::max<std::uint32_t>(min, 1)) {}

  /// One finished attempt that started at `started` and took `latency`;
  /// `oldest_outstanding` is the start of the oldest attempt still in
  /// flight (or `now` when none); `used_fully`: in flight reached the limit
  /// since the last window. Returns the new limit.
  std::uint32_t on_sample(clock::time_point started, std::chrono::nanoseconds latency,
                          congestion_signal signal, clock::time_point now,
                          clock::time_point oldest_outstanding, bool used_fully);

  std::uint32_t limit() const { return limit_; }
  std::chrono::nanoseconds baseline() const { return baseline_; }

 private:
  void decrease(clock::time_point now);
  void start_window();

  std::uint32_t min_, max_, limit_;
  bool slow_start_ = true;
  clock::time_point last_decrease_{};
  std::chrono::nanoseconds baseline_{0};
  std::chrono::nanoseconds window_sum_{0};
  std::uint32_t window_count_ = 0;
  bool window_used_ = false;
  std::uint32_t window_size_;  ///< the limit when the window began
};

class admission;

/// Holds one permit of an origin while alive.
/// Thread safety: one owner.
class permit_guard {
 public:
  permit_guard() = default;
  permit_guard(permit_guard&& o) noexcept { *this = std::move(o); }
  permit_guard& operator=(permit_guard&& o) noexcept {
    release();
    gate_ = std::exchange(o.gate_, nullptr);
    started_ = o.started_;
    flight_ = o.flight_;
    return *this;
  }
  ~permit_guard() { release(); }
  /// Gives the permit back without a sample.
  void release();
  bool held() const { return gate_ != nullptr; }
  clock::time_point started() const { return started_; }

 private:
  friend class admission;
  admission* gate_ = nullptr;
  clock::time_point started_{};
  std::multiset<clock::time_point>::iterator flight_{};
};

/// The admission state of one origin.
/// Thread safety: every member from any thread (the bucket, the limit and
/// the permit count behind a mutex never held across a suspension, the
/// pause an atomic, the channel thread-safe).
class admission {
 public:
  /// A fixed `per_host` (0: unlimited), as before rules and `auto`.
  admission(const boost::asio::any_io_executor& ex, std::uint32_t per_host, double rate,
            double burst);
  /// The limits of an origin's effective config (`per_host`, `auto`, `rate`).
  admission(const boost::asio::any_io_executor& ex, const config& cfg);
  ~admission();

  /// True when a request may have to wait here (permits, a rate, a pause):
  /// otherwise the caller skips `admit` and its coroutine frame.
  bool limited() const {
    return permits_ != nullptr || rate_.load(std::memory_order_relaxed) > 0 ||
           paused_until() > clock::now();
  }

  /// Waits for the pause to end, a permit (held in `permit`) and a rate
  /// token, then for a pause another worker's 429 started meanwhile. False
  /// when the wait was cancelled.
  boost::asio::awaitable<bool> admit(permit_guard& permit);

  /// Gives `permit` back after an attempt that ended with `signal` after
  /// `latency`; with `per_host: auto` this adjusts the limit.
  void complete(permit_guard& permit, congestion_signal signal, std::chrono::nanoseconds latency);

  /// Pauses the origin until `t` (later pauses win, earlier ones are ignored).
  void pause_until(clock::time_point t);
  clock::time_point paused_until() const {
    return clock::time_point(clock::duration(paused_until_.load(std::memory_order_relaxed)));
  }

  /// Sets the token bucket's rate (requests a second; 0 = unlimited) from
  /// now on, for example from a robots.txt Crawl-delay.
  void set_rate(double per_second);
  double rate() const { return rate_.load(std::memory_order_relaxed); }

  /// The current concurrency limit (0: unlimited), the permits held now,
  /// attempts admitted so far, and whether the limit adapts.
  std::uint32_t limit() const;
  std::uint32_t in_flight() const;
  std::uint64_t admitted() const { return admitted_.load(std::memory_order_relaxed); }
  bool adaptive() const { return aimd_ != nullptr; }

 private:
  friend class permit_guard;
  using permit_channel =
      boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  void release(permit_guard& p);
  void release_locked(permit_guard& p);
  // Under mutex_: issues or withdraws idle tokens so that the tokens in
  // existence approach limit_ (held ones come back through release).
  void resize_locked();

  std::unique_ptr<permit_channel> permits_;
  std::atomic<double> rate_;
  double burst_;
  mutable std::mutex mutex_;
  token_bucket bucket_;
  std::atomic<clock::rep> paused_until_{0};
  std::atomic<std::uint64_t> admitted_{0};
  // The permit pool: `limit_` wanted, `issued_` tokens in existence (in the
  // channel or held), `held_` held now.
  std::uint32_t limit_ = 0;
  std::uint32_t issued_ = 0;
  std::uint32_t held_ = 0;
  bool used_fully_ = false;
  std::multiset<clock::time_point> flights_;
  std::unique_ptr<aimd_limit> aimd_;
};

/// Waits `d` on the calling coroutine's executor; false when cancelled.
/// Thread safety: as the executor.
boost::asio::awaitable<bool> sleep_for(std::chrono::nanoseconds d);

}  // namespace sluice::stages::http
