// The runtime's consumer metrics kept per thread (framework/src/run_metrics.hpp):
// exact totals across threads, one shard per recording thread whatever the
// number of workers, runs kept apart on a thread that serves two, a reader
// racing the writers (the TSan build), the host cap; and end to end, a
// 10,000-worker run whose peak RSS stays within the C10k budget and whose
// report still counts every item once.
#include "run_metrics.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json/parse.hpp>

#include "test_support.hpp"

using sluice::result;
using sluice::detail::run_metrics;
using sluice::detail::shard_figures;

namespace {

result make_result(std::string url, std::int64_t queue_ns, bool ok = true, int status = 200) {
  result r;
  r.url = std::move(url);
  r.time.queue = std::chrono::nanoseconds(queue_ns);
  r.time.total = std::chrono::nanoseconds(1000 + queue_ns % 7);
  r.status = status;
  r.bytes = 10;
  r.attempts = 2;
  if (!ok) {
    r.error_kind = "connect";
  }
  return r;
}

struct merged {
  std::uint64_t latency = 0, queue_time = 0, retries = 0, requests = 0, errors = 0, shards = 0;
  std::size_t hosts = 0;
  bool other = false;
};

merged merge(const run_metrics& m) {
  merged out;
  m.for_each([&](const shard_figures& f) {
    ++out.shards;
    out.latency += f.latency.count();
    out.queue_time += f.queue_time.count();
    out.retries += f.retries;
    for (const auto& [k, v] : f.errors) {
      out.errors += v;
    }
    for (const auto& [h, hm] : f.hosts) {
      out.requests += hm.requests;
      out.other = out.other || h == "(other)";
    }
    out.hosts += f.hosts.size();
  });
  return out;
}

}  // namespace

TEST_CASE("run_metrics.totals_exact_across_threads") {
  run_metrics m;
  constexpr int threads = 4, per = 20'000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&m, t] {
      for (int i = 0; i < per; ++i) {
        auto r = make_result("http://h" + std::to_string(t) + ".test/x", i * 1000, i % 10 != 0);
        m.record(r);
        m.local().done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& t : pool) {
    t.join();
  }
  auto t = m.totals();
  CHECK(t.done == threads * per);
  CHECK(t.failed == threads * per / 10);
  CHECK(t.bytes == 10u * threads * per);
  auto g = merge(m);
  CHECK(g.shards == threads);  // one per recording thread, not per item or worker
  CHECK(g.latency == threads * per);
  CHECK(g.queue_time == threads * per);
  CHECK(g.retries == threads * per);
  CHECK(g.errors == threads * per / 10);
  CHECK(g.requests == threads * per);
  CHECK(g.hosts == threads);
}

TEST_CASE("run_metrics.one_shard_per_thread_whatever_the_workers") {
  // 10,000 "workers" interleaved on one thread share that thread's shard.
  run_metrics m;
  for (std::uint32_t w = 0; w < 10'000; ++w) {
    auto r = make_result("http://127.0.0.1:8080/" + std::to_string(w), w * 997);
    r.worker = w;
    m.record(r);
  }
  auto g = merge(m);
  CHECK(g.shards == 1);
  CHECK(g.latency == 10'000);
  CHECK(g.hosts == 1);
}

TEST_CASE("run_metrics.two_runs_on_one_thread_stay_apart") {
  // The thread_local cache is keyed by run: alternating between two runs on
  // one thread must not record one run's items into the other's shard, even
  // when the second is allocated where the first was.
  auto a = std::make_unique<run_metrics>();
  auto b = std::make_unique<run_metrics>();
  a->record(make_result("http://a.test/", 1));
  b->record(make_result("http://b.test/", 1));
  a->record(make_result("http://a.test/", 2));
  CHECK(merge(*a).latency == 2);
  CHECK(merge(*b).latency == 1);
  a.reset();
  auto c = std::make_unique<run_metrics>();
  c->record(make_result("http://c.test/", 1));
  CHECK(merge(*c).latency == 1);
  CHECK(merge(*b).latency == 1);
}

TEST_CASE("run_metrics.in_flight_started_and_finished_on_different_threads") {
  run_metrics m;
  std::thread([&m] { m.local().in_flight.fetch_add(1); }).join();
  CHECK(m.totals().in_flight == 1);
  std::thread([&m] { m.local().in_flight.fetch_sub(1); }).join();
  CHECK(m.totals().in_flight == 0);
  // The finishing thread's shard alone is negative; the total is clamped,
  // never a huge unsigned number.
  std::thread([&m] { m.local().in_flight.fetch_sub(1); }).join();
  CHECK(m.totals().in_flight == 0);
}

TEST_CASE("run_metrics.reader_races_writers") {
  // A scrape (for_each under each shard's lock) and the progress sampler
  // (totals, relaxed) while two threads record: TSan checks the locking.
  run_metrics m;
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 2; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 50'000; ++i) {
        m.record(
            make_result("http://w.test/" + std::to_string(i), i * 13, i % 3 != 0, 200 + i % 5));
      }
    });
  }
  std::uint64_t seen = 0;
  std::thread reader([&] {
    while (!stop.load()) {
      auto g = merge(m);
      CHECK(g.latency >= seen);  // counts only grow
      seen = g.latency;
      (void)m.totals();
    }
  });
  for (auto& w : writers) {
    w.join();
  }
  stop = true;
  reader.join();
  CHECK(merge(m).latency == 100'000);
  CHECK(m.totals().failed == 2 * (50'000 / 3 + 1));
}

TEST_CASE("run_metrics.hosts_capped_per_shard") {
  run_metrics m;
  const auto n = sluice::detail::max_hosts_per_shard + 500;
  for (std::size_t i = 0; i < n; ++i) {
    m.record(make_result("http://h" + std::to_string(i) + ".test/", 5));
  }
  m.record(make_result("not a url", 5));
  auto g = merge(m);
  CHECK(g.hosts == sluice::detail::max_hosts_per_shard + 1);  // + "(other)"
  CHECK(g.other);
  CHECK(g.requests == n + 1);  // every request counted, in its host or "(other)"
}

TEST_CASE("run_metrics.c10k_workers_peak_rss_and_exact_report") {
  // 10,000 sleep workers, 100,000 items, delays spread over 0..20 ms, so
  // that every worker's queue times span many octaves: one histogram set
  // per worker took 127 MiB here, one per thread about 56 MiB.
  sluice::test::temp_dir d;
  sluice::test::write_file(d / "c10k.yaml", R"(name: c10k
threads: 2
producers:
  - type: range
    url: "http://127.0.0.1:8080/delay/{i}"
    from: 0
    to: 100000
queue:
  capacity: 1000
consumers:
  type: sleep
  workers: 10000
  delay: 0ms..20ms
sinks:
  - type: null
)");
  auto stats = d / "stats.json";
  auto r = sluice::test::run_process({sluice::test::sluice_bin(), "run", (d / "c10k.yaml").string(),
                                      "-q", "--no-state", "--stats-json", stats.string()});
  REQUIRE(r.exit_code == 0);
  MESSAGE("peak RSS " << r.max_rss_kb / 1024 << " MiB");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // Not under a sanitizer: its shadow memory alone is a multiple of this.
  CHECK(r.max_rss_kb <= 96 * 1024);
#endif
  auto j = boost::json::parse(sluice::test::read_file(stats)).as_object();
  CHECK(j.at("consumed").as_int64() == 100'000);
  CHECK(j.at("time_in_queue").as_object().at("count").as_int64() == 100'000);
  CHECK(j.at("latency").as_object().at("count").as_int64() == 100'000);
  auto hosts = j.at("top_hosts").as_array();
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0].as_object().at("requests").as_int64() == 100'000);
}
