// One item's fetch: the redirect hops and, within each hop, the attempts
// (admission, retry classes, backoff, Retry-After), written against an
// interface to the network so that its rules are tested with a fake. No
// Beast, no sockets.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "http_config.hpp"
#include "origin_table.hpp"
#include "outcome.hpp"
#include "sluice/core/item.hpp"
#include "target.hpp"

namespace sluice::stages::http {

/// What a fetch needs from the network; the consumer implements it over its
/// transport, tests over a script of responses.
/// Thread safety: one fetch at a time (the worker's).
class fetch_io {
 public:
  virtual ~fetch_io() = default;

  /// The shared state of `t`'s origin.
  virtual std::shared_ptr<origin> origin_of(const target& t) = 0;

  /// The bytes of the request for one hop to `o` (whose rule may add
  /// headers). `foreign`: another origin than the item's, where credentials
  /// are left out unless redirects are trusted.
  virtual std::string request(const origin& o, const target& t, std::string_view method,
                              bool with_body, bool foreign) = 0;

  /// One attempt: forgets the previous response, sends `request` and writes
  /// the response's status, headers and body into the result.
  virtual boost::asio::awaitable<outcome> attempt(origin& o, const target& t,
                                                  const std::string& request, bool head) = 0;

  /// Waits `d` between attempts; false when cancelled.
  virtual boost::asio::awaitable<bool> wait(std::chrono::nanoseconds d) = 0;

  /// Stores the Set-Cookie values of an attempt's response to `t` (each
  /// attempt's: also of redirects and error statuses) in the cookie jar.
  virtual void store_cookies(const target& /*t*/, const outcome& /*out*/) {}

  /// Forgets the current response (a redirect follows).
  virtual void discard_response() = 0;

  /// Fetches `url` on the side (an origin's robots.txt) as `cfg` says, into
  /// a result of its own: the item's result and body are untouched.
  virtual boost::asio::awaitable<result> fetch_aside(const config& cfg, std::string url) = 0;
};

/// Fetches `r.url` as `cfg` says (each origin's retries and limits as its
/// `hosts:` rule says), following redirects, and ends with the
/// result's status, body, `final_url`, `attempts`, `redirects`, and on
/// failure `error_kind` + `error_message` (nothing is thrown per item).
/// With `robots: obey` each hop's origin's robots.txt is read first (once
/// per origin, robots_cache) and a hop it disallows fails as `robots`
/// without a request.
/// Thread safety: on the worker's strand; `io` and `r` are the worker's.
boost::asio::awaitable<void> fetch(fetch_io& io, const config& cfg, result& r);

}  // namespace sluice::stages::http
