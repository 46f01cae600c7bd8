// The http consumer's `hosts:` rules: match patterns and the rule list
// (see host_rules.hpp and http_config.hpp).
#include "host_rules.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include "sluice/core/error.hpp"

namespace sluice::stages::http {

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

void parse_rule_headers(const options& o, config& c) {
  if (!o.has("headers")) {
    return;
  }
  for (auto& [k, v] : o.get_string_map("headers")) {
    auto same = [&k = k](const auto& h) { return lower(h.first) == lower(k); };
    c.headers.erase(std::remove_if(c.headers.begin(), c.headers.end(), same), c.headers.end());
    c.headers.emplace_back(k, v);
  }
}

// Rules in order; a malformed pattern, or one an earlier rule covers
// entirely (it could never be the first match), is an error at its `match`.
void parse_hosts(const options& o, config& c, config_error_list& errs,
                 const rule_parser& parse_rule) {
  if (!o.has("hosts")) {
    return;
  }
  std::size_t i = 0;
  for (const auto& r : o.get_object_list("hosts")) {
    const std::string at = fmt::format("hosts[{}]", i++);
    host_rule rule;
    rule.match = r.get_string("match");
    std::string why;
    auto pattern = parse_host_pattern(rule.match, why);
    if (!pattern) {
      errs.add(at + ".match", fmt::format("{}: malformed match '{}': {}", at, rule.match, why));
    } else {
      rule.pattern = *pattern;
      for (std::size_t j = 0; j < c.hosts.size(); ++j) {
        if (c.hosts[j].cfg && c.hosts[j].pattern.covers(rule.pattern)) {
          errs.add(at + ".match",
                   fmt::format("{} (match '{}') can never match: hosts[{}] (match '{}') comes "
                               "first and matches every origin it does",
                               at, rule.match, j, c.hosts[j].match));
          break;
        }
      }
    }
    config_error_list local;
    rule.cfg = parse_rule(r, local);
    try {
      local.throw_if_any();
    } catch (const config_errors& e) {
      for (const auto& x : e.errors()) {
        errs.add(at + "." + x.option(), x.what());
      }
    }
    if (!pattern) {
      rule.cfg = nullptr;  // never matched, never covers a later rule
    }
    c.hosts.push_back(std::move(rule));
  }
}

bool host_pattern::matches(std::string_view h, std::uint16_t p) const {
  if (port && *port != p) {
    return false;
  }
  if (what == kind::any) {
    return true;
  }
  std::string name = lower(std::string(h));
  if (what == kind::exact) {
    return name == host;
  }
  return name.size() > host.size() + 1 && name.ends_with(host) &&
         name[name.size() - host.size() - 1] == '.';
}

bool host_pattern::covers(const host_pattern& o) const {
  if (port && (!o.port || *o.port != *port)) {
    return false;
  }
  switch (what) {
    case kind::any:
      return true;
    case kind::exact:
      return o.what == kind::exact && o.host == host;
    case kind::subdomains:
      if (o.what == kind::any) {
        return false;
      }
      if (o.what == kind::subdomains && o.host == host) {
        return true;
      }
      // a subdomain of ours, or every subdomain of one of ours
      return o.host.size() > host.size() + 1 && o.host.ends_with(host) &&
             o.host[o.host.size() - host.size() - 1] == '.';
  }
  return false;
}

std::optional<host_pattern> parse_host_pattern(std::string_view text, std::string& why) {
  host_pattern p;
  std::string rest(text);
  if (rest.starts_with("*.")) {
    p.what = host_pattern::kind::subdomains;
    rest.erase(0, 2);
  } else if (rest == "*" || rest.starts_with("*:")) {
    p.what = host_pattern::kind::any;
    rest.replace(0, 1, "any");  // a placeholder host, so the port parses as an authority's
  } else {
    p.what = host_pattern::kind::exact;
  }
  if (rest.empty() || rest.front() == ':') {
    why = "no host (write `host`, `host:port`, `*.domain` or `*`)";
    return std::nullopt;
  }
  auto auth = boost::urls::parse_authority(rest);
  if (!auth || auth->has_userinfo() || rest.find('/') != std::string::npos) {
    why = "not a host or host:port (no scheme, path or user; write `api.example.com:8443`)";
    return std::nullopt;
  }
  switch (auth->host_type()) {
    case boost::urls::host_type::name:
      p.host = lower(auth->host_address());
      break;
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      if (p.what == host_pattern::kind::subdomains) {
        why = "`*.` goes before a domain name, not an IP address";
        return std::nullopt;
      }
      p.host = lower(std::string(auth->encoded_host_address()));
      break;
    default:
      why = "unsupported host";
      return std::nullopt;
  }
  if (p.host.find('*') != std::string::npos) {
    why = "`*` only as the whole host or as the first label (`*.example.com`)";
    return std::nullopt;
  }
  if (p.host.empty() || p.host.back() == '.' || p.host.front() == '.' ||
      p.host.find("..") != std::string::npos) {
    why = "empty label in the host";
    return std::nullopt;
  }
  if (auth->has_port()) {
    auto ps = auth->port();
    unsigned v = 0;
    auto [end, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), v);
    if (ps.empty() || ec != std::errc{} || end != ps.data() + ps.size() || v == 0 || v > 65535) {
      why = fmt::format("bad port '{}' (1 to 65535)", std::string(ps));
      return std::nullopt;
    }
    p.port = static_cast<std::uint16_t>(v);
  }
  if (p.what == host_pattern::kind::any) {
    p.host = "*";
  }
  return p;
}

int match_host_rule(const config& cfg, std::string_view host, std::uint16_t port) {
  for (std::size_t i = 0; i < cfg.hosts.size(); ++i) {
    if (cfg.hosts[i].cfg && cfg.hosts[i].pattern.matches(host, port)) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

}  // namespace sluice::stages::http
