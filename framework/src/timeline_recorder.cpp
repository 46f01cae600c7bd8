#include "timeline_recorder.hpp"

#include <algorithm>

namespace sluice::detail {

timeline_recorder::timeline_recorder(std::size_t workers, std::size_t limit,
                                     clock::time_point origin)
    : buffers_(workers), limit_(limit), origin_(origin) {}

void timeline_recorder::record(const result& r, std::uint64_t seq) {
  // Past the limit, a relaxed load of a line nobody writes any more.
  if (claimed_.load(std::memory_order_relaxed) >= limit_ ||
      claimed_.fetch_add(1, std::memory_order_relaxed) >= limit_ || r.worker >= buffers_.size()) {
    return;
  }
  auto seconds = [this](clock::time_point t) {
    return std::chrono::duration<double>(t - origin_).count();
  };
  buffers_[r.worker].push_back(
      {r.worker, r.producer, seq, seconds(r.started_at), seconds(r.finished_at), !r.ok()});
}

std::vector<timeline_item> timeline_recorder::items() const {
  std::vector<timeline_item> out;
  for (const auto& b : buffers_) {
    out.insert(out.end(), b.begin(), b.end());
  }
  std::stable_sort(out.begin(), out.end(), [](const timeline_item& a, const timeline_item& b) {
    return a.start_s < b.start_s;
  });
  return out;
}

}  // namespace sluice::detail
