// What the http consumer makes of a URL (see target.hpp).
#include "target.hpp"

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/url/parse.hpp>

namespace sluice::stages::http {

namespace urls = boost::urls;

/// Checks that a URL is one we fetch; fills `t` or returns why not.
bool set_host(const urls::url_view_base& u, target& t) {
  switch (u.host_type()) {
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      t.ip_literal = true;
      t.host.assign(u.encoded_host_address().data(), u.encoded_host_address().size());
      return true;
    case urls::host_type::name:
      t.ip_literal = false;
      t.host = u.host_address();  // percent-decoded
      return true;
    default:
      return false;
  }
}

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
  if (!set_host(u, t)) {
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

namespace {

/// RFC 3986 5.2.4 on an encoded path, `..` never above the root. Segments
/// are compared as written: nothing is decoded.
std::string remove_dot_segments(std::string_view path) {
  bool absolute = path.starts_with('/');
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::size_t pos = absolute ? 1 : 0;
  for (;;) {
    auto slash = path.find('/', pos);
    auto seg = path.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    trailing_slash = seg == "." || seg == "..";
    if (seg == "..") {
      if (!out.empty()) {
        out.pop_back();
      }
    } else if (seg != ".") {
      out.push_back(seg);
    }
    if (slash == std::string_view::npos) {
      break;
    }
    pos = slash + 1;
  }
  if (trailing_slash) {
    out.emplace_back();  // `/a/b/..` is `/a/`
  }
  std::string result;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (i > 0 || absolute) {
      result += '/';
    }
    result += out[i];
  }
  return result.empty() && absolute ? "/" : result;
}

std::string_view sv(urls::pct_string_view p) {
  return {p.data(), p.size()};
}

}  // namespace

urls::result<urls::url> resolve_location(const urls::url_view_base& base,
                                         const urls::url_view_base& ref) {
  // RFC 3986 5.2.2 over the components Boost.URL parsed, by hand: 1.81's
  // urls::resolve decodes reserved characters (%2F becomes `/`, another
  // resource; %2B `+`), uppercases escapes and keeps `..` above the root;
  // its path setters rewrite `//x` as `/.//x`. The result is written out
  // and parsed again.
  if (!base.has_scheme()) {
    return urls::error::not_a_base;
  }
  const urls::url_view_base& auth = ref.has_scheme() || ref.has_authority() ? ref : base;
  std::string path;
  std::optional<std::string_view> query;
  if (ref.has_scheme() || ref.has_authority() || ref.encoded_path().starts_with('/')) {
    path = remove_dot_segments(sv(ref.encoded_path()));
    query = ref.has_query() ? std::optional(sv(ref.encoded_query())) : std::nullopt;
  } else if (ref.encoded_path().empty()) {
    path = sv(base.encoded_path());
    query = ref.has_query()    ? std::optional(sv(ref.encoded_query()))
            : base.has_query() ? std::optional(sv(base.encoded_query()))
                               : std::nullopt;
  } else {
    std::string_view bp = sv(base.encoded_path());
    std::string merged =
        base.has_authority() && bp.empty() ? "/" : std::string(bp.substr(0, bp.rfind('/') + 1));
    merged += sv(ref.encoded_path());
    path = remove_dot_segments(merged);
    query = ref.has_query() ? std::optional(sv(ref.encoded_query())) : std::nullopt;
  }
  std::string text(ref.has_scheme() ? ref.scheme() : base.scheme());
  text += ':';
  if (auth.has_authority()) {
    text += "//";
    text += sv(auth.encoded_authority());
  }
  text += path;
  if (query) {
    text += '?';
    text += *query;
  }
  auto parsed = urls::parse_uri(text);
  if (!parsed) {
    return parsed.error();
  }
  return urls::url(*parsed);
}

}  // namespace sluice::stages::http
