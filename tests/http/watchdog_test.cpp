// The http consumer's watchdog on its own: a phase past its deadline is
// cancelled, a disarmed one is not, and a failing scan does not disable the
// timeouts that follow (it once ran `detached`: one throw ended it for good).
#include "watchdog.hpp"

#include <doctest/doctest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using sluice::stages::http::watchdog;

namespace {

/// A connected loopback pair whose client side reads and never gets a byte.
struct idle_pair {
  tcp::acceptor acc;
  tcp::socket client;
  tcp::socket server;
  explicit idle_pair(net::io_context& ioc)
      : acc(ioc, {net::ip::make_address("127.0.0.1"), 0}), client(ioc), server(ioc) {
    client.connect(acc.local_endpoint());
    acc.accept(server);
  }
};

/// Arms a read on `p.client` due in 20 ms; true when the watchdog cancelled it.
net::awaitable<bool> read_with_deadline(watchdog& dog, watchdog::slot& sl, idle_pair& p) {
  char b[16];
  dog.arm(sl, p.client, sluice::clock::now() + 20ms);
  auto [ec, n] =
      co_await p.client.async_read_some(net::buffer(b), net::as_tuple(net::use_awaitable));
  bool fired = dog.disarm(sl);
  co_return fired&& ec == net::error::operation_aborted;
}

}  // namespace

TEST_CASE("http.watchdog.cancels_a_phase_past_its_deadline") {
  net::io_context ioc;
  auto dog = std::make_shared<watchdog>(ioc.get_executor(), 2ms);
  auto& sl = dog->slot_for(0, ioc.get_executor());
  idle_pair p(ioc);
  bool fired =
      sluice::test::run_until(ioc, ioc.get_executor(), read_with_deadline(*dog, sl, p), 5s);
  CHECK(fired);
  CHECK(dog->failures() == 0);
}

TEST_CASE("http.watchdog.survives_a_failing_scan") {
  net::io_context ioc;
  auto dog = std::make_shared<watchdog>(ioc.get_executor(), 2ms);
  auto& sl = dog->slot_for(0, ioc.get_executor());
  idle_pair p(ioc);
  dog->fail_next_scans_for_test(3);
  // Each failure is recorded, and the deadline is still enforced.
  bool fired =
      sluice::test::run_until(ioc, ioc.get_executor(), read_with_deadline(*dog, sl, p), 5s);
  CHECK(fired);
  CHECK(dog->failures() == 3);
  CHECK(dog->last_failure() == "injected watchdog scan failure");
  // And so are the deadlines of later phases.
  CHECK(sluice::test::run_until(ioc, ioc.get_executor(), read_with_deadline(*dog, sl, p), 5s));
}
