// The http consumer's retry rules (see retry_policy.hpp).
#include "retry_policy.hpp"

#include "sluice/stage/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>

namespace sluice::stages::http {

const std::vector<std::string>& retry_classes() {
  static const std::vector<std::string> classes = [] {
    std::vector<std::string> v;
    for (auto c : {fetch_condition::connect, fetch_condition::resolve, fetch_condition::timeout,
                   fetch_condition::reset, fetch_condition::tls, fetch_condition::too_slow,
                   fetch_condition::proxy}) {
      v.emplace_back(name(c));
    }
    v.insert(v.end(), {"5xx", "429"});
    return v;
  }();
  return classes;
}

bool valid_status_pattern(std::string_view p) {
  if (p.size() != 3 || p[0] < '1' || p[0] > '5') {
    return false;
  }
  bool wild = (p[1] == 'x' && p[2] == 'x');
  bool digits = std::isdigit(static_cast<unsigned char>(p[1])) &&
                std::isdigit(static_cast<unsigned char>(p[2]));
  return wild || digits;
}

bool status_matches(const std::vector<std::string>& patterns, int status) {
  if (status < 100 || status > 599) {
    return false;
  }
  char buf[4] = {static_cast<char>('0' + status / 100), static_cast<char>('0' + status / 10 % 10),
                 static_cast<char>('0' + status % 10), 0};
  for (auto& p : patterns) {
    if (p.size() != 3 || p[0] != buf[0]) {
      continue;
    }
    if ((p[1] == 'x' && p[2] == 'x') || (p[1] == buf[1] && p[2] == buf[2])) {
      return true;
    }
  }
  return false;
}

bool should_retry(const std::vector<std::string>& retry_on, std::optional<fetch_errc> kind,
                  int status) {
  auto has = [&](std::string_view k) {
    return std::find(retry_on.begin(), retry_on.end(), k) != retry_on.end();
  };
  if (!kind || *kind == fetch_errc::http_status) {
    if (status == 429 && has("429")) {
      return true;
    }
    return status_matches(retry_on, status);
  }
  // The machine's failure (a full TMPDIR, no descriptor left) may pass (a
  // sink frees space, a connection closes): always worth the retries left.
  if (*kind == fetch_errc::environment) {
    return true;
  }
  // A connect timeout is a timeout and also a failed connect; so is a proxy
  // that cannot be reached. Wrong proxy credentials stay wrong.
  if ((*kind == fetch_errc::timeout_connect || *kind == fetch_errc::proxy_connect) &&
      has(name(fetch_condition::connect))) {
    return true;
  }
  if (*kind == fetch_errc::proxy_auth) {
    return false;
  }
  return has(name(info(*kind).condition));
}

bool should_retry(const std::vector<std::string>& retry_on, std::string_view kind, int status) {
  if (kind.empty()) {
    return should_retry(retry_on, std::optional<fetch_errc>{}, status);
  }
  auto e = fetch_errc_from_name(kind);
  return e && should_retry(retry_on, std::optional<fetch_errc>{*e}, status);
}

std::chrono::nanoseconds backoff_delay(std::uint32_t retry_number, std::chrono::nanoseconds base,
                                       std::chrono::nanoseconds max, std::minstd_rand& rng) {
  if (retry_number == 0 || base <= std::chrono::nanoseconds::zero()) {
    return std::chrono::nanoseconds::zero();
  }
  double cap = static_cast<double>(base.count()) *
               std::ldexp(1.0, static_cast<int>(std::min(retry_number - 1, 60u)));
  cap = std::min(cap, static_cast<double>(max.count()));
  std::uniform_real_distribution<double> dist(0.0, cap);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(dist(rng)));
}

namespace {

/// The delay until `at` seconds since the epoch, in whole seconds (time_t
/// arithmetic: a nanosecond time_point overflows after the year 2262).
std::chrono::nanoseconds delay_until(std::time_t at, std::chrono::system_clock::time_point now) {
  std::time_t now_s = std::chrono::system_clock::to_time_t(now);
  if (at <= now_s) {
    return std::chrono::nanoseconds::zero();
  }
  auto ceiling_s = std::chrono::duration_cast<std::chrono::seconds>(k_retry_after_ceiling).count();
  if (at - now_s >= ceiling_s) {
    return k_retry_after_ceiling;
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::system_clock::from_time_t(at) - now);
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  value = trim_blanks(value);
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(),
                  [](unsigned char ch) { return std::isdigit(ch) != 0; })) {
    std::uint64_t secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    auto ceiling_s = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::seconds>(k_retry_after_ceiling).count());
    if (ec != std::errc{} || secs >= ceiling_s) {
      return k_retry_after_ceiling;  // the caller caps it at retry_after_max
    }
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::seconds(secs));
  }
  // HTTP-date: the three formats RFC 9110 section 5.6.7 requires recipients to accept.
  std::string s(value);
  static const char* const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
  for (const char* f : formats) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), f, &tm);
    if (end != nullptr && *end == '\0') {
      return delay_until(::timegm(&tm), now);
    }
  }
  return std::nullopt;
}

}  // namespace sluice::stages::http
