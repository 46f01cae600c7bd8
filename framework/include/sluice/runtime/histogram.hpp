// A log-linear (HDR-style) histogram of nanosecond values: the runtime keeps
// its latency and time-in-queue figures in it, and stages may use it for theirs.
#pragma once

#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <memory>

#include "sluice/runtime/runtime.hpp"

namespace sluice {

/// Values below 2^SubBits are counted exactly; above, each power of two is
/// split into 2^SubBits equal sub-buckets, and a quantile is reported as the
/// middle of its sub-bucket (clamped to the smallest and largest value
/// recorded). With 6 (the default) a quantile is within 0.8% of the exact
/// value, with 3 within 6.3%.
/// Storage grows one power of two at a time: a chunk of 2^SubBits counters is
/// allocated the first time a value of that magnitude is recorded, so a
/// worker whose latencies span three octaves holds three chunks (1.5 KiB at
/// 6 sub-bits) plus a 0.5 KiB directory, not the whole 64-octave range.
/// O(1) record; keep one per owner (the runtime keeps one per thread, not
/// per worker, so memory does not grow with the workers) and merge them for
/// a report.
/// Thread safety: not thread-safe; one owner at a time (a thread, a strand,
/// or whoever holds the lock guarding it).
template <int SubBits = 6>
class basic_histogram {
 public:
  basic_histogram() = default;
  basic_histogram(basic_histogram&&) noexcept = default;
  basic_histogram& operator=(basic_histogram&&) noexcept = default;
  basic_histogram(const basic_histogram& o) { *this = o; }
  basic_histogram& operator=(const basic_histogram& o) {
    if (this != &o) {
      reset();
      merge(o);
    }
    return *this;
  }
  ~basic_histogram() = default;

  /// Counts one value; negative values count as 0. May allocate one chunk
  /// (the first value of a new power of two); throws std::bad_alloc then.
  void record(std::int64_t ns) {
    if (ns < 0) {
      ns = 0;
    }
    auto [c, s] = locate(static_cast<std::uint64_t>(ns));
    ++chunk_at(c)[s];
    if (count_ == 0 || ns < min_) {
      min_ = ns;
    }
    if (ns > max_) {
      max_ = ns;
    }
    ++count_;
    sum_ += static_cast<std::uint64_t>(ns);
  }

  /// Adds every count of `o` to this one.
  void merge(const basic_histogram& o) {
    if (o.count_ == 0) {
      return;
    }
    for (std::size_t c = 0; c < chunks; ++c) {
      if (!o.chunks_[c]) {
        continue;
      }
      auto& mine = chunk_at(c);
      for (std::size_t s = 0; s < sub_count; ++s) {
        mine[s] += (*o.chunks_[c])[s];
      }
    }
    if (count_ == 0 || o.min_ < min_) {
      min_ = o.min_;
    }
    if (o.max_ > max_) {
      max_ = o.max_;
    }
    count_ += o.count_;
    sum_ += o.sum_;
  }

  /// Forgets every value (keeps no chunk).
  void reset() noexcept {
    for (auto& c : chunks_) {
      c.reset();
    }
    count_ = 0;
    sum_ = 0;
    min_ = 0;
    max_ = 0;
  }

  /// Values recorded.
  std::uint64_t count() const noexcept { return count_; }

  /// The exact sum of the values recorded (negative ones as 0).
  std::uint64_t sum() const noexcept { return sum_; }

  /// The smallest and the largest value recorded (0 when none).
  std::int64_t min() const noexcept { return min_; }
  std::int64_t max() const noexcept { return max_; }

  /// The value at quantile q (0..1) by the nearest-rank definition (the
  /// ceil(q × count)-th smallest value, at least the first): the middle of
  /// the sub-bucket holding it, clamped to [min, max]; 0 when empty.
  std::int64_t quantile(double q) const noexcept {
    if (count_ == 0) {
      return 0;
    }
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = rank < 1 ? 1 : (rank > count_ ? count_ : rank);
    std::uint64_t seen = 0;
    for (std::size_t c = 0; c < chunks; ++c) {
      if (!chunks_[c]) {
        continue;
      }
      for (std::size_t s = 0; s < sub_count; ++s) {
        seen += (*chunks_[c])[s];
        if (seen >= rank) {
          auto v = static_cast<std::int64_t>(middle(c, s));
          return v < min_ ? min_ : (v > max_ ? max_ : v);
        }
      }
    }
    return max_;
  }

  /// The number of values ≤ `ns` as far as the buckets tell (a bucket counts
  /// when its upper edge is ≤ ns): the cumulative counts of a Prometheus
  /// histogram with that `le`.
  std::uint64_t count_at_most(std::int64_t ns) const noexcept {
    if (ns < 0) {
      return 0;
    }
    std::uint64_t n = 0;
    for (std::size_t c = 0; c < chunks; ++c) {
      if (!chunks_[c]) {
        continue;
      }
      for (std::size_t s = 0; s < sub_count; ++s) {
        if (upper_edge(c, s) > static_cast<std::uint64_t>(ns)) {
          return n;
        }
        n += (*chunks_[c])[s];
      }
    }
    return n;
  }

  /// Count, p50, p90, p99 and max, as the run report shows them.
  latency_summary summary() const noexcept {
    return {count_, quantile(0.5), quantile(0.9), quantile(0.99), max_};
  }

 private:
  static constexpr int sub_bits = SubBits;
  static constexpr std::size_t sub_count = std::size_t{1} << sub_bits;
  /// Chunk 0 holds the exact values below 2^sub_bits; chunk c ≥ 1 the values
  /// with bit_width sub_bits + c.
  static constexpr std::size_t chunks = 64 - sub_bits + 1;
  using chunk = std::array<std::uint64_t, sub_count>;

  static std::pair<std::size_t, std::size_t> locate(std::uint64_t v) noexcept {
    if (v < sub_count) {
      return {0, static_cast<std::size_t>(v)};
    }
    int exp = std::bit_width(v) - 1;  // >= sub_bits
    auto sub = (v >> (exp - sub_bits)) & (sub_count - 1);
    return {static_cast<std::size_t>(exp - sub_bits + 1), static_cast<std::size_t>(sub)};
  }

  static std::uint64_t lower_edge(std::size_t c, std::size_t s) noexcept {
    if (c == 0) {
      return s;
    }
    int exp = static_cast<int>(c) + sub_bits - 1;
    return (std::uint64_t{1} << exp) | (static_cast<std::uint64_t>(s) << (exp - sub_bits));
  }

  static std::uint64_t width(std::size_t c) noexcept {
    return c == 0 ? 1 : std::uint64_t{1} << (c - 1);
  }

  static std::uint64_t upper_edge(std::size_t c, std::size_t s) noexcept {
    return lower_edge(c, s) + width(c) - 1;
  }

  static std::uint64_t middle(std::size_t c, std::size_t s) noexcept {
    return lower_edge(c, s) + width(c) / 2;
  }

  chunk& chunk_at(std::size_t c) {
    if (!chunks_[c]) {
      chunks_[c] = std::make_unique<chunk>();
    }
    return *chunks_[c];
  }

  std::array<std::unique_ptr<chunk>, chunks> chunks_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::int64_t min_ = 0;
  std::int64_t max_ = 0;
};

using histogram = basic_histogram<6>;

}  // namespace sluice
