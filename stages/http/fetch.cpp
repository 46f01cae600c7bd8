// The hops and attempts of one item (see fetch.hpp).
#include "fetch.hpp"

#include <random>

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include "redirect_policy.hpp"
#include "retry_policy.hpp"
#include "robots.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
namespace urls = boost::urls;

namespace {

void fail(result& r, fetch_errc kind, std::string message) {
  r.error_kind = name(kind);
  r.error_message = std::move(message);
}

/// What an attempt's end tells the origin's adaptive limit: timeouts,
/// failed connects, 429 and 503 are congestion; a response is a latency
/// sample; other failures (a bad body, a protocol error) say nothing.
congestion_signal signal_of(const outcome& out, int status) {
  if (out.failed()) {
    switch (out.kind) {
      case fetch_errc::connect:
      case fetch_errc::timeout_connect:
      case fetch_errc::timeout_header:
      case fetch_errc::timeout_total:
      case fetch_errc::too_slow:
        return congestion_signal::congested;
      default:
        return congestion_signal::ignore;
    }
  }
  return status == 429 || status == 503 ? congestion_signal::congested : congestion_signal::none;
}

/// The attempts of one hop: admission, the attempt, then a retry after a
/// backoff while the failure's class is in `retry.on` and attempts remain.
/// A Retry-After pauses the whole origin (every worker waits, not only this).
/// Retries follow the origin's effective config (its `hosts:` rule).
net::awaitable<outcome> attempts(fetch_io& io, origin& o, const target& t,
                                 const std::string& request, bool head, result& r,
                                 std::minstd_rand& rng) {
  const config& cfg = o.cfg;
  outcome out;
  r.attempts = 0;
  for (std::uint32_t n = 1;; ++n) {
    permit_guard permit;
    // No admission coroutine (a frame per request) when nothing limits the origin.
    if (o.gate.limited() && !co_await o.gate.admit(permit)) {
      out.cancel();
      co_return out;
    }
    r.attempts = n;
    const auto began = clock::now();
    out = co_await io.attempt(o, t, request, head);
    io.store_cookies(t, out);
    if (out.cancelled()) {
      permit.release();
      co_return out;
    }
    o.gate.complete(permit, signal_of(out, r.status), clock::now() - began);
    if (out.retry_after) {
      o.gate.pause_until(clock::now() + std::min(*out.retry_after, cfg.retry_after_max));
    }
    auto kind = out.failed() ? std::optional<fetch_errc>(out.kind) : std::nullopt;
    if (!should_retry(cfg.retry_on, kind, r.status) || n >= cfg.attempts) {
      co_return out;
    }
    if (!co_await io.wait(backoff_delay(n, cfg.backoff_base, cfg.backoff_max, rng))) {
      out.cancel();
      co_return out;
    }
  }
}

/// A Crawl-delay longer than this counts as this (a day): the rate it gives
/// stays representable in the token bucket's nanoseconds.
constexpr double k_max_crawl_delay = 86400;

/// Fetches and parses `origin_key`'s robots.txt (the leader's part of
/// robots_cache::get); a Crawl-delay lowers the origin's rate to one request
/// per delay unless it is lower already. Null when cancelled.
net::awaitable<std::shared_ptr<const robots_rules>> load_robots(fetch_io& io, const config& cfg,
                                                                std::shared_ptr<origin> o,
                                                                std::string origin_key) {
  config rc = robots_fetch_config(cfg);
  result rr = co_await io.fetch_aside(rc, origin_key + "/robots.txt");
  if (rr.error_kind == name(fetch_errc::cancelled)) {
    co_return nullptr;
  }
  auto rules = std::make_shared<robots_rules>(robots_from_response(rr, cfg.robots_agent));
  if (rules->crawl_delay) {
    double rate = 1.0 / std::min(*rules->crawl_delay, k_max_crawl_delay);
    double now = o->gate.rate();
    o->gate.set_rate(now > 0 ? std::min(now, rate) : rate);
  }
  co_return rules;
}

/// With `robots: obey`: nothing when `t` may be fetched, else why not
/// (robots, or cancelled while the origin's robots.txt was awaited).
net::awaitable<std::optional<fetch_failure>> robots_gate(fetch_io& io, const config& cfg,
                                                         std::shared_ptr<origin> o,
                                                         const target& t) {
  std::string key(t.key_view());
  // A named function, not a temporary lambda in the co_await: g++ 12
  // destroys such a temporary twice.
  robots_cache::fetcher load = [&io, &cfg, o, key] { return load_robots(io, cfg, o, key); };
  auto rules = co_await o->robots.get(std::move(load));
  if (!rules) {
    co_return fetch_failure{fetch_errc::cancelled, std::string(name(fetch_errc::cancelled))};
  }
  auto v = rules->check(t.path);
  if (v.allowed) {
    co_return std::nullopt;
  }
  if (v.rule == nullptr) {
    co_return fetch_failure{fetch_errc::robots,
                            fmt::format("{}/robots.txt {}", key, rules->source)};
  }
  co_return fetch_failure{
      fetch_errc::robots,
      fmt::format("{}/robots.txt disallows '{}' for '{}' (line {}: Disallow: {})", key,
                  t.path.empty() ? std::string_view("/") : t.path, cfg.robots_agent, v.rule->line,
                  v.rule->pattern)};
}

}  // namespace

net::awaitable<void> fetch(fetch_io& io, const config& cfg, result& r) {
  auto parsed = urls::parse_uri(r.url);
  if (!parsed) {
    fail(r, fetch_errc::bad_url, describe_bad_url(r.url));
    co_return;
  }
  // The parsed r.url until a redirect; then `owned`, the resolved Location.
  // A pointer, not a url_view assigned from `owned`: in Boost.URL 1.81 such
  // a view keeps reading the url's own (later moved-to) sizes, so every use
  // of it after the next move is out of bounds (boostorg/url#872).
  const urls::url_view_base* current = &*parsed;
  urls::url owned;
  std::string first_origin;
  // A record's own method replaces the configured one (requests as data); a
  // GET without a body of its own (a robots.txt fetch) leaves the configured
  // body out.
  const bool own_method = r.request && !r.request->method.empty();
  hop_state state{own_method ? r.request->method : cfg.method,
                  r.request != nullptr || cfg.method != "GET" || !cfg.body.empty()};
  std::minstd_rand rng(static_cast<std::uint32_t>(r.index * 2654435761u + r.worker + 1));
  for (;;) {
    target t;
    if (auto why = make_target(*current, t); !why.empty()) {
      fail(r, fetch_errc::bad_url, why);  // a redirect's target was checked by next_hop
      co_return;
    }
    r.final_url.assign(current->buffer().data(), current->buffer().size());
    auto o = io.origin_of(t);
    if (state.redirects == 0) {
      first_origin.assign(t.key_view());
    }
    if (cfg.robots_obey) {  // off in a robots.txt fetch itself (robots_fetch_config)
      if (auto no = co_await robots_gate(io, cfg, o, t)) {
        fail(r, no->kind, std::move(no->message));
        co_return;
      }
    }
    auto request = io.request(*o, t, state.method, state.with_body, t.key_view() != first_origin);
    outcome out = co_await attempts(io, *o, t, request, is_head(state.method), r, rng);
    if (out.failed()) {
      fail(r, out.kind, std::move(out.message));
      co_return;
    }
    auto step = next_hop(*current, r.status, out.location, cfg.max_redirects, state);
    if (step.what == redirect_step::action::fail) {
      fail(r, step.failure.kind, std::move(step.failure.message));
      co_return;
    }
    if (step.what == redirect_step::action::follow) {
      io.discard_response();
      r.redirects = state.redirects;
      owned = std::move(step.next);
      current = &owned;
      continue;
    }
    if (status_matches(cfg.fail_status, r.status)) {
      fail(r, fetch_errc::http_status, fmt::format("HTTP status {}", r.status));
    }
    co_return;
  }
}

}  // namespace sluice::stages::http
