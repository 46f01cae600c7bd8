// The single-flight robots.txt cache of an origin (see robots_cache.hpp).
#include "robots_cache.hpp"

#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/channel_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace sluice::stages::http {

namespace net = boost::asio;

robots_cache::claim_result robots_cache::claim() {
  std::lock_guard lock(mutex_);
  if (rules_) {
    return {rules_, nullptr};
  }
  if (pending_) {
    return {nullptr, pending_};
  }
  // Capacity 0: nothing is ever sent; closing it completes every receive.
  pending_ = std::make_shared<channel>(executor_, 0);
  ++fetches_;
  return {nullptr, nullptr};
}

void robots_cache::finish(std::shared_ptr<const robots_rules> rules) {
  std::shared_ptr<channel> done;
  {
    std::lock_guard lock(mutex_);
    if (rules) {
      rules_ = std::move(rules);
    }
    done = std::move(pending_);
  }
  done->close();
}

std::uint64_t robots_cache::fetches() const {
  std::lock_guard lock(mutex_);
  return fetches_;
}

net::awaitable<std::shared_ptr<const robots_rules>> robots_cache::get(fetcher fetch) {
  for (;;) {
    auto c = claim();
    if (c.rules) {
      co_return c.rules;
    }
    if (!c.wait_on) {
      std::shared_ptr<const robots_rules> got;
      std::exception_ptr failure;
      try {
        got = co_await fetch();
      } catch (...) {
        failure = std::current_exception();
      }
      finish(got);
      if (failure) {
        std::rethrow_exception(failure);
      }
      co_return got;
    }
    auto [ec] = co_await c.wait_on->async_receive(net::as_tuple(net::use_awaitable));
    if (ec != net::experimental::error::channel_closed) {
      co_return nullptr;  // this waiter was cancelled
    }
  }
}

}  // namespace sluice::stages::http
