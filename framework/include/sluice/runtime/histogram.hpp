// A fixed log-bucket histogram of nanosecond values: the runtime keeps its
// latency and time-in-queue figures in it, and stages may use it for theirs.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

#include "sluice/runtime/runtime.hpp"

namespace sluice {

/// 2^SubBits linear sub-buckets per power of two: with 4 (the default) about
/// 6% relative error in a fixed 8 KiB, with 3 about 12% in 4 KiB; O(1)
/// record, no allocation. Keep one per worker (no atomics on the hot path)
/// and merge them for a report.
/// Thread safety: not thread-safe; one owner (a worker's strand).
template <int SubBits = 4>
class basic_histogram {
 public:
  /// Counts one value; negative values count as 0.
  void record(std::int64_t ns) noexcept {
    if (ns < 0) {
      ns = 0;
    }
    ++counts_[bucket(static_cast<std::uint64_t>(ns))];
    ++count_;
    sum_ += static_cast<std::uint64_t>(ns);
    if (ns > max_) {
      max_ = ns;
    }
  }

  /// Adds every count of `o` to this one.
  void merge(const basic_histogram& o) noexcept {
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      counts_[i] += o.counts_[i];
    }
    count_ += o.count_;
    sum_ += o.sum_;
    if (o.max_ > max_) {
      max_ = o.max_;
    }
  }

  /// Values recorded.
  std::uint64_t count() const noexcept { return count_; }

  /// The exact sum of the values recorded (negative ones as 0).
  std::uint64_t sum() const noexcept { return sum_; }

  /// How many values are certainly <= `bound`: the counts of the buckets
  /// whose upper edge is <= `bound`. A value in the bucket straddling `bound`
  /// is not counted, so this under-counts by at most that one bucket (about
  /// 6% of `bound` wide with SubBits 4); exact when `bound` is an upper edge.
  std::uint64_t count_at_most(std::int64_t bound) const noexcept {
    if (bound < 0) {
      return 0;
    }
    if (bound >= max_) {
      return count_;  // also keeps upper_edge() to the buckets in use
    }
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (upper_edge(i) > static_cast<std::uint64_t>(bound)) {
        break;
      }
      n += counts_[i];
    }
    return n;
  }

  /// The largest value recorded (0 when none).
  std::int64_t max() const noexcept { return max_; }

  /// The value at quantile q (0..1): the upper edge of the bucket holding it, capped at max.
  std::int64_t quantile(double q) const noexcept {
    if (count_ == 0) {
      return 0;
    }
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        auto edge = static_cast<std::int64_t>(upper_edge(i));
        return edge < max_ ? edge : max_;
      }
    }
    return max_;
  }

  /// Count, p50, p90, p99 and max, as the run report shows them.
  latency_summary summary() const noexcept {
    return {count_, quantile(0.5), quantile(0.9), quantile(0.99), max_};
  }

 private:
  static constexpr int sub_bits = SubBits;
  static constexpr std::size_t buckets = 64 << sub_bits;

  static std::size_t bucket(std::uint64_t v) noexcept {
    if (v < (1u << sub_bits)) {
      return static_cast<std::size_t>(v);
    }
    int exp = std::bit_width(v) - 1;  // >= sub_bits
    auto sub = (v >> (exp - sub_bits)) & ((1u << sub_bits) - 1);
    return (static_cast<std::size_t>(exp - sub_bits + 1) << sub_bits) + sub;
  }

  static std::uint64_t upper_edge(std::size_t b) noexcept {
    if (b < (1u << sub_bits)) {
      return b;
    }
    std::size_t exp = (b >> sub_bits) + sub_bits - 1;
    std::uint64_t sub = b & ((1u << sub_bits) - 1);
    std::uint64_t base = (std::uint64_t{1} << exp) | (sub << (exp - sub_bits));
    return base + (std::uint64_t{1} << (exp - sub_bits)) - 1;
  }

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::int64_t max_ = 0;
};

using histogram = basic_histogram<4>;

}  // namespace sluice
