// bounded_queue contracts: bound, suspension, close, task_done/join,
// cancellation, executor affinity, and a P x C x capacity matrix.
#include "sluice/queue/bounded_queue.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "test_support.hpp"

namespace net = boost::asio;
using sluice::bounded_queue;
using sluice::test::run_until;

namespace {
void rethrow(std::exception_ptr e) {
  if (e) {
    std::rethrow_exception(e);
  }
}

// Starts `body` on `ioc`; an exception in it fails the test from run_until.
template <class Body>
void spawn(net::io_context& ioc, Body body) {
  net::co_spawn(ioc, std::move(body), rethrow);
}

// Waits `d` on `ioc`'s clock, so that the other coroutine goes first.
net::awaitable<void> wait_for(net::io_context& ioc, std::chrono::milliseconds d) {
  net::steady_timer t(ioc, d);
  co_await t.async_wait(net::use_awaitable);
}
}  // namespace

TEST_CASE("bounded_queue.try_push.respects_exact_capacity") {
  bounded_queue<int> q(3);
  CHECK(q.try_push(1));
  CHECK(q.try_push(2));
  CHECK(q.try_push(3));
  CHECK_FALSE(q.try_push(4));
  CHECK(q.size() == 3);
  CHECK(q.high_water_mark() == 3);
  int v = 0;
  CHECK(q.try_pop(v));
  CHECK(v == 1);
  CHECK(q.try_push(4));
  std::vector<int> rest;
  CHECK(q.try_pop_bulk(rest, 10) == 3);
  CHECK(rest == std::vector<int>{2, 3, 4});
  CHECK_FALSE(q.try_pop(v));
}

TEST_CASE("bounded_queue.push.suspends_when_full") {
  net::io_context ioc;
  bounded_queue<int> q(1);
  std::vector<std::string> log;
  spawn(ioc, [&]() -> net::awaitable<void> {
    co_await q.push(1);
    log.push_back("pushed 1");
    co_await q.push(2);  // full: suspends until the pop below
    log.push_back("pushed 2");
  });
  spawn(ioc, [&]() -> net::awaitable<void> {
    co_await wait_for(ioc, std::chrono::milliseconds(20));
    log.push_back("popping");
    int v = co_await q.pop();
    CHECK(v == 1);
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(log == std::vector<std::string>{"pushed 1", "popping", "pushed 2"});
  CHECK(q.size() == 1);
}

TEST_CASE("bounded_queue.pop.suspends_when_empty") {
  net::io_context ioc;
  bounded_queue<std::string> q(4);
  std::vector<std::string> log;
  spawn(ioc, [&]() -> net::awaitable<void> {
    auto v = co_await q.pop();
    log.push_back("got " + v);
  });
  spawn(ioc, [&]() -> net::awaitable<void> {
    co_await wait_for(ioc, std::chrono::milliseconds(20));
    log.push_back("pushing");
    co_await q.push("x");
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(log == std::vector<std::string>{"pushing", "got x"});
}

TEST_CASE("bounded_queue.close.drains_then_reports_closed") {
  net::io_context ioc;
  bounded_queue<int> q(4);
  std::vector<int> got;
  boost::system::error_code last, push_after;
  CHECK(q.try_push(1));
  CHECK(q.try_push(2));
  q.close();
  CHECK_FALSE(q.try_push(3));
  spawn(ioc, [&]() -> net::awaitable<void> {
    for (;;) {
      auto [ec, v] = co_await q.pop(net::as_tuple(net::use_awaitable));
      if (ec) {
        last = ec;
        break;
      }
      got.push_back(v);
    }
    auto [ec] = co_await q.push(9, net::as_tuple(net::use_awaitable));
    push_after = ec;
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(got == std::vector<int>{1, 2});
  CHECK(last == sluice::errc::closed);
  CHECK(push_after == sluice::errc::closed);
}

TEST_CASE("bounded_queue.close.wakes_waiting_pop_and_push") {
  net::io_context ioc;
  bounded_queue<int> empty(1), full(1);
  REQUIRE(full.try_push(1));
  boost::system::error_code pop_ec, push_ec;
  spawn(ioc, [&]() -> net::awaitable<void> {
    auto [ec, v] = co_await empty.pop(net::as_tuple(net::use_awaitable));
    pop_ec = ec;
  });
  spawn(ioc, [&]() -> net::awaitable<void> {
    auto [ec] = co_await full.push(2, net::as_tuple(net::use_awaitable));
    push_ec = ec;
  });
  net::post(ioc, [&] {
    empty.close();
    full.close();
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(pop_ec == sluice::errc::closed);
  CHECK(push_ec == sluice::errc::closed);
  CHECK(full.size() == 1);
}

TEST_CASE("bounded_queue.join.waits_for_task_done_like_asyncio") {
  net::io_context ioc;
  bounded_queue<int> q(8);
  std::vector<std::string> log;
  spawn(ioc, [&]() -> net::awaitable<void> {
    co_await q.push(1);
    co_await q.push(2);
    co_await q.join();
    log.push_back("joined");
  });
  // A consumer that, for item 1, pushes a follow-up item before its own
  // task_done (a crawler): join must also wait for the follow-up.
  spawn(ioc, [&]() -> net::awaitable<void> {
    for (int n = 0; n < 3; ++n) {
      int v = co_await q.pop();
      co_await wait_for(ioc, std::chrono::milliseconds(5));
      if (v == 1) {
        co_await q.push(10);
      }
      log.push_back("done " + std::to_string(v));
      q.task_done();
    }
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(log == std::vector<std::string>{"done 1", "done 2", "done 10", "joined"});
  CHECK(q.unfinished() == 0);
}

TEST_CASE("bounded_queue.join.completes_at_once_when_nothing_is_unfinished") {
  net::io_context ioc;
  bounded_queue<int> q(2);
  bool joined = false;
  spawn(ioc, [&]() -> net::awaitable<void> {
    co_await q.join();
    joined = true;
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(joined);
}

TEST_CASE("bounded_queue.pop.cancellation_takes_nothing") {
  net::io_context ioc;
  bounded_queue<int> q(2);
  net::cancellation_signal sig;
  boost::system::error_code ec_seen;
  q.pop(net::bind_cancellation_slot(
      sig.slot(),
      net::bind_executor(ioc, [&](boost::system::error_code ec, int) { ec_seen = ec; })));
  net::post(ioc, [&] { sig.emit(net::cancellation_type::terminal); });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(ec_seen == net::error::operation_aborted);
  // The cancelled waiter is gone: a later push stays in the queue.
  CHECK(q.try_push(5));
  int v = 0;
  CHECK(q.try_pop(v));
  CHECK(v == 5);
}

TEST_CASE("bounded_queue.push.cancellation_stores_nothing") {
  net::io_context ioc;
  bounded_queue<int> q(1);
  REQUIRE(q.try_push(1));
  net::cancellation_signal sig;
  boost::system::error_code ec_seen;
  q.push(2, net::bind_cancellation_slot(
                sig.slot(),
                net::bind_executor(ioc, [&](boost::system::error_code ec) { ec_seen = ec; })));
  net::post(ioc, [&] { sig.emit(net::cancellation_type::terminal); });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(ec_seen == net::error::operation_aborted);
  int v = 0;
  CHECK(q.try_pop(v));
  CHECK(v == 1);
  CHECK_FALSE(q.try_pop(v));
  CHECK(q.unfinished() == 1);
}

TEST_CASE("bounded_queue.join.cancellation") {
  net::io_context ioc;
  bounded_queue<int> q(1);
  REQUIRE(q.try_push(1));
  net::cancellation_signal sig;
  boost::system::error_code ec_seen;
  q.join(net::bind_cancellation_slot(
      sig.slot(), net::bind_executor(ioc, [&](boost::system::error_code ec) { ec_seen = ec; })));
  net::post(ioc, [&] { sig.emit(net::cancellation_type::terminal); });
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(ec_seen == net::error::operation_aborted);
}

TEST_CASE("bounded_queue.wait.completes_on_the_callers_executor") {
  net::io_context ioc;
  auto strand = net::make_strand(ioc);
  bounded_queue<int> q(1);
  bool on_strand = false;
  q.pop(net::bind_executor(strand, [&](boost::system::error_code, int) {
    on_strand = strand.running_in_this_thread();
  }));
  std::thread pusher([&] { q.try_push(1); });
  pusher.join();
  REQUIRE(run_until(ioc, std::chrono::seconds(10)));
  CHECK(on_strand);
}

TEST_CASE("bounded_queue.matrix.no_item_lost_or_duplicated") {
  for (int producers : {1, 3, 8}) {
    for (int consumers : {1, 4, 32}) {
      for (std::size_t capacity : {std::size_t{1}, std::size_t{7}, std::size_t{256}}) {
        CAPTURE(producers);
        CAPTURE(consumers);
        CAPTURE(capacity);
        constexpr int per_producer = 3000;
        net::io_context ioc;
        bounded_queue<int> q(capacity);
        std::mutex m;
        std::vector<int> seen;
        std::atomic<int> producers_left{producers};
        std::vector<net::cancellation_signal> cancel(static_cast<std::size_t>(consumers));
        std::vector<net::strand<net::io_context::executor_type>> strands;
        for (int c = 0; c < consumers; ++c) {
          strands.push_back(net::make_strand(ioc));
        }
        std::atomic<std::size_t> max_size{0};
        for (int c = 0; c < consumers; ++c) {
          net::co_spawn(
              strands[static_cast<std::size_t>(c)],
              [&]() -> net::awaitable<void> {
                std::vector<int> local;
                for (;;) {
                  auto [ec, v] = co_await q.pop(net::as_tuple(net::use_awaitable));
                  if (ec) {
                    break;
                  }
                  local.push_back(v);
                  auto s = q.size();
                  auto mx = max_size.load();
                  while (s > mx && !max_size.compare_exchange_weak(mx, s)) {
                  }
                  q.task_done();
                }
                std::lock_guard lock(m);
                seen.insert(seen.end(), local.begin(), local.end());
              },
              net::bind_cancellation_slot(cancel[static_cast<std::size_t>(c)].slot(), rethrow));
        }
        for (int p = 0; p < producers; ++p) {
          net::co_spawn(
              net::make_strand(ioc),
              [&, p]() -> net::awaitable<void> {
                for (int i = 0; i < per_producer; ++i) {
                  int v = p * per_producer + i;
                  if (!q.try_push(v)) {
                    co_await q.push(v);
                  }
                }
                if (--producers_left == 0) {
                  co_await q.join();
                  for (int c = 0; c < consumers; ++c) {
                    net::post(strands[static_cast<std::size_t>(c)], [&cancel, c] {
                      cancel[static_cast<std::size_t>(c)].emit(net::cancellation_type::terminal);
                    });
                  }
                }
              },
              rethrow);
        }
        REQUIRE(run_until(ioc, std::chrono::seconds(60), 4));
        std::sort(seen.begin(), seen.end());
        REQUIRE(seen.size() == static_cast<std::size_t>(producers * per_producer));
        bool exact = true;
        for (std::size_t i = 0; i < seen.size(); ++i) {
          exact = exact && seen[i] == static_cast<int>(i);
        }
        CHECK(exact);
        CHECK(q.high_water_mark() <= capacity);
        CHECK(max_size.load() <= capacity);
        CHECK(q.unfinished() == 0);
      }
    }
  }
}

TEST_CASE("bounded_queue.pop.immediate_completions_do_not_grow_the_stack") {
  // 200,000 awaits that can all complete at once: an inline completion would
  // nest one coroutine resumption per await and overflow the stack.
  constexpr int n = 200000;
  net::io_context ioc;
  bounded_queue<int> q(n);
  for (int i = 0; i < n; ++i) {
    REQUIRE(q.try_push(i));
  }
  long long sum = 0;
  spawn(ioc, [&]() -> net::awaitable<void> {
    for (int i = 0; i < n; ++i) {
      sum += co_await q.pop();
      co_await q.push(i);
    }
  });
  REQUIRE(run_until(ioc, std::chrono::seconds(60)));
  CHECK(sum == static_cast<long long>(n) * (n - 1) / 2);
  CHECK(q.size() == static_cast<std::size_t>(n));
}
