// The http consumer's table of origins (see origin_table.hpp).
#include "origin_table.hpp"

#include <algorithm>

#include "proxy.hpp"
#include "sockets.hpp"

namespace sluice::stages::http {

namespace {

std::size_t default_max_origins() {
  return std::clamp<std::int64_t>(socket_budget::process().capacity() / 4, 64, 4096);
}

/// How long an idle token bucket of `c` takes to refill.
clock::duration refill_time(const config& c) {
  if (c.rate_per_sec <= 0) {
    return clock::duration::zero();
  }
  return std::chrono::duration_cast<clock::duration>(
      std::chrono::duration<double>(std::max(1.0, c.rate_burst) / c.rate_per_sec));
}

}  // namespace

origin_table::origin_table(const config& cfg, boost::asio::any_io_executor ex,
                           std::size_t max_origins)
    : cfg_(cfg),
      executor_(std::move(ex)),
      shard_cap_(std::max<std::size_t>(
          1, (max_origins > 0 ? max_origins : default_max_origins()) / shard_count)) {
  for (auto& s : shards_) {
    s.sweep_at = shard_cap_ + 1;
  }
}

std::shared_ptr<origin> origin_table::find_or_add(const target& t, const proxy_endpoint* proxy) {
  if (proxy != nullptr) {
    return lookup(fmt::format("{} via {}", t.key_view(), proxy->name), &t, proxy);
  }
  return lookup(t.key_view(), &t);
}

std::shared_ptr<origin> origin_table::find_or_add(std::string_view key) {
  return lookup(key, nullptr);
}

std::shared_ptr<origin> origin_table::lookup(std::string_view key, const target* t,
                                             const proxy_endpoint* proxy) {
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
      int rule = t != nullptr ? match_host_rule(cfg_, t->host, t->port) : -1;
      const config& c = rule < 0 ? cfg_ : *cfg_.hosts[static_cast<std::size_t>(rule)].cfg;
      it = s.origins.emplace(std::string(key), std::make_shared<origin>(c, executor_, rule, proxy))
               .first;
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
    if (it->second.use_count() == 1 && o.gate.paused_until() <= now &&
        idle_for >= refill_time(o.cfg)) {
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

std::size_t origin_table::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.origins.size();
  }
  return n;
}

std::vector<origin_table::limit_row> origin_table::limits(std::size_t max) const {
  std::vector<limit_row> rows;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    for (const auto& [k, o] : s.origins) {
      if (auto l = o->gate.limit(); l > 0) {
        rows.push_back({k, l, o->gate.in_flight(), o->gate.admitted(), o->gate.adaptive()});
      }
    }
  }
  std::sort(rows.begin(), rows.end(), [](const limit_row& a, const limit_row& b) {
    return a.admitted != b.admitted ? a.admitted > b.admitted : a.key < b.key;
  });
  if (rows.size() > max) {
    rows.resize(max);
  }
  return rows;
}

}  // namespace sluice::stages::http
