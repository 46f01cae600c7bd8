// robots.txt parsing and matching (see robots.hpp).
#include "robots.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include <boost/url/grammar/hexdig_chars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include "sluice/core/fetch_error.hpp"

namespace sluice::stages::http {

namespace urls = boost::urls;

namespace {

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

void append_escape(std::string& out, unsigned char v) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out += '%';
  out += hex[v >> 4];
  out += hex[v & 0xF];
}

/// One record of a group: a rule or a crawl delay.
enum class key_kind { user_agent, allow, disallow, crawl_delay, other };

key_kind classify_key(std::string_view key) {
  if (iequals(key, "user-agent")) {
    return key_kind::user_agent;
  }
  if (iequals(key, "allow")) {
    return key_kind::allow;
  }
  if (iequals(key, "disallow")) {
    return key_kind::disallow;
  }
  if (iequals(key, "crawl-delay")) {
    return key_kind::crawl_delay;
  }
  return key_kind::other;
}

/// A group as parsed: whom it is for, and its records.
struct group {
  bool for_us = false;
  bool for_star = false;
  bool has_records = false;  // a rule or delay ends the group's user-agent lines
  std::vector<robots_rule> rules;
  std::optional<double> crawl_delay;
};

std::optional<double> parse_delay(std::string_view v) {
  double d = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), d);
  if (ec != std::errc{} || p == v.data() || !std::isfinite(d) || !(d > 0)) {
    return std::nullopt;
  }
  return d;
}

/// Which groups a User-agent value names: `*`, or the token as the value's
/// leading product-token characters (`Sluice/1.0` and `sluice` name `sluice`).
void add_agent(group& g, std::string_view value, std::string_view token) {
  std::size_t n = 0;
  while (n < value.size() && is_token_char(value[n])) {
    ++n;
  }
  if (n == 0 && !value.empty() && value.front() == '*') {
    g.for_star = true;
  } else if (n > 0 && iequals(value.substr(0, n), token)) {
    g.for_us = true;
  }
}

void add_record(group& g, key_kind k, std::string_view value, std::size_t line) {
  g.has_records = true;
  if (k == key_kind::crawl_delay) {
    if (!g.crawl_delay) {
      g.crawl_delay = parse_delay(value);
    }
    return;
  }
  if (value.empty()) {
    return;  // `Disallow:` alone disallows nothing; an empty Allow allows nothing more
  }
  std::string pattern = robots_normalize(value);
  if (pattern.front() != '/' && pattern.front() != '*') {
    pattern.insert(pattern.begin(), '/');
  }
  g.rules.push_back({std::move(pattern), k == key_kind::allow, line});
}

std::vector<group> parse_groups(std::string_view text, std::string_view token) {
  std::vector<group> groups;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto end = text.find_first_of("\r\n");
    std::string_view line = text.substr(0, end);
    if (end == std::string_view::npos) {
      text = {};
    } else {
      bool crlf = text[end] == '\r' && end + 1 < text.size() && text[end + 1] == '\n';
      text.remove_prefix(end + (crlf ? 2 : 1));
    }
    ++line_no;
    line = line.substr(0, line.find('#'));
    auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    auto kind = classify_key(trim(line.substr(0, colon)));
    auto value = trim(line.substr(colon + 1));
    if (kind == key_kind::other) {
      continue;  // sitemap, host, typos: not part of any group (§2.2.4)
    }
    if (kind == key_kind::user_agent) {
      if (groups.empty() || groups.back().has_records) {
        groups.emplace_back();
      }
      add_agent(groups.back(), value, token);
    } else if (!groups.empty()) {
      add_record(groups.back(), kind, value, line_no);
    }
  }
  return groups;
}

}  // namespace

std::string robots_normalize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '%' && i + 2 < s.size()) {
      auto hi = urls::grammar::hexdig_value(s[i + 1]);
      auto lo = urls::grammar::hexdig_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        auto v = static_cast<unsigned char>(hi * 16 + lo);
        if (urls::unreserved_chars(static_cast<char>(v))) {
          out += static_cast<char>(v);
        } else {
          append_escape(out, v);
        }
        i += 2;
        continue;
      }
    }
    if (c == '%' || c <= 0x20 || c >= 0x7F) {
      append_escape(out, c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool robots_match(std::string_view pattern, std::string_view path) {
  // The positions in `path` that the pattern so far can end at, in order
  // (Google's robotstxt matcher): a literal keeps the positions it extends,
  // a `*` makes every later position reachable. O(|pattern| x |path|).
  std::vector<std::size_t> pos{0};
  pos.reserve(path.size() + 1);
  for (std::size_t k = 0; k < pattern.size(); ++k) {
    char c = pattern[k];
    if (c == '$' && k + 1 == pattern.size()) {
      return pos.back() == path.size();
    }
    if (c == '*') {
      std::size_t first = pos.front();
      pos.resize(path.size() - first + 1);
      for (std::size_t i = 0; i < pos.size(); ++i) {
        pos[i] = first + i;
      }
      continue;
    }
    std::size_t kept = 0;
    for (std::size_t p : pos) {
      if (p < path.size() && path[p] == c) {
        pos[kept++] = p + 1;
      }
    }
    if (kept == 0) {
      return false;
    }
    pos.resize(kept);
  }
  return true;
}

robots_rules::verdict robots_rules::check(std::string_view target) const {
  if (disallow_all) {
    return {false, nullptr};
  }
  std::string path = robots_normalize(target.empty() ? std::string_view("/") : target);
  if (path == "/robots.txt") {
    return {true, nullptr};
  }
  verdict best;
  std::size_t best_len = 0;
  for (const auto& r : rules) {
    if (best.rule != nullptr &&
        (r.pattern.size() < best_len || (r.pattern.size() == best_len && !r.allow))) {
      continue;
    }
    if (robots_match(r.pattern, path)) {
      best = {r.allow, &r};
      best_len = r.pattern.size();
    }
  }
  return best;
}

robots_rules parse_robots(std::string_view text, std::string_view token) {
  text = text.substr(0, std::min(text.size(), k_robots_parse_limit));
  if (text.starts_with("\xEF\xBB\xBF")) {
    text.remove_prefix(3);
  }
  auto groups = parse_groups(text, token);
  bool ours = std::any_of(groups.begin(), groups.end(), [](const group& g) { return g.for_us; });
  robots_rules out;
  for (auto& g : groups) {
    if (ours ? g.for_us : g.for_star) {
      if (!out.crawl_delay) {
        out.crawl_delay = g.crawl_delay;
      }
      std::move(g.rules.begin(), g.rules.end(), std::back_inserter(out.rules));
    }
  }
  return out;
}

robots_rules robots_from_response(const result& r, std::string_view token) {
  auto kind = fetch_errc_from_name(r.error_kind);
  bool cut = kind == fetch_errc::body_limit;
  if ((!kind || cut) && r.status >= 200 && r.status <= 299) {
    auto rules = parse_robots(r.body, token);
    rules.source = fmt::format("HTTP {}{}, {} rule(s) for '{}'", r.status,
                               cut ? ", the first 500 KiB" : "", rules.rules.size(), token);
    return rules;
  }
  robots_rules out;
  auto attempts = fmt::format("after {} attempt(s)", r.attempts);
  if (kind && info(*kind).condition == fetch_condition::redirect) {
    out.source = fmt::format("unavailable ({}): nothing disallowed", r.error_message);
  } else if (kind && kind != fetch_errc::http_status && !cut) {
    out.disallow_all = true;
    out.source = fmt::format("unreachable ({}: {}, {}): everything disallowed", r.error_kind,
                             r.error_message, attempts);
  } else if (r.status == 429 || r.status >= 500) {
    out.disallow_all = true;
    out.source = fmt::format("unreachable (HTTP {} {}): everything disallowed", r.status, attempts);
  } else {
    out.source = fmt::format("unavailable (HTTP {}): nothing disallowed", r.status);
  }
  return out;
}

std::string robots_product_token(std::string_view user_agent) {
  user_agent = trim(user_agent);
  std::size_t n = 0;
  while (n < user_agent.size() && is_token_char(user_agent[n])) {
    ++n;
  }
  return std::string(user_agent.substr(0, n));
}

}  // namespace sluice::stages::http
