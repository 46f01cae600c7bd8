// The plugin shown in docs/plugins.md, verbatim: the tests build and load it
// so the documentation's example keeps compiling.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <sluice/plugin/plugin.hpp>

class countdown final : public sluice::producer {
 public:
  explicit countdown(const sluice::stage_context& ctx)
      : timer_(ctx.executor), n_(ctx.opts.get_int("from")) {}
  boost::asio::awaitable<bool> next(std::vector<sluice::item>& out, std::size_t) override {
    timer_.expires_after(std::chrono::milliseconds(100));  // on the host's io_context
    co_await timer_.async_wait(boost::asio::use_awaitable);
    out.push_back({.url = "https://example.com/" + std::to_string(n_)});
    co_return --n_ > 0;
  }

 private:
  boost::asio::steady_timer timer_;
  std::int64_t n_;
};

void register_my_stages(sluice::registry& reg) {
  reg.add(sluice::stage_entry<countdown>("countdown", "one URL every 100ms",
                                         {{.name = "from",
                                           .type = sluice::option_type::integer,
                                           .default_value = "3",
                                           .doc = "how many URLs",
                                           .minimum = 1}}));
}

SLUICE_PLUGIN("my_stages", "1.0.0", register_my_stages)
