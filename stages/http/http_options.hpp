// Private to the http consumer: its validated configuration and the small
// pure helpers (rate, Retry-After, backoff, retry classes) that tests check
// without a network. No Beast here, so tests can include it cheaply.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/core/fetch_error.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice::http_detail {

using namespace std::chrono_literals;

/// Everything the `http` consumer was configured with, in typed form.
/// Thread safety: immutable after parse_config.
struct config {
  // Concurrency and pooling.
  std::uint32_t per_host = 0;  ///< 0 = unlimited
  std::uint32_t pool_max_idle = 256;
  std::chrono::nanoseconds pool_idle_timeout = 30s;
  double rate_per_sec = 0;  ///< 0 = unlimited
  double rate_burst = 1;

  // Timeouts; zero means "no limit" for each.
  std::chrono::nanoseconds connect_timeout = 10s;
  std::chrono::nanoseconds header_timeout = 30s;
  std::chrono::nanoseconds total_timeout = 120s;
  std::uint64_t min_speed = 0;  ///< bytes/s; 0 = off
  std::chrono::nanoseconds speed_window = 10s;

  // Retries.
  std::uint32_t attempts = 3;
  std::chrono::nanoseconds backoff_base = 200ms;
  std::chrono::nanoseconds backoff_max = 10s;
  std::vector<std::string> retry_on = {std::string(name(fetch_condition::connect)),
                                       std::string(name(fetch_condition::timeout)),
                                       std::string(name(fetch_condition::reset)), "5xx", "429"};
  std::chrono::nanoseconds retry_after_max = 60s;

  // Redirects.
  std::uint32_t max_redirects = 10;
  /// Credentials (basic_auth, Authorization/Cookie/Proxy-Authorization
  /// headers) also go to other origins after a redirect.
  bool redirect_trusted = false;

  // The request.
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string basic_auth;  ///< "user:password", empty = none
  std::string user_agent;
  bool decompress = true;
  std::uint64_t max_decoded = 128ull << 20;

  // TLS.
  bool tls_verify = true;
  std::string tls_ca_file;  ///< absolute, or empty

  // Limits and results.
  std::uint64_t max_header = 64ull << 10;
  std::uint64_t max_body = 32ull << 20;
  std::uint64_t memory_body = 1ull << 20;
  std::uint64_t recv_buffer = 1ull << 20;  ///< SO_RCVBUF; 0 = kernel autotuning
  bool keep_body = true;
  std::vector<std::string> keep_headers;  ///< lower-case names
  std::vector<std::string> fail_status;   ///< "404", "4xx", "5xx"

  // DNS.
  std::chrono::nanoseconds dns_ttl = 60s;
};

/// The option schema of the `http` consumer.
option_schema schema();

/// Turns validated options into a config. Throws config_error for values the
/// schema cannot express (a malformed rate, an unknown retry class).
/// `ctx` resolves relative file names (tls.ca_file).
config parse_config(const options& opts, const stage_context* ctx);

/// Parses `50/s`, `3000/m`, `10/h`, `2.5/s` or a bare number (per second).
std::optional<double> parse_rate(std::string_view text);

/// Parses a Retry-After value: delta-seconds or an HTTP-date (IMF-fixdate,
/// RFC 850 or asctime). Returns the delay from `now` (zero for a past date).
std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

/// Full-jitter exponential backoff: uniform in [0, min(max, base * 2^(n-1))]
/// for retry number n >= 1.
std::chrono::nanoseconds backoff_delay(std::uint32_t retry_number, std::chrono::nanoseconds base,
                                       std::chrono::nanoseconds max, std::minstd_rand& rng);

/// True when a failure (error kind, or "" plus an HTTP status) belongs to
/// one of the configured retry classes.
bool should_retry(const std::vector<std::string>& retry_on, std::string_view kind, int status);

/// True when `status` matches one of `patterns` ("404", "4xx", "5xx").
bool status_matches(const std::vector<std::string>& patterns, int status);

/// The consumer itself (defined in http_consumer.cpp, which holds Beast).
std::unique_ptr<consumer> make_consumer(const stage_context& ctx, config cfg);

}  // namespace sluice::http_detail
