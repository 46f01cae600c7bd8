// The http consumer's table of origins (see origin_table.hpp).
#include "origin_table.hpp"

#include <algorithm>

#include "sockets.hpp"

namespace sluice::stages::http {

namespace {

std::size_t default_max_origins() {
  return std::clamp<std::int64_t>(socket_budget::process().capacity() / 4, 64, 4096);
}

}  // namespace

origin_table::origin_table(const config& cfg, boost::asio::any_io_executor ex,
                           std::size_t max_origins)
    : cfg_(cfg),
      executor_(std::move(ex)),
      shard_cap_(std::max<std::size_t>(
          1, (max_origins > 0 ? max_origins : default_max_origins()) / shard_count)),
      refill_(cfg.rate_per_sec > 0 ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::duration<double>(
                                             std::max(1.0, cfg.rate_burst) / cfg.rate_per_sec))
                                   : std::chrono::nanoseconds::zero()) {
  for (auto& s : shards_) {
    s.sweep_at = shard_cap_ + 1;
  }
}

std::shared_ptr<origin> origin_table::find_or_add(std::string_view key) {
  auto& s = shards_[key_hash{}(key) % shard_count];
  auto now = clock::now();
  std::vector<std::shared_ptr<origin>> evicted;  // closed after the lock
  std::shared_ptr<origin> found;
  {
    std::lock_guard lock(s.mutex);
    auto it = s.origins.find(key);
    if (it == s.origins.end()) {
      if (s.origins.size() + 1 >= s.sweep_at) {
        sweep(s, now, evicted);
      }
      it = s.origins.emplace(std::string(key), std::make_shared<origin>(cfg_, executor_)).first;
    }
    found = it->second;
  }
  found->last_used.store(now.time_since_epoch().count(), std::memory_order_relaxed);
  return found;
}

void origin_table::sweep(shard& s, clock::time_point now,
                         std::vector<std::shared_ptr<origin>>& out) {
  for (auto it = s.origins.begin(); it != s.origins.end();) {
    const origin& o = *it->second;
    auto idle_for =
        now - clock::time_point(clock::duration(o.last_used.load(std::memory_order_relaxed)));
    // use_count 1: only the table holds it, so no request is on it (a
    // request holds its origin for the whole item), and none can take it
    // meanwhile: lookups need this shard's mutex.
    if (it->second.use_count() == 1 && o.gate.paused_until() <= now && idle_for >= refill_) {
      out.push_back(std::move(it->second));
      it = s.origins.erase(it);
    } else {
      ++it;
    }
  }
  // Origins that must stay (in use, paused) do not make every later insert
  // sweep again: the next sweep waits until the shard has doubled.
  s.sweep_at = std::max(shard_cap_, 2 * s.origins.size()) + 1;
}

std::size_t origin_table::size() {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.origins.size();
  }
  return n;
}

}  // namespace sluice::stages::http
