// The sockets of one http consumer connection: plain TCP, or TLS over TCP.
// Beast-free, so the connector that opens them compiles without Beast;
// connection.hpp adds the read buffer.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace sluice::stages::http {

/// The sockets all http consumers of the process may hold open at once: the
/// descriptor limit (`ulimit -n`, which the run raised to the hard limit)
/// less a reserve for files (sinks, the state database, body files), so that
/// more workers than descriptors wait for a socket (connector.cpp) instead
/// of leaving a commit without a descriptor.
/// Thread safety: any thread (one atomic).
class socket_budget {
 public:
  /// The process's budget, sized from the limit at first use.
  static socket_budget& process();

  /// Takes one socket's share; false when all are taken.
  bool try_take() noexcept {
    auto n = left_.load(std::memory_order_relaxed);
    while (n > 0 && !left_.compare_exchange_weak(n, n - 1, std::memory_order_acquire)) {
    }
    return n > 0;
  }
  void give_back() noexcept { left_.fetch_add(1, std::memory_order_release); }
  /// The budget's size.
  std::int64_t capacity() const noexcept { return capacity_; }

 private:
  explicit socket_budget(std::int64_t n) : capacity_(n), left_(n) {}
  const std::int64_t capacity_;
  std::atomic<std::int64_t> left_;
};

/// One socket's share of the budget, held while its connection lives.
/// Thread safety: one owner.
class socket_share {
 public:
  socket_share() = default;
  socket_share(socket_share&& o) noexcept : held_(std::exchange(o.held_, false)) {}
  socket_share& operator=(socket_share&&) = delete;
  ~socket_share() {
    if (held_) {
      socket_budget::process().give_back();
    }
  }
  bool held() const noexcept { return held_; }
  /// Takes a share unless one is held; false when none is left.
  bool take() noexcept { return held_ || (held_ = socket_budget::process().try_take()); }

 private:
  bool held_ = false;
};

/// Thread safety: one owner.
struct sockets {
  socket_share share;  ///< first: given back after the socket below is closed
  std::optional<boost::asio::ip::tcp::socket> plain;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls;

  boost::asio::ip::tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
};

}  // namespace sluice::stages::http
