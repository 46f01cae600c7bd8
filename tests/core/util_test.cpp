// Small public helpers of the framework: base64_encode, the shutdown gate,
// the histogram.
#include "sluice/core/base64.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "sluice/runtime/gate.hpp"
#include "sluice/runtime/histogram.hpp"
#include "sluice/runtime/run_threads.hpp"

TEST_CASE("base64.encode.rfc4648_vectors") {
  CHECK(sluice::base64_encode("") == "");
  CHECK(sluice::base64_encode("f") == "Zg==");
  CHECK(sluice::base64_encode("fo") == "Zm8=");
  CHECK(sluice::base64_encode("foo") == "Zm9v");
  CHECK(sluice::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(sluice::base64_encode("user:pass") == "dXNlcjpwYXNz");
}

TEST_CASE("gate.close.waits_for_leave_or_gives_up_at_the_deadline") {
  namespace net = boost::asio;
  net::io_context ioc;
  auto strand = net::make_strand(ioc);
  sluice::gate g(strand);
  g.enter();
  g.enter();
  std::optional<bool> closed;
  net::co_spawn(strand, g.close(), [&](std::exception_ptr, bool ok) { closed = ok; });
  SUBCASE("both leave") {
    net::post(strand, [&] { g.leave(); });
    net::post(strand, [&] { g.leave(); });
    ioc.run_for(std::chrono::seconds(5));
    REQUIRE(closed);
    CHECK(*closed);
    CHECK(g.count() == 0);
  }
  SUBCASE("one stays: the deadline ends the wait") {
    net::post(strand, [&] {
      g.leave();
      g.expire_at(sluice::gate::clock::now() + std::chrono::milliseconds(20));
    });
    ioc.run_for(std::chrono::seconds(5));
    REQUIRE(closed);
    CHECK_FALSE(*closed);
    CHECK(g.count() == 1);
  }
}

TEST_CASE("histogram.quantiles.within_a_bucket_of_the_value") {
  sluice::basic_histogram<3> h;
  for (int i = 1; i <= 1000; ++i) {
    h.record(i * 1000);
  }
  CHECK(h.count() == 1000);
  CHECK(h.max() == 1000000);
  CHECK(h.quantile(0.5) >= 500000);
  CHECK(h.quantile(0.5) <= 500000 * 1.13);
  CHECK(h.quantile(1.0) == 1000000);
}

TEST_CASE("histogram.sum_is_exact_and_count_at_most_never_over_counts") {
  sluice::histogram h, other;
  std::uint64_t sum = 0;
  for (std::int64_t v = 0; v < 5000; ++v) {
    auto ns = v * 997;
    (v % 2 == 0 ? h : other).record(ns);
    sum += static_cast<std::uint64_t>(ns);
  }
  other.record(-5);  // counts as 0
  h.merge(other);
  CHECK(h.count() == 5001);
  CHECK(h.sum() == sum);
  std::uint64_t prev = 0;
  for (std::int64_t bound : {0LL, 1000LL, 100000LL, 1000000LL, 2500000LL, 4984003LL, 10000000LL}) {
    CAPTURE(bound);
    std::uint64_t exact = 1;  // the -5
    for (std::int64_t v = 0; v < 5000; ++v) {
      exact += v * 997 <= bound ? 1 : 0;
    }
    auto n = h.count_at_most(bound);
    CHECK(n <= exact);  // never a value above the bound
    CHECK(n >= prev);   // cumulative
    // At most the straddling bucket (about 6% of the bound) is missing.
    std::uint64_t lower = 1;
    for (std::int64_t v = 0; v < 5000; ++v) {
      lower += static_cast<double>(v * 997) <= static_cast<double>(bound) * 0.93 ? 1 : 0;
    }
    CHECK(n >= lower);
    prev = n;
  }
  CHECK(h.count_at_most(-1) == 0);
  CHECK(h.count_at_most(std::int64_t{1} << 40) == h.count());
}

TEST_CASE("run_on_threads.runs_handlers_on_that_many_threads_until_out_of_work") {
  for (unsigned threads : {0U, 1U, 3U}) {
    CAPTURE(threads);
    boost::asio::io_context ioc;
    std::mutex m;
    std::set<std::thread::id> seen;
    int ran = 0;
    for (int i = 0; i < 200; ++i) {
      boost::asio::post(ioc, [&] {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
        std::lock_guard lock(m);
        seen.insert(std::this_thread::get_id());
        ++ran;
      });
    }
    sluice::run_on_threads(ioc, threads);
    CHECK(ran == 200);
    CHECK(seen.size() <= std::max(1U, threads));
    CHECK(seen.size() >= 1);
  }
}
