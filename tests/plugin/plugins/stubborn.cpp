// A test plugin that breaks the cancellation rule: its `stubborn` consumer
// keeps waiting out its `delay` whatever cancellation it receives, so the
// runtime's shutdown deadline is the only way a run using it can end early.
#include <chrono>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sluice/plugin/plugin.hpp"

namespace {

namespace net = boost::asio;

class stubborn final : public sluice::consumer {
 public:
  explicit stubborn(const sluice::stage_context& ctx) : delay_(ctx.opts.get_duration("delay")) {}

  net::awaitable<sluice::result> process(sluice::item it, sluice::worker_info w) override {
    // Not throwing on cancellation and waiting again after each one is the
    // bug this plugin exists to show.
    co_await net::this_coro::throw_if_cancelled(false);
    const auto until = std::chrono::steady_clock::now() + delay_;
    net::steady_timer timer(w.executor);
    while (std::chrono::steady_clock::now() < until) {
      co_await net::this_coro::reset_cancellation_state();
      timer.expires_at(until);
      auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      (void)ec;
    }
    sluice::result r;
    r.url = it.url;
    co_return r;
  }

 private:
  std::chrono::nanoseconds delay_;
};

void register_stubborn(sluice::registry& reg) {
  reg.add({.kind = sluice::stage_kind::consumer,
           .name = "stubborn",
           .summary = "test: waits out `delay` per item, ignoring cancellation",
           .schema = {sluice::make_option("delay", sluice::option_type::duration, "120s",
                                          "how long each item takes")},
           .make_consumer = [](const sluice::stage_context& ctx) {
             return std::unique_ptr<sluice::consumer>(std::make_unique<stubborn>(ctx));
           }});
}

}  // namespace

SLUICE_PLUGIN("stubborn", "1.0.0", register_stubborn)
