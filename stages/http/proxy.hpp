// HTTP proxies for the http consumer (issue 15): which proxy a URL goes
// through (the `proxy` and `no_proxy` options, else curl's environment
// variables and no_proxy rules), a plain-http request rewritten for the
// proxy (absolute form, Proxy-Authorization), and the CONNECT tunnel an
// https URL goes through. The choice is a pure function of the config, the
// environment and the target, so it is unit-tested without sockets. No
// Beast in this header.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http_config.hpp"
#include "outcome.hpp"
#include "speed_guard.hpp"
#include "target.hpp"

namespace sluice {
class config_error_list;
}

namespace sluice::stages::http {

struct attempt_context;

/// One proxy: where to connect and what to authenticate with.
/// Thread safety: immutable after construction.
struct proxy_endpoint {
  target hop;                 ///< the proxy as a connect target (host, port; never TLS)
  std::string authorization;  ///< `Basic <base64>` from the URL's userinfo, or empty
  std::string name;           ///< `host:port`, for messages and origin keys (no credentials)
};

/// Parses a proxy URL as curl reads one: `http://user:pass@host:port`,
/// `host:port` or `host` (scheme http, port 1080 when not given, userinfo
/// percent-decoded). Nullopt, with `why`, for another scheme (https, socks)
/// or a malformed URL. Thread safety: pure.
std::optional<proxy_endpoint> parse_proxy_url(std::string_view text, std::string& why);

/// curl's `no_proxy` rule (lib/noproxy.c, 7.86+): `list` is comma- (or
/// blank-) separated; `*` alone matches every host; a name matches itself
/// and its subdomains, with or without a leading dot in the list
/// (`example.com` and `.example.com` both match `example.com` and
/// `a.example.com`, not `notexample.com`), case-insensitively, a trailing
/// dot ignored; an IP address host matches an address literally or a CIDR
/// block (`192.168.0.0/16`, `::1/128`), never a name. No ports (a `:port`
/// entry never matches a name). `host` as in target::host (IPv6 without
/// brackets). Thread safety: pure.
bool no_proxy_matches(std::string_view list, std::string_view host);

/// A variable's value (nullopt when unset), as proxy_rules reads the
/// environment; process_env() reads the process's.
using env_lookup = std::function<std::optional<std::string>(const char*)>;
env_lookup process_env();

/// The proxy of each target for one consumer, fixed at its start.
/// Precedence as curl's: the `proxy` option (for both schemes; `""` or
/// `none`: no proxy, the environment ignored) beats the environment:
/// `http_proxy` (lower case only: curl ignores `HTTP_PROXY`, httpoxy) for
/// http, `https_proxy` then `HTTPS_PROXY` for https, else `all_proxy` then
/// `ALL_PROXY`; a variable set but empty means no proxy. The `no_proxy`
/// option beats `no_proxy` then `NO_PROXY`, and applies to a `proxy`
/// option's proxy too.
/// Thread safety: immutable after construction.
class proxy_rules {
 public:
  /// Throws config_error (option `proxy`) for a malformed proxy URL in the
  /// environment, naming the variable.
  proxy_rules(const config& cfg, const env_lookup& env);

  /// The proxy `t` goes through, or null (a direct connection). Points into
  /// this object.
  const proxy_endpoint* for_target(const target& t) const;

 private:
  std::optional<proxy_endpoint> http_;
  std::optional<proxy_endpoint> https_;
  std::string no_proxy_;
};

/// The `proxy` and `no_proxy` options (schema and parse; the URL checked
/// now, so `sluice check` reports a bad one).
void add_proxy_options(option_schema& s);
void parse_proxy_options(const options& o, config& c, config_error_list& errs);

/// A plain-http request (as request_template built it: `METHOD /path
/// HTTP/1.1`, Host kept) for a proxy: the target in absolute form
/// (`http://host:port/path`) and, when the proxy has credentials,
/// `Proxy-Authorization`. Thread safety: pure.
std::string for_proxy(std::string request, const target& t, const proxy_endpoint& p);

/// What a 407 from `p` says (proxy_auth): whether credentials were sent.
/// `what`: the request it answered (`CONNECT`, or empty for a plain-http
/// request). Thread safety: pure.
std::string proxy_auth_message(const proxy_endpoint& p, std::string_view what = {});

/// A failure to reach the proxy (DNS, TCP) as the proxy's: resolve and
/// connect become proxy_connect, named after the proxy; timeouts,
/// cancellation and the machine's failures stay as they are.
/// Thread safety: pure.
fetch_failure as_proxy_failure(fetch_failure f, const proxy_endpoint& p);

/// `CONNECT host:port` on `sock` (connected to `p`), within `limit` (the
/// connect phase): Beast writes the request and parses the answer's head. A
/// 2xx opens the tunnel (the TLS handshake with `t` follows); 407 is
/// proxy_auth, another status proxy_status, a close or an answer that is not
/// HTTP proxy_connect, and bytes after the 2xx head before TLS starts
/// proxy_connect too.
boost::asio::awaitable<fetch_failure> open_tunnel(attempt_context& ctx, const config& cfg,
                                                  boost::asio::ip::tcp::socket& sock,
                                                  const target& t, const proxy_endpoint& p,
                                                  phase_deadline limit);

}  // namespace sluice::stages::http
