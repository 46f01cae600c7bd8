// The `sleep` consumer: waits a fixed or uniformly random delay per item and
// succeeds. The timing demo and the framework's own tests use it.
#include <random>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core_parts.hpp"

namespace sluice::stages::core {

namespace {

class sleep_consumer final : public consumer {
 public:
  explicit sleep_consumer(const stage_context& ctx)
      : delay_(ctx.opts.get_duration_range("delay")), seed_(ctx.opts.get_int("seed")) {}

  boost::asio::awaitable<result> process(item it, worker_info worker) override {
    result r;
    r.url = std::move(it.url);
    auto d = pick(worker.index);
    if (d.count() > 0) {
      boost::asio::steady_timer timer(worker.executor, d);
      co_await timer.async_wait(boost::asio::use_awaitable);
    }
    co_return r;
  }

 private:
  // One generator per thread: workers on the same thread never run at once,
  // and no lock sits on the hot path. A nonzero seed makes it repeatable per thread.
  std::chrono::nanoseconds pick(std::uint32_t) {
    if (delay_.low == delay_.high) {
      return delay_.low;
    }
    thread_local std::mt19937_64 rng(seed_ != 0 ? static_cast<std::uint64_t>(seed_)
                                                : std::random_device{}());
    std::uniform_int_distribution<std::int64_t> dist(delay_.low.count(), delay_.high.count());
    return std::chrono::nanoseconds(dist(rng));
  }

  duration_range delay_;
  std::int64_t seed_;
};

}  // namespace

void register_consumers(registry& reg) {
  reg.add({.kind = stage_kind::consumer,
           .name = "sleep",
           .summary = "waits a fixed or random delay per item, then succeeds (demos, tests)",
           .schema = {{.name = "delay",
                       .type = option_type::duration_range,
                       .default_value = "0ms",
                       .doc = "per-item delay: fixed (5ms) or uniformly random (1ms..5ms)"},
                      {.name = "seed",
                       .type = option_type::integer,
                       .default_value = "0",
                       .doc = "random seed for ranges (0: nondeterministic)"}},
           .make_consumer = [](const stage_context& ctx) {
             return std::make_unique<sleep_consumer>(ctx);
           }});
}

}  // namespace sluice::stages::core
