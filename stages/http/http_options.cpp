// The http consumer's schema, option parsing and pure helpers, and its
// registry entry.
#include "http_options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>

#include "sluice/core/error.hpp"
#include "sluice/core/fetch_error.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stages/http.hpp"

namespace sluice::http_detail {

namespace {

option_spec bounded(option_spec s, std::optional<double> lo, std::optional<double> hi = {}) {
  s.minimum = lo;
  s.maximum = hi;
  return s;
}

option_spec object(std::string name, std::string doc, std::vector<option_spec> fields) {
  option_spec s = make_option(std::move(name), option_type::object, "", std::move(doc));
  s.fields = std::move(fields);
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The failure classes retry.on accepts: conditions of the fetch_errc table,
// and status classes.
const std::vector<std::string> k_retry_classes = [] {
  std::vector<std::string> v;
  for (auto c : {fetch_condition::connect, fetch_condition::resolve, fetch_condition::timeout,
                 fetch_condition::reset, fetch_condition::tls, fetch_condition::too_slow}) {
    v.emplace_back(name(c));
  }
  v.insert(v.end(), {"5xx", "429"});
  return v;
}();

const std::vector<std::string> k_default_keep_headers = {
    "content-length", "content-encoding", "etag", "last-modified", "location", "retry-after"};

bool valid_status_pattern(const std::string& p) {
  if (p.size() != 3 || p[0] < '1' || p[0] > '5') {
    return false;
  }
  bool wild = (p[1] == 'x' && p[2] == 'x');
  bool digits = std::isdigit(static_cast<unsigned char>(p[1])) &&
                std::isdigit(static_cast<unsigned char>(p[2]));
  return wild || digits;
}

}  // namespace

option_schema schema() {
  using T = option_type;
  option_schema s;
  s.push_back(
      bounded(make_option("per_host", T::integer, "0",
                          "Max concurrent requests per origin (scheme+host+port); 0 = unlimited"),
              0));
  s.push_back(object("pool", "Keep-alive connection pool per origin",
                     {bounded(make_option("max_idle", T::integer, "256",
                                          "Idle connections kept per origin; 0 = no reuse"),
                              0),
                      make_option("idle_timeout", T::duration, "30s",
                                  "An idle connection older than this is closed")}));
  s.push_back(make_option("rate", T::string, "",
                          "Per-origin token bucket rate, like `50/s`, `600/m`; empty = unlimited"));
  s.push_back(bounded(make_option("burst", T::integer, "1", "Token bucket size for `rate`"), 1));
  s.push_back(
      object("timeouts", "Per-attempt time limits (0 = none)",
             {make_option("connect", T::duration, "10s", "DNS + TCP connect + TLS handshake"),
              make_option("header", T::duration, "30s",
                          "From sending the request until the response header is read"),
              make_option("total", T::duration, "120s", "Whole attempt, including the body"),
              make_option("min_speed", T::size, "0",
                          "Minimum body bytes per second over `speed_window`; 0 = off"),
              make_option("speed_window", T::duration, "10s", "Window for `min_speed`")}));
  s.push_back(object(
      "retry", "Retries with exponential backoff and full jitter",
      {bounded(make_option("attempts", T::integer, "3", "Attempts per URL, including the first"), 1,
               100),
       make_option("backoff_base", T::duration, "200ms", "Backoff base (doubles per retry)"),
       make_option("backoff_max", T::duration, "10s", "Backoff cap"),
       make_option(
           "on", T::string_list, "",
           "Failure classes that retry: connect, resolve, timeout, reset, tls, too_slow, 5xx, "
           "429 or a status like 503 (default: connect, timeout, reset, 5xx, 429)"),
       make_option("retry_after_max", T::duration, "60s",
                   "Cap on a server's Retry-After (which pauses the whole origin)")}));
  s.push_back(bounded(make_option("redirects", T::integer, "10",
                                  "Redirect hops to follow (http/https only); 0 = none"),
                      0, 100));
  s.push_back(make_option(
      "redirect_trusted", T::boolean, "false",
      "Also send basic_auth and the Authorization, Cookie and Proxy-Authorization headers after "
      "a redirect to another origin (as curl --location-trusted); by default they go only to "
      "the item's own origin"));
  s.push_back(make_option("method", T::string, "GET", "Request method"));
  s.push_back(make_option("headers", T::string_map, "", "Extra request headers"));
  s.push_back(make_option("body", T::string, "", "Request body (sent with every request)"));
  s.push_back(object("basic_auth", "HTTP basic authentication",
                     {make_option("user", T::string, "", "User name"),
                      make_option("password", T::string, "", "Password")}));
  s.push_back(make_option("user_agent", T::string, "sluice/" SLUICE_VERSION, "User-Agent header"));
  s.push_back(make_option("decompress", T::boolean, "true",
                          "Send `Accept-Encoding: gzip, deflate` and decode the body with zlib"));
  s.push_back(
      make_option("max_decoded", T::size, "128MiB", "Cap on a decoded (decompressed) body"));
  s.push_back(object("tls", "HTTPS settings (OpenSSL, SNI always sent)",
                     {make_option("verify", T::boolean, "true",
                                  "Verify the peer against the CA store and host name"),
                      make_option("ca_file", T::string, "",
                                  "PEM file of trusted CAs instead of the system store")}));
  s.push_back(make_option("max_header", T::size, "64KiB", "Max response header bytes"));
  s.push_back(make_option("max_body", T::size, "32MiB", "Max response body bytes (as received)"));
  s.push_back(
      make_option("memory_body", T::size, "1MiB",
                  "Bodies up to this size stay in memory; larger ones go to a temporary file"));
  s.push_back(make_option(
      "keep_body", T::boolean, "true",
      "Keep the body in the result (else count it); bodies are only counted anyway when no "
      "sink reads them"));
  s.push_back(make_option("keep_headers", T::string_list, "",
                          "Response headers copied into the result (default: content-length, "
                          "content-encoding, etag, last-modified, location, retry-after)"));
  s.push_back(
      make_option("fail_status", T::string_list, "",
                  "Statuses that count as failures (kind http_status): `404`, `4xx`, `5xx`"));
  s.push_back(make_option("dns_ttl", T::duration, "60s", "How long a resolved host stays cached"));
  s.push_back(
      make_option("recv_buffer", T::size, "1MiB",
                  "Socket receive buffer (SO_RCVBUF) per connection, the most a server can send "
                  "ahead of reads; `0` leaves it to the kernel's autotuning"));
  return s;
}

config parse_config(const options& o, const stage_context* ctx) {
  config c;
  if (o.has("per_host")) {
    c.per_host = static_cast<std::uint32_t>(o.get_int("per_host"));
  }
  if (o.has("pool")) {
    options p = o.get_object("pool");
    if (p.has("max_idle")) {
      c.pool_max_idle = static_cast<std::uint32_t>(p.get_int("max_idle"));
    }
    if (p.has("idle_timeout")) {
      c.pool_idle_timeout = p.get_duration("idle_timeout");
    }
  }
  if (o.has("rate")) {
    std::string r = o.get_string("rate");
    if (!r.empty()) {
      auto v = parse_rate(r);
      if (!v) {
        throw config_error("rate", "invalid rate '" + r + "' (expected like 50/s, 600/m, 10/h)");
      }
      c.rate_per_sec = *v;
    }
  }
  if (o.has("burst")) {
    c.rate_burst = static_cast<double>(o.get_int("burst"));
  }
  if (o.has("timeouts")) {
    options t = o.get_object("timeouts");
    if (t.has("connect")) {
      c.connect_timeout = t.get_duration("connect");
    }
    if (t.has("header")) {
      c.header_timeout = t.get_duration("header");
    }
    if (t.has("total")) {
      c.total_timeout = t.get_duration("total");
    }
    if (t.has("min_speed")) {
      c.min_speed = t.get_size("min_speed");
    }
    if (t.has("speed_window")) {
      c.speed_window = t.get_duration("speed_window");
    }
    if (c.min_speed > 0 && c.speed_window <= std::chrono::nanoseconds::zero()) {
      throw config_error("timeouts.speed_window", "speed_window must be > 0 when min_speed is set");
    }
  }
  if (o.has("retry")) {
    options r = o.get_object("retry");
    if (r.has("attempts")) {
      c.attempts = static_cast<std::uint32_t>(r.get_int("attempts"));
    }
    if (r.has("backoff_base")) {
      c.backoff_base = r.get_duration("backoff_base");
    }
    if (r.has("backoff_max")) {
      c.backoff_max = r.get_duration("backoff_max");
    }
    if (r.has("retry_after_max")) {
      c.retry_after_max = r.get_duration("retry_after_max");
    }
    if (r.has("on")) {
      c.retry_on.clear();
      for (auto& v : r.get_string_list("on")) {
        std::string k = lower(v);
        bool known =
            std::find(k_retry_classes.begin(), k_retry_classes.end(), k) != k_retry_classes.end();
        bool code = k.size() == 3 && valid_status_pattern(k);
        if (!known && !code) {
          throw config_error("retry.on",
                             "unknown retry class '" + v +
                                 "' (connect, resolve, timeout, reset, tls, too_slow, 5xx, 429 "
                                 "or a status such as 503)");
        }
        c.retry_on.push_back(k);
      }
    }
  }
  if (o.has("redirects")) {
    c.max_redirects = static_cast<std::uint32_t>(o.get_int("redirects"));
  }
  if (o.has("redirect_trusted")) {
    c.redirect_trusted = o.get_bool("redirect_trusted");
  }
  if (o.has("method")) {
    c.method = o.get_string("method");
    if (c.method.empty() || !std::all_of(c.method.begin(), c.method.end(), [](unsigned char ch) {
          return std::isalnum(ch) || ch == '-' || ch == '_';
        })) {
      throw config_error("method", "invalid HTTP method '" + c.method + "'");
    }
  }
  if (o.has("headers")) {
    for (auto& [k, v] : o.get_string_map("headers")) {
      c.headers.emplace_back(k, v);
    }
  }
  if (o.has("body")) {
    c.body = o.get_string("body");
  }
  if (o.has("basic_auth")) {
    options a = o.get_object("basic_auth");
    std::string user = a.has("user") ? a.get_string("user") : "";
    std::string pass = a.has("password") ? a.get_string("password") : "";
    if (!user.empty() || !pass.empty()) {
      c.basic_auth = user + ":" + pass;
    }
  }
  if (o.has("user_agent")) {
    c.user_agent = o.get_string("user_agent");
  }
  if (o.has("decompress")) {
    c.decompress = o.get_bool("decompress");
  }
  if (o.has("max_decoded")) {
    c.max_decoded = o.get_size("max_decoded");
  }
  if (o.has("tls")) {
    options t = o.get_object("tls");
    if (t.has("verify")) {
      c.tls_verify = t.get_bool("verify");
    }
    if (t.has("ca_file")) {
      std::string f = t.get_string("ca_file");
      if (!f.empty()) {
        c.tls_ca_file = ctx ? ctx->resolve(f).string() : f;
      }
    }
  }
  if (o.has("max_header")) {
    c.max_header = o.get_size("max_header");
  }
  if (o.has("max_body")) {
    c.max_body = o.get_size("max_body");
  }
  if (o.has("recv_buffer")) {
    auto v = o.get_size("recv_buffer");
    if (v > (1ull << 30)) {
      throw config_error("recv_buffer", "recv_buffer must be at most 1GiB");
    }
    c.recv_buffer = v;
  }
  if (o.has("memory_body")) {
    c.memory_body = o.get_size("memory_body");
  }
  if (o.has("keep_body")) {
    c.keep_body = o.get_bool("keep_body");
  }
  c.keep_headers = k_default_keep_headers;
  if (o.has("keep_headers")) {
    c.keep_headers.clear();
    for (auto& h : o.get_string_list("keep_headers")) {
      c.keep_headers.push_back(lower(h));
    }
  }
  if (o.has("fail_status")) {
    for (auto& p : o.get_string_list("fail_status")) {
      std::string k = lower(p);
      if (!valid_status_pattern(k)) {
        throw config_error("fail_status",
                           "invalid status pattern '" + p + "' (like 404, 4xx or 5xx)");
      }
      c.fail_status.push_back(k);
    }
  }
  if (o.has("dns_ttl")) {
    c.dns_ttl = o.get_duration("dns_ttl");
  }
  return c;
}

std::optional<double> parse_rate(std::string_view text) {
  auto slash = text.find('/');
  std::string_view num = text.substr(0, slash);
  while (!num.empty() && num.back() == ' ') {
    num.remove_suffix(1);
  }
  double v = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc{} || p != num.data() + num.size() || !(v > 0) || !std::isfinite(v)) {
    return std::nullopt;
  }
  if (slash == std::string_view::npos) {
    return v;
  }
  std::string_view unit = text.substr(slash + 1);
  while (!unit.empty() && unit.front() == ' ') {
    unit.remove_prefix(1);
  }
  if (unit == "s" || unit == "sec" || unit == "second") {
    return v;
  }
  if (unit == "m" || unit == "min" || unit == "minute") {
    return v / 60.0;
  }
  if (unit == "h" || unit == "hour") {
    return v / 3600.0;
  }
  return std::nullopt;
}

std::optional<std::chrono::nanoseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
    value.remove_suffix(1);
  }
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::all_of(value.begin(), value.end(),
                  [](unsigned char ch) { return std::isdigit(ch) != 0; })) {
    std::uint64_t secs = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), secs);
    if (ec != std::errc{}) {
      // Absurdly large: treat as "a very long time"; the caller caps it.
      return std::chrono::nanoseconds(std::chrono::hours(24 * 365));
    }
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::seconds(std::min<std::uint64_t>(secs, 365ull * 24 * 3600)));
  }
  // HTTP-date: the three formats RFC 9110 section 5.6.7 requires recipients to accept.
  std::string s(value);
  static const char* const formats[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
  for (const char* f : formats) {
    std::tm tm{};
    const char* end = ::strptime(s.c_str(), f, &tm);
    if (end != nullptr && *end == '\0') {
      std::time_t t = ::timegm(&tm);
      auto at = std::chrono::system_clock::from_time_t(t);
      if (at <= now) {
        return std::chrono::nanoseconds::zero();
      }
      return std::chrono::duration_cast<std::chrono::nanoseconds>(at - now);
    }
  }
  return std::nullopt;
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

bool should_retry(const std::vector<std::string>& retry_on, std::string_view kind, int status) {
  auto has = [&](std::string_view k) {
    return std::find(retry_on.begin(), retry_on.end(), k) != retry_on.end();
  };
  auto e = fetch_errc_from_name(kind);
  if (kind.empty() || e == fetch_errc::http_status) {
    if (status == 429 && has("429")) {
      return true;
    }
    return status_matches(retry_on, status);
  }
  if (!e) {
    return false;
  }
  // A connect timeout is a timeout and also a failed connect.
  if (e == fetch_errc::timeout_connect && has(name(fetch_condition::connect))) {
    return true;
  }
  return has(name(info(*e).condition));
}

}  // namespace sluice::http_detail

namespace sluice {

void register_http_stages(registry& reg) {
  stage_info info;
  info.kind = stage_kind::consumer;
  info.name = "http";
  info.summary =
      "Fetches each item's URL over HTTP/1.1 or HTTPS (Boost.Beast): keep-alive pool, per-host "
      "limits and rate, timeouts, retries, redirects, gzip";
  info.schema = http_detail::schema();
  info.validate = [](const options& o) { (void)http_detail::parse_config(o, nullptr); };
  info.make_consumer = [](const stage_context& ctx) {
    return http_detail::make_consumer(ctx, http_detail::parse_config(ctx.opts, &ctx));
  };
  reg.add(std::move(info));
}

}  // namespace sluice
