// The http consumer's proxies (see proxy.hpp).
#include "proxy.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "connector.hpp"
#include "sluice/core/base64.hpp"
#include "sluice/core/error.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
namespace urls = boost::urls;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

/// curl's Curl_cidr4_match / Curl_cidr6_match: `bits` 0 means the whole
/// address; a network that is not an address of the host's family never
/// matches.
bool cidr_match(const net::ip::address& host, std::string_view pattern) {
  std::string net_text(pattern);
  unsigned bits = 0;
  if (auto slash = net_text.find('/'); slash != std::string::npos) {
    bits = static_cast<unsigned>(std::atoi(net_text.c_str() + slash + 1));  // curl: atoi
    net_text.resize(slash);
  }
  error_code ec;
  auto network = net::ip::make_address(net_text, ec);
  if (ec || network.is_v4() != host.is_v4()) {
    return false;
  }
  std::array<unsigned char, 16> a{};
  std::array<unsigned char, 16> b{};
  std::size_t size = 4;
  if (host.is_v4()) {
    auto x = host.to_v4().to_bytes();
    auto y = network.to_v4().to_bytes();
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(y.begin(), y.end(), b.begin());
  } else {
    size = 16;
    auto x = host.to_v6().to_bytes();
    auto y = network.to_v6().to_bytes();
    std::copy(x.begin(), x.end(), a.begin());
    std::copy(y.begin(), y.end(), b.begin());
  }
  if (bits == 0) {
    bits = static_cast<unsigned>(size * 8);
  }
  if (bits > size * 8) {
    return false;
  }
  std::size_t whole = bits / 8;
  if (std::memcmp(a.data(), b.data(), whole) != 0) {
    return false;
  }
  unsigned rest = bits % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<unsigned char>(0xffu << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

/// `host` is `domain` or one of its subdomains (`a.example.com`, never
/// `notexample.com`), case-insensitively.
bool domain_match(std::string_view domain, std::string_view host) {
  if (domain.size() == host.size()) {
    return iequal(domain, host);
  }
  return domain.size() < host.size() && host[host.size() - domain.size() - 1] == '.' &&
         iequal(domain, host.substr(host.size() - domain.size()));
}

/// The value of the first of `names` that is set (an empty value counts:
/// curl stops there), with the name.
std::optional<std::pair<std::string, std::string>> first_set(
    const env_lookup& env, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (auto v = env(n)) {
      return std::pair<std::string, std::string>{n, std::move(*v)};
    }
  }
  return std::nullopt;
}

bool disables(std::string_view value) {
  return value.empty() || iequal(value, "none");
}

/// The proxy of one scheme from the environment: its own variables, else
/// all_proxy/ALL_PROXY.
std::optional<proxy_endpoint> from_env(const env_lookup& env,
                                       std::initializer_list<const char*> own) {
  auto v = first_set(env, own);
  if (!v) {
    v = first_set(env, {"all_proxy", "ALL_PROXY"});
  }
  if (!v || v->second.empty()) {
    return std::nullopt;
  }
  std::string why;
  auto p = parse_proxy_url(v->second, why);
  if (!p) {
    throw config_error("proxy", fmt::format("environment variable {}: {}", v->first, why));
  }
  return p;
}

}  // namespace

std::optional<proxy_endpoint> parse_proxy_url(std::string_view text, std::string& why) {
  std::string url(text);
  if (url.find("://") == std::string::npos) {
    url = "http://" + url;  // curl: a proxy without a scheme is an HTTP proxy
  }
  auto parsed = urls::parse_uri(url);
  if (!parsed) {
    why = fmt::format("malformed proxy URL '{}'", text);
    return std::nullopt;
  }
  const auto& u = *parsed;
  if (u.scheme_id() != urls::scheme::http) {
    why = fmt::format("unsupported proxy scheme '{}' in '{}' (only http:// proxies)",
                      std::string(u.scheme()), text);
    return std::nullopt;
  }
  proxy_endpoint p;
  target& t = p.hop;
  t.tls = false;
  if (!set_host(u, t) || t.host.empty()) {
    why = fmt::format("no host in proxy URL '{}'", text);
    return std::nullopt;
  }
  t.port = 1080;  // curl's default proxy port
  if (u.has_port()) {
    auto n = u.port_number();
    if (n == 0) {
      why = fmt::format("bad port in proxy URL '{}'", text);
      return std::nullopt;
    }
    t.port = n;
  }
  if (u.has_userinfo()) {
    p.authorization = "Basic " + base64_encode(u.user() + ":" + u.password());
  }
  bool v6 = t.host.find(':') != std::string::npos;
  p.name = fmt::format("{}{}{}:{}", v6 ? "[" : "", t.host, v6 ? "]" : "", t.port);
  fmt::format_to(std::back_inserter(t.key), "http://{}", p.name);
  return p;
}

bool no_proxy_matches(std::string_view list, std::string_view host) {
  if (host.empty() || list.empty()) {
    return false;
  }
  if (list == "*") {
    return true;
  }
  error_code ec;
  auto addr = net::ip::make_address(std::string(host), ec);
  bool is_ip = !ec;
  if (!is_ip && host.back() == '.') {
    host.remove_suffix(1);
  }
  std::size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (is_blank(list[i]) || list[i] == ',')) {
      ++i;
    }
    std::size_t start = i;
    while (i < list.size() && !is_blank(list[i]) && list[i] != ',') {
      ++i;
    }
    std::string_view token = list.substr(start, i - start);
    if (token.empty()) {
      continue;
    }
    if (is_ip) {
      if (cidr_match(addr, token)) {
        return true;
      }
      continue;
    }
    if (token.back() == '.') {
      token.remove_suffix(1);
    }
    if (!token.empty() && token.front() == '.') {
      token.remove_prefix(1);
    }
    if (domain_match(token, host)) {
      return true;
    }
  }
  return false;
}

env_lookup process_env() {
  return [](const char* n) -> std::optional<std::string> {
    const char* v = std::getenv(n);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
}

proxy_rules::proxy_rules(const config& cfg, const env_lookup& env) {
  if (cfg.proxy) {
    if (!disables(*cfg.proxy)) {
      std::string why;
      http_ = parse_proxy_url(*cfg.proxy, why);
      if (!http_) {
        throw config_error("proxy", why);
      }
      https_ = parse_proxy_url(*cfg.proxy, why);  // a target is not copyable
    }
  } else {
    http_ = from_env(env, {"http_proxy"});  // never HTTP_PROXY (httpoxy), as curl
    https_ = from_env(env, {"https_proxy", "HTTPS_PROXY"});
  }
  if (cfg.no_proxy) {
    no_proxy_ = *cfg.no_proxy;
  } else if (auto v = first_set(env, {"no_proxy", "NO_PROXY"})) {
    no_proxy_ = v->second;
  }
}

const proxy_endpoint* proxy_rules::for_target(const target& t) const {
  const auto& p = t.tls ? https_ : http_;
  if (!p || no_proxy_matches(no_proxy_, t.host)) {
    return nullptr;
  }
  return &*p;
}

void add_proxy_options(option_schema& s) {
  using T = option_type;
  s.push_back(make_option(
      "proxy", T::string, "",
      "HTTP proxy for every URL, `http://user:password@host:port` (port 1080 by default; "
      "https URLs go through CONNECT); `\"\"` or `none`: no proxy, whatever the environment "
      "says; not given: `http_proxy`, `https_proxy`, `all_proxy` as curl reads them"));
  s.push_back(make_option(
      "no_proxy", T::string_list, "",
      "Hosts never proxied, curl's rules: `*`, a domain (and its subdomains, leading dot or "
      "not), an IP address or CIDR block; a list or one comma-separated string; not given: "
      "`no_proxy`/`NO_PROXY`"));
}

void parse_proxy_options(const options& o, config& c, config_error_list& errs) {
  if (o.has("proxy")) {
    c.proxy = o.get_string("proxy");
    std::string why;
    if (!disables(*c.proxy) && !parse_proxy_url(*c.proxy, why)) {
      errs.add("proxy", why);
    }
  }
  if (o.has("no_proxy")) {
    std::string joined;
    for (auto& h : o.get_string_list("no_proxy")) {
      joined += joined.empty() ? h : "," + h;
    }
    c.no_proxy = std::move(joined);
  }
}

std::string for_proxy(std::string request, const target& t, const proxy_endpoint& p) {
  auto sp = request.find(' ');
  if (sp == std::string::npos) {
    return request;
  }
  request.insert(sp + 1, fmt::format("http://{}", t.host_header));
  if (!p.authorization.empty()) {
    auto eol = request.find("\r\n");
    request.insert(eol + 2, fmt::format("Proxy-Authorization: {}\r\n", p.authorization));
  }
  return request;
}

std::string proxy_auth_message(const proxy_endpoint& p, std::string_view what) {
  return fmt::format(
      "proxy {}{}407 Proxy Authentication Required ({}: {})", what, what.empty() ? "" : " ", p.name,
      p.authorization.empty() ? "no credentials in the proxy URL" : "credentials rejected");
}

fetch_failure as_proxy_failure(fetch_failure f, const proxy_endpoint& p) {
  if (f.kind == fetch_errc::resolve || f.kind == fetch_errc::connect) {
    return {fetch_errc::proxy_connect, fmt::format("proxy {}: {}", p.name, f.message)};
  }
  if (f.kind == fetch_errc::timeout_connect || f.kind == fetch_errc::timeout_total) {
    f.message = fmt::format("proxy {}: {}", p.name, f.message);
  }
  return f;
}

net::awaitable<fetch_failure> open_tunnel(attempt_context& ctx, const config& cfg,
                                          tcp::socket& sock, const target& t,
                                          const proxy_endpoint& p, phase_deadline limit) {
  bool v6 = t.ip_literal && t.host.find(':') != std::string::npos;
  std::string authority = fmt::format("{}{}{}:{}", v6 ? "[" : "", t.host, v6 ? "]" : "", t.port);
  bhttp::request<bhttp::empty_body> req{bhttp::verb::connect, authority, 11};
  req.set(bhttp::field::host, authority);
  if (!p.authorization.empty()) {
    req.set(bhttp::field::proxy_authorization, p.authorization);
  }
  if (!cfg.user_agent.empty()) {
    req.set(bhttp::field::user_agent, cfg.user_agent);
  }
  boost::beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::empty_body> parser;
  parser.skip(true);  // a CONNECT answer's body, if any, is never read
  parser.header_limit(
      static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg.max_header, UINT32_MAX)));
  auto started = clock::now();
  ctx.dog.arm(ctx.slot, sock, limit.at);
  auto [ec, written] = co_await bhttp::async_write(sock, req, use_tuple);
  if (!ec) {
    auto [rec, n] = co_await bhttp::async_read(sock, buffer, parser, use_tuple);
    ec = rec;
  }
  bool timed_out = ctx.dog.disarm(ctx.slot);
  ctx.r.time.connect += clock::now() - started;
  if (timed_out) {
    co_return fetch_failure{
        limit.own_first ? fetch_errc::timeout_connect : fetch_errc::timeout_total,
        fmt::format("proxy {}: CONNECT {} timed out", p.name, authority)};
  }
  if (ec == net::error::operation_aborted) {
    co_return fetch_failure{fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
  }
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset) {
    co_return fetch_failure{
        fetch_errc::proxy_connect,
        fmt::format("proxy {} closed the connection during CONNECT {}", p.name, authority)};
  }
  if (ec) {
    co_return fetch_failure{
        fetch_errc::proxy_connect,
        fmt::format("proxy {}: bad answer to CONNECT {}: {}", p.name, authority, ec.message())};
  }
  const auto& res = parser.get();
  unsigned status = res.result_int();
  auto reason = std::string(res.reason());
  if (status == 407) {
    co_return fetch_failure{fetch_errc::proxy_auth, proxy_auth_message(p, "CONNECT")};
  }
  if (status < 200 || status > 299) {
    co_return fetch_failure{
        fetch_errc::proxy_status,
        fmt::format("proxy CONNECT {} {} ({}, for {})", status, reason, p.name, authority)};
  }
  if (buffer.size() > 0) {
    co_return fetch_failure{
        fetch_errc::proxy_connect,
        fmt::format("proxy {}: {} bytes after the CONNECT {} answer, before TLS began", p.name,
                    buffer.size(), status)};
  }
  co_return fetch_failure{};
}

}  // namespace sluice::stages::http
