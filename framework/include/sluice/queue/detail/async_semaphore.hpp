// A counting semaphore whose acquire is an Asio asynchronous operation.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "sluice/queue/detail/wait_list.hpp"

namespace sluice::detail {

/// Counting semaphore: `try_acquire` and `release` are lock-free when nobody
/// waits; a waiter parks a wait_node that `release` (or `close`) completes.
/// A waiter completed with success has been granted one permit.
/// Thread safety: all members are safe to call concurrently.
class async_semaphore {
 public:
  explicit async_semaphore(std::int64_t initial) noexcept : permits_(initial) {}

  /// Takes one permit if one is free and returns how many were free before
  /// (0: none taken). Lock-free.
  std::int64_t try_take() noexcept {
    std::int64_t c = permits_.load(std::memory_order_relaxed);
    while (c > 0) {
      if (permits_.compare_exchange_weak(c, c - 1, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
        return c;
      }
    }
    return 0;
  }

  /// Takes one permit if one is free. Lock-free.
  bool try_acquire() noexcept { return try_take() > 0; }

  /// Returns one permit and, if someone waits, hands it to the oldest waiter.
  /// Lock-free unless there are waiters.
  void release() {
    permits_.fetch_add(1, std::memory_order_seq_cst);
    if (waiters_.waiting.load(std::memory_order_seq_cst) > 0) {
      grant();
    }
  }

  /// Either takes a permit at once (returns true; `n` is untouched) or links
  /// `n`, which is later completed with success (a permit granted), with
  /// operation_aborted (cancelled) or with `closed_ec` (closed). Returns false
  /// when `n` was linked or completed.
  bool acquire_or_park(wait_node* n, boost::system::error_code closed_ec) {
    {
      std::lock_guard lock(waiters_.mutex);
      waiters_.waiting.fetch_add(1, std::memory_order_seq_cst);
      if (try_acquire()) {
        waiters_.waiting.fetch_sub(1);
        return true;
      }
      if (!closed_) {
        waiters_.link_back(n);
        return false;
      }
      waiters_.waiting.fetch_sub(1);
    }
    n->complete(closed_ec);
    return false;
  }

  /// Completes every waiter, present and future, with `ec`. Permits are kept:
  /// try_acquire still succeeds while any are left.
  void close(boost::system::error_code ec) {
    std::vector<wait_node*> woken;
    {
      std::lock_guard lock(waiters_.mutex);
      closed_ = true;
      while (wait_node* n = waiters_.pop_front()) {
        woken.push_back(n);
      }
    }
    for (wait_node* n : woken) {
      n->complete(ec);
    }
  }

  /// Free permits right now (may be stale as soon as it is read).
  std::int64_t available() const noexcept { return permits_.load(std::memory_order_relaxed); }

  wait_list& waiters() noexcept { return waiters_; }

 private:
  void grant() {
    std::vector<wait_node*> woken;
    {
      std::lock_guard lock(waiters_.mutex);
      while (waiters_.waiting.load(std::memory_order_relaxed) > 0 && try_acquire()) {
        woken.push_back(waiters_.pop_front());
      }
    }
    for (wait_node* n : woken) {
      n->complete({});
    }
  }

  std::atomic<std::int64_t> permits_;
  alignas(64) wait_list waiters_;
  bool closed_ = false;  // guarded by waiters_.mutex
};

}  // namespace sluice::detail
