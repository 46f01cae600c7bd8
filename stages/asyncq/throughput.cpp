// `sluice bench --no-sleep`: how fast zero-work items cross a bounded_queue
// between coroutine producers and consumers, each on its own strand.
#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/queue/bounded_queue.hpp"
#include "sluice/runtime/histogram.hpp"
#include "sluice/runtime/run_threads.hpp"
#include "sluice/stages/asyncq.hpp"

namespace sluice::stages::asyncq {

namespace net = boost::asio;

namespace {

/// What crosses the queue: the instant it was pushed, on sampled items only.
struct stamp {
  clock::time_point put_at{};
};

/// Every 64th item carries a timestamp. Reading the clock costs about 50 ns
/// on the machines we measured (half of an item's whole budget), so time in
/// queue comes from a systematic 1/64 sample rather than from every item.
constexpr std::uint64_t sample_mask = 63;

/// 8 sub-buckets per power of two (about 12% resolution), kept per consumer
/// so the hot path has no atomics.
using histogram = basic_histogram<3>;

using queue_t = bounded_queue<stamp>;

net::awaitable<void> produce(queue_t& q, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) {
    stamp s;
    if ((i & sample_mask) == 0) {
      s.put_at = clock::now();
    }
    // The fast path never suspends, exactly as asyncio.Queue.put does not
    // yield while there is room.
    if (!q.try_push(s)) {
      co_await q.push(s);
    }
  }
}

net::awaitable<void> consume(queue_t& q, histogram& h, std::uint64_t& count) {
  for (;;) {
    stamp s;
    if (!q.try_pop(s)) {
      s = co_await q.pop();
    }
    if (s.put_at != clock::time_point{}) {
      h.record((clock::now() - s.put_at).count());
    }
    ++count;
    q.task_done();
  }
}

}  // namespace

throughput_result run_throughput(const throughput_params& p) {
  const unsigned threads =
      p.threads ? p.threads : std::max(1u, std::thread::hardware_concurrency());
  const std::uint32_t consumers = std::max<std::uint32_t>(1, p.consumers);
  const auto t0 = clock::now();

  net::io_context ctx(static_cast<int>(threads));
  queue_t q(std::max<std::size_t>(1, p.capacity));
  std::vector<histogram> hist(consumers);
  std::vector<std::uint64_t> counts(consumers, 0);
  std::vector<net::strand<net::io_context::executor_type>> strands;
  std::vector<net::cancellation_signal> signals(consumers);
  for (std::uint32_t c = 0; c < consumers; ++c) {
    strands.push_back(net::make_strand(ctx));
  }
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto note_failure = [&](std::exception_ptr e) {
    if (e) {
      std::lock_guard lock(failure_mutex);
      if (!failure) {
        failure = e;
      }
    }
  };

  // Producers done -> join -> cancel every consumer on its own strand.
  auto finish = [&] {
    net::co_spawn(
        ctx,
        [&]() -> net::awaitable<void> {
          co_await q.join();
          for (std::uint32_t c = 0; c < consumers; ++c) {
            net::post(strands[c], [&, c] { signals[c].emit(net::cancellation_type::terminal); });
          }
        },
        note_failure);
  };
  const std::uint32_t producers = p.producers;
  std::atomic<std::uint32_t> live(producers);
  if (producers == 0) {
    finish();
  }
  for (std::uint32_t i = 0; i < producers; ++i) {
    const std::uint64_t n = p.items / producers + (i < p.items % producers ? 1 : 0);
    net::co_spawn(net::make_strand(ctx), produce(q, n), [&](std::exception_ptr e) {
      note_failure(e);
      if (live.fetch_sub(1) == 1) {
        finish();
      }
    });
  }
  for (std::uint32_t c = 0; c < consumers; ++c) {
    net::co_spawn(strands[c], consume(q, hist[c], counts[c]),
                  net::bind_cancellation_slot(signals[c].slot(), [](std::exception_ptr) {
                    // The expected end: operation_aborted from the cancelled pop.
                  }));
  }
  run_on_threads(ctx, threads);
  const auto t1 = clock::now();
  if (failure) {
    std::rethrow_exception(failure);
  }

  histogram all;
  throughput_result r;
  for (std::uint32_t c = 0; c < consumers; ++c) {
    all.merge(hist[c]);
    r.consumed += counts[c];
  }
  r.items = p.items;
  r.threads = threads;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  r.items_per_s = r.seconds > 0 ? static_cast<double>(r.consumed) / r.seconds : 0;
  r.high_water = q.high_water_mark();
  r.p50_ns = all.quantile(0.50);
  r.p90_ns = all.quantile(0.90);
  r.p99_ns = all.quantile(0.99);
  r.max_ns = all.max();
  return r;
}

}  // namespace sluice::stages::asyncq
