// The per-worker timeline of a run (`sluice run --timeline`): which item each
// consumer worker processed when, for the first N items to finish.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "sluice/core/item.hpp"
#include "sluice/runtime/runtime.hpp"

namespace sluice::detail {

/// Records the first `limit` items the workers finish into one array of
/// `limit` slots, so that recording takes no lock and costs nothing per
/// worker: the atomic count of claimed slots gives each item its own slot
/// (an atomic add per item until the limit is reached, a relaxed load after
/// it), and the slots are read after the workers ended. The first N to
/// finish (not to start) make a chart complete up to its right edge: only
/// the items still running at the Nth finish are missing, at the end of
/// their lanes; a run without `--timeline` has no recorder at all.
/// Thread safety: record() from any thread; items() after every worker has
/// ended.
class timeline_recorder {
 public:
  timeline_recorder(std::size_t workers, std::size_t limit, clock::time_point origin);

  /// Records one finished item of worker `r.worker` (its `seq` and
  /// producer, started_at..finished_at, failed unless r.ok()), when it is
  /// among the first `limit` and the worker is one of `workers`.
  void record(const result& r, std::uint64_t seq);

  /// Every recorded item, in the order they started.
  std::vector<timeline_item> items() const;

 private:
  std::vector<timeline_item> slots_;
  std::size_t workers_;
  std::size_t limit_;
  clock::time_point origin_;
  std::atomic<std::uint64_t> claimed_{0};
};

}  // namespace sluice::detail
