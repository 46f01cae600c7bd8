// bounded_queue<T>: the asynchronous, bounded, multi-producer multi-consumer
// queue between a pipeline's producers and its consumer workers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/core/error.hpp"
#include "sluice/queue/detail/async_semaphore.hpp"

namespace sluice {

namespace detail {
/// How many inline completions are nested on this thread's stack right now.
inline thread_local int inline_completion_depth = 0;
}  // namespace detail

/// A bounded MPMC queue with asynchronous push/pop/join, modelled on
/// asyncio.Queue and Seastar's queue.
///
/// Items live in a moodycamel::ConcurrentQueue, whose capacity is only
/// block-granular, so the exact bound comes from a slot semaphore: a push takes
/// a free slot, a pop gives one back. A second semaphore counts stored items.
/// Both are lock-free while nobody has to wait; only a waiting operation takes
/// a lock. Every wait is an Asio asynchronous operation (any completion token;
/// the default is `use_awaitable`) that completes on the caller's associated
/// executor (inline when it need not wait, to a bounded depth) and honours
/// its cancellation slot:
/// a cancelled wait completes with `operation_aborted` and has taken nothing.
/// The lock-free, scheduler-free fast path is `try_push`/`try_pop`: call it
/// first and await `push`/`pop` only when it fails.
///
/// `task_done`/`join` follow asyncio.Queue: each successful push adds one
/// unfinished task, each task_done removes one, and join completes when the
/// count is zero, so items a consumer pushes before its own task_done are
/// joined too.
///
/// Thread safety: every member may be called concurrently from any thread.
/// Cancellation of a waiting operation must be emitted on the waiter's
/// executor (the usual Asio rule).
template <class T>
class bounded_queue {
 public:
  /// Creates a queue holding at most `capacity` items. Precondition: capacity > 0.
  explicit bounded_queue(std::size_t capacity)
      : capacity_(capacity),
        items_(0),
        slots_(static_cast<std::int64_t>(capacity)),
        store_(capacity) {}

  bounded_queue(const bounded_queue&) = delete;
  bounded_queue& operator=(const bounded_queue&) = delete;

  /// The bound given at construction.
  std::size_t capacity() const noexcept { return capacity_; }

  /// Items stored right now (exact at some instant, stale when read).
  std::size_t size() const noexcept {
    auto free = slots_.available();
    return free >= 0 ? capacity_ - static_cast<std::size_t>(free) : capacity_;
  }

  /// The largest number of items ever stored at once (never more than capacity()).
  std::size_t high_water_mark() const noexcept {
    return high_water_.load(std::memory_order_relaxed);
  }

  /// Tasks pushed and not yet marked done.
  std::int64_t unfinished() const noexcept { return unfinished_.load(std::memory_order_acquire); }

  /// True once close() has been called.
  bool is_closed() const noexcept { return closed_.load(std::memory_order_acquire); }

  /// Pushes `value` if a slot is free and the queue is open; never waits.
  /// Returns false (and leaves `value` untouched) when full or closed.
  /// Cost: a few atomics, no lock unless a consumer is waiting.
  bool try_push(T& value) {
    if (is_closed()) {
      return false;
    }
    auto free_before = slots_.try_take();
    if (free_before == 0) {
      return false;
    }
    store_and_signal(std::move(value), capacity_ - static_cast<std::size_t>(free_before) + 1);
    return true;
  }

  /// Rvalue overload of try_push(T&); `value` is moved from only on success.
  bool try_push(T&& value) { return try_push(value); }

  /// Pushes `value`, waiting while the queue is full.
  /// Completion signature `void(error_code)`: success; `errc::closed` if the
  /// queue is (or becomes) closed; `operation_aborted` on cancellation (the
  /// item is then dropped, never stored).
  template <class Token = boost::asio::use_awaitable_t<>>
  auto push(T value, Token&& token = {}) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, T v) {
          using handler_t = decltype(handler);
          if (is_closed()) {
            return complete_now(std::move(handler), make_error_code(errc::closed));
          }
          if (auto free_before = slots_.try_take(); free_before > 0) {
            store_and_signal(std::move(v), capacity_ - static_cast<std::size_t>(free_before) + 1);
            return complete_now(std::move(handler), boost::system::error_code{});
          }
          auto action = [this, v = std::move(v)](handler_t h,
                                                 boost::system::error_code ec) mutable {
            if (!ec && is_closed()) {
              slots_.release();
              ec = make_error_code(errc::closed);
            }
            if (!ec) {
              store_and_signal(std::move(v), size());
            }
            std::move(h)(ec);
          };
          auto* node = new detail::handler_node<handler_t, decltype(action)>(
              std::move(handler), std::move(action), slots_.waiters());
          if (slots_.acquire_or_park(node, make_error_code(errc::closed))) {
            node->complete({});
          }
        },
        token, std::move(value));
  }

  /// Pops one item if one is stored; never waits. Cost: a few atomics.
  bool try_pop(T& out) {
    if (!items_.try_acquire()) {
      return false;
    }
    take(out);
    return true;
  }

  /// Pops one item if one is stored.
  std::optional<T> try_pop() {
    T v;
    if (!try_pop(v)) {
      return std::nullopt;
    }
    return v;
  }

  /// Pops up to `max` stored items into `out` (appended); never waits.
  /// Returns how many were taken.
  std::size_t try_pop_bulk(std::vector<T>& out, std::size_t max) {
    std::size_t n = 0;
    T v;
    while (n < max && try_pop(v)) {
      out.push_back(std::move(v));
      ++n;
    }
    return n;
  }

  /// Pops one item, waiting while the queue is empty. Items stored before
  /// close() are still delivered.
  /// Completion signature `void(error_code, T)`: success; `errc::closed` once
  /// the queue is closed and empty; `operation_aborted` on cancellation
  /// (nothing taken).
  template <class Token = boost::asio::use_awaitable_t<>>
  auto pop(Token&& token = {}) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, T)>(
        [this](auto handler) {
          using handler_t = decltype(handler);
          if (items_.try_acquire()) {
            T v;
            take(v);
            return complete_now(std::move(handler), boost::system::error_code{}, std::move(v));
          }
          auto action = [this](handler_t h, boost::system::error_code ec) {
            T v;
            if (!ec || (ec == errc::closed && items_.try_acquire())) {
              take(v);
              ec = {};
            }
            std::move(h)(ec, std::move(v));
          };
          auto* node = new detail::handler_node<handler_t, decltype(action)>(
              std::move(handler), std::move(action), items_.waiters());
          if (items_.acquire_or_park(node, make_error_code(errc::closed))) {
            node->complete({});
          }
        },
        token);
  }

  /// Marks `n` tasks done. When the unfinished count reaches zero, every
  /// joiner completes. Precondition: no more task_done than pushes.
  void task_done(std::size_t n = 1) {
    auto before = unfinished_.fetch_sub(static_cast<std::int64_t>(n), std::memory_order_seq_cst);
    if (before == static_cast<std::int64_t>(n) &&
        joiners_.waiting.load(std::memory_order_seq_cst) > 0) {
      wake_joiners();
    }
  }

  /// Waits until every pushed item has been marked done (at some instant the
  /// unfinished count is zero). Completion signature `void(error_code)`:
  /// success, or `operation_aborted` on cancellation.
  template <class Token = boost::asio::use_awaitable_t<>>
  auto join(Token&& token = {}) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler) {
          using handler_t = decltype(handler);
          if (unfinished() == 0) {
            return complete_now(std::move(handler), boost::system::error_code{});
          }
          auto action = [](handler_t h, boost::system::error_code ec) { std::move(h)(ec); };
          auto* node = new detail::handler_node<handler_t, decltype(action)>(
              std::move(handler), std::move(action), joiners_);
          bool done_now = false;
          {
            std::lock_guard lock(joiners_.mutex);
            joiners_.waiting.fetch_add(1, std::memory_order_seq_cst);
            if (unfinished_.load(std::memory_order_seq_cst) == 0) {
              joiners_.waiting.fetch_sub(1);
              done_now = true;
            } else {
              joiners_.link_back(node);
            }
          }
          if (done_now) {
            node->complete({});
          }
        },
        token);
  }

  /// Closes the queue: later pushes fail with `errc::closed`, waiting pushers
  /// complete with `errc::closed`, pops drain what is stored and then report
  /// `errc::closed`. Idempotent.
  void close() {
    closed_.store(true, std::memory_order_release);
    slots_.close(make_error_code(errc::closed));
    items_.close(make_error_code(errc::closed));
  }

 private:
  template <class Handler, class... Args>
  static void complete_now(Handler&& h, Args&&... args) {
    // The operation finished inside its initiation. Completing inline is
    // what makes an await that need not wait cheap, but it resumes the
    // awaiting coroutine on this stack, so a loop of such awaits would nest
    // without bound (Asio 1.26 has no immediate executor). Inline up to a
    // small depth per thread, then post to the handler's executor, which
    // unwinds the stack.
    if (detail::inline_completion_depth < max_inline_depth) {
      ++detail::inline_completion_depth;
      std::move(h)(std::forward<Args>(args)...);
      --detail::inline_completion_depth;
      return;
    }
    auto ex = boost::asio::get_associated_executor(h);
    boost::asio::post(ex, [h = std::forward<Handler>(h),
                           args = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      std::apply(std::move(h), std::move(args));
    });
  }

  static constexpr int max_inline_depth = 8;

  // `now` is the number of stored items counting this one, as the slot
  // acquisition saw it (exact at that instant, never above capacity).
  void store_and_signal(T&& v, std::size_t now) {
    if constexpr (requires { queue_on_enqueue(v); }) {
      queue_on_enqueue(v);
    }
    unfinished_.fetch_add(1, std::memory_order_relaxed);
    store_.enqueue(std::move(v));
    std::size_t hw = high_water_.load(std::memory_order_relaxed);
    while (now > hw && !high_water_.compare_exchange_weak(hw, now, std::memory_order_relaxed)) {
    }
    items_.release();
  }

  void take(T& out) {
    // Holding an item permit guarantees an element is (or is about to be)
    // visible; moodycamel may still miss it for an instant across
    // producers, so spin as BlockingConcurrentQueue does.
    while (!store_.try_dequeue(out)) {
    }
    slots_.release();
  }

  void wake_joiners() {
    std::vector<detail::wait_node*> woken;
    {
      std::lock_guard lock(joiners_.mutex);
      if (unfinished_.load(std::memory_order_seq_cst) != 0) {
        return;
      }
      while (detail::wait_node* n = joiners_.pop_front()) {
        woken.push_back(n);
      }
    }
    for (auto* n : woken) {
      n->complete({});
    }
  }

  // Each hot atomic on its own cache line: producers and consumers running on
  // different cores must not invalidate each other's lines needlessly.
  const std::size_t capacity_;
  alignas(64) detail::async_semaphore items_;
  alignas(64) detail::async_semaphore slots_;
  alignas(64) moodycamel::ConcurrentQueue<T> store_;
  alignas(64) std::atomic<std::int64_t> unfinished_{0};
  alignas(64) std::atomic<std::size_t> high_water_{0};
  std::atomic<bool> closed_{false};
  alignas(64) detail::wait_list joiners_;
};

}  // namespace sluice
