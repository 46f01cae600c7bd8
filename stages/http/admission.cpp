// Admission to an origin (see admission.hpp).
#include "admission.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "http_config.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
using error_code = boost::system::error_code;
using std::chrono::nanoseconds;

std::chrono::nanoseconds token_bucket::take(double rate, double burst, clock::time_point now) {
  double elapsed = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(burst, tokens_ + elapsed * rate);
  tokens_ -= 1.0;
  if (tokens_ >= 0) {
    return nanoseconds::zero();
  }
  return std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(-tokens_ / rate));
}

namespace {

/// Latency above this much over the threshold counts as slow: on loopback
/// a baseline of a fraction of a millisecond would otherwise read scheduler
/// noise as congestion.
constexpr nanoseconds k_slack = std::chrono::milliseconds(5);

nanoseconds slow_threshold(nanoseconds baseline) {
  return std::chrono::duration_cast<nanoseconds>(baseline * aimd_limit::k_tolerance) + k_slack;
}

}  // namespace

void aimd_limit::decrease(clock::time_point now) {
  // Leaving slow start halves, as TCP sets ssthresh to half the flight: the
  // limit doubled in the last round trip, so half of it was still fine, and
  // 0.9 from there would take many round trips to undo the overshoot.
  auto scaled = static_cast<std::uint32_t>(std::floor(limit_ * (slow_start_ ? 0.5 : k_decrease)));
  limit_ = std::max(min_, std::min(limit_ > 0 ? limit_ - 1 : 0, scaled));
  slow_start_ = false;
  last_decrease_ = now;
  start_window();
}

void aimd_limit::start_window() {
  window_sum_ = nanoseconds::zero();
  window_count_ = 0;
  window_used_ = false;
  window_size_ = std::max<std::uint32_t>(limit_, 1);
}

std::uint32_t aimd_limit::on_sample(clock::time_point started, nanoseconds latency,
                                    congestion_signal signal, clock::time_point now,
                                    clock::time_point oldest_outstanding, bool used_fully) {
  if (started < last_decrease_ || signal == congestion_signal::ignore) {
    return limit_;  // it saw the limit before the last decrease, or says nothing
  }
  if (signal == congestion_signal::congested) {
    decrease(now);
    return limit_;
  }
  const bool known = baseline_ > nanoseconds::zero();
  const bool stuck = known && now - oldest_outstanding > slow_threshold(baseline_);
  if (stuck && oldest_outstanding >= last_decrease_) {
    // A request that began under the current limit is already slow: back
    // off now rather than when its answer comes.
    decrease(now);
    return limit_;
  }
  window_sum_ += latency;
  ++window_count_;
  window_used_ = window_used_ || used_fully;
  if (slow_start_ && used_fully && !stuck && (!known || latency <= slow_threshold(baseline_))) {
    limit_ = std::min(max_, limit_ + 1);
  }
  if (window_count_ < window_size_) {
    return limit_;
  }
  const nanoseconds mean = window_sum_ / window_count_;
  const nanoseconds before = baseline_;
  baseline_ = !known || mean < baseline_ ? mean : baseline_ + (mean - baseline_) / 100;
  if (known && mean > slow_threshold(before)) {
    decrease(now);
    return limit_;
  }
  if (!slow_start_ && window_used_ && !stuck) {
    limit_ = std::min(max_, limit_ + 1);
  }
  start_window();
  return limit_;
}

void permit_guard::release() {
  if (gate_ != nullptr) {
    gate_->release(*this);
  }
}

admission::admission(const net::any_io_executor& ex, std::uint32_t per_host, double rate,
                     double burst)
    : rate_(rate), burst_(burst), bucket_(burst, clock::now()) {
  if (per_host > 0) {
    permits_ = std::make_unique<permit_channel>(ex, per_host);
    limit_ = per_host;
    std::lock_guard lock(mutex_);
    resize_locked();
  }
}

admission::admission(const net::any_io_executor& ex, const config& cfg)
    : admission(ex, cfg.per_host_auto ? 0 : cfg.per_host, cfg.rate_per_sec, cfg.rate_burst) {
  if (cfg.per_host_auto) {
    // The channel holds up to `max` tokens, so growing never has to
    // replace it (and never strands a waiter on an old one).
    permits_ = std::make_unique<permit_channel>(ex, cfg.adaptive_max);
    aimd_ = std::make_unique<aimd_limit>(cfg.adaptive_min, cfg.adaptive_max);
    std::lock_guard lock(mutex_);
    limit_ = aimd_->limit();
    resize_locked();
  }
}

admission::~admission() = default;

void admission::resize_locked() {
  while (issued_ < limit_ && permits_->try_send(error_code{})) {
    ++issued_;
  }
  while (issued_ > limit_ && permits_->try_receive([](error_code) {})) {
    --issued_;
  }
}

void admission::release(permit_guard& p) {
  std::lock_guard lock(mutex_);
  if (aimd_) {
    flights_.erase(p.flight_);
  }
  release_locked(p);
}

void admission::release_locked(permit_guard& p) {
  --held_;
  p.gate_ = nullptr;
  if (issued_ > limit_) {
    --issued_;  // the limit went down while it was held: withdraw this one
  } else {
    permits_->try_send(error_code{});  // posts to a waiter, if any: safe under the lock
  }
}

void admission::complete(permit_guard& p, congestion_signal signal, nanoseconds latency) {
  if (p.gate_ == nullptr) {
    return;
  }
  if (!aimd_) {
    release(p);
    return;
  }
  std::lock_guard lock(mutex_);
  flights_.erase(p.flight_);
  auto now = clock::now();
  auto oldest = flights_.empty() ? now : *flights_.begin();
  limit_ = aimd_->on_sample(p.started_, latency, signal, now, oldest, used_fully_);
  used_fully_ = held_ >= limit_;
  resize_locked();
  release_locked(p);
}

std::uint32_t admission::limit() const {
  std::lock_guard lock(mutex_);
  return permits_ ? limit_ : 0;
}

std::uint32_t admission::in_flight() const {
  std::lock_guard lock(mutex_);
  return held_;
}

void admission::set_rate(double per_second) {
  std::lock_guard lock(mutex_);
  rate_.store(per_second > 0 && std::isfinite(per_second) ? per_second : 0,
              std::memory_order_relaxed);
}

void admission::pause_until(clock::time_point t) {
  auto v = t.time_since_epoch().count();
  auto cur = paused_until_.load(std::memory_order_relaxed);
  while (cur < v && !paused_until_.compare_exchange_weak(cur, v)) {
  }
}

net::awaitable<bool> sleep_for(nanoseconds d) {
  if (d <= nanoseconds::zero()) {
    co_return true;
  }
  net::steady_timer t(co_await net::this_coro::executor, d);
  auto [ec] = co_await t.async_wait(net::as_tuple(net::use_awaitable));
  co_return !ec;
}

net::awaitable<bool> admission::admit(permit_guard& permit) {
  if (auto until = paused_until(); until > clock::now()) {
    if (!co_await sleep_for(until - clock::now())) {
      co_return false;
    }
  }
  if (permits_ != nullptr) {
    if (!permits_->try_receive([](error_code) {})) {
      auto [ec] = co_await permits_->async_receive(net::as_tuple(net::use_awaitable));
      if (ec) {
        co_return false;
      }
    }
    std::lock_guard lock(mutex_);
    ++held_;
    used_fully_ = used_fully_ || held_ >= limit_;
    permit.gate_ = this;
    permit.started_ = clock::now();
    if (aimd_) {
      permit.flight_ = flights_.insert(permit.started_);
    }
  }
  admitted_.fetch_add(1, std::memory_order_relaxed);
  if (double rate = rate_.load(std::memory_order_relaxed); rate > 0) {
    nanoseconds wait;
    {
      std::lock_guard lock(mutex_);
      wait = bucket_.take(rate, burst_, clock::now());
    }
    if (!co_await sleep_for(wait)) {
      co_return false;
    }
  }
  // A 429 seen by another worker while we waited pauses us too.
  if (auto until = paused_until(); until > clock::now()) {
    if (!co_await sleep_for(until - clock::now())) {
      co_return false;
    }
  }
  co_return true;
}

}  // namespace sluice::stages::http
