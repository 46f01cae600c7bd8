// Admission to an origin (see admission.hpp).
#include "admission.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

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

void permit_guard::release() {
  if (ch_ != nullptr) {
    ch_->try_send(error_code{});
    ch_ = nullptr;
  }
}

admission::admission(const net::any_io_executor& ex, std::uint32_t per_host, double rate,
                     double burst)
    : rate_(rate), burst_(burst), bucket_(burst, clock::now()) {
  if (per_host > 0) {
    permits_ = std::make_unique<permit_channel>(ex, per_host);
    for (std::uint32_t i = 0; i < per_host; ++i) {
      permits_->try_send(error_code{});
    }
  }
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
    permit = permit_guard(permits_.get());
  }
  if (auto rate = this->rate(); rate > 0) {
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
