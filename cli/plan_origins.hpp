// The counting half of `sluice plan`: the origin of a URL (Boost.URL), and
// per-origin URL counts in bounded memory (exact up to a cap of distinct
// origins, then a Space-Saving top-K summary for the origins beyond it).
// No CLI or I/O here, so a unit test compiles it on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/url/url.hpp>

namespace sluice::cli {

/// Turns URLs into origin keys, `scheme://host[:port]`: the scheme and host
/// lower-cased, percent-encodings in the host normalised (RFC 3986 6.2.2),
/// the port written as its number and left out when it is the scheme's
/// default (http, ws 80; https, wss 443; ftp 21) or empty (`http://h:/`).
/// Userinfo, path, query and fragment do not matter. Keeps its buffers
/// between calls, so the hot loop does not allocate.
/// Thread safety: one thread at a time.
class origin_parser {
 public:
  /// Parses `url` (surrounding blanks are not trimmed). On success returns ""
  /// and the key is in key(); otherwise returns why the URL has no origin:
  /// for a URL that is not an absolute URI, the http consumer's words
  /// (describe_bad_url: "not an absolute URL ...", "URL contains
  /// whitespace ..."); else "no host" or "port out of range".
  std::string parse(std::string_view url);
  /// The key of the last successful parse().
  const std::string& key() const noexcept { return key_; }

 private:
  boost::urls::url url_;
  std::string key_;
};

/// Hash for heterogeneous lookup of std::string keys by std::string_view.
struct string_view_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

/// One origin's count. `error` is 0 for an exact count; for an origin of the
/// top-K summary, `count` is an upper bound and the true count is at least
/// `count - error` (Space-Saving's guarantee).
/// Thread safety: a plain value.
struct origin_count {
  std::string origin;
  std::uint64_t count = 0;
  std::uint64_t error = 0;
};

/// Per-origin URL counts in bounded memory. The first `exact_cap` distinct
/// origins are counted exactly in a hash map. URLs of origins beyond it go to
/// a Space-Saving summary of `summary_size` counters (Metwally, Agrawal and
/// El Abbadi, 2005): when it is full, a new origin takes over the smallest
/// counter, inheriting its count as its `error`. Every origin with more than
/// summarised() / summary_size URLs is in the summary, and no count in it is
/// over by more than its error. The total is always exact.
/// Memory: O(exact_cap + summary_size) keys, whatever the input.
/// Thread safety: one thread at a time.
class origin_counter {
 public:
  /// Preconditions: exact_cap > 0, summary_size > 0.
  origin_counter(std::size_t exact_cap, std::size_t summary_size);

  /// Counts one URL of `origin`. Cost: one hash lookup (exact), plus
  /// O(log summary_size) for an origin of the summary.
  void add(std::string_view origin);

  std::uint64_t total() const noexcept { return total_; }
  /// Distinct origins counted exactly (at most exact_cap).
  std::size_t exact_origins() const noexcept { return exact_.size(); }
  /// True once an origin did not fit under the cap (the summary is in use).
  bool approximate() const noexcept { return summarised_ > 0; }
  /// URLs counted in the summary (exact), and its distinct origins kept.
  std::uint64_t summarised() const noexcept { return summarised_; }
  std::size_t summary_origins() const noexcept { return heap_.size(); }
  std::size_t summary_size() const noexcept { return summary_size_; }
  /// The largest error of any summary counter (0 when exact).
  std::uint64_t max_error() const noexcept;

  /// The `n` origins with the most URLs (all of them when n is 0), by count
  /// descending, then origin ascending; exact and summary origins together.
  std::vector<origin_count> top(std::size_t n) const;

 private:
  void summary_add(std::string_view origin);
  void sift_down(std::size_t i);
  void sift_up(std::size_t i);
  void swap_nodes(std::size_t a, std::size_t b);

  std::size_t exact_cap_;
  std::size_t summary_size_;
  std::uint64_t total_ = 0;
  std::uint64_t summarised_ = 0;
  std::unordered_map<std::string, std::uint64_t, string_view_hash, std::equal_to<>> exact_;
  // The summary: a min-heap of counters by count, and each key's heap slot.
  std::vector<origin_count> heap_;
  std::unordered_map<std::string, std::size_t, string_view_hash, std::equal_to<>> slot_;
};

/// A forecast duration for humans: `0s`, `350ms`, `12.5s`, `5m03s`,
/// `5h33m20s`, `2d03h04m` (rounded to the unit shown last).
/// Thread safety: pure.
std::string format_span(double seconds);

}  // namespace sluice::cli
