// The cookie jar's storage, its Cookie headers and its Netscape cookie file
// (see cookie_jar.hpp; the RFC 6265 parsing rules are in cookie_rules.cpp).
#include "cookie_jar.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace sluice::stages::http {

namespace {

std::int64_t seconds(cookie_jar::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

bool expired(const cookie& c, std::int64_t now) {
  return c.persistent && c.expiry <= now;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) {
    if (ch >= 'A' && ch <= 'Z') {
      ch = static_cast<char>(ch - 'A' + 'a');
    }
  }
  return out;
}

/// TRUE/FALSE of a Netscape file (any case).
std::optional<bool> flag(std::string_view s) {
  std::string l = lower(s);
  if (l == "true") {
    return true;
  }
  if (l == "false") {
    return false;
  }
  return std::nullopt;
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> out;
  for (;;) {
    auto tab = line.find('\t');
    out.push_back(line.substr(0, tab));
    if (tab == std::string_view::npos) {
      return out;
    }
    line.remove_prefix(tab + 1);
  }
}

/// One line of a Netscape cookie file as a cookie, or why not (`why`).
std::optional<cookie> netscape_cookie(std::string_view line, const cookie_limits& limits,
                                      std::string& why) {
  cookie c;
  constexpr std::string_view k_http_only = "#HttpOnly_";
  if (line.starts_with(k_http_only)) {
    c.http_only = true;
    line.remove_prefix(k_http_only.size());
  }
  auto f = split_tabs(line);
  if (f.size() == 6) {
    f.emplace_back();  // curl reads a missing value as empty
  }
  if (f.size() != 7) {
    why = fmt::format("expected 7 tab-separated fields, found {}", f.size());
    return std::nullopt;
  }
  std::string_view domain = f[0];
  if (domain.starts_with('.')) {
    domain.remove_prefix(1);
  }
  auto subdomains = flag(f[1]);
  auto secure = flag(f[3]);
  std::int64_t expiry = 0;
  auto [p, ec] = std::from_chars(f[4].data(), f[4].data() + f[4].size(), expiry);
  if (domain.empty()) {
    why = "empty domain";
  } else if (!subdomains || !secure) {
    why = "include_subdomains and secure must be TRUE or FALSE";
  } else if (!f[2].starts_with('/')) {
    why = "the path must start with '/'";
  } else if (f[4].empty() || ec != std::errc{} || p != f[4].data() + f[4].size() || expiry < 0) {
    why = fmt::format("bad expiry '{}' (unix seconds, 0 for a session cookie)", f[4]);
  } else if (f[5].empty()) {
    why = "empty cookie name";
  } else if (f[5].size() + f[6].size() > limits.max_bytes) {
    why = fmt::format("cookie larger than {} bytes", limits.max_bytes);
  } else if (std::any_of(line.begin(), line.end(), [](unsigned char ch) {
               return (ch < 0x20 && ch != '\t') || ch == 0x7F;
             })) {
    why = "control character";
  }
  if (!why.empty()) {
    return std::nullopt;
  }
  c.domain = lower(domain);
  c.host_only = !*subdomains;
  c.path = f[2];
  c.secure = *secure;
  c.persistent = expiry != 0;
  c.expiry = expiry;
  c.name = f[5];
  c.value = f[6];
  return c;
}

}  // namespace

std::string cookie_jar::set_from(const cookie_url& u, std::string_view set_cookie, time_point now) {
  std::string why;
  auto c = parse_set_cookie(u, set_cookie, seconds(now), limits_, why);
  if (!c) {
    return why;
  }
  std::lock_guard lock(mutex_);
  return store(std::move(*c), seconds(now), u.secure);
}

std::string cookie_jar::store(cookie c, std::int64_t now, bool secure_origin) {
  auto& list = by_domain_[c.domain];
  auto same = std::find_if(list.begin(), list.end(),
                           [&](const cookie& o) { return o.name == c.name && o.path == c.path; });
  c.creation = ++clock_;
  c.last_access = c.creation;
  if (same != list.end()) {
    if (same->secure && !secure_origin) {
      return "would replace a Secure cookie from an http:// URL (RFC 6265bis)";
    }
    c.creation = same->creation;  // section 5.3 step 11
    list.erase(same);
    --count_;
  }
  if (expired(c, now)) {
    if (list.empty()) {
      by_domain_.erase(c.domain);
    }
    return {};  // a deletion (Max-Age<=0, or an Expires in the past)
  }
  list.push_back(std::move(c));
  ++count_;
  evict(list, now);
  return {};
}

// Section 5.3 step 12: expired cookies first, then the least recently used
// of the domain past per_domain, then of the jar past total.
void cookie_jar::evict(std::vector<cookie>& list, std::int64_t now) {
  auto lru = [](const cookie& a, const cookie& b) {
    return a.last_access != b.last_access ? a.last_access < b.last_access : a.creation < b.creation;
  };
  auto drop_expired = [&](std::vector<cookie>& l) {
    auto before = l.size();
    std::erase_if(l, [&](const cookie& x) { return expired(x, now); });
    count_ -= before - l.size();
  };
  if (list.size() > limits_.per_domain) {
    drop_expired(list);
    while (list.size() > limits_.per_domain) {
      list.erase(std::min_element(list.begin(), list.end(), lru));
      --count_;
    }
  }
  if (count_ <= limits_.total) {
    return;
  }
  for (auto& [d, l] : by_domain_) {
    drop_expired(l);
  }
  while (count_ > limits_.total) {
    std::vector<cookie>* oldest_list = nullptr;
    std::vector<cookie>::iterator oldest;
    for (auto& [d, l] : by_domain_) {
      if (l.empty()) {
        continue;
      }
      auto it = std::min_element(l.begin(), l.end(), lru);
      if (!oldest_list || lru(*it, *oldest)) {
        oldest_list = &l;
        oldest = it;
      }
    }
    oldest_list->erase(oldest);
    --count_;
  }
  std::erase_if(by_domain_,
                [&](const auto& kv) { return kv.second.empty() && &kv.second != &list; });
}

std::string cookie_jar::header_for(const cookie_url& u, time_point now_tp) {
  const std::int64_t now = seconds(now_tp);
  const std::string host = lower(u.host);
  std::vector<cookie*> hits;
  std::lock_guard lock(mutex_);
  if (count_ == 0) {
    return {};
  }
  // The host, then (not for an IP) each domain it is a subdomain of.
  std::string_view domain = host;
  for (;;) {
    if (auto it = by_domain_.find(domain); it != by_domain_.end()) {
      auto& list = it->second;
      auto before = list.size();
      std::erase_if(list, [&](const cookie& c) { return expired(c, now); });
      count_ -= before - list.size();
      for (auto& c : list) {
        if ((c.host_only && c.domain != host) || (c.secure && !u.secure) ||
            !path_match(u.path, c.path)) {
          continue;
        }
        hits.push_back(&c);
      }
    }
    auto dot = domain.find('.');
    if (u.ip || dot == std::string_view::npos) {
      break;
    }
    domain.remove_prefix(dot + 1);
  }
  // Section 5.4 step 2: longer paths first, then earlier creation.
  std::sort(hits.begin(), hits.end(), [](const cookie* a, const cookie* b) {
    return a->path.size() != b->path.size() ? a->path.size() > b->path.size()
                                            : a->creation < b->creation;
  });
  std::string out;
  const auto access = ++clock_;
  for (auto* c : hits) {
    c->last_access = access;
    if (!out.empty()) {
      out += "; ";
    }
    out.append(c->name).append("=").append(c->value);
  }
  return out;
}

std::vector<cookie> cookie_jar::cookies(time_point now_tp) const {
  const std::int64_t now = seconds(now_tp);
  std::vector<cookie> out;
  {
    std::lock_guard lock(mutex_);
    for (auto& [d, list] : by_domain_) {
      for (auto& c : list) {
        if (!expired(c, now)) {
          out.push_back(c);
        }
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const cookie& a, const cookie& b) { return a.creation < b.creation; });
  return out;
}

std::size_t cookie_jar::size() const {
  std::lock_guard lock(mutex_);
  return count_;
}

std::vector<std::string> cookie_jar::load_netscape(std::istream& in, std::string_view source,
                                                   time_point now_tp) {
  const std::int64_t now = seconds(now_tp);
  std::vector<std::string> warnings;
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    bool blank = line.find_first_not_of(" \t") == std::string::npos;
    if (blank || (line.starts_with('#') && !line.starts_with("#HttpOnly_"))) {
      continue;
    }
    std::string why;
    auto c = netscape_cookie(line, limits_, why);
    if (!c) {
      if (warnings.size() < 100) {
        warnings.push_back(fmt::format("{}:{}: {}; line skipped", source, n, why));
      }
      continue;
    }
    if (expired(*c, now)) {
      continue;  // expired since it was written, as curl skips it
    }
    std::lock_guard lock(mutex_);
    store(std::move(*c), now, true);
  }
  return warnings;
}

void cookie_jar::save_netscape(std::ostream& out, time_point now) const {
  out << "# Netscape HTTP Cookie File\n"
         "# https://curl.se/docs/http-cookies.html\n"
         "# This file was generated by sluice. Edit at your own risk.\n\n";
  for (const auto& c : cookies(now)) {
    out << (c.http_only ? "#HttpOnly_" : "") << (c.host_only ? "" : ".") << c.domain << '\t'
        << (c.host_only ? "FALSE" : "TRUE") << '\t' << c.path << '\t'
        << (c.secure ? "TRUE" : "FALSE") << '\t' << (c.persistent ? c.expiry : 0) << '\t' << c.name
        << '\t' << c.value << '\n';
  }
}

std::vector<std::string> cookie_jar::load_file(const std::filesystem::path& file, time_point now) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    return {};
  }
  if (!std::filesystem::is_regular_file(file, ec)) {
    throw std::runtime_error(fmt::format("the cookie file '{}' is not a file", file.string()));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw std::runtime_error(
        fmt::format("cannot read the cookie file '{}': {}", file.string(), std::strerror(errno)));
  }
  return load_netscape(in, file.string(), now);
}

void cookie_jar::save_file(const std::filesystem::path& file, time_point now) const {
  std::ostringstream text;
  save_netscape(text, now);
  const std::string data = text.str();
  const std::string tmp = fmt::format("{}.tmp-{}", file.string(), ::getpid());
  auto fail = [&](const char* what) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    throw std::runtime_error(
        fmt::format("cannot write the cookie file '{}': {}: {}", file.string(), what, why));
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    fail("open");
  }
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      ::close(fd);
      fail("writing");
    }
    off += static_cast<std::size_t>(n);
  }
  int synced = ::fsync(fd);
  if (::close(fd) != 0 || synced != 0) {
    fail("fsync");
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    fail("rename");
  }
}

}  // namespace sluice::stages::http
