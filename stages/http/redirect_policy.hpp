// Whether and where the http consumer follows a redirect: the Location
// resolved against the current URL, the hop limit, loops, schemes, and the
// method a 301/302/303 turns into. Pure: Boost.URL only, unit-tested without
// a server.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/url/url.hpp>
#include <boost/url/url_view_base.hpp>

#include "outcome.hpp"

namespace sluice::stages::http {

/// The request's state across the hops of one item.
struct hop_state {
  std::string method;     ///< the configured method, until a redirect changes it
  bool with_body = true;  ///< the configured body is sent (until a 303 drops it)
  std::uint32_t redirects = 0;
  std::vector<std::string> visited;  ///< URLs already requested, for loop detection
};

/// What follows a response.
struct redirect_step {
  enum class action { done, follow, fail };
  action what = action::done;
  boost::urls::url next;  ///< follow: the next URL (absolute, normalised)
  fetch_failure failure;  ///< fail: redirect_scheme, redirect_loop or too_many_redirects
};

/// Decides on the response `status` with Location `location` ("" when none)
/// to a request for `current`. On `follow`, `state` is advanced (the hop
/// counted, `current` remembered, the method changed as browsers and curl
/// do: 303 to GET, 301/302 after POST to GET, the body dropped).
/// Thread safety: pure but for `state`.
redirect_step next_hop(const boost::urls::url_view_base& current, int status,
                       std::string_view location, std::uint32_t max_redirects, hop_state& state);

/// True for HEAD, in any case (a HEAD stays HEAD through a 303).
/// Thread safety: pure.
bool is_head(std::string_view method);

}  // namespace sluice::stages::http
