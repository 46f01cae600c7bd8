// The shared state of each origin (scheme+host+port) the http consumer has
// talked to: admission, idle connections, DNS answer. No Beast: a connection
// is an incomplete type here (connection.hpp defines it, in the TUs that do
// I/O), owned through connection_ptr.
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "admission.hpp"
#include "connection_pool.hpp"
#include "http_config.hpp"
#include "robots_cache.hpp"
#include "target.hpp"

namespace sluice::stages::http {

struct connection;
struct proxy_endpoint;
/// Closes and frees a connection (defined beside the connection type).
struct connection_deleter {
  void operator()(connection* c) const noexcept;
};
using connection_ptr = std::unique_ptr<connection, connection_deleter>;

/// One origin's state. `cfg` is its effective config: the consumer's, or
/// that of the first `hosts:` rule matching it (`rule`, -1 for none),
/// resolved once when the origin is first met. `proxy`: the proxy its
/// connections go through (null: direct), part of its key.
/// Thread safety: every member from any thread (see each type).
struct origin {
  origin(const config& c, const boost::asio::any_io_executor& ex, int r = -1,
         const proxy_endpoint* p = nullptr)
      : cfg(c), rule(r), proxy(p), gate(ex, c), robots(ex) {}

  const config& cfg;
  int rule;
  const proxy_endpoint* proxy;
  admission gate;
  idle_pool<connection_ptr> pool;
  dns_cache dns;
  /// When a request last looked the origin up (origin_table's eviction).
  std::atomic<clock::rep> last_used{0};
  robots_cache robots;  ///< with `robots: obey`
};

/// Every origin by key, made on first use. Idle origins are evicted, so a
/// run over millions of hosts keeps flat memory: an origin no request holds,
/// past any Retry-After pause and idle long enough for its token bucket to
/// have refilled (so forgetting it loses no politeness), goes when its shard
/// outgrows its share of `max_origins`; its pooled connections close.
/// The table is 64 shards, each behind its own mutex held only for a lookup
/// (or a sweep), so requests to different origins rarely share a lock.
/// Thread safety: `find_or_add` and `size` from any thread.
class origin_table {
 public:
  /// `max_origins`: the origins kept once idle (0: the default, 4,096, or a
  /// quarter of the socket budget when that is smaller, since each may pool
  /// a connection).
  origin_table(const config& cfg, boost::asio::any_io_executor ex, std::size_t max_origins = 0);

  /// The origin of `t`, made on first use with the settings of the first
  /// `hosts:` rule matching its host and port. Through `proxy` (which
  /// outlives the table) it is another origin than the direct one.
  std::shared_ptr<origin> find_or_add(const target& t, const proxy_endpoint* proxy = nullptr);
  /// The origin `key` with the consumer's own settings (no rule).
  std::shared_ptr<origin> find_or_add(std::string_view key);

  /// Origins in the table now (in use or idle).
  std::size_t size() const;

  /// One origin's concurrency figures, for the report and metrics.
  struct limit_row {
    std::string key;
    std::uint32_t limit = 0;  ///< 0: unlimited
    std::uint32_t in_flight = 0;
    std::uint64_t admitted = 0;
    bool adaptive = false;
  };
  /// The limited origins (fixed or adaptive `per_host`), most admitted first,
  /// at most `max` of them.
  std::vector<limit_row> limits(std::size_t max) const;

 private:
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };
  using map = std::unordered_map<std::string, std::shared_ptr<origin>, key_hash, std::equal_to<>>;
  struct shard {
    mutable std::mutex mutex;
    map origins;
    std::size_t sweep_at = 0;  ///< the size at which the next sweep runs
  };
  static constexpr std::size_t shard_count = 64;

  /// Moves the shard's evictable origins into `out` (destroyed by the
  /// caller, after the lock: closing connections takes time).
  void sweep(shard& s, clock::time_point now, std::vector<std::shared_ptr<origin>>& out);

  /// The origin `key`, made on first use with the rule matching `t` (none
  /// when `t` is null).
  std::shared_ptr<origin> lookup(std::string_view key, const target* t,
                                 const proxy_endpoint* proxy = nullptr);

  const config& cfg_;
  boost::asio::any_io_executor executor_;
  std::size_t shard_cap_;
  std::array<shard, shard_count> shards_;
};

}  // namespace sluice::stages::http
