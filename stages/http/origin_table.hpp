// The shared state of each origin (scheme+host+port) the http consumer has
// talked to: admission, idle connections, DNS answer. No Beast: a connection
// is an incomplete type here (connection.hpp defines it, in the TUs that do
// I/O), owned through connection_ptr.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "admission.hpp"
#include "connection_pool.hpp"
#include "http_config.hpp"
#include "robots_cache.hpp"

namespace sluice::stages::http {

struct connection;
/// Closes and frees a connection (defined beside the connection type).
struct connection_deleter {
  void operator()(connection* c) const noexcept;
};
using connection_ptr = std::unique_ptr<connection, connection_deleter>;

/// One origin's state.
/// Thread safety: every member from any thread (see each type).
struct origin {
  origin(const config& cfg, const boost::asio::any_io_executor& ex)
      : gate(ex, cfg.per_host, cfg.rate_per_sec, cfg.rate_burst), robots(ex) {}

  admission gate;
  idle_pool<connection_ptr> pool;
  dns_cache dns;
  robots_cache robots;  ///< with `robots: obey`
};

/// Every origin by key, made on first use and kept for the consumer's life.
/// Thread safety: `find_or_add` from any thread (one mutex, held only for the
/// lookup).
class origin_table {
 public:
  origin_table(const config& cfg, boost::asio::any_io_executor ex)
      : cfg_(cfg), executor_(std::move(ex)) {}

  std::shared_ptr<origin> find_or_add(std::string_view key);

 private:
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };

  const config& cfg_;
  boost::asio::any_io_executor executor_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<origin>, key_hash, std::equal_to<>> origins_;
};

}  // namespace sluice::stages::http
