// The idle pool and DNS cache with plain structs instead of sockets: the
// freshest connection first, stale ones closed, the cap, expiry.
#include "connection_pool.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
namespace hd = sluice::stages::http;
using clk = sluice::clock;

namespace {

/// Stands in for a connection; counts how many were closed (destroyed).
struct fake_conn {
  fake_conn(int i, clk::time_point t, int* c) : id(i), idle_since(t), closed(c) {}
  fake_conn(const fake_conn&) = delete;
  fake_conn& operator=(const fake_conn&) = delete;
  ~fake_conn() { ++*closed; }
  int id;
  clk::time_point idle_since;
  int* closed;
};
using fake_ptr = std::unique_ptr<fake_conn>;

}  // namespace

TEST_CASE("http.connection_pool.freshest_first_and_stale_closed") {
  int closed = 0;
  auto t0 = clk::now();
  hd::idle_pool<fake_ptr> pool;
  for (int i = 0; i < 4; ++i) {
    pool.give_back(std::make_unique<fake_conn>(i, t0 + i * 10s, &closed), 10);
  }
  CHECK(pool.size() == 4);
  // At t0+35s with a 20s idle timeout, 2 and 3 are fresh, 0 and 1 stale.
  auto c = pool.take(t0 + 35s, 20s);
  REQUIRE(c);
  CHECK(c->id == 3);
  CHECK(closed == 2);  // 0 and 1, older than the one taken
  CHECK(pool.size() == 1);
  auto d = pool.take(t0 + 35s, 20s);
  REQUIRE(d);
  CHECK(d->id == 2);
  CHECK_FALSE(pool.take(t0 + 35s, 20s));
  // Everything stale: nothing taken, everything closed.
  pool.give_back(std::move(c), 10);
  CHECK_FALSE(pool.take(t0 + 1h, 20s));
  CHECK(closed == 3);
  // A zero idle timeout keeps connections of any age.
  pool.give_back(std::move(d), 10);
  CHECK(pool.take(t0 + 24h, 0s));
}

TEST_CASE("http.connection_pool.cap_closes_the_oldest") {
  int closed = 0;
  auto t0 = clk::now();
  hd::idle_pool<fake_ptr> pool;
  for (int i = 0; i < 3; ++i) {
    pool.give_back(std::make_unique<fake_conn>(i, t0, &closed), 2);
  }
  CHECK(pool.size() == 2);
  CHECK(closed == 1);
  CHECK(pool.take(t0, 0s)->id == 2);
  CHECK(pool.take(t0, 0s)->id == 1);
  // max_idle 0: nothing is kept.
  pool.give_back(std::make_unique<fake_conn>(9, t0, &closed), 0);
  CHECK(pool.size() == 0);
  CHECK(closed == 4);
}

TEST_CASE("http.connection_pool.dns_cache_expires_and_forgets") {
  hd::dns_cache dns;
  auto t0 = clk::now();
  CHECK_FALSE(dns.lookup(t0));
  hd::dns_cache::endpoints eps{{boost::asio::ip::make_address("127.0.0.1"), 80}};
  dns.store(eps, t0 + 60s);
  REQUIRE(dns.lookup(t0 + 59s));
  CHECK(dns.lookup(t0 + 59s)->front().port() == 80);
  CHECK_FALSE(dns.lookup(t0 + 60s));
  dns.store(eps, t0 + 60s);
  dns.forget();
  CHECK_FALSE(dns.lookup(t0));
}
