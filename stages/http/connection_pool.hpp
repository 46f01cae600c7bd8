// An origin's keep-alive connections and its DNS answer (curl's conncache and
// hostip, each one job). Generic over the connection type, so the unit test
// pools plain structs instead of sockets.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "sluice/core/item.hpp"

namespace sluice::stages::http {

/// The idle connections of one origin, freshest last. `Ptr` is an owning
/// pointer to a type with a `clock::time_point idle_since` member.
/// Thread safety: every member from any thread (a mutex, never held while a
/// connection is closed: stale ones are destroyed after it is released).
template <class Ptr>
class idle_pool {
 public:
  /// Takes the freshest idle connection younger than `idle_timeout` (0: any
  /// age); closes the ones older than that. Null when there is none.
  Ptr take(clock::time_point now, std::chrono::nanoseconds idle_timeout) {
    Ptr c;
    std::vector<Ptr> stale;  // destroyed (closed) after the lock is released
    std::lock_guard lock(mutex_);
    auto fresh = [&](const Ptr& x) {
      return idle_timeout.count() == 0 || now - x->idle_since < idle_timeout;
    };
    while (!idle_.empty() && c == nullptr) {
      auto cand = std::move(idle_.back());
      idle_.pop_back();
      if (fresh(cand)) {
        c = std::move(cand);
      } else {
        stale.push_back(std::move(cand));
      }
    }
    // Whatever is left below the freshest one is older still.
    auto keep_from = std::find_if(idle_.begin(), idle_.end(), fresh);
    std::move(idle_.begin(), keep_from, std::back_inserter(stale));
    idle_.erase(idle_.begin(), keep_from);
    return c;
  }

  /// Keeps `c` for reuse, closing the oldest when `max_idle` are kept
  /// already (0: keeps nothing).
  void give_back(Ptr c, std::uint32_t max_idle) {
    Ptr evicted;  // destroyed after the lock is released
    std::lock_guard lock(mutex_);
    if (max_idle == 0) {
      evicted = std::move(c);
      return;
    }
    if (idle_.size() >= max_idle) {
      evicted = std::move(idle_.front());
      idle_.erase(idle_.begin());
    }
    idle_.push_back(std::move(c));
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return idle_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Ptr> idle_;
};

/// The resolved addresses of one host, kept for `dns_ttl`.
/// Thread safety: every member from any thread.
class dns_cache {
 public:
  using endpoints = std::vector<boost::asio::ip::tcp::endpoint>;

  /// The cached answer, unless it has expired by `now`.
  std::optional<endpoints> lookup(clock::time_point now) const {
    std::lock_guard lock(mutex_);
    if (!endpoints_.empty() && now < expires_) {
      return endpoints_;
    }
    return std::nullopt;
  }

  void store(endpoints eps, clock::time_point expires) {
    std::lock_guard lock(mutex_);
    endpoints_ = std::move(eps);
    expires_ = expires;
  }

  /// Drops the answer (a connect to it failed: it may be stale).
  void forget() {
    std::lock_guard lock(mutex_);
    endpoints_.clear();
  }

 private:
  mutable std::mutex mutex_;
  endpoints endpoints_;
  clock::time_point expires_{};
};

}  // namespace sluice::stages::http
