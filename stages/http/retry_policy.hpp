// When the http consumer tries again: the failure classes of `retry.on`, the
// backoff between attempts, a server's Retry-After, and the statuses that
// count as failures. Pure functions over the config: no I/O, no Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/core/fetch_error.hpp"

namespace sluice::stages::http {

/// The classes `retry.on` accepts besides a status like `503`: the retryable
/// conditions of the fetch_errc table, and the status classes `5xx` and `429`.
/// Thread safety: immutable.
const std::vector<std::string>& retry_classes();

/// True for `404`, `4xx`, `5xx` and the like (1xx to 5xx).
/// Thread safety: pure.
bool valid_status_pattern(std::string_view pattern);

/// True when `status` matches one of `patterns` ("404", "4xx", "5xx").
/// Thread safety: pure.
bool status_matches(const std::vector<std::string>& patterns, int status);

/// True when a failure (an error kind, or none plus an HTTP status) belongs
/// to one of the configured retry classes.
/// Thread safety: pure.
bool should_retry(const std::vector<std::string>& retry_on, std::optional<fetch_errc> kind,
                  int status);

/// As above, for a kind by name ("" for none): the form a test table reads best.
/// Thread safety: pure.
bool should_retry(const std::vector<std::string>& retry_on, std::string_view kind, int status);

/// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(n-1))]
/// for retry number n >= 1.
/// Thread safety: uses only `rng`.
std::chrono::nanoseconds backoff_delay(std::uint32_t retry_number, std::chrono::nanoseconds base,
                                       std::chrono::nanoseconds max, std::minstd_rand& rng);

/// The longest Retry-After honoured before the configured cap applies: a year.
inline constexpr std::chrono::nanoseconds k_retry_after_ceiling = std::chrono::hours(24 * 365);

/// Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
/// RFC 850 or asctime). Returns the delay from `now`: zero for a past date,
/// at most k_retry_after_ceiling for a far one (a date in the year 9999 does
/// not overflow into "now").
/// Thread safety: pure.
std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

}  // namespace sluice::stages::http
