// One origin's robots.txt rules, fetched once: the first worker that needs
// them fetches the file while every other worker for that origin waits for
// that one fetch (no thundering herd), then all read the cached rules. Asio
// only (a channel whose close wakes the waiters); the fetch itself is the
// caller's (fetch.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>

#include "robots.hpp"

namespace sluice::stages::http {

/// Thread safety: `get` and `fetches` from any thread and strand at once.
class robots_cache {
 public:
  /// Fetches and parses the file; null when cancelled (nothing is cached).
  using fetcher = std::function<boost::asio::awaitable<std::shared_ptr<const robots_rules>>()>;

  explicit robots_cache(boost::asio::any_io_executor ex) : executor_(std::move(ex)) {}

  /// The origin's rules: the cached ones; or, for the first caller, those
  /// `fetch` returns (cached for the consumer's life); or, for a caller
  /// that finds a fetch running, those of that fetch once it ends (when it
  /// was cancelled, one waiter fetches instead). Null when this caller's
  /// wait or fetch was cancelled. An exception of `fetch` reaches its caller
  /// only; the waiters then try again.
  boost::asio::awaitable<std::shared_ptr<const robots_rules>> get(fetcher fetch);

  /// How many fetches started (one, unless one was cancelled).
  std::uint64_t fetches() const;

 private:
  using channel = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  struct claim_result {
    std::shared_ptr<const robots_rules> rules;  ///< cached
    std::shared_ptr<channel> wait_on;           ///< a fetch runs: closed when it ends
  };
  claim_result claim();
  void finish(std::shared_ptr<const robots_rules> rules);

  boost::asio::any_io_executor executor_;
  mutable std::mutex mutex_;
  std::shared_ptr<const robots_rules> rules_;
  std::shared_ptr<channel> pending_;
  std::uint64_t fetches_ = 0;
};

}  // namespace sluice::stages::http
