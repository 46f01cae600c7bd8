// Intrusive list of suspended asynchronous waiters, and the async operation
// glue that parks a completion handler in it.
//
// Why this exists: bounded_queue's fast paths are lock-free atomics; only an
// operation that has to wait takes the mutex, links a node here and returns.
// Whoever makes progress possible (a push, a pop, a task_done, close) unlinks
// the node and completes it. Completion is always *posted* to the handler's
// associated executor, so a waker never runs someone else's continuation on
// its own stack and never while holding the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>

namespace sluice::detail {

/// A parked waiter. `complete` is called exactly once, after the node has been
/// unlinked, and must not touch the list.
/// Thread safety: owned by the list while linked, by the completer afterwards.
struct wait_node {
  wait_node* prev = nullptr;
  wait_node* next = nullptr;
  bool linked = false;
  virtual void complete(boost::system::error_code ec) = 0;

 protected:
  ~wait_node() = default;
};

/// A mutex-protected FIFO of waiters plus an atomic count of them, so that the
/// side that wakes can skip the lock when nobody waits.
/// Thread safety: all members are safe to call concurrently.
class wait_list {
 public:
  std::mutex mutex;

  /// Number of linked waiters. A waker reads it after publishing its state
  /// change (seq_cst), a waiter increments it before re-checking the state
  /// (seq_cst): one of the two always sees the other.
  std::atomic<std::int64_t> waiting{0};

  /// Links `n` at the back. Precondition: `mutex` is held.
  void link_back(wait_node* n) noexcept {
    n->linked = true;
    n->prev = tail_;
    n->next = nullptr;
    if (tail_) {
      tail_->next = n;
    } else {
      head_ = n;
    }
    tail_ = n;
  }

  /// Unlinks `n`. Precondition: `mutex` is held and `n->linked`.
  void unlink(wait_node* n) noexcept {
    if (n->prev) {
      n->prev->next = n->next;
    } else {
      head_ = n->next;
    }
    if (n->next) {
      n->next->prev = n->prev;
    } else {
      tail_ = n->prev;
    }
    n->linked = false;
    n->prev = n->next = nullptr;
    waiting.fetch_sub(1);
  }

  /// Unlinks and returns the oldest waiter, or nullptr. Precondition: `mutex` is held.
  wait_node* pop_front() noexcept {
    wait_node* n = head_;
    if (n) {
      unlink(n);
    }
    return n;
  }

  /// Cancels `n` if it is still linked. Thread safety: takes `mutex`.
  void cancel(wait_node* n) {
    {
      std::lock_guard lock(mutex);
      if (!n->linked) {
        return;
      }
      unlink(n);
    }
    n->complete(boost::asio::error::operation_aborted);
  }

 private:
  wait_node* head_ = nullptr;
  wait_node* tail_ = nullptr;
};

/// A wait_node that owns a completion handler. When completed it posts to the
/// handler's executor, disconnects the cancellation slot there (so slot
/// emission and clearing are serialised on the handler's executor, as Asio
/// requires), then runs `Action(handler, ec)`, which produces the operation's
/// completion arguments (for example dequeues the item the waiter was granted).
template <class Handler, class Action>
class handler_node final : public wait_node {
 public:
  handler_node(Handler h, Action a, wait_list& list)
      : handler_(std::move(h)),
        action_(std::move(a)),
        work_(boost::asio::prefer(boost::asio::get_associated_executor(handler_),
                                  boost::asio::execution::outstanding_work.tracked)) {
    auto slot = boost::asio::get_associated_cancellation_slot(handler_);
    if (slot.is_connected()) {
      slot.template emplace<canceller>(&list, this);
    }
  }

  void complete(boost::system::error_code ec) override {
    auto ex = work_;
    boost::asio::post(ex, [this, ec]() mutable {
      auto slot = boost::asio::get_associated_cancellation_slot(handler_);
      if (slot.is_connected()) {
        slot.clear();
      }
      Handler h = std::move(handler_);
      Action a = std::move(action_);
      delete this;
      std::move(a)(std::move(h), ec);
    });
  }

 private:
  struct canceller {
    // A constructor, not an aggregate: Asio constructs it with parentheses,
    // which clang 14 does not accept for aggregates (P0960).
    canceller(wait_list* l, wait_node* n) : list(l), node(n) {}
    wait_list* list;
    wait_node* node;
    void operator()(boost::asio::cancellation_type_t type) {
      if (type != boost::asio::cancellation_type::none) {
        list->cancel(node);
      }
    }
  };

  ~handler_node() = default;
  Handler handler_;
  Action action_;
  boost::asio::any_io_executor work_;
};

}  // namespace sluice::detail
