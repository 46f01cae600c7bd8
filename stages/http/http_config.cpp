// The http consumer's options parsed into a config (the schema is in
// http_schema.cpp).
#include "http_config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "host_rules.hpp"
#include "proxy.hpp"
#include "retry_policy.hpp"
#include "robots.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::http {

namespace {

using std::chrono::nanoseconds;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Each part of parse_config reads one group of options into `c`; an option
// the user did not give keeps the struct's default.
template <class T, class Get>
void read(const options& o, std::string_view key, T& into, Get get) {
  if (o.has(std::string(key))) {
    into = static_cast<T>((o.*get)(std::string(key)));
  }
}

// A string option as text, also when given as a JSON number (options
// built in code rather than read from YAML).
std::string scalar_text(const options& o, const std::string& key) {
  const auto& v = o.json().at(key);
  if (v.is_string()) {
    return std::string(v.as_string());
  }
  if (v.is_int64()) {
    return std::to_string(v.as_int64());
  }
  if (v.is_uint64()) {
    return std::to_string(v.as_uint64());
  }
  return "?";
}

void parse_limits(const options& o, config& c, config_error_list& errs) {
  if (o.has("per_host")) {
    std::string v = scalar_text(o, "per_host");
    std::uint32_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (lower(v) == "auto") {
      c.per_host_auto = true;
    } else if (!v.empty() && ec == std::errc{} && p == v.data() + v.size()) {
      c.per_host_auto = false;
      c.per_host = n;
    } else {
      errs.add("per_host", "per_host must be a number (0 = unlimited) or `auto`, not '" + v + "'");
    }
  }
  if (o.has("adaptive")) {
    options a = o.get_object("adaptive");
    read(a, "min", c.adaptive_min, &options::get_int);
    read(a, "max", c.adaptive_max, &options::get_int);
    if (c.adaptive_min > c.adaptive_max) {
      errs.add(a.has("max") ? "adaptive.max" : "adaptive.min",
               fmt::format("adaptive.min ({}) is more than adaptive.max ({})", c.adaptive_min,
                           c.adaptive_max));
    }
  }
  if (o.has("rate")) {
    std::string r = o.get_string("rate");
    if (!r.empty()) {
      auto v = parse_rate(r);
      if (!v) {
        errs.add("rate", "invalid rate '" + r + "' (expected like 50/s, 600/m, 10/h)");
      } else {
        c.rate_per_sec = *v;
      }
    }
  }
  read(o, "burst", c.rate_burst, &options::get_int);
}

void parse_connection(const options& o, config& c, config_error_list& errs) {
  parse_limits(o, c, errs);
  if (o.has("pool")) {
    options p = o.get_object("pool");
    read(p, "max_idle", c.pool_max_idle, &options::get_int);
    read(p, "idle_timeout", c.pool_idle_timeout, &options::get_duration);
  }
  read(o, "dns_ttl", c.dns_ttl, &options::get_duration);
  read(o, "redirects", c.max_redirects, &options::get_int);
  read(o, "redirect_trusted", c.redirect_trusted, &options::get_bool);
  parse_proxy_options(o, c, errs);
}

void parse_timeouts(const options& t, config& c, config_error_list& errs) {
  read(t, "connect", c.connect_timeout, &options::get_duration);
  read(t, "header", c.header_timeout, &options::get_duration);
  read(t, "total", c.total_timeout, &options::get_duration);
  read(t, "min_speed", c.min_speed, &options::get_size);
  read(t, "speed_window", c.speed_window, &options::get_duration);
  if (c.min_speed > 0 && c.speed_window <= nanoseconds::zero()) {
    errs.add("timeouts.speed_window", "speed_window must be > 0 when min_speed is set");
  }
}

void parse_retry(const options& r, config& c, config_error_list& errs) {
  read(r, "attempts", c.attempts, &options::get_int);
  read(r, "backoff_base", c.backoff_base, &options::get_duration);
  read(r, "backoff_max", c.backoff_max, &options::get_duration);
  read(r, "retry_after_max", c.retry_after_max, &options::get_duration);
  if (!r.has("on")) {
    return;
  }
  c.retry_on.clear();
  const auto& classes = retry_classes();
  std::size_t i = 0;
  for (auto& v : r.get_string_list("on")) {
    std::string k = lower(v);
    bool known = std::find(classes.begin(), classes.end(), k) != classes.end();
    if (!known && !valid_status_pattern(k)) {
      errs.add(fmt::format("retry.on[{}]", i),
               fmt::format("unknown retry class '{}' ({} or a status such as 503)", v,
                           fmt::join(classes, ", ")));
    }
    c.retry_on.push_back(k);
    ++i;
  }
}

void parse_request(const options& o, const stage_context* ctx, config& c, config_error_list& errs) {
  if (o.has("method")) {
    c.method = o.get_string("method");
    if (c.method.empty() || !std::all_of(c.method.begin(), c.method.end(), [](unsigned char ch) {
          return std::isalnum(ch) || ch == '-' || ch == '_';
        })) {
      errs.add("method", "invalid HTTP method '" + c.method + "'");
    }
  }
  if (o.has("headers")) {
    for (auto& [k, v] : o.get_string_map("headers")) {
      c.headers.emplace_back(k, v);
    }
  }
  read(o, "body", c.body, &options::get_string);
  if (o.has("basic_auth")) {
    options a = o.get_object("basic_auth");
    std::string user = a.has("user") ? a.get_string("user") : "";
    std::string pass = a.has("password") ? a.get_string("password") : "";
    if (!user.empty() || !pass.empty()) {
      c.basic_auth = user + ":" + pass;
    }
  }
  read(o, "user_agent", c.user_agent, &options::get_string);
  read(o, "decompress", c.decompress, &options::get_bool);
  if (o.has("tls")) {
    options t = o.get_object("tls");
    read(t, "verify", c.tls_verify, &options::get_bool);
    if (t.has("ca_file")) {
      std::string f = t.get_string("ca_file");
      if (!f.empty()) {
        c.tls_ca_file = ctx ? ctx->resolve(f).string() : f;
      }
    }
  }
}

void parse_robots_options(const options& o, config& c, config_error_list& errs) {
  if (o.has("robots")) {
    c.robots_obey = o.get_string("robots") == "obey";
  }
  read(o, "robots_agent", c.robots_agent, &options::get_string);
  if (!c.robots_agent.empty()) {
    if (robots_product_token(c.robots_agent) != c.robots_agent) {
      errs.add("robots_agent", "robots_agent '" + c.robots_agent +
                                   "' is not a product token (letters, '-' and '_' only)");
    }
    return;
  }
  c.robots_agent = robots_product_token(c.user_agent);
  if (c.robots_obey && c.robots_agent.empty()) {
    errs.add("robots", "robots: obey needs a product token, and user_agent '" + c.user_agent +
                           "' does not start with one: set robots_agent");
  }
}

void parse_results(const options& o, config& c, config_error_list& errs) {
  read(o, "max_decoded", c.max_decoded, &options::get_size);
  read(o, "max_header", c.max_header, &options::get_size);
  read(o, "max_body", c.max_body, &options::get_size);
  read(o, "recv_buffer", c.recv_buffer, &options::get_size);
  if (c.recv_buffer > (1ull << 30)) {
    errs.add("recv_buffer", "recv_buffer must be at most 1GiB");
  }
  read(o, "memory_body", c.memory_body, &options::get_size);
  read(o, "keep_body", c.keep_body, &options::get_bool);
  if (o.has("keep_headers")) {
    c.keep_headers.clear();
    for (auto& h : o.get_string_list("keep_headers")) {
      c.keep_headers.push_back(lower(h));
    }
  }
  if (o.has("fail_status")) {
    c.fail_status.clear();
    std::size_t i = 0;
    for (auto& p : o.get_string_list("fail_status")) {
      std::string k = lower(p);
      if (!valid_status_pattern(k)) {
        errs.add(fmt::format("fail_status[{}]", i),
                 "invalid status pattern '" + p + "' (like 404, 4xx or 5xx)");
      }
      c.fail_status.push_back(k);
      ++i;
    }
  }
}

/// One rule's effective config: the consumer's `base` with the rule's keys
/// laid over it. Problems go to `errs` with paths inside the rule.
std::shared_ptr<const config> parse_rule(const options& r, const config& base,
                                         config_error_list& errs) {
  auto c = std::make_shared<config>(base);
  c->hosts.clear();
  parse_limits(r, *c, errs);
  if (r.has("timeouts")) {
    parse_timeouts(r.get_object("timeouts"), *c, errs);
  }
  if (r.has("retry")) {
    parse_retry(r.get_object("retry"), *c, errs);
  }
  parse_rule_headers(r, *c);
  return c;
}

}  // namespace

config parse_config(const options& o, const stage_context* ctx) {
  // Every problem is collected, so `sluice check` reports them all at once.
  config c;
  config_error_list errs;
  parse_connection(o, c, errs);
  if (o.has("timeouts")) {
    parse_timeouts(o.get_object("timeouts"), c, errs);
  }
  if (o.has("retry")) {
    parse_retry(o.get_object("retry"), c, errs);
  }
  parse_request(o, ctx, c, errs);
  parse_results(o, c, errs);
  parse_robots_options(o, c, errs);
  parse_cookies(o, ctx, c, errs);
  // Last: a rule starts from every other key's value.
  parse_hosts(o, c, errs,
              [&c](const options& r, config_error_list& e) { return parse_rule(r, c, e); });
  errs.throw_if_any();
  return c;
}

config robots_fetch_config(const config& c) {
  config r = c;
  r.robots_obey = false;
  r.method = "GET";
  r.body.clear();
  r.max_redirects = 5;  // RFC 9309 §2.3.1.2: at least five hops
  r.fail_status.clear();
  r.keep_body = true;
  r.max_decoded = k_robots_parse_limit;
  r.memory_body = k_robots_parse_limit;
  return r;
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

}  // namespace sluice::stages::http
