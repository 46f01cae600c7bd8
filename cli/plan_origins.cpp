#include "plan_origins.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <fmt/core.h>

#include <boost/url/parse.hpp>

#include "http/target.hpp"

namespace sluice::cli {

namespace {

std::uint16_t default_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") {
    return 80;
  }
  if (scheme == "https" || scheme == "wss") {
    return 443;
  }
  if (scheme == "ftp") {
    return 21;
  }
  return 0;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

void append_lower(std::string& out, std::string_view s) {
  for (char c : s) {
    out.push_back(lower(c));
  }
}

}  // namespace

std::string origin_parser::parse(std::string_view text) {
  auto r = boost::urls::parse_uri(text);
  if (!r) {
    // The http consumer's wording, so plan and run name a bad URL alike.
    return stages::http::describe_bad_url(text);
  }
  // An owning copy (its capacity reused from call to call), because
  // normalising rewrites the buffer: `%7e` and `~` are one host.
  url_ = *r;
  if (!url_.has_authority() || url_.encoded_host().empty()) {
    return "no host";
  }
  url_.normalize_authority();
  key_.clear();
  append_lower(key_, url_.scheme());
  key_ += "://";
  append_lower(key_, url_.encoded_host());
  if (url_.has_port() && !url_.port().empty()) {
    // Not port_number(): Boost.URL 1.81 wraps a port above 65535 (99999
    // gives 34463), which would merge it into another origin. The grammar
    // already made the port all digits.
    std::uint32_t port = 0;
    auto digits = url_.port();
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port > 65535) {
      return "port out of range";
    }
    if (port != default_port(std::string_view(key_).substr(0, key_.find(':')))) {
      key_ += ':';
      key_ += std::to_string(port);
    }
  }
  return {};
}

origin_counter::origin_counter(std::size_t exact_cap, std::size_t summary_size)
    : exact_cap_(exact_cap), summary_size_(summary_size) {}

void origin_counter::add(std::string_view origin) {
  ++total_;
  if (auto it = exact_.find(origin); it != exact_.end()) {
    ++it->second;
    return;
  }
  if (exact_.size() < exact_cap_) {
    exact_.emplace(std::string(origin), 1);
    return;
  }
  ++summarised_;
  summary_add(origin);
}

void origin_counter::summary_add(std::string_view origin) {
  if (auto it = slot_.find(origin); it != slot_.end()) {
    const auto i = it->second;
    ++heap_[i].count;
    sift_down(i);
    return;
  }
  if (heap_.size() < summary_size_) {
    heap_.push_back({std::string(origin), 1, 0});
    slot_.emplace(std::string(origin), heap_.size() - 1);
    sift_up(heap_.size() - 1);
    return;
  }
  // Space-Saving: the newcomer takes over the smallest counter; its count
  // may include up to `error` URLs of the origins that held it before.
  auto& min = heap_.front();
  slot_.erase(slot_.find(min.origin));
  min.error = min.count;
  ++min.count;
  min.origin.assign(origin);
  slot_.emplace(min.origin, 0);
  sift_down(0);
}

void origin_counter::swap_nodes(std::size_t a, std::size_t b) {
  std::swap(heap_[a], heap_[b]);
  slot_.find(heap_[a].origin)->second = a;
  slot_.find(heap_[b].origin)->second = b;
}

void origin_counter::sift_down(std::size_t i) {
  for (;;) {
    auto smallest = i;
    for (auto c : {2 * i + 1, 2 * i + 2}) {
      if (c < heap_.size() && heap_[c].count < heap_[smallest].count) {
        smallest = c;
      }
    }
    if (smallest == i) {
      return;
    }
    swap_nodes(i, smallest);
    i = smallest;
  }
}

void origin_counter::sift_up(std::size_t i) {
  while (i > 0 && heap_[(i - 1) / 2].count > heap_[i].count) {
    swap_nodes(i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

std::uint64_t origin_counter::max_error() const noexcept {
  std::uint64_t e = 0;
  for (const auto& c : heap_) {
    e = std::max(e, c.error);
  }
  return e;
}

std::vector<origin_count> origin_counter::top(std::size_t n) const {
  // Pointers first: only the n kept are copied, so a top 20 of 100,000
  // origins costs a vector of pointers, not of strings.
  std::vector<std::pair<std::uint64_t, const std::string*>> all;
  all.reserve(exact_.size() + heap_.size());
  for (const auto& [origin, count] : exact_) {
    all.emplace_back(count, &origin);
  }
  for (const auto& c : heap_) {
    all.emplace_back(c.count, &c.origin);
  }
  auto before = [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : *a.second < *b.second;
  };
  const auto keep = n == 0 ? all.size() : std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(),
                    before);
  std::vector<origin_count> out;
  out.reserve(keep);
  for (std::size_t i = 0; i < keep; ++i) {
    origin_count c{*all[i].second, all[i].first, 0};
    if (auto it = slot_.find(c.origin); it != slot_.end()) {
      c.error = heap_[it->second].error;
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::string format_span(double seconds) {
  if (!(seconds > 0)) {
    return "0s";
  }
  if (seconds < 1) {
    return fmt::format("{}ms", std::max<long long>(1, std::llround(seconds * 1000)));
  }
  if (seconds < 59.95) {
    auto tenths = std::llround(seconds * 10);
    return tenths % 10 == 0 ? fmt::format("{}s", tenths / 10)
                            : fmt::format("{}.{}s", tenths / 10, tenths % 10);
  }
  auto s = std::llround(seconds);
  if (s < 3600) {
    return fmt::format("{}m{:02}s", s / 60, s % 60);
  }
  if (s < 86400) {
    return fmt::format("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60);
  }
  auto m = std::llround(seconds / 60);
  return fmt::format("{}d{:02}h{:02}m", m / 1440, m / 60 % 24, m % 60);
}

}  // namespace sluice::cli
