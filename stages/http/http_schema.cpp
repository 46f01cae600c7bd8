// The http consumer's option schema. Every default it shows is read from a
// default-constructed config, so a default is written once (the struct).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "http_config.hpp"
#include "proxy.hpp"
#include "retry_policy.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::http {

namespace {

using std::chrono::nanoseconds;

// The keys a `hosts:` rule may set too: per_host (with adaptive), rate,
// burst, timeouts and retry.
void add_limit_options(option_schema& s, const config& d) {
  using T = option_type;
  s.push_back(make_option("per_host", T::string, default_of(std::uint64_t{d.per_host}),
                          "Max concurrent requests per origin (scheme+host+port); 0 = unlimited; "
                          "`auto` = adaptive (AIMD) between `adaptive.min` and `adaptive.max`"));
  s.push_back(object_option(
      "adaptive", "Bounds of `per_host: auto`",
      {bounded_option(make_option("min", T::integer, default_of(std::uint64_t{d.adaptive_min}),
                                  "Lowest limit (and the starting one)"),
                      1, 10000),
       bounded_option(make_option("max", T::integer, default_of(std::uint64_t{d.adaptive_max}),
                                  "Highest limit"),
                      1, 10000)}));
  s.push_back(make_option("rate", T::string, "",
                          "Per-origin token bucket rate, like `50/s`, `600/m`; empty = unlimited"));
  s.push_back(bounded_option(
      make_option("burst", T::integer, default_of(static_cast<std::int64_t>(d.rate_burst)),
                  "Token bucket size for `rate`"),
      1));
}

option_spec timeouts_option(const config& d) {
  using T = option_type;
  return object_option("timeouts", "Per-attempt time limits (0 = none)",
                       {make_option("connect", T::duration, default_of(d.connect_timeout),
                                    "DNS + TCP connect + TLS handshake"),
                        make_option("header", T::duration, default_of(d.header_timeout),
                                    "From sending the request until the response header is read"),
                        make_option("total", T::duration, default_of(d.total_timeout),
                                    "Whole attempt, including the body"),
                        make_option("min_speed", T::size, default_of_size(d.min_speed),
                                    "Minimum body bytes per second over `speed_window`; 0 = off"),
                        make_option("speed_window", T::duration, default_of(d.speed_window),
                                    "Window for `min_speed`")});
}

option_spec retry_option(const config& d) {
  using T = option_type;
  return object_option(
      "retry", "Retries with exponential backoff and full jitter",
      {bounded_option(make_option("attempts", T::integer, default_of(std::uint64_t{d.attempts}),
                                  "Attempts per URL, including the first"),
                      1, 100),
       make_option("backoff_base", T::duration, default_of(d.backoff_base),
                   "Backoff base (doubles per retry)"),
       make_option("backoff_max", T::duration, default_of(d.backoff_max), "Backoff cap"),
       make_option("on", T::string_list, "",
                   fmt::format("Failure classes that retry: {} or a status like 503 (default: {})",
                               fmt::join(retry_classes(), ", "), fmt::join(d.retry_on, ", "))),
       make_option("retry_after_max", T::duration, default_of(d.retry_after_max),
                   "Cap on a server's Retry-After (which pauses the whole origin)")});
}

// A rule's keys have no defaults of their own: a key it leaves out keeps
// the consumer's value.
void strip_defaults(std::vector<option_spec>& specs) {
  for (auto& f : specs) {
    f.default_value.clear();
    strip_defaults(f.fields);
  }
}

option_spec hosts_option(const config& d) {
  using T = option_type;
  std::vector<option_spec> fields;
  fields.push_back(required_option(
      "match", T::string,
      "`host`, `host:port`, `*.domain` (its subdomains, not the domain itself) or `*`"));
  add_limit_options(fields, d);
  fields.push_back(make_option("headers", T::string_map, "",
                               "Request headers added to (or replacing) the consumer's"));
  fields.push_back(timeouts_option(d));
  fields.push_back(retry_option(d));
  strip_defaults(fields);
  return object_list_option(
      "hosts",
      "Per-site rules, applied in order (the first whose `match` fits an origin wins); a key a "
      "rule leaves out keeps the consumer's value",
      std::move(fields));
}

void add_connection_options(option_schema& s, const config& d) {
  using T = option_type;
  add_limit_options(s, d);
  s.push_back(object_option(
      "pool", "Keep-alive connection pool per origin",
      {bounded_option(
           make_option("max_idle", T::integer, default_of(std::uint64_t{d.pool_max_idle}),
                       "Idle connections kept per origin; 0 = no reuse"),
           0),
       make_option("idle_timeout", T::duration, default_of(d.pool_idle_timeout),
                   "An idle connection older than this is closed")}));
  s.push_back(timeouts_option(d));
  s.push_back(retry_option(d));
  s.push_back(hosts_option(d));
  add_proxy_options(s);
  s.push_back(bounded_option(
      make_option("redirects", T::integer, default_of(std::uint64_t{d.max_redirects}),
                  "Redirect hops to follow (http/https only); 0 = none"),
      0, 100));
  s.push_back(make_option(
      "redirect_trusted", T::boolean, default_of(d.redirect_trusted),
      "Also send basic_auth and the Authorization, Cookie and Proxy-Authorization headers after "
      "a redirect to another origin (as curl --location-trusted); by default they go only to "
      "the item's own origin"));
}

void add_request_options(option_schema& s, const config& d) {
  using T = option_type;
  s.push_back(make_option("method", T::string, d.method, "Request method"));
  s.push_back(make_option("headers", T::string_map, "", "Extra request headers"));
  s.push_back(make_option("body", T::string, d.body, "Request body (sent with every request)"));
  s.push_back(object_option("basic_auth", "HTTP basic authentication",
                            {make_option("user", T::string, "", "User name"),
                             make_option("password", T::string, "", "Password")}));
  s.push_back(make_option("user_agent", T::string, d.user_agent, "User-Agent header"));
  s.push_back(
      make_option("decompress", T::boolean, default_of(d.decompress),
                  "Send `Accept-Encoding: gzip, deflate, br` and decode the body (zlib, brotli)"));
  s.push_back(make_option("max_decoded", T::size, default_of_size(d.max_decoded),
                          "Cap on a decoded (decompressed) body"));
  s.push_back(object_option("tls", "HTTPS settings (OpenSSL, SNI always sent)",
                            {make_option("verify", T::boolean, default_of(d.tls_verify),
                                         "Verify the peer against the CA store and host name"),
                             make_option("ca_file", T::string, d.tls_ca_file,
                                         "PEM file of trusted CAs instead of the system store")}));
}

void add_result_options(option_schema& s, const config& d) {
  using T = option_type;
  s.push_back(make_option("max_header", T::size, default_of_size(d.max_header),
                          "Max response header bytes"));
  s.push_back(make_option("max_body", T::size, default_of_size(d.max_body),
                          "Max response body bytes (as received)"));
  s.push_back(
      make_option("memory_body", T::size, default_of_size(d.memory_body),
                  "Bodies up to this size stay in memory; larger ones go to a temporary file"));
  s.push_back(make_option(
      "keep_body", T::boolean, default_of(d.keep_body),
      "Keep the body in the result (else count it); bodies are only counted anyway when no "
      "sink reads them"));
  s.push_back(make_option("keep_headers", T::string_list, "",
                          fmt::format("Response headers copied into the result (default: {})",
                                      fmt::join(d.keep_headers, ", "))));
  s.push_back(
      make_option("fail_status", T::string_list, "",
                  fmt::format("Statuses that count as failures (kind http_status): `404`, `4xx`, "
                              "`5xx` (default: {}); `[]`: every status is data",
                              fmt::join(d.fail_status, ", "))));
  s.push_back(make_option("dns_ttl", T::duration, default_of(d.dns_ttl),
                          "How long a resolved host stays cached"));
  s.push_back(choice_option(
      "robots", d.robots_obey ? "obey" : "ignore", {"ignore", "obey"},
      "`obey`: fetch each origin's robots.txt once (RFC 9309) before its first request, fail "
      "the URLs it disallows with kind `robots` without requesting them, and honour its "
      "Crawl-delay as a rate"));
  s.push_back(make_option("robots_agent", T::string, d.robots_agent,
                          "Product token matched against robots.txt User-agent lines (letters, "
                          "`-`, `_`); default: the first token of user_agent (`sluice`)"));
  s.push_back(
      make_option("recv_buffer", T::size, default_of_size(d.recv_buffer),
                  "Socket receive buffer (SO_RCVBUF) per connection, the most a server can send "
                  "ahead of reads; `0` leaves it to the kernel's autotuning"));
}

}  // namespace

option_schema schema() {
  const config defaults;
  option_schema s;
  add_connection_options(s, defaults);
  add_request_options(s, defaults);
  add_result_options(s, defaults);
  s.push_back(cookies_option(defaults));
  return s;
}

}  // namespace sluice::stages::http
