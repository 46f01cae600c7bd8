// The watchdog of the http consumer's timeouts (see watchdog.hpp).
#include "watchdog.hpp"

#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::stages::http {

namespace net = boost::asio;
using tcp = net::ip::tcp;

watchdog::watchdog(net::any_io_executor ex, std::chrono::nanoseconds tick)
    : strand_(net::make_strand(ex)), tick_(tick) {}

watchdog::slot& watchdog::slot_for(std::uint32_t worker, const net::any_io_executor& ex) {
  std::lock_guard lock(mutex_);
  while (slots_.size() <= worker) {
    slots_.push_back(std::make_unique<slot>());
  }
  auto& sl = *slots_[worker];
  if (!sl.executor) {
    sl.executor = ex;
  }
  return sl;
}

void watchdog::arm(slot& sl, tcp::socket& sock, clock::time_point at) {
  sl.sock = &sock;
  sl.fired = false;
  sl.gen.fetch_add(1, std::memory_order_relaxed);
  auto v = at == clock::time_point::max() ? never : at.time_since_epoch().count();
  sl.at.store(v, std::memory_order_release);
  if (v != never && !running_.exchange(true, std::memory_order_acq_rel)) {
    start();
  }
}

void watchdog::start() {
  net::co_spawn(strand_, run(shared_from_this()),
                [self = shared_from_this()](std::exception_ptr e) { self->on_watch_done(e); });
}

void watchdog::on_watch_done(std::exception_ptr e) {
  if (!e) {
    return;
  }
  // On strand_. A phase armed while the coroutine was failing saw
  // running_ == true and started nothing: start again at once, so every
  // armed deadline is still enforced (a tick late at most).
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    std::lock_guard lock(mutex_);
    last_failure_ = x.what();
  } catch (...) {
    std::lock_guard lock(mutex_);
    last_failure_ = "unknown exception";
  }
  failures_.fetch_add(1, std::memory_order_relaxed);
  timer_ = nullptr;
  if (!stopped_) {
    start();
  }
}

std::string watchdog::last_failure() const {
  std::lock_guard lock(mutex_);
  return last_failure_;
}

void watchdog::stop() {
  net::post(strand_, [self = shared_from_this()] {
    self->stopped_ = true;
    if (self->timer_ != nullptr) {
      self->timer_->cancel();
    }
  });
}

net::awaitable<void> watchdog::run(std::shared_ptr<watchdog> self) {
  co_await self->watch();
}

net::awaitable<void> watchdog::watch() {
  net::steady_timer timer(strand_);
  timer_ = &timer;
  for (int idle_ticks = 0;;) {
    timer.expires_after(tick_);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (stopped_) {
      timer_ = nullptr;
      co_return;  // running_ stays true: nothing starts it again
    }
    if (scan() > 0) {
      idle_ticks = 0;
      continue;
    }
    if (++idle_ticks < 2) {
      continue;
    }
    running_.store(false, std::memory_order_release);
    // A worker that armed after the scan saw running_ == true: look again.
    if (scan() == 0 || running_.exchange(true, std::memory_order_acq_rel)) {
      timer_ = nullptr;
      co_return;
    }
  }
}

std::size_t watchdog::scan() {
  if (fail_scans_.load(std::memory_order_relaxed) > 0) {
    fail_scans_.fetch_sub(1, std::memory_order_relaxed);
    throw std::runtime_error("injected watchdog scan failure");
  }
  auto now = clock::now().time_since_epoch().count();
  std::size_t armed = 0;
  std::lock_guard lock(mutex_);
  for (auto& p : slots_) {
    auto at = p->at.load(std::memory_order_acquire);
    if (at == never) {
      continue;
    }
    ++armed;
    auto gen = p->gen.load(std::memory_order_relaxed);
    if (at <= now && p->posted != gen) {
      p->posted = gen;
      net::post(p->executor, [self = shared_from_this(), sl = p.get(), gen] {
        // On the worker's strand: still the same phase, and still pending?
        if (sl->gen.load(std::memory_order_relaxed) == gen && sl->sock != nullptr) {
          sl->fired = true;
          boost::system::error_code ignore;
          sl->sock->cancel(ignore);
        }
      });
    }
  }
  return armed;
}

}  // namespace sluice::stages::http
