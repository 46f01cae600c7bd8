// A shutdown gate in the manner of Seastar's gate.hh: it counts live
// coroutines, and close() waits for them to leave, but only until a deadline.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice {

/// Counts the coroutines of one group (producers, consumer workers, sinks) so
/// that shutdown can wait for them to finish with a deadline. Why a deadline:
/// a stage that ignores cancellation must not hang the run; after the
/// deadline the runtime reports what is complete and gives up on the rest.
///
/// enter() before spawning a coroutine, leave() in its completion handler
/// (whatever the outcome). close() and expire_at() run on the gate's
/// executor, which must be a strand (or a one-thread io_context).
/// Thread safety: enter(), leave() and count() from any thread; close() and
/// expire_at() on the gate's executor only.
class gate {
 public:
  using clock = std::chrono::steady_clock;

  explicit gate(boost::asio::any_io_executor strand) : strand_(strand), timer_(strand) {}
  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  /// One more live coroutine. Cost: one atomic increment.
  void enter() noexcept { count_.fetch_add(1, std::memory_order_relaxed); }

  /// One fewer; the last one out wakes a waiting close(). Cost: one atomic
  /// decrement, plus a post to the gate's strand for the last one.
  void leave() {
    if (count_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      boost::asio::post(strand_, [this] { timer_.cancel(); });
    }
  }

  /// Coroutines inside now.
  std::size_t count() const noexcept { return count_.load(std::memory_order_acquire); }

  /// Brings the deadline of a current or later close() forward to `t` (a
  /// later `t` than the current deadline changes nothing).
  void expire_at(clock::time_point t) {
    deadline_ = std::min(deadline_, t);
    timer_.cancel();
  }

  /// Completes when every coroutine has left (true) or when the deadline
  /// passed first (false); with no deadline set it waits as long as it takes.
  boost::asio::awaitable<bool> close() {
    // leave() posts its wake-up to this strand, so it cannot run between the
    // count check and the start of the wait: no wake-up is lost.
    while (count() > 0 && clock::now() < deadline_) {
      timer_.expires_at(deadline_);
      auto [ec] = co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
      (void)ec;
    }
    co_return count() == 0;
  }

 private:
  boost::asio::any_io_executor strand_;
  boost::asio::steady_timer timer_;
  std::atomic<std::size_t> count_{0};
  clock::time_point deadline_ = clock::time_point::max();
};

}  // namespace sluice
