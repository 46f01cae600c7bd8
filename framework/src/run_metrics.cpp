#include "run_metrics.hpp"

#include <boost/url/parse.hpp>

namespace sluice::detail {

namespace {

std::atomic<std::uint64_t> next_run_id{1};

/// A counter only written under its shard's lock: a load and a store, not a
/// locked read-modify-write.
template <class T>
void add_locked(std::atomic<T>& a, T n) {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

}  // namespace

std::string host_of(const std::string& url, std::size_t& origin_len) {
  origin_len = 0;
  auto u = boost::urls::parse_uri(url);
  if (!u || !u->has_authority() || u->encoded_host().empty()) {
    return "(none)";
  }
  std::string h(u->encoded_host());
  if (u->has_port()) {
    h += ':';
    h += u->port();
  }
  origin_len = u->encoded_origin().size();
  return h;
}

host_metrics& shard_figures::host_entry(const std::string& url) {
  auto n = last_origin.size();
  if (last_host != nullptr && url.size() >= n && url.compare(0, n, last_origin) == 0 &&
      (url.size() == n || url[n] == '/' || url[n] == '?' || url[n] == '#')) {
    return *last_host;
  }
  std::size_t origin_len = 0;
  auto host = host_of(url, origin_len);
  auto it = hosts.find(host);
  if (it == hosts.end()) {
    it = hosts.size() < max_hosts_per_shard ? hosts.emplace(host, host_metrics{}).first
                                            : hosts.try_emplace("(other)").first;
  }
  if (origin_len > 0) {
    last_origin.assign(url, 0, origin_len);
    last_host = &it->second;
  } else {
    last_host = nullptr;
  }
  return it->second;
}

run_metrics::run_metrics() : id_(next_run_id.fetch_add(1, std::memory_order_relaxed)) {}

run_metrics::~run_metrics() = default;

metrics_shard& run_metrics::local() {
  // The id, not the address, keys the cache: a later run may be allocated
  // where an earlier one was.
  struct cache {
    std::uint64_t run = 0;
    metrics_shard* shard = nullptr;
  };
  thread_local cache c;
  if (c.run != id_) {
    c.shard = &claim();
    c.run = id_;
  }
  return *c.shard;
}

metrics_shard& run_metrics::claim() {
  auto slot = count_.fetch_add(1, std::memory_order_acq_rel) % max_shards;
  std::lock_guard lock(claim_mutex_);
  if (auto* s = shards_[slot].load(std::memory_order_acquire)) {
    return *s;
  }
  owned_.push_back(std::make_unique<metrics_shard>());
  shards_[slot].store(owned_.back().get(), std::memory_order_release);
  return *owned_.back();
}

void run_metrics::record(const result& r) {
  auto& s = local();
  std::lock_guard lock(s.mutex);
  auto& f = s.figures;
  f.queue_time.record(r.time.queue.count());
  f.latency.record(r.time.total.count());
  if (!r.ok()) {
    ++f.errors[r.error_kind];
    add_locked<std::uint64_t>(s.failed, 1);
  }
  if (r.status != 0) {
    ++f.statuses[r.status];
  }
  auto& h = f.host_entry(r.url);
  ++h.requests;
  h.errors += r.ok() ? 0 : 1;
  h.latency.record(r.time.total.count());
  if (r.attempts > 1) {
    f.retries += r.attempts - 1;
  }
  add_locked<std::uint64_t>(s.bytes, r.bytes);
}

metrics_totals run_metrics::totals() const {
  metrics_totals t;
  std::int64_t in_flight = 0;
  auto n = std::min(count_.load(std::memory_order_acquire), max_shards);
  for (std::size_t i = 0; i < n; ++i) {
    auto* s = shards_[i].load(std::memory_order_acquire);
    if (s == nullptr) {
      continue;
    }
    t.done += s->done.load(std::memory_order_relaxed);
    t.failed += s->failed.load(std::memory_order_relaxed);
    t.bytes += s->bytes.load(std::memory_order_relaxed);
    in_flight += s->in_flight.load(std::memory_order_relaxed);
  }
  // Relaxed loads of different shards may catch a worker's finish on one
  // thread before its start on another.
  t.in_flight = in_flight > 0 ? static_cast<std::uint64_t>(in_flight) : 0;
  return t;
}

}  // namespace sluice::detail
