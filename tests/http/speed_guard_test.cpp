// Phase deadlines and the speed guard as arithmetic over time points.
#include "speed_guard.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
namespace hd = sluice::stages::http;
using clk = sluice::clock;

TEST_CASE("http.speed_guard.phase_limit_takes_the_earlier_deadline") {
  auto t0 = clk::now();
  auto attempt = t0 + 10s;
  auto own = hd::phase_limit(attempt, 2s, t0);
  CHECK(own.at == t0 + 2s);
  CHECK(own.own_first);
  auto total = hd::phase_limit(attempt, 20s, t0);
  CHECK(total.at == attempt);
  CHECK_FALSE(total.own_first);
  auto none = hd::phase_limit(attempt, 0s, t0);  // 0: no limit of its own
  CHECK(none.at == attempt);
  CHECK_FALSE(none.own_first);
  auto never = hd::phase_limit(clk::time_point::max(), 0s, t0);
  CHECK(never.at == clk::time_point::max());
}

TEST_CASE("http.speed_guard.windows_restart_when_the_quota_is_met") {
  auto t0 = clk::now();
  hd::speed_guard g(1000, 1s, t0);  // 1000 bytes in each 1 s window
  REQUIRE(g.active());
  auto first = g.next_read(t0 + 60s);
  CHECK(first.at == t0 + 1s);
  CHECK(first.own_first);
  g.add(600, t0 + 500ms);
  CHECK(g.window_bytes() == 600);
  CHECK(g.next_read(t0 + 60s).at == t0 + 1s);  // quota not met: same window
  g.add(400, t0 + 800ms);
  CHECK(g.window_bytes() == 0);
  CHECK(g.next_read(t0 + 60s).at == t0 + 1800ms);  // a new window from 800 ms
  // The attempt's deadline comes first: it is not the guard's timeout.
  auto late = g.next_read(t0 + 1s);
  CHECK(late.at == t0 + 1s);
  CHECK_FALSE(late.own_first);
}

TEST_CASE("http.speed_guard.off_without_min_speed") {
  auto t0 = clk::now();
  hd::speed_guard g(0, 1s, t0);
  CHECK_FALSE(g.active());
  auto n = g.next_read(t0 + 5s);
  CHECK(n.at == t0 + 5s);
  CHECK_FALSE(n.own_first);
  g.add(1, t0);
  CHECK(g.window_bytes() == 0);
}
