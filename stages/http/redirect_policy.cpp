// The http consumer's redirect rules (see redirect_policy.hpp).
#include "redirect_policy.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/url/encode.hpp>
#include <boost/url/grammar/ci_string.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/gen_delim_chars.hpp>
#include <boost/url/rfc/sub_delim_chars.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "target.hpp"

namespace sluice::stages::http {

namespace urls = boost::urls;

bool is_head(std::string_view method) {
  return urls::grammar::ci_is_equal(method, std::string_view("HEAD"));
}

namespace {

/// `location` with every byte that cannot stand in a URI reference
/// percent-encoded (reserved, unreserved and `%` stay as they are).
std::string encode_invalid(std::string_view location) {
  constexpr auto keep = urls::unreserved_chars + urls::gen_delim_chars + urls::sub_delim_chars +
                        urls::grammar::lut_chars('%');
  return urls::encode(location, keep);
}

redirect_step fail(fetch_errc kind, std::string message) {
  redirect_step s;
  s.what = redirect_step::action::fail;
  s.failure = {kind, std::move(message)};
  return s;
}

}  // namespace

redirect_step next_hop(const urls::url_view_base& current, int status, std::string_view location,
                       std::uint32_t max_redirects, hop_state& state) {
  if (!is_redirect(status) || max_redirects == 0 || location.empty()) {
    return {};
  }
  // A raw space or raw UTF-8 (nginx passes a `return 302` rule's text
  // through) is percent-encoded first, as browsers and curl do.
  std::string encoded;
  auto ref = urls::parse_uri_reference(location);
  if (!ref) {
    encoded = encode_invalid(location);
    ref = urls::parse_uri_reference(encoded);
  }
  if (!ref) {
    return fail(fetch_errc::redirect_scheme,
                fmt::format("bad Location '{}': {}", location, ref.error().message()));
  }
  auto resolved = resolve_location(current, *ref);
  if (!resolved) {
    return fail(fetch_errc::redirect_scheme, fmt::format("cannot resolve Location '{}': {}",
                                                         location, resolved.error().message()));
  }
  redirect_step step;
  step.what = redirect_step::action::follow;
  step.next = std::move(*resolved);
  target t;
  if (auto why = make_target(step.next, t); !why.empty()) {
    return fail(fetch_errc::redirect_scheme,
                fmt::format("redirect to {} refused: {}", step.next.buffer(), why));
  }
  if (state.redirects >= max_redirects) {
    return fail(fetch_errc::too_many_redirects, fmt::format("more than {} redirects (next: {})",
                                                            max_redirects, step.next.buffer()));
  }
  state.visited.emplace_back(current.buffer());
  std::string_view next_s = step.next.buffer();
  if (std::find(state.visited.begin(), state.visited.end(), next_s) != state.visited.end()) {
    return fail(fetch_errc::redirect_loop, fmt::format("redirect loop back to {}", next_s));
  }
  if (status == 303 || ((status == 301 || status == 302) && state.method == "POST")) {
    if (!is_head(state.method)) {
      state.method = "GET";
    }
    state.with_body = false;
  }
  ++state.redirects;
  return step;
}

}  // namespace sluice::stages::http
