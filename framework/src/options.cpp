#include "sluice/stage/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <span>
#include <stdexcept>
#include <utility>

#include <fmt/core.h>
#include <boost/json.hpp>

namespace sluice {

const char* to_string(option_type t) noexcept {
  switch (t) {
    case option_type::string:
      return "string";
    case option_type::integer:
      return "integer";
    case option_type::number:
      return "number";
    case option_type::boolean:
      return "boolean";
    case option_type::duration:
      return "duration";
    case option_type::duration_range:
      return "duration or range";
    case option_type::size:
      return "size";
    case option_type::string_list:
      return "list of strings";
    case option_type::string_map:
      return "map of strings";
    case option_type::object:
      return "object";
    case option_type::object_list:
      return "list of objects";
  }
  return "?";
}

std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates) {
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
      prev[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (std::size_t j = 1; j <= b.size(); ++j) {
        std::size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::optional<std::string> best;
  std::size_t best_d = 0;
  for (const auto& c : candidates) {
    auto d = distance(word, c);
    if (!best || d < best_d) {
      best = c;
      best_d = d;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best && best_d <= limit && best_d < std::max(word.size(), best->size())) {
    return best;
  }
  return std::nullopt;
}

std::string did_you_mean_note(const std::string& word, const std::vector<std::string>& candidates,
                              std::string otherwise) {
  if (auto hint = did_you_mean(word, candidates)) {
    return "did you mean '" + *hint + "'?";
  }
  return otherwise;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string all;
  for (const auto& n : names) {
    all += (all.empty() ? "" : ", ") + n;
  }
  return all;
}

std::string default_of(bool v) {
  return v ? "true" : "false";
}

std::string default_of(double v) {
  if (v == std::floor(v) && std::abs(v) < 1e15) {
    return fmt::format("{:.1f}", v);
  }
  return fmt::format("{}", v);
}

std::string default_of(std::chrono::nanoseconds d) {
  static constexpr std::pair<std::int64_t, const char*> units[] = {
      {1'000'000'000, "s"}, {1'000'000, "ms"}, {1'000, "us"}, {1, "ns"}};
  const auto ns = d.count();
  if (ns == 0) {
    return "0";
  }
  for (const auto& [scale, unit] : units) {
    if (ns % scale == 0) {
      return fmt::format("{}{}", ns / scale, unit);
    }
  }
  return fmt::format("{}ns", ns);
}

std::string default_of_size(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, const char*> units[] = {
      {1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}};
  for (const auto& [scale, unit] : units) {
    if (bytes != 0 && bytes % scale == 0) {
      return fmt::format("{}{}", bytes / scale, unit);
    }
  }
  return std::to_string(bytes);
}

std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

namespace {

// Splits "12.5ms" into 12.5 and "ms". Returns false when no number leads.
bool split_number(std::string_view s, double& value, std::string_view& unit) {
  s = trim_blanks(s);
  if (s.empty() || s.front() == '-' || s.front() == '+') {
    return false;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || !std::isfinite(value)) {
    return false;
  }
  unit = trim_blanks(std::string_view(ptr, static_cast<std::size_t>(s.data() + s.size() - ptr)));
  return true;
}

// A unit's name and how many base units (ns, bytes) it stands for.
struct unit_scale {
  std::string_view name;
  double factor;
};

std::optional<double> scale_of(std::string_view unit, std::span<const unit_scale> units) {
  for (const auto& u : units) {
    if (unit == u.name) {
      return u.factor;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  double v = 0;
  std::string_view unit;
  if (!split_number(text, v, unit)) {
    return std::nullopt;
  }
  static constexpr unit_scale units[] = {{"ns", 1},  {"us", 1e3}, {"µs", 1e3},   {"ms", 1e6},
                                         {"s", 1e9}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
  auto scale = scale_of(unit, units);
  if (!scale && unit.empty() && v == 0) {
    scale = 0;
  }
  if (!scale) {
    return std::nullopt;
  }
  double ns = v * *scale;
  if (ns > 9.2e18) {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
}

std::pair<std::string_view, std::string_view> split_range(std::string_view text) {
  const auto dots = text.find("..");
  if (dots == std::string_view::npos) {
    return {text, text};
  }
  return {text.substr(0, dots), text.substr(dots + 2)};
}

std::optional<duration_range> parse_duration_range(std::string_view text) {
  const auto [low, high] = split_range(text);
  auto lo = parse_duration(low);
  auto hi = parse_duration(high);
  if (!lo || !hi || *hi < *lo) {
    return std::nullopt;
  }
  return duration_range{*lo, *hi};
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  double v = 0;
  std::string_view unit;
  if (!split_number(text, v, unit)) {
    return std::nullopt;
  }
  static constexpr unit_scale units[] = {{"", 1},
                                         {"B", 1},
                                         {"KiB", 1024.0},
                                         {"MiB", 1024.0 * 1024},
                                         {"GiB", 1024.0 * 1024 * 1024},
                                         {"KB", 1e3},
                                         {"kB", 1e3},
                                         {"MB", 1e6},
                                         {"GB", 1e9}};
  const auto scale = scale_of(unit, units);
  if (!scale) {
    return std::nullopt;
  }
  double bytes = v * *scale;
  if (bytes > 1.8e19 || bytes != std::floor(bytes)) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(bytes);
}

std::string format_bytes(std::uint64_t b) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string format_duration(std::chrono::nanoseconds d) {
  auto ns = static_cast<double>(d.count());
  if (ns < 1e3) {
    return fmt::format("{}ns", d.count());
  }
  if (ns < 1e6) {
    return fmt::format("{:.1f}us", ns / 1e3);
  }
  if (ns < 1e9) {
    return fmt::format("{:.2f}ms", ns / 1e6);
  }
  return fmt::format("{:.3f}s", ns / 1e9);
}

options::options(boost::json::object values, std::string stage_name)
    : values_(std::make_shared<const boost::json::object>(std::move(values))),
      stage_name_(std::move(stage_name)) {}

bool options::has(const std::string& name) const {
  return values_ && values_->contains(name) && !values_->at(name).is_null();
}

const boost::json::value& options::at(const std::string& name) const {
  if (!values_ || !values_->contains(name)) {
    throw std::logic_error("option '" + name + "' of " + stage_name_ + " is not set");
  }
  return values_->at(name);
}

std::string options::get_string(const std::string& name) const {
  return std::string(at(name).as_string());
}

std::int64_t options::get_int(const std::string& name) const {
  return at(name).as_int64();
}

double options::get_number(const std::string& name) const {
  return at(name).to_number<double>();
}

bool options::get_bool(const std::string& name) const {
  return at(name).as_bool();
}

std::chrono::nanoseconds options::get_duration(const std::string& name) const {
  return std::chrono::nanoseconds(at(name).as_int64());
}

duration_range options::get_duration_range(const std::string& name) const {
  const auto& a = at(name).as_array();
  return {std::chrono::nanoseconds(a.at(0).as_int64()),
          std::chrono::nanoseconds(a.at(1).as_int64())};
}

std::uint64_t options::get_size(const std::string& name) const {
  return at(name).to_number<std::uint64_t>();
}

std::vector<std::string> options::get_string_list(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& v : at(name).as_array()) {
    out.emplace_back(v.as_string());
  }
  return out;
}

std::map<std::string, std::string> options::get_string_map(const std::string& name) const {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : at(name).as_object()) {
    out.emplace(std::string(k), std::string(v.as_string()));
  }
  return out;
}

options options::get_object(const std::string& name) const {
  return options(at(name).as_object(), stage_name_ + "." + name);
}

std::vector<options> options::get_object_list(const std::string& name) const {
  std::vector<options> out;
  if (!has(name)) {
    return out;
  }
  const auto& arr = at(name).as_array();
  out.reserve(arr.size());
  for (std::size_t i = 0; i < arr.size(); ++i) {
    out.emplace_back(arr[i].as_object(), fmt::format("{}.{}[{}]", stage_name_, name, i));
  }
  return out;
}

const boost::json::object& options::json() const noexcept {
  static const boost::json::object empty;
  return values_ ? *values_ : empty;
}

}  // namespace sluice
