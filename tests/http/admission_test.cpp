// Admission to an origin: the token bucket's arithmetic, per_host permits
// (a third request waits until one of two is released), a Retry-After pause
// that holds every request back, and cancellation of a waiting request.
#include "admission.hpp"

#include <doctest/doctest.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace hd = sluice::stages::http;
using clk = sluice::clock;

TEST_CASE("http.admission.token_bucket_queues_waiters_in_time") {
  auto t0 = clk::now();
  hd::token_bucket b(2, t0);  // burst 2, then 10/s
  CHECK(b.take(10, 2, t0) == 0ns);
  CHECK(b.take(10, 2, t0) == 0ns);
  CHECK(b.take(10, 2, t0) == 100ms);  // the third waits one interval
  CHECK(b.take(10, 2, t0) == 200ms);  // and the fourth two
  // After a long idle time the bucket holds at most `burst`.
  auto later = t0 + 10s;
  CHECK(b.take(10, 2, later) == 0ns);
  CHECK(b.take(10, 2, later) == 0ns);
  CHECK(b.take(10, 2, later) > 0ns);
}

TEST_CASE("http.admission.permits_bound_concurrency") {
  net::io_context ioc;
  hd::admission gate(ioc.get_executor(), 2, 0, 1);
  CHECK(gate.limited());
  hd::permit_guard a, b, c;
  bool third_admitted = false;
  auto body = [&]() -> net::awaitable<void> {
    CHECK(co_await gate.admit(a));
    CHECK(co_await gate.admit(b));
    net::co_spawn(
        ioc, [&]() -> net::awaitable<void> { third_admitted = co_await gate.admit(c); },
        [](std::exception_ptr e) {
          if (e) {
            std::rethrow_exception(e);
          }
        });
    net::steady_timer t(ioc, 20ms);
    co_await t.async_wait(net::use_awaitable);
    CHECK_FALSE(third_admitted);  // both permits are held
    a.release();
    t.expires_after(20ms);
    co_await t.async_wait(net::use_awaitable);
    CHECK(third_admitted);
  };
  sluice::test::run_until(ioc, ioc.get_executor(), body(), 5s);
  CHECK(third_admitted);
}

TEST_CASE("http.admission.a_pause_holds_requests_back") {
  net::io_context ioc;
  hd::admission gate(ioc.get_executor(), 0, 0, 1);
  CHECK_FALSE(gate.limited());
  auto until = clk::now() + 50ms;
  gate.pause_until(until);
  gate.pause_until(clk::now());  // an earlier pause does not shorten it
  CHECK(gate.paused_until() == until);
  CHECK(gate.limited());
  hd::permit_guard p;
  auto admitted = sluice::test::run_until(ioc, ioc.get_executor(), gate.admit(p), 5s);
  CHECK(admitted);
  CHECK(clk::now() >= until);
}

TEST_CASE("http.admission.a_cancelled_wait_is_not_admitted") {
  net::io_context ioc;
  hd::admission gate(ioc.get_executor(), 1, 0, 1);
  hd::permit_guard held, waiting;
  bool admitted = true;
  bool done = false;
  auto body = [&]() -> net::awaitable<void> {
    CHECK(co_await gate.admit(held));
    net::cancellation_signal cancel;
    net::co_spawn(
        ioc, [&]() -> net::awaitable<void> { admitted = co_await gate.admit(waiting); },
        net::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr) { done = true; }));
    net::steady_timer t(ioc, 10ms);
    co_await t.async_wait(net::use_awaitable);
    cancel.emit(net::cancellation_type::terminal);
    t.expires_after(10ms);
    co_await t.async_wait(net::use_awaitable);
  };
  sluice::test::run_until(ioc, ioc.get_executor(), body(), 5s);
  CHECK(done);
  CHECK_FALSE(admitted);
}
