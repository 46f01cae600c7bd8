// The http consumer's timeouts: one deadline slot per worker and one
// coroutine that cancels the socket of a phase past its deadline. Asio only
// (no Beast), so its unit test compiles cheaply.
//
// Why not a timer per operation: before each phase (connect, TLS handshake,
// request + response header, each body read) a worker stores the phase's
// deadline in its slot; arming is two atomic stores. One coroutine scans the
// slots every tick and posts a cancel to the worker's strand for an expired
// phase; the worker then maps the aborted operation to the phase's timeout.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// Deadlines of the workers' current I/O phases, and the coroutine that
/// enforces them. The coroutine runs only while some phase has a deadline, so
/// an idle consumer holds no timer and never keeps the io_context running.
/// It is never lost: it is spawned with a completion handler that records an
/// exception (`failures`, `last_failure`) and starts it again, so a throw in
/// one scan cannot silently disable every timeout.
/// Thread safety: `slot_for`, `arm`, `disarm` from the worker owning the slot
/// (its strand); `stop`, `failures`, `last_failure` from any thread. In a
/// slot, `at`/`gen` are atomics written by the worker and read by the
/// watchdog; `sock`/`fired` are touched only on the worker's strand (the
/// watchdog posts its cancel there); `posted` only by the watchdog.
class watchdog : public std::enable_shared_from_this<watchdog> {
 public:
  static constexpr clock::rep never = std::numeric_limits<clock::rep>::max();

  struct slot {
    std::atomic<clock::rep> at{never};
    std::atomic<std::uint64_t> gen{0};
    boost::asio::any_io_executor executor;  // the worker's strand; set when the slot is made
    boost::asio::ip::tcp::socket* sock = nullptr;
    bool fired = false;
    std::uint64_t posted = 0;
  };

  watchdog(boost::asio::any_io_executor ex, std::chrono::nanoseconds tick);

  /// The slot of worker `worker`, made on first use with `ex` (its strand).
  slot& slot_for(std::uint32_t worker, const boost::asio::any_io_executor& ex);

  /// Starts a phase on `sock` that must end by `at` (time_point::max(): never).
  void arm(slot& sl, boost::asio::ip::tcp::socket& sock, clock::time_point at);

  /// Ends the phase; true when the watchdog cancelled it (a timeout).
  bool disarm(slot& sl) {
    sl.at.store(never, std::memory_order_relaxed);
    sl.sock = nullptr;
    return std::exchange(sl.fired, false);
  }

  /// Ends the watchdog now rather than after its idle ticks (the consumer's
  /// close: no phase is armed any more), so the run ends without waiting.
  void stop();

  /// How many times the watch coroutine ended with an exception (and was
  /// started again), and the message of the last one.
  std::uint64_t failures() const noexcept { return failures_.load(std::memory_order_relaxed); }
  std::string last_failure() const;

  /// Fault injection for tests: the next `n` scans throw std::runtime_error.
  void fail_next_scans_for_test(int n) { fail_scans_.store(n, std::memory_order_relaxed); }

 private:
  void start();
  void on_watch_done(std::exception_ptr e);
  static boost::asio::awaitable<void> run(std::shared_ptr<watchdog> self);
  boost::asio::awaitable<void> watch();
  std::size_t scan();

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  std::chrono::nanoseconds tick_;
  std::atomic<bool> running_{false};
  // On strand_ only: the running watch()'s timer, and whether stop() ran.
  boost::asio::steady_timer* timer_ = nullptr;
  bool stopped_ = false;
  mutable std::mutex mutex_;  // slots_, last_failure_
  std::vector<std::unique_ptr<slot>> slots_;
  std::atomic<std::uint64_t> failures_{0};
  std::string last_failure_;
  std::atomic<int> fail_scans_{0};
};

}  // namespace sluice::stages::http
