// A well-formed test plugin: a `ticker` producer that waits on a timer on the
// host's executor before each item, and a `tally` sink.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/plugin/plugin.hpp"

namespace {

namespace net = boost::asio;

/// True when the calling thread is running inside the executor's strand; the
/// test host hands out a strand of its own io_context.
bool on_own_strand(const net::any_io_executor& ex) {
  if (const auto* s = ex.target<net::strand<net::io_context::executor_type>>()) {
    return s->running_in_this_thread();
  }
  return false;
}

/// Emits `count` items `tick://<i>?on_strand=<0|1>`, waiting `interval` on a
/// steady_timer bound to ctx.executor before each.
class ticker final : public sluice::producer {
 public:
  explicit ticker(const sluice::stage_context& ctx)
      : ctx_(ctx),
        timer_(ctx.executor),
        count_(ctx.opts.get_int("count")),
        interval_(ctx.opts.get_duration("interval")) {}

  net::awaitable<bool> next(std::vector<sluice::item>& out, std::size_t) override {
    if (emitted_ >= count_) {
      co_return false;
    }
    timer_.expires_after(interval_);
    co_await timer_.async_wait(net::use_awaitable);
    sluice::item it;
    it.index = static_cast<std::uint64_t>(emitted_);
    it.url = "tick://" + std::to_string(emitted_) +
             "?on_strand=" + (on_own_strand(ctx_.executor) ? "1" : "0");
    out.push_back(std::move(it));
    ++emitted_;
    co_return emitted_ < count_;
  }

  std::optional<std::uint64_t> total() const override { return static_cast<std::uint64_t>(count_); }

 private:
  sluice::stage_context ctx_;
  net::steady_timer timer_;
  std::int64_t count_;
  std::chrono::nanoseconds interval_;
  std::int64_t emitted_ = 0;
};

/// Counts results.
class tally final : public sluice::sink {
 public:
  net::awaitable<void> write(const std::vector<sluice::result_ptr>& batch) override {
    n_ += batch.size();
    co_return;
  }

 private:
  std::size_t n_ = 0;
};

void register_good(sluice::registry& reg) {
  reg.add(sluice::stage_entry<ticker>("ticker",
                                      "test: items paced by a timer on the host's executor",
                                      {{.name = "count",
                                        .type = sluice::option_type::integer,
                                        .default_value = "3",
                                        .doc = "how many items",
                                        .minimum = 0},
                                       {.name = "interval",
                                        .type = sluice::option_type::duration,
                                        .default_value = "1ms",
                                        .doc = "wait before each item"}}));
  reg.add(sluice::stage_entry<tally>("tally", "test: counts results",
                                     {{.name = "label",
                                       .type = sluice::option_type::string,
                                       .default_value = "tally",
                                       .doc = "a label"}}));
}

}  // namespace

SLUICE_PLUGIN("good", "1.2.3", register_good)
