// The single-flight robots.txt cache on 4 threads: 32 callers on their own
// strands, one fetch; a cancelled (null) fetch is retried by a waiter; a
// throwing fetch reaches its caller only.
#include "robots_cache.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace hd = sluice::stages::http;

namespace {

/// The rules after a pause; the first `nulls` calls return null, the next
/// `throws` throw.
struct slow_fetch {
  std::atomic<int> calls{0};
  int nulls = 0;
  int throws = 0;

  net::awaitable<std::shared_ptr<const hd::robots_rules>> operator()() {
    int n = calls.fetch_add(1);
    net::steady_timer t(co_await net::this_coro::executor, 50ms);
    co_await t.async_wait(net::use_awaitable);
    if (n < nulls) {
      co_return nullptr;
    }
    if (n < nulls + throws) {
      throw std::runtime_error("fetch broke");
    }
    co_return std::make_shared<const hd::robots_rules>(hd::parse_robots("User-agent: *\n", "x"));
  }
};

struct outcome {
  std::atomic<int> got{0};
  std::atomic<int> null{0};
  std::atomic<int> threw{0};
  std::atomic<const hd::robots_rules*> first{nullptr};
  std::atomic<bool> same{true};
};

// A function, not a lambda: a coroutine lambda's captures die with it.
net::awaitable<std::shared_ptr<const hd::robots_rules>> call(hd::robots_cache& cache,
                                                             hd::robots_cache::fetcher load) {
  co_return co_await cache.get(std::move(load));
}

void run_callers(hd::robots_cache& cache, slow_fetch& f, outcome& out, int n) {
  net::io_context ioc;
  for (int i = 0; i < n; ++i) {
    hd::robots_cache::fetcher load = [&f] { return f(); };
    net::co_spawn(
        net::make_strand(ioc), call(cache, std::move(load)),
        [&out](std::exception_ptr e, std::shared_ptr<const hd::robots_rules> r) {
          if (e) {
            ++out.threw;
          } else if (!r) {
            ++out.null;
          } else {
            ++out.got;
            const hd::robots_rules* expected = nullptr;
            if (!out.first.compare_exchange_strong(expected, r.get()) && expected != r.get()) {
              out.same = false;
            }
          }
        });
  }
  CHECK(sluice::test::run_until(ioc, 10s, 4));
}

}  // namespace

TEST_CASE("http.robots_cache.one_fetch_for_every_waiter") {
  net::io_context ex_ctx;
  hd::robots_cache cache(ex_ctx.get_executor());
  slow_fetch f;
  outcome out;
  run_callers(cache, f, out, 32);
  CHECK(out.got == 32);
  CHECK(out.same);
  CHECK(f.calls == 1);
  CHECK(cache.fetches() == 1);
}

TEST_CASE("http.robots_cache.a_cancelled_fetch_is_taken_over_by_a_waiter") {
  net::io_context ex_ctx;
  hd::robots_cache cache(ex_ctx.get_executor());
  slow_fetch f;
  f.nulls = 1;
  outcome out;
  run_callers(cache, f, out, 16);
  CHECK(out.null == 1);  // the cancelled leader only
  CHECK(out.got == 15);
  CHECK(out.same);
  CHECK(f.calls == 2);
}

TEST_CASE("http.robots_cache.a_throwing_fetch_fails_its_caller_only") {
  net::io_context ex_ctx;
  hd::robots_cache cache(ex_ctx.get_executor());
  slow_fetch f;
  f.throws = 1;
  outcome out;
  run_callers(cache, f, out, 8);
  CHECK(out.threw == 1);
  CHECK(out.got == 7);
  CHECK(f.calls == 2);
}
