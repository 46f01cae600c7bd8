// bench_queue: moves N items from P producer coroutines to C zero-work
// consumer coroutines on T threads through sluice::bounded_queue, and side by
// side in the same run through asio::experimental::concurrent_channel (same
// shape) and raw moodycamel::ConcurrentQueue between two plain threads (the
// hardware ceiling). Prints items/s per run, the median of --runs, and ratios.
//
//   bench_queue [--items N] [-p P] [-c C] [--capacity K] [--threads T] [--runs R]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>
#include <fmt/core.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/queue/bounded_queue.hpp"
#include "sluice/runtime/run_threads.hpp"

namespace net = boost::asio;
using clock_type = std::chrono::steady_clock;

namespace {

struct params {
  long items = 10'000'000;
  int producers = 5;
  int consumers = 100;
  std::size_t capacity = 1000;
  int threads = 2;
  int runs = 3;
};

double bench_sluice(const params& p) {
  net::io_context ioc(p.threads);
  sluice::bounded_queue<long> q(p.capacity);
  std::vector<net::cancellation_signal> cancel(static_cast<std::size_t>(p.consumers));
  std::vector<net::strand<net::io_context::executor_type>> strands;
  for (int c = 0; c < p.consumers; ++c) {
    strands.push_back(net::make_strand(ioc));
  }
  std::atomic<long> consumed{0};
  for (int c = 0; c < p.consumers; ++c) {
    net::co_spawn(
        strands[static_cast<std::size_t>(c)],
        [&]() -> net::awaitable<void> {
          long n = 0;
          long v = 0;
          for (;;) {
            if (!q.try_pop(v)) {
              auto [ec, got] = co_await q.pop(net::as_tuple(net::use_awaitable));
              if (ec) {
                break;
              }
              v = got;
            }
            ++n;
            q.task_done();
          }
          consumed += n;
        },
        net::bind_cancellation_slot(cancel[static_cast<std::size_t>(c)].slot(), net::detached));
  }
  std::atomic<int> left{p.producers};
  long per = p.items / p.producers;
  auto t0 = clock_type::now();
  clock_type::time_point t1;
  for (int i = 0; i < p.producers; ++i) {
    net::co_spawn(
        net::make_strand(ioc),
        [&]() -> net::awaitable<void> {
          for (long k = 0; k < per; ++k) {
            if (!q.try_push(k)) {
              co_await q.push(k);
            }
          }
          if (--left == 0) {
            co_await q.join();
            t1 = clock_type::now();
            for (std::size_t c = 0; c < cancel.size(); ++c) {
              net::post(strands[c],
                        [&cancel, c] { cancel[c].emit(net::cancellation_type::terminal); });
            }
          }
        },
        net::detached);
  }
  sluice::run_on_threads(ioc, static_cast<unsigned>(p.threads));
  if (consumed.load() != per * p.producers) {
    fmt::print(stderr, "bounded_queue lost items: {} of {}\n", consumed.load(), per * p.producers);
    std::exit(1);
  }
  return static_cast<double>(per * p.producers) / std::chrono::duration<double>(t1 - t0).count();
}

double bench_channel(const params& p) {
  net::io_context ioc(p.threads);
  using channel = net::experimental::concurrent_channel<void(boost::system::error_code, long)>;
  channel ch(ioc, p.capacity);
  std::atomic<long> consumed{0};
  std::atomic<int> consumers_left{p.consumers};
  clock_type::time_point t1;
  for (int c = 0; c < p.consumers; ++c) {
    net::co_spawn(
        net::make_strand(ioc),
        [&]() -> net::awaitable<void> {
          long n = 0;
          for (;;) {
            bool got = ch.try_receive([&](boost::system::error_code, long) { ++n; });
            if (got) {
              continue;
            }
            auto [ec, v] = co_await ch.async_receive(net::as_tuple(net::use_awaitable));
            if (ec) {
              break;
            }
            ++n;
          }
          consumed += n;
          if (--consumers_left == 0) {
            t1 = clock_type::now();
          }
        },
        net::detached);
  }
  std::atomic<int> left{p.producers};
  long per = p.items / p.producers;
  auto t0 = clock_type::now();
  for (int i = 0; i < p.producers; ++i) {
    net::co_spawn(
        net::make_strand(ioc),
        [&]() -> net::awaitable<void> {
          for (long k = 0; k < per; ++k) {
            if (!ch.try_send(boost::system::error_code{}, k)) {
              co_await ch.async_send(boost::system::error_code{}, k, net::use_awaitable);
            }
          }
          if (--left == 0) {
            // No join in a channel: closing after the last send lets receivers
            // drain what is buffered and then see the close.
            ch.close();
          }
        },
        net::detached);
  }
  sluice::run_on_threads(ioc, static_cast<unsigned>(p.threads));
  return static_cast<double>(consumed.load()) / std::chrono::duration<double>(t1 - t0).count();
}

double bench_moodycamel(const params& p) {
  moodycamel::ConcurrentQueue<long> q(p.capacity);  // initial blocks only
  long n = p.items / p.producers * p.producers;
  std::atomic<bool> go{false};
  std::thread consumer([&] {
    moodycamel::ConsumerToken tok(q);
    while (!go.load()) {
    }
    long got = 0, v = 0;
    while (got < n) {
      if (q.try_dequeue(tok, v)) {
        ++got;
      }
    }
  });
  auto t0 = clock_type::now();
  go = true;
  {
    moodycamel::ProducerToken tok(q);
    // Unbounded, with tokens: the figure moodycamel's own README quotes.
    for (long k = 0; k < n; ++k) {
      q.enqueue(tok, k);
    }
  }
  consumer.join();
  return static_cast<double>(n) / std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  params p;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        fmt::print(stderr, "missing value after {}\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--items") {
      p.items = std::atol(next());
    } else if (a == "-p") {
      p.producers = std::atoi(next());
    } else if (a == "-c") {
      p.consumers = std::atoi(next());
    } else if (a == "--capacity") {
      p.capacity = static_cast<std::size_t>(std::atol(next()));
    } else if (a == "--threads") {
      p.threads = std::atoi(next());
    } else if (a == "--runs") {
      p.runs = std::atoi(next());
    } else {
      fmt::print(stderr,
                 "usage: bench_queue [--items N] [-p P] [-c C] [--capacity K] [--threads T] "
                 "[--runs R]\n");
      return 2;
    }
  }
  if (p.items <= 0 || p.producers <= 0 || p.consumers <= 0 || p.capacity == 0 || p.threads <= 0 ||
      p.runs <= 0) {
    fmt::print(stderr, "all values must be positive\n");
    return 2;
  }
  fmt::print(
      "bench_queue: {} items, {} producers, {} consumers, capacity {}, {} threads, {} runs\n",
      p.items, p.producers, p.consumers, p.capacity, p.threads, p.runs);
  std::vector<double> s, c, m;
  for (int r = 0; r < p.runs; ++r) {
    s.push_back(bench_sluice(p));
    c.push_back(bench_channel(p));
    m.push_back(bench_moodycamel(p));
    fmt::print(
        "  run {}: bounded_queue {:.2f}M/s  concurrent_channel {:.2f}M/s  moodycamel 1P1C "
        "threads {:.2f}M/s\n",
        r + 1, s.back() / 1e6, c.back() / 1e6, m.back() / 1e6);
  }
  double ms = median(s), mc = median(c), mm = median(m);
  fmt::print("median items/s:\n");
  fmt::print("  sluice::bounded_queue (coroutines)    {:>8.2f}M/s\n", ms / 1e6);
  fmt::print(
      "  asio concurrent_channel (coroutines)  {:>8.2f}M/s   bounded_queue/channel = {:.2f}x\n",
      mc / 1e6, ms / mc);
  fmt::print(
      "  moodycamel raw threads (1P/1C, unbounded) {:>8.2f}M/s   bounded_queue/raw = {:.2f}x\n",
      mm / 1e6, ms / mm);
  fmt::print("target >= 10M items/s: {}\n", ms >= 10e6 ? "met" : "NOT met");
  return 0;
}
