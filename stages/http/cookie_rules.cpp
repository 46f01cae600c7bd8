// RFC 6265's rules as pure functions: the cookie-date algorithm, domain and
// path matching, Set-Cookie parsing, public suffixes (see cookie_jar.hpp).
#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include <libpsl.h>

#include "cookie_jar.hpp"

namespace sluice::stages::http {

namespace {

char lower_ascii(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower_ascii);
  return out;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower_ascii(x) == lower_ascii(y);
         });
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// RFC 6265 section 5.1.1's delimiter: %x09 / %x20-2F / %x3B-40 / %x5B-60 / %x7B-7E.
bool is_date_delimiter(unsigned char c) {
  return c == 0x09 || (c >= 0x20 && c <= 0x2F) || (c >= 0x3B && c <= 0x40) ||
         (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}

// 1*2DIGIT at `s`[at]: its value, `at` moved past it; -1 when absent.
int digits(std::string_view s, std::size_t& at, std::size_t min, std::size_t max) {
  std::size_t n = 0;
  int v = 0;
  while (at + n < s.size() && n < max && is_digit(s[at + n])) {
    v = v * 10 + (s[at + n] - '0');
    ++n;
  }
  if (n < min || (at + n < s.size() && is_digit(s[at + n]))) {
    return -1;  // too few, or more digits than allowed
  }
  at += n;
  return v;
}

bool parse_time(std::string_view tok, int& h, int& m, int& s) {
  std::size_t at = 0;
  h = digits(tok, at, 1, 2);
  if (h < 0 || at >= tok.size() || tok[at++] != ':') {
    return false;
  }
  m = digits(tok, at, 1, 2);
  if (m < 0 || at >= tok.size() || tok[at++] != ':') {
    return false;
  }
  s = digits(tok, at, 1, 2);
  return s >= 0;
}

int parse_month(std::string_view tok) {
  static constexpr std::array<std::string_view, 12> names = {
      "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (tok.size() < 3) {
    return -1;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (iequal(tok.substr(0, 3), names[i])) {
      return static_cast<int>(i) + 1;
    }
  }
  return -1;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

bool valid_day(int y, int m, int d) {
  static constexpr std::array<int, 12> len = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (d > len[static_cast<std::size_t>(m - 1)]) {
    return false;
  }
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m != 2 || d <= 28 || leap;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; });
}

// A Domain attribute's characters: letters, digits, `.`, `-`, `_`, `:` (IPv6).
bool plausible_domain(std::string_view d) {
  return !d.empty() && d.back() != '.' && d.find("..") == std::string_view::npos &&
         std::all_of(d.begin(), d.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '-' || c == '_' ||
                  c == ':';
         });
}

std::int64_t add_seconds(std::int64_t now, std::int64_t delta) {
  constexpr std::int64_t k_max = 253402300799;  // 9999-12-31T23:59:59Z
  return delta > k_max - now ? k_max : now + delta;
}

/// The attributes of a Set-Cookie (after its name=value), the last of each
/// name winning (section 5.2).
struct attributes {
  std::optional<std::int64_t> expires;
  std::optional<std::int64_t> max_age;  ///< as an expiry time
  std::optional<std::string> domain;
  std::optional<std::string> path;
  bool secure = false;
  bool http_only = false;
};

attributes parse_attributes(std::string_view rest, std::int64_t now) {
  attributes a;
  while (!rest.empty()) {
    auto semi = rest.find(';');
    std::string_view av = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    auto eq = av.find('=');
    std::string_view name = trim_wsp(av.substr(0, eq));
    std::string_view value = eq == std::string_view::npos ? "" : trim_wsp(av.substr(eq + 1));
    if (value.size() > 1024) {
      continue;  // RFC 6265bis: an attribute over 1024 bytes is ignored
    }
    if (iequal(name, "expires")) {
      if (auto t = parse_cookie_date(value)) {
        a.expires = *t;
      }
    } else if (iequal(name, "max-age")) {
      std::int64_t delta = 0;
      bool ok = !value.empty() && (is_digit(value[0]) || value[0] == '-');
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), delta);
      if (ok && p == value.data() + value.size()) {
        if (ec == std::errc::result_out_of_range) {
          delta = value[0] == '-' ? -1 : std::numeric_limits<std::int64_t>::max();
        } else if (ec != std::errc{}) {
          continue;
        }
        // Max-Age <= 0: the earliest representable time (a deletion).
        a.max_age = delta <= 0 ? std::numeric_limits<std::int64_t>::min() : add_seconds(now, delta);
      }
    } else if (iequal(name, "domain")) {
      if (!value.empty()) {
        a.domain = lower(value.front() == '.' ? value.substr(1) : value);
      }
    } else if (iequal(name, "path")) {
      // An empty or relative Path: the default-path ("" here); so is one
      // with a control character (a tab would split the Netscape file's line).
      a.path = value.empty() || value.front() != '/' || has_control(value) ? std::string()
                                                                           : std::string(value);
    } else if (iequal(name, "secure")) {
      a.secure = true;
    } else if (iequal(name, "httponly")) {
      a.http_only = true;
    }
  }
  return a;
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

std::optional<std::int64_t> parse_cookie_date(std::string_view text) {
  int hour = -1, minute = -1, second = -1, day = -1, month = -1, year = -1;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_date_delimiter(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    std::size_t start = i;
    while (i < text.size() && !is_date_delimiter(static_cast<unsigned char>(text[i]))) {
      ++i;
    }
    std::string_view tok = text.substr(start, i - start);
    if (tok.empty()) {
      continue;
    }
    int h = 0, m = 0, s = 0;
    std::size_t at = 0;
    if (hour < 0 && parse_time(tok, h, m, s)) {
      hour = h, minute = m, second = s;
    } else if (day < 0 && (at = 0, digits(tok, at, 1, 2) >= 0)) {
      at = 0;
      day = digits(tok, at, 1, 2);
    } else if (month < 0 && parse_month(tok) > 0) {
      month = parse_month(tok);
    } else if (year < 0 && (at = 0, digits(tok, at, 2, 4) >= 0)) {
      at = 0;
      year = digits(tok, at, 2, 4);
    }
  }
  if (year >= 70 && year <= 99) {
    year += 1900;
  } else if (year >= 0 && year <= 69) {
    year += 2000;
  }
  if (hour < 0 || day < 0 || month < 0 || year < 0 || day < 1 || day > 31 || year < 1601 ||
      hour > 23 || minute > 59 || second > 59 || !valid_day(year, month, day)) {
    return std::nullopt;
  }
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second;
}

bool is_public_suffix(std::string_view domain) {
  static const psl_ctx_t* psl = [] {
    const psl_ctx_t* latest = psl_latest(nullptr);
    return latest ? latest : psl_builtin();
  }();
  std::string d(domain);
  if (psl == nullptr) {
    return d.find('.') == std::string::npos;  // no list: at least the TLDs
  }
  return psl_is_public_suffix2(psl, d.c_str(), PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

bool domain_match(std::string_view host, std::string_view domain, bool host_is_ip) {
  if (host == domain) {
    return true;
  }
  return !host_is_ip && host.size() > domain.size() && host.ends_with(domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

std::string default_path(std::string_view request_path) {
  std::string_view p = path_of(request_path);
  if (p.empty() || p.front() != '/') {
    return "/";
  }
  auto last = p.rfind('/');
  return last == 0 ? "/" : std::string(p.substr(0, last));
}

bool path_match(std::string_view request_path, std::string_view cookie_path) {
  std::string_view p = path_of(request_path);
  if (p.empty() || p.front() != '/') {
    p = "/";
  }
  if (p == cookie_path) {
    return true;
  }
  return p.starts_with(cookie_path) && (cookie_path.ends_with('/') || p[cookie_path.size()] == '/');
}

void add_cookie_header(std::string& request, std::string_view cookies) {
  if (cookies.empty()) {
    return;
  }
  auto head_end = request.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    return;
  }
  // Field lines start after the request line's CRLF.
  for (auto at = request.find("\r\n"); at < head_end; at = request.find("\r\n", at + 2)) {
    std::size_t line = at + 2;
    auto eol = request.find("\r\n", line);
    std::string_view field(request.data() + line, eol - line);
    if (field.size() >= 7 && iequal(field.substr(0, 7), "cookie:")) {
      bool empty = trim_wsp(field.substr(7)).empty();
      request.insert(eol, (empty ? "" : "; ") + std::string(cookies));
      return;
    }
  }
  request.insert(head_end + 2, "Cookie: " + std::string(cookies) + "\r\n");
}

std::optional<cookie> parse_set_cookie(const cookie_url& u, std::string_view set_cookie,
                                       std::int64_t now, const cookie_limits& limits,
                                       std::string& why) {
  auto semi = set_cookie.find(';');
  std::string_view pair = set_cookie.substr(0, semi);
  auto eq = pair.find('=');
  if (eq == std::string_view::npos) {
    why = "no '=' in the name=value pair";
    return std::nullopt;
  }
  cookie c;
  std::string_view name = trim_wsp(pair.substr(0, eq));
  std::string_view value = trim_wsp(pair.substr(eq + 1));
  if (name.empty()) {
    why = "empty cookie name";
    return std::nullopt;
  }
  if (name.size() + value.size() > limits.max_bytes) {
    why = "cookie larger than " + std::to_string(limits.max_bytes) + " bytes";
    return std::nullopt;
  }
  if (has_control(name) || has_control(value)) {
    why = "control character in the name or value";
    return std::nullopt;
  }
  c.name = name;
  c.value = value;
  attributes a = parse_attributes(
      semi == std::string_view::npos ? std::string_view() : set_cookie.substr(semi + 1), now);
  // Max-Age wins over Expires (section 5.3 step 3).
  if (a.max_age || a.expires) {
    c.persistent = true;
    c.expiry = a.max_age ? *a.max_age : *a.expires;
  }
  std::string host = lower(u.host);
  c.host_only = true;
  c.domain = host;
  if (a.domain && *a.domain != host) {
    if (u.ip) {
      why = "a Domain attribute on a cookie of an IP address";
      return std::nullopt;
    }
    if (!plausible_domain(*a.domain)) {
      why = "malformed Domain attribute";
      return std::nullopt;
    }
    if (is_public_suffix(*a.domain)) {
      why = "Domain '" + *a.domain + "' is a public suffix";
      return std::nullopt;
    }
    if (!domain_match(host, *a.domain, false)) {
      why = "Domain '" + *a.domain + "' does not match the host '" + host + "'";
      return std::nullopt;
    }
    c.host_only = false;
    c.domain = *a.domain;
  } else if (a.domain && !u.ip && !is_public_suffix(host)) {
    c.host_only = false;  // Domain=<the host>: the host and its subdomains
  }
  c.path = a.path && !a.path->empty() ? *a.path : default_path(u.path);
  c.secure = a.secure;
  c.http_only = a.http_only;
  if (c.secure && !u.secure) {
    why = "a Secure cookie from an http:// URL (RFC 6265bis)";
    return std::nullopt;
  }
  bool secure_prefix = name.starts_with("__Secure-") || name.starts_with("__Host-");
  if ((secure_prefix && !c.secure) ||
      (name.starts_with("__Host-") && (!c.host_only || c.path != "/"))) {
    why = "a __Secure- or __Host- cookie without its attributes";
    return std::nullopt;
  }
  return c;
}

}  // namespace sluice::stages::http
