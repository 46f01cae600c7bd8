// A run's consumer metrics, kept per thread instead of per worker.
//
// Why: a pipeline may have 10,000 workers but has only `threads` threads.
// One histogram set per worker cost ~10-17 KiB each (every octave its queue
// times touched), 100+ MiB at C10k; one set per thread costs the same few
// KiB whatever the worker count, and merging a handful of shards for a
// scrape or the report is cheaper than visiting every worker's strand.
// A worker records into the shard of the thread it runs on at that moment
// (found through a thread_local cache, so no lookup on the hot path). Each
// shard has its own mutex, which only its thread takes per item (never
// contended but by a scrape), and the counters the progress line reads are
// atomics, read without the lock.
// Internal to the framework.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "sluice/core/item.hpp"
#include "sluice/runtime/histogram.hpp"

namespace sluice::detail {

/// Per-host figures (the histogram allocates only the octaves used).
/// Thread safety: a plain value.
struct host_metrics {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  histogram latency;
};

/// Distinct hosts tracked per shard; the rest are counted as "(other)", so
/// memory stays flat whatever the number of hosts.
constexpr std::size_t max_hosts_per_shard = 1024;

/// host[:port] of a URL, parsed with Boost.URL; "(none)" when it has none.
/// `origin_len` gets the length of the URL's scheme://authority prefix (0
/// when it has none), so that later URLs of the same origin skip the parse.
/// Thread safety: a pure function.
std::string host_of(const std::string& url, std::size_t& origin_len);

/// The figures behind the report and the metrics endpoint that are not
/// plain counters.
/// Thread safety: guarded by its shard's mutex.
struct shard_figures {
  std::uint64_t retries = 0;
  histogram queue_time;
  histogram latency;
  std::map<std::string, std::uint64_t> errors;
  std::map<int, std::uint64_t> statuses;
  std::unordered_map<std::string, host_metrics> hosts;
  /// The last URL's scheme://authority and its entry in `hosts` (references
  /// to unordered_map elements are stable): most URLs repeat the origin.
  std::string last_origin;
  host_metrics* last_host = nullptr;

  /// The entry of `url`'s host, created (or "(other)") when new.
  host_metrics& host_entry(const std::string& url);
};

/// One thread's share of a run's metrics.
/// Thread safety: the counters are atomics, safe from any thread; `figures`
/// only under `mutex`.
struct alignas(64) metrics_shard {
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> bytes{0};
  /// Items started minus items finished on this thread: a worker that
  /// suspends may finish on another thread, so one shard can go negative;
  /// the sum over the shards cannot.
  std::atomic<std::int64_t> in_flight{0};
  std::mutex mutex;
  shard_figures figures;
};

/// The counters summed over every shard (each read relaxed, so a sum taken
/// while workers run is a moment's estimate; exact once they ended).
/// Thread safety: a plain value.
struct metrics_totals {
  std::uint64_t done = 0, failed = 0, bytes = 0, in_flight = 0;
};

/// The consumer metrics of one run: a shard per thread that records.
/// Thread safety: every member is safe from any thread.
class run_metrics {
 public:
  run_metrics();
  run_metrics(const run_metrics&) = delete;
  run_metrics& operator=(const run_metrics&) = delete;
  ~run_metrics();

  /// The calling thread's shard (claimed on its first call in this run).
  /// Do not keep it across a co_await: the coroutine may resume elsewhere.
  metrics_shard& local();

  /// One finished item: its queue time, latency, error kind, status, host
  /// and retries, and the failed and bytes counters, under one lock.
  void record(const result& r);

  /// Sums the counters of every shard.
  metrics_totals totals() const;

  /// Calls `f(const shard_figures&)` for every shard, each under its lock.
  template <class F>
  void for_each(F&& f) const {
    auto n = std::min(count_.load(std::memory_order_acquire), max_shards);
    for (std::size_t i = 0; i < n; ++i) {
      auto* s = shards_[i].load(std::memory_order_acquire);
      if (s != nullptr) {
        std::lock_guard lock(s->mutex);
        f(static_cast<const shard_figures&>(s->figures));
      }
    }
  }

 private:
  /// More threads than this share shards round-robin (the mutex keeps that
  /// correct; it only adds contention).
  static constexpr std::size_t max_shards = 64;

  metrics_shard& claim();

  const std::uint64_t id_;  ///< unique per run_metrics: keys the thread_local cache
  std::array<std::atomic<metrics_shard*>, max_shards> shards_{};
  std::atomic<std::size_t> count_{0};
  std::mutex claim_mutex_;
  std::vector<std::unique_ptr<metrics_shard>> owned_;
};

}  // namespace sluice::detail
