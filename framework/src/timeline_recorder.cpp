#include "timeline_recorder.hpp"

#include <algorithm>

namespace sluice::detail {

timeline_recorder::timeline_recorder(std::size_t workers, std::size_t limit,
                                     clock::time_point origin)
    : slots_(limit), workers_(workers), limit_(limit), origin_(origin) {}

void timeline_recorder::record(const result& r, std::uint64_t seq) {
  // Past the limit, a relaxed load of a line nobody writes any more.
  if (claimed_.load(std::memory_order_relaxed) >= limit_ || r.worker >= workers_) {
    return;
  }
  auto slot = claimed_.fetch_add(1, std::memory_order_relaxed);
  if (slot >= limit_) {
    return;
  }
  auto seconds = [this](clock::time_point t) {
    return std::chrono::duration<double>(t - origin_).count();
  };
  slots_[slot] = {r.worker, r.producer, seq, seconds(r.started_at), seconds(r.finished_at),
                  !r.ok()};
}

std::vector<timeline_item> timeline_recorder::items() const {
  auto n = std::min<std::uint64_t>(claimed_.load(), limit_);
  std::vector<timeline_item> out(slots_.begin(), slots_.begin() + static_cast<std::ptrdiff_t>(n));
  // Slots are in finish order, which within one worker is its start order:
  // ordering by start, then worker, then slot gives what one buffer per
  // worker concatenated and stable-sorted by start gave.
  std::stable_sort(out.begin(), out.end(), [](const timeline_item& a, const timeline_item& b) {
    return a.start_s != b.start_s ? a.start_s < b.start_s : a.worker < b.worker;
  });
  return out;
}

}  // namespace sluice::detail
