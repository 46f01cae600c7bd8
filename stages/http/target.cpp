// What the http consumer makes of a URL (see target.hpp).
#include "target.hpp"

#include <charconv>

#include <boost/url/parse.hpp>

namespace sluice::stages::http {

namespace urls = boost::urls;

/// Checks that a URL is one we fetch; fills `t` or returns why not.
std::string make_target(const urls::url_view_base& u, target& t) {
  auto sid = u.scheme_id();
  if (sid != urls::scheme::http && sid != urls::scheme::https) {
    if (u.scheme().empty()) {
      return "no scheme";
    }
    return fmt::format("unsupported scheme '{}' (only http and https)", std::string(u.scheme()));
  }
  t.tls = sid == urls::scheme::https;
  if (!u.has_authority() || u.encoded_host().empty()) {
    return "empty host";
  }
  switch (u.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      t.ip_literal = true;
      t.host.assign(u.encoded_host_address().data(), u.encoded_host_address().size());
      break;
    case urls::host_type::name:
      t.ip_literal = false;
      t.host = u.host_address();  // percent-decoded
      break;
    default:
      return "unsupported host";
  }
  if (u.has_port()) {
    auto p = u.port();
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || v == 0 || v > 65535) {
      return fmt::format("bad port '{}'", std::string(p));
    }
    t.port = static_cast<std::uint16_t>(v);
  } else {
    t.port = t.tls ? 443 : 80;
  }
  // Credentials in URLs are never sent (use basic_auth): they would leak into logs.
  auto hp = u.encoded_host_and_port();
  t.host_header = std::string_view(hp.data(), hp.size());
  auto tgt = u.encoded_target();
  t.path = std::string_view(tgt.data(), tgt.size());
  t.key.clear();
  fmt::format_to(std::back_inserter(t.key), "{}://{}:{}", t.tls ? "https" : "http",
                 std::string_view(u.encoded_host().data(), u.encoded_host().size()), t.port);
  return {};
}

/// Why Boost.URL rejected a URL, in words a user can act on.
std::string describe_bad_url(std::string_view text) {
  if (text.empty()) {
    return "empty URL";
  }
  if (text.find_first_of(" \t\r\n") != std::string_view::npos) {
    return "URL contains whitespace (percent-encode it as %20)";
  }
  if (auto ref = urls::parse_uri_reference(text); ref && !ref->has_scheme()) {
    return "not an absolute URL (no scheme such as http://)";
  }
  return "malformed URL (invalid character or syntax)";
}

urls::result<urls::url> resolve_location(const urls::url_view_base& base,
                                         const urls::url_view_base& ref) {
  urls::url next;
  auto rv = urls::resolve(base, ref, next);
  if (!rv) {
    return rv.error();
  }
  next.remove_fragment();
  next.normalize_path();
  auto segs = next.encoded_segments();
  while (!segs.empty() && (*segs.begin() == ".." || *segs.begin() == ".")) {
    segs.erase(segs.begin());
  }
  return next;
}

}  // namespace sluice::stages::http
