// What the http consumer makes of a URL: the request target (host for DNS,
// SNI and verification, Host header, origin-form path, the origin key), why a
// URL cannot be fetched, and where a redirect's Location leads. Boost.URL
// only (no Beast), so its unit test compiles cheaply.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <boost/url/url.hpp>
#include <boost/url/url_view.hpp>

namespace sluice::stages::http {

/// A request target derived from one URL. The views point into the URL's
/// buffer, which outlives the target (one redirect hop).
struct target {
  bool tls = false;
  std::string host;  // for DNS, SNI and verification (no brackets, decoded)
  bool ip_literal = false;
  std::uint16_t port = 0;
  std::string_view host_header;  // host[:port] as written in the URL
  std::string_view path;         // origin-form target; empty means "/"
  /// scheme://host:port, the origin's key; inline storage covers usual hosts.
  fmt::basic_memory_buffer<char, 128> key;

  std::string_view key_view() const { return {key.data(), key.size()}; }
};

/// Checks that a URL is one we fetch; fills `t` or returns why not.
/// Thread safety: pure.
std::string make_target(const boost::urls::url_view_base& u, target& t);

/// `t.host` and `t.ip_literal` from `u`'s host: an IP literal as written
/// (IPv6 without brackets), a name percent-decoded. False for another kind
/// of host (IPvFuture, none). Thread safety: pure.
bool set_host(const boost::urls::url_view_base& u, target& t);

/// Why Boost.URL rejected a URL, in words a user can act on.
/// Thread safety: pure.
std::string describe_bad_url(std::string_view text);

/// The absolute URL a Location reference names, resolved against `base` as
/// RFC 3986 section 5.2 says. Drops `..` segments that would climb above the root
/// (Boost.URL 1.81 keeps them: `../../x` from `/a/` gives `/../x`) and the
/// fragment, which is never sent.
/// Thread safety: pure.
boost::urls::result<boost::urls::url> resolve_location(const boost::urls::url_view_base& base,
                                                       const boost::urls::url_view_base& ref);

/// True for the statuses a redirect is followed for (301, 302, 303, 307, 308).
inline bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

}  // namespace sluice::stages::http
