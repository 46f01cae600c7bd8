// The asyncq demo's stages: producer `random_items`, consumer `asyncq_sleep`,
// sink `queue_time`. pipelines/asyncq.yaml wires them together; `sluice bench`
// builds the same pipeline in memory.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stage/stage.hpp"
#include "sluice/stages/asyncq.hpp"

namespace sluice {

namespace net = boost::asio;

namespace {

using stages::asyncq::event_kind;

/// The options both demo stages read: the random streams' seed, the sleep
/// scale, the per-event lines, the sleep range and the spin before a deadline.
/// No defaults here: the schema's apply (demo_options_from fills every field).
struct demo_options {
  std::uint64_t seed{};
  double scale{};
  bool quiet{};
  stages::asyncq::int_range sleep;
  std::chrono::nanoseconds spin{};
};

/// `seconds` x `scale` as a steady_clock duration.
std::chrono::nanoseconds scaled(int seconds, double scale) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(static_cast<double>(seconds) * scale));
}

stages::asyncq::int_range range_option(const options& o, const std::string& name) {
  auto r = stages::asyncq::parse_int_range(o.get_string(name));
  if (!r) {
    throw config_error(name,
                       "expected a whole number of seconds `n` or a range `low..high`, got `" +
                           o.get_string(name) + "`");
  }
  return *r;
}

demo_options demo_options_from(const options& o) {
  return {.seed = static_cast<std::uint64_t>(o.get_int("seed")),
          .scale = o.get_number("scale"),
          .quiet = o.get_bool("quiet"),
          .sleep = range_option(o, "sleep"),
          .spin = o.get_duration("spin")};
}

/// Sleeps `d` from now. With `spin` > 0 the timer is set `spin` early and
/// the rest is waited by yielding to the executor until the deadline: a timer
/// alone wakes tens of microseconds late (kernel and hypervisor latency) and
/// the demo's chains of sleeps would add that up. Yielding lets every other
/// handler run meanwhile. Cancellation surfaces as operation_aborted.
net::awaitable<void> precise_sleep(net::any_io_executor ex, std::chrono::nanoseconds d,
                                   std::chrono::nanoseconds spin) {
  const auto deadline = clock::now() + d;
  if (d > spin) {
    net::steady_timer timer(ex, deadline - spin);
    co_await timer.async_wait(net::use_awaitable);
  }
  while (clock::now() < deadline) {
    co_await net::post(ex, net::use_awaitable);
  }
}

void record(stages::asyncq::recorder::entry e) {
  if (auto* r = stages::asyncq::current_recorder()) {
    e.at = clock::now();
    r->record(e);
  }
}

/// asyncq.py's produce(): randint(count) items, each put after a
/// randint(sleep) x scale second sleep; all draws from this producer's own
/// stream, so the schedule never depends on thread timing.
class random_items final : public producer {
 public:
  explicit random_items(const stage_context& ctx)
      : index_(static_cast<std::uint32_t>(ctx.opts.get_int("index"))),
        demo_(demo_options_from(ctx.opts)),
        stream_(demo_.seed, stages::asyncq::role::producer, index_),
        names_(demo_.seed, stages::asyncq::role::item_name, index_),
        executor_(ctx.executor) {
    const auto count = range_option(ctx.opts, "count");
    count_ = static_cast<std::uint64_t>(stream_.randint(count.low, count.high));
  }

  net::awaitable<bool> next(std::vector<item>& out, std::size_t max) override {
    while (out.size() < max && seq_ < count_) {
      const int secs = stream_.randint(demo_.sleep.low, demo_.sleep.high);
      if (!demo_.quiet) {
        stages::asyncq::print_line(stages::asyncq::producer_sleep_line(index_, secs));
      }
      record({{}, event_kind::producer_sleep, index_, index_, 0, secs, 0});
      const auto d = scaled(secs, demo_.scale);
      if (d.count() > 0) {
        co_await precise_sleep(executor_, d, demo_.spin);
      }
      item it;
      it.url = names_.hex5();
      it.index = seq_;
      it.producer = index_;
      // Printed just before the framework pushes the item (the queue never
      // makes a demo producer wait: bench sizes it to hold every item).
      if (!demo_.quiet) {
        stages::asyncq::print_line(stages::asyncq::put_line(index_, it.url));
      }
      record({{}, event_kind::put, index_, index_, static_cast<std::uint32_t>(seq_), 0, 0});
      out.push_back(std::move(it));
      ++seq_;
      if (d.count() > 0) {
        break;  // hand this item over now; batching would hold it back
      }
    }
    co_return seq_ < count_;
  }

  std::optional<std::uint64_t> total() const override { return count_; }

 private:
  std::uint32_t index_;
  demo_options demo_;
  stages::asyncq::stream stream_;
  stages::asyncq::stream names_;
  net::any_io_executor executor_;
  std::uint64_t count_ = 0;
  std::uint64_t seq_ = 0;
};

/// asyncq.py's consume(): sleep randint(sleep) x scale seconds before every
/// get, from worker N's own stream (seed, consumer, N). The sleep runs in
/// before_pop(), which the runtime awaits before each pop, so the item waits
/// in the queue (not in the worker) while the worker sleeps, and join does
/// not wait for a sleeping worker. process() only stamps the result.
class asyncq_sleep final : public consumer {
 public:
  explicit asyncq_sleep(const stage_context& ctx) : demo_(demo_options_from(ctx.opts)) {}

  bool paces_workers() const override { return true; }

  net::awaitable<void> before_pop(worker_info worker) override {
    stages::asyncq::consumer_plan* plan = nullptr;
    {
      std::lock_guard lock(mutex_);
      plan = &plans_.try_emplace(worker.index, demo_.seed, worker.index, demo_.sleep).first->second;
    }
    // Only worker `index` touches its plan; std::map nodes never move.
    const int secs = plan->next_sleep();
    if (!demo_.quiet) {
      // Yield once so the sink prints this worker's previous `got element`
      // line first (it was posted before us), as asyncq.py orders them.
      co_await net::post(worker.executor, net::use_awaitable);
      stages::asyncq::print_line(stages::asyncq::consumer_sleep_line(worker.index, secs));
    }
    record({{}, event_kind::consumer_sleep, worker.index, 0, 0, secs, 0});
    const auto d = scaled(secs, demo_.scale);
    if (d.count() > 0) {
      try {
        co_await precise_sleep(worker.executor, d, demo_.spin);
      } catch (const boost::system::system_error& e) {
        if (e.code() == net::error::operation_aborted) {
          record({{}, event_kind::cancelled, worker.index, 0, 0, 0, 0});
        }
        throw;
      }
    }
    record({{}, event_kind::wait, worker.index, 0, 0, 0, 0});
  }

  net::awaitable<result> process(item it, worker_info worker) override {
    const auto now = clock::now();
    result r;
    r.url = it.url;
    r.final_url = it.url;
    r.index = it.index;
    r.producer = it.producer;
    r.worker = worker.index;
    r.attempts = 1;
    r.enqueued_at = it.enqueued_at;
    r.started_at = now;
    r.finished_at = now;
    if (it.enqueued_at != clock::time_point{}) {
      r.time.queue = std::chrono::duration_cast<std::chrono::nanoseconds>(now - it.enqueued_at);
    }
    record({{},
            event_kind::got,
            worker.index,
            it.producer,
            static_cast<std::uint32_t>(it.index),
            0,
            std::chrono::duration<double>(r.time.queue).count()});
    co_return r;
  }

 private:
  demo_options demo_;
  std::mutex mutex_;
  std::map<std::uint32_t, stages::asyncq::consumer_plan> plans_;
};

/// Prints asyncq.py's `Consumer N got element <name> in X seconds.` line for
/// every result: the worker, the url (the item's name) and its time in queue.
class queue_time final : public sink {
 public:
  explicit queue_time(const stage_context& ctx) : quiet_(ctx.opts.get_bool("quiet")) {}

  bool wants_bodies() const override { return false; }

  net::awaitable<void> write(const std::vector<result_ptr>& batch) override {
    if (!quiet_) {
      for (const auto& r : batch) {
        stages::asyncq::print_line(stages::asyncq::got_line(
            r->worker, r->url, std::chrono::duration<double>(r->time.queue).count()));
      }
    }
    co_return;
  }

 private:
  bool quiet_;
};

option_spec seed_opt() {
  return bounded_option(
      make_option("seed", option_type::integer, default_of(stages::asyncq::params{}.seed),
                  "seed of the random streams (one per producer and per consumer worker)"),
      0);
}

option_spec scale_opt() {
  return bounded_option(
      make_option("scale", option_type::number, default_of(stages::asyncq::params{}.scale),
                  "multiplies every sleep (1.0 = the demo)"),
      0);
}

// asyncq.py's randint(0, 10), as int_range has it.
std::string range_default() {
  const stages::asyncq::int_range d{};
  return std::to_string(d.low) + ".." + std::to_string(d.high);
}

option_spec spin_opt() {
  return make_option(
      "spin", option_type::duration, "0",
      "wake this long before each sleep's deadline and yield until it (precise timing)");
}

option_spec quiet_opt() {
  return make_option("quiet", option_type::boolean, "false",
                     "do not print the demo's per-event lines");
}

void validate_ranges(const options& o) {
  for (const char* name : {"count", "sleep"}) {
    if (o.has(name)) {
      range_option(o, name);
    }
  }
}

}  // namespace

void register_asyncq_stages(registry& reg) {
  auto index = bounded_option(
      make_option("index", option_type::integer, "0",
                  "producer number: printed as `Producer N` and seeds this producer's stream"),
      0, 4294967295.0);
  auto producer = stage_entry<random_items>(
      "random_items",
      "asyncq demo producer: randint(count) items named by 5 random bytes in hex, each after "
      "a randint(sleep) x scale second sleep",
      {index, seed_opt(),
       make_option("count", option_type::string, range_default(),
                   "items to emit: `n`, or `low..high` for randint(low, high)"),
       make_option("sleep", option_type::string, range_default(),
                   "seconds to sleep before each item: `n` or `low..high` (randint)"),
       scale_opt(), spin_opt(), quiet_opt()});
  producer.validate = validate_ranges;
  reg.add(std::move(producer));

  auto consumer = stage_entry<asyncq_sleep>(
      "asyncq_sleep",
      "asyncq demo consumer: each worker sleeps randint(sleep) x scale seconds before every "
      "get, from its own random stream",
      {seed_opt(),
       make_option("sleep", option_type::string, range_default(),
                   "seconds to sleep before every get: `n` or `low..high` (randint)"),
       scale_opt(), spin_opt(), quiet_opt()});
  consumer.validate = validate_ranges;
  reg.add(std::move(consumer));

  reg.add(stage_entry<queue_time>(
      "queue_time",
      "asyncq demo sink: prints `Consumer N got element <url> in X seconds.` (time in queue)",
      {quiet_opt()}));
}

}  // namespace sluice
