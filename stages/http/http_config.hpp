// Private to the http consumer: its validated configuration. The struct's
// member initialisers are the only place a default is written: the schema
// (and so `sluice check`, the README and docs/http.md) reads them from a
// default-constructed config. No Beast here, so tests include it cheaply.
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

namespace sluice {
class config_error_list;
}

namespace sluice::stages::http {

using namespace std::chrono_literals;

struct config;

/// The origins one `hosts:` rule's `match` selects: a host (any port, or
/// one port), every subdomain of a domain (`*.example.com`: not the apex
/// `example.com` itself), or every host (`*`, or `*:8080` for one port).
/// Thread safety: a plain value.
struct host_pattern {
  enum class kind { any, exact, subdomains };
  kind what = kind::any;
  std::string host;                   ///< lower-case; the domain for subdomains
  std::optional<std::uint16_t> port;  ///< nullopt: any port

  /// True when the origin `host` (any case) and `port` match.
  bool matches(std::string_view host, std::uint16_t port) const;
  /// True when every origin `other` matches also matches this one.
  bool covers(const host_pattern& other) const;
};

/// Parses a `match` pattern; nullopt with `why` set when it is malformed.
/// Thread safety: pure.
std::optional<host_pattern> parse_host_pattern(std::string_view text, std::string& why);

/// One `hosts:` rule: its pattern and the effective settings of the origins
/// it matches (the consumer's, with the rule's keys laid over them).
/// Thread safety: immutable after parse_config.
struct host_rule {
  std::string match;  ///< as written
  host_pattern pattern;
  std::shared_ptr<const config> cfg;
};

/// Everything the `http` consumer was configured with, in typed form.
/// Thread safety: immutable after parse_config.
struct config {
  // Concurrency and pooling.
  std::uint32_t per_host = 0;  ///< 0 = unlimited (ignored when per_host_auto)
  /// `per_host: auto`: the origin's limit adapts (AIMD) within
  /// [adaptive_min, adaptive_max].
  bool per_host_auto = false;
  std::uint32_t adaptive_min = 1;
  std::uint32_t adaptive_max = 64;
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
  std::string basic_auth;                             ///< "user:password", empty = none
  std::string user_agent = "sluice/" SLUICE_VERSION;  ///< empty = no User-Agent header
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
  /// Response headers copied into the result (lower-case names).
  std::vector<std::string> keep_headers = {"content-length", "content-encoding", "etag",
                                           "last-modified",  "location",         "retry-after"};
  /// Statuses that fail the item ("404", "4xx", "5xx"): 4xx and 5xx by
  /// default, as wget, aria2 and Scrapy count them; `fail_status: []` makes
  /// every status data.
  std::vector<std::string> fail_status = {"4xx", "5xx"};

  // DNS.
  std::chrono::nanoseconds dns_ttl = 60s;

  // Proxy (proxy.hpp); nullopt: from the environment, as curl reads it.
  std::optional<std::string> proxy;     ///< the `proxy` option; "" or "none": no proxy
  std::optional<std::string> no_proxy;  ///< the `no_proxy` option, comma-separated

  // Cookies (RFC 6265; cookie_jar.hpp, cookie_options.cpp).
  bool cookies = false;      ///< `cookies: true`, or `cookies: {file: ...}`
  std::string cookies_file;  ///< Netscape cookie file (absolute), or empty

  // robots.txt (RFC 9309).
  bool robots_obey = false;  ///< `robots: obey`
  /// The product token matched against User-agent lines; parse_config fills
  /// it from user_agent when not given.
  std::string robots_agent;
  /// `hosts:` rules in order (first match wins); empty in a rule's own config.
  std::vector<host_rule> hosts;
};

/// The config of an origin's robots.txt fetch: `c`'s timeouts, retries,
/// headers and user agent; GET without a body, at most 5 redirects, every
/// status as data, the body kept in memory and cut at 500 KiB, robots.txt
/// itself not checked. Thread safety: pure.
config robots_fetch_config(const config& c);

/// The index in `cfg.hosts` of the first rule matching `host`:`port`, or -1
/// (the consumer's own settings).
/// Thread safety: pure.
int match_host_rule(const config& cfg, std::string_view host, std::uint16_t port);

/// The option schema of the `http` consumer.
option_schema schema();

/// The `cookies` option (true/false or `{file: ...}`) and its parse into
/// `c` (cookie_options.cpp). `ctx` resolves the file name.
option_spec cookies_option(const config& defaults);
void parse_cookies(const options& o, const stage_context* ctx, config& c, config_error_list& errs);

/// Turns validated options into a config. Throws config_error for values the
/// schema cannot express (a malformed rate, an unknown retry class).
/// `ctx` resolves relative file names (tls.ca_file).
config parse_config(const options& opts, const stage_context* ctx);

/// Parses `50/s`, `3000/m`, `10/h`, `2.5/s` or a bare number (per second).
/// Thread safety: pure.
std::optional<double> parse_rate(std::string_view text);

/// The consumer itself (http_consumer.cpp).
std::unique_ptr<consumer> make_consumer(const stage_context& ctx, config cfg);

}  // namespace sluice::stages::http
