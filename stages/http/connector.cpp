// Opening the http consumer's connections (see connector.hpp).
#include "connector.hpp"

#include <sys/resource.h>

#include <limits>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "connection.hpp"
#include "proxy.hpp"
#include "sluice/core/error.hpp"
#include "sluice/runtime/fd_limit.hpp"
#include "sockets.hpp"
#include "speed_guard.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// The addresses of `t`: its IP literal, the origin's cached answer, or a
/// lookup bounded by `limit` (a timeout is `timeout_kind`).
net::awaitable<dns_cache::endpoints> endpoints(attempt_context& ctx, const config& cfg,
                                               const target& t, origin& o, phase_deadline limit,
                                               fetch_failure& failure) {
  dns_cache::endpoints eps;
  if (t.ip_literal) {
    error_code ec;
    auto addr = net::ip::make_address(t.host, ec);
    if (ec) {
      failure = {fetch_errc::bad_url, fmt::format("bad address '{}'", t.host)};
    } else {
      eps.emplace_back(addr, t.port);
    }
    co_return eps;
  }
  if (auto c = o.dns.lookup(clock::now())) {
    co_return std::move(*c);
  }
  using namespace net::experimental::awaitable_operators;
  tcp::resolver resolver(ctx.executor);
  net::steady_timer timer(ctx.executor, limit.at);
  auto started = clock::now();
  auto res = co_await (resolver.async_resolve(t.host, std::to_string(t.port), use_tuple) ||
                       timer.async_wait(use_tuple));
  ctx.r.time.dns += clock::now() - started;
  if (res.index() == 1) {
    auto [tec] = std::get<1>(res);
    if (tec == net::error::operation_aborted) {
      failure = {fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
    } else {
      failure = {limit.own_first ? fetch_errc::timeout_connect : fetch_errc::timeout_total,
                 fmt::format("resolving {} timed out", t.host)};
    }
    co_return eps;
  }
  auto [ec, results] = std::get<0>(res);
  if (ec == net::error::operation_aborted) {
    failure = {fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
    co_return eps;
  }
  if (ec || results.empty()) {
    failure = {fetch_errc::resolve, fmt::format("cannot resolve '{}': {}", t.host,
                                                ec ? ec.message() : std::string("no addresses"))};
    co_return eps;
  }
  for (auto& e : results) {
    eps.push_back(e.endpoint());
  }
  if (cfg.dns_ttl > std::chrono::nanoseconds::zero()) {
    o.dns.store(eps, clock::now() + cfg.dns_ttl);
  }
  co_return eps;
}

bool out_of_descriptors(const error_code& ec) {
  return ec.category() == boost::system::system_category() && is_environment_errno(ec.value());
}

/// Opens `sock` with a share of the socket budget in `share`: the error is
/// no_descriptors, without trying, when the budget is spent.
error_code open_counted(socket_share& share, tcp::socket& sock, tcp protocol) {
  error_code ec;
  if (!share.take()) {
    return net::error::no_descriptors;
  }
  sock.open(protocol, ec);
  return ec;
}

/// Out of descriptors (EMFILE, ENFILE, or the socket budget spent: more
/// workers than `ulimit -n`), waits
/// for one to be freed until `deadline`. The origin's idle connections go
/// first (one closed per try: a pooled socket nobody takes would otherwise
/// hold the descriptor a waiter needs); then it polls, as other workers'
/// connections close, with a backoff from 1 ms to 50 ms so the waiters of a
/// full table do not all retry at once. Returns the last open's error.
net::awaitable<error_code> wait_for_descriptor(origin& o, socket_share& share, tcp::socket& sock,
                                               tcp protocol, clock::time_point deadline) {
  using namespace std::chrono_literals;
  std::chrono::nanoseconds pause = 1ms;
  error_code ec = net::error::no_descriptors;
  while (out_of_descriptors(ec) && deadline - clock::now() > pause) {
    if (o.pool.take(clock::now(), std::chrono::nanoseconds::zero()) == nullptr) {
      if (!co_await sleep_for(pause)) {
        co_return net::error::operation_aborted;
      }
      pause = std::min<std::chrono::nanoseconds>(pause * 2, 50ms);
    }
    ec = open_counted(share, sock, protocol);
  }
  co_return ec;
}

/// TCP to each address in turn, all within the one connect deadline (which
/// starts again after a wait for a descriptor, bounded by `deadline`, the
/// attempt's).
net::awaitable<fetch_failure> connect_any(attempt_context& ctx, const config& cfg, const target& t,
                                          origin& o, sockets& s, const dns_cache::endpoints& eps,
                                          phase_deadline limit, clock::time_point deadline) {
  tcp::socket& sock = s.lowest();
  auto started = clock::now();
  error_code ec = net::error::host_not_found;
  bool timed_out = false;
  for (auto& ep : eps) {
    error_code ignore;
    sock.close(ignore);
    ec = open_counted(s.share, sock, ep.protocol());
    if (out_of_descriptors(ec)) {
      ec = co_await wait_for_descriptor(o, s.share, sock, ep.protocol(), deadline);
      if (ec == net::error::operation_aborted) {
        break;
      }
      limit = phase_limit(deadline, cfg.connect_timeout, clock::now());
    }
    if (ec) {
      continue;
    }
    if (cfg.recv_buffer > 0) {
      // Before connecting, so the window scale is chosen for it. A fixed
      // buffer (the kernel doubles it) lets a server push a large body in
      // few sends; autotuning starts small and grows per connection.
      sock.set_option(net::socket_base::receive_buffer_size(static_cast<int>(cfg.recv_buffer)),
                      ignore);
    }
    ctx.dog.arm(ctx.slot, sock, limit.at);
    auto [cec] = co_await sock.async_connect(ep, use_tuple);
    timed_out = ctx.dog.disarm(ctx.slot);
    ec = cec;
    if (!ec || timed_out || ec == net::error::operation_aborted) {
      break;
    }
  }
  ctx.r.time.connect += clock::now() - started;
  if (!ec) {
    error_code ignore;
    sock.set_option(tcp::no_delay(true), ignore);
    sock.non_blocking(true, ignore);  // the exchange reads bodies without blocking
    co_return fetch_failure{};
  }
  if (timed_out) {
    co_return fetch_failure{
        limit.own_first ? fetch_errc::timeout_connect : fetch_errc::timeout_total,
        fmt::format("connecting to {}:{} timed out", t.host, t.port)};
  }
  if (ec == net::error::operation_aborted) {
    co_return fetch_failure{fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
  }
  // Still no descriptor at the deadline: the machine's failure, not the
  // origin's.
  if (out_of_descriptors(ec)) {
    co_return fetch_failure{
        fetch_errc::environment,
        fmt::format("cannot open a socket to {}:{}: {}", t.host, t.port, ec.message())};
  }
  // A stale DNS answer may be the cause; resolve afresh next time.
  o.dns.forget();
  co_return fetch_failure{fetch_errc::connect,
                          fmt::format("connect to {}:{} failed: {}", t.host, t.port, ec.message())};
}

/// What a failed handshake says: the certificate problem in OpenSSL's words
/// when verification failed (as curl reports it), else the TLS error.
std::string handshake_error_text(const error_code& ec, long verify_result, const target& t) {
  if (verify_result == X509_V_OK) {
    return ec.message();
  }
  std::string what;
  if (verify_result == X509_V_ERR_HOSTNAME_MISMATCH) {
    what = fmt::format("no certificate subject name matches '{}'", t.host);
  } else if (verify_result == X509_V_ERR_IP_ADDRESS_MISMATCH) {
    what = fmt::format("no certificate subject name matches the IP address {}", t.host);
  } else {
    what = X509_verify_cert_error_string(verify_result);
  }
  return fmt::format("certificate verify failed: {} (OpenSSL verify result {}: {})", what,
                     verify_result, X509_verify_cert_error_string(verify_result));
}

/// The TLS handshake: SNI for a host name, verification of the name.
net::awaitable<fetch_failure> handshake(attempt_context& ctx, const config& cfg, const target& t,
                                        ssl::stream<tcp::socket>& s, phase_deadline limit) {
  if (!t.ip_literal && !SSL_set_tlsext_host_name(s.native_handle(), t.host.c_str())) {
    co_return fetch_failure{fetch_errc::tls, "cannot set SNI host name"};
  }
  // OpenSSL's own name check (RFC 6125: subjectAltName, no partial
  // wildcards) rather than a verify callback: a mismatch then leaves its own
  // verify result (X509_V_ERR_HOSTNAME_MISMATCH) to report, where a failing
  // callback leaves "unspecified certificate verification error".
  if (cfg.tls_verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(s.native_handle());
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int set = t.ip_literal ? X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str())
                           : X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), t.host.size());
    if (set != 1) {
      co_return fetch_failure{fetch_errc::tls, "cannot set the host name to verify"};
    }
  }
  auto started = clock::now();
  ctx.dog.arm(ctx.slot, s.next_layer(), limit.at);
  auto [ec] = co_await s.async_handshake(ssl::stream_base::client, use_tuple);
  bool timed_out = ctx.dog.disarm(ctx.slot);
  ctx.r.time.tls += clock::now() - started;
  if (!ec) {
    co_return fetch_failure{};
  }
  if (timed_out) {
    co_return fetch_failure{
        limit.own_first ? fetch_errc::timeout_connect : fetch_errc::timeout_total,
        fmt::format("TLS handshake with {} timed out", t.host)};
  }
  if (ec == net::error::operation_aborted) {
    co_return fetch_failure{fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
  }
  co_return fetch_failure{
      fetch_errc::tls,
      fmt::format("TLS handshake with {} failed: {}", t.host,
                  handshake_error_text(ec, SSL_get_verify_result(s.native_handle()), t))};
}

}  // namespace

socket_budget& socket_budget::process() {
  static socket_budget budget([] {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) {
      return std::numeric_limits<std::int64_t>::max() / 2;
    }
    // At least a few sockets, even under a limit smaller than the reserve.
    return std::max<std::int64_t>(
        static_cast<std::int64_t>(rl.rlim_cur) - static_cast<std::int64_t>(descriptor_reserve),
        static_cast<std::int64_t>(rl.rlim_cur) / 2);
  }());
  return budget;
}

connector::connector(const config& cfg) : cfg_(cfg) {
  if (!cfg_.tls_ca_file.empty()) {
    ssl_context();
    if (ssl_error_) {
      throw config_error("tls.ca_file", fmt::format("cannot load CA file '{}': {}",
                                                    cfg_.tls_ca_file, ssl_error_.message()));
    }
  }
}

connector::~connector() = default;

// Built on first use: loading the system CA store costs tens of
// milliseconds, which a run over plain http should not pay.
ssl::context& connector::ssl_context() {
  std::call_once(ssl_once_, [this] {
    ssl_ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
    ssl_ctx_->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                          ssl::context::no_sslv3);
    ssl_ctx_->set_verify_mode(cfg_.tls_verify ? ssl::verify_peer : ssl::verify_none);
    if (!cfg_.tls_ca_file.empty()) {
      ssl_ctx_->load_verify_file(cfg_.tls_ca_file, ssl_error_);
    } else if (cfg_.tls_verify) {
      ssl_ctx_->set_default_verify_paths(ssl_error_);
    }
  });
  return *ssl_ctx_;
}

net::awaitable<fetch_failure> connector::open(attempt_context& ctx, const target& t, origin& o,
                                              clock::time_point deadline, sockets& s) {
  const config& cfg = o.cfg;  // the origin's effective connect timeout
  auto limit = phase_limit(deadline, cfg.connect_timeout, clock::now());
  // Through a proxy, TCP goes to the proxy (whose address the origin's DNS
  // cache holds: the origin is keyed by its proxy), then CONNECT for https.
  const target& hop = o.proxy ? o.proxy->hop : t;
  fetch_failure failure;
  auto eps = co_await endpoints(ctx, cfg, hop, o, limit, failure);
  if (failure.kind == fetch_errc{}) {
    if (t.tls) {
      s.tls = std::make_unique<ssl::stream<tcp::socket>>(ctx.executor, ssl_context());
    } else {
      s.plain.emplace(ctx.executor);
    }
    failure = co_await connect_any(ctx, cfg, hop, o, s, eps, limit, deadline);
  }
  if (o.proxy) {
    failure = as_proxy_failure(std::move(failure), *o.proxy);
    if (failure.kind == fetch_errc{} && t.tls) {
      failure = co_await open_tunnel(ctx, cfg, s.lowest(), t, *o.proxy, limit);
    }
  }
  if (failure.kind == fetch_errc{} && t.tls) {
    failure = co_await handshake(ctx, cfg, t, *s.tls, limit);
  }
  co_return failure;
}

}  // namespace sluice::stages::http
