// The http consumer: the stage. One instance is shared by all M workers; each
// `process` call fetches one URL on its worker's strand through the pieces of
// this folder:
//
//   fetch            the hops and attempts of one item (redirect_policy,
//                    retry_policy), over the fetch_io interface below
//   admission        the origin's Retry-After pause, per_host permits, rate
//   transport        requests, pooled or new connections (connector,
//                    connection_pool), the exchange (response_reader,
//                    inflater, body_sink, speed_guard)
//   watchdog         every phase's deadline, enforced by one coroutine
//
// Every failure becomes data in the result (error_kind + error_message);
// nothing is thrown per item.
#include <atomic>
#include <filesystem>

#include <fmt/format.h>
#include <boost/asio/this_coro.hpp>

#include "body_sink.hpp"
#include "cookie_jar.hpp"
#include "exchange.hpp"
#include "fetch.hpp"
#include "http_config.hpp"
#include "origin_table.hpp"
#include "proxy.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/http.hpp"
#include "watchdog.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
using std::chrono::nanoseconds;

namespace {

/// How often the watchdog looks: a tenth of the shortest configured limit,
/// between 1 ms and 50 ms (a timeout fires at most one tick late).
/// Every `hosts:` rule's timeouts count too.
nanoseconds watchdog_tick(const config& base) {
  nanoseconds shortest = std::chrono::milliseconds(500);
  auto consider = [&shortest](const config& c) {
    for (auto d : {c.connect_timeout, c.header_timeout, c.total_timeout}) {
      if (d > nanoseconds::zero()) {
        shortest = std::min(shortest, d);
      }
    }
    if (c.min_speed > 0 && c.speed_window > nanoseconds::zero()) {
      shortest = std::min(shortest, c.speed_window);
    }
  };
  consider(base);
  for (const auto& rule : base.hosts) {
    if (rule.cfg) {
      consider(*rule.cfg);
    }
  }
  return std::clamp<nanoseconds>(shortest / 10, std::chrono::milliseconds(1),
                                 std::chrono::milliseconds(50));
}

class http_consumer final : public consumer {
 public:
  http_consumer(const stage_context& ctx, config cfg)
      : cfg_(std::move(cfg)),
        transport_(cfg_),
        proxies_(cfg_, process_env()),
        origins_(cfg_, ctx.executor),
        temp_files_(ctx.temp_dir),
        log_(ctx.log_sink),
        dog_(std::make_shared<watchdog>(ctx.executor, watchdog_tick(cfg_))) {
    if (cfg_.cookies) {
      jar_ = std::make_unique<cookie_jar>();
      auto now = std::chrono::system_clock::now();
      std::vector<std::string> warnings;
      try {
        warnings = cfg_.cookies_file.empty() ? warnings : jar_->load_file(cfg_.cookies_file, now);
      } catch (const std::runtime_error& e) {
        throw config_error("cookies.file", e.what());
      }
      for (auto& w : warnings) {
        ctx.log(log_level::warn, "cookies: " + w);
      }
    }
  }

  // A consumer destroyed without close() (a run that did not get to the
  // end normally) still writes its jar.
  ~http_consumer() override {
    try {
      save_cookies();
    } catch (const std::exception& e) {
      fmt::print(stderr, "sluice: http: {}\n", e.what());
    }
  }

  net::awaitable<result> process(item it, worker_info w) override;

  std::vector<origin_limit> origin_limits(std::size_t max) const override {
    std::vector<origin_limit> out;
    for (auto& row : origins_.limits(max)) {
      out.push_back({std::move(row.key), row.limit, row.in_flight, row.adaptive});
    }
    return out;
  }

  net::awaitable<void> close() override {
    save_cookies();  // first: a failure to write it fails the run
    dog_->stop();
    if (auto n = dog_->failures(); n > 0 && log_) {
      log_(log_level::warn, fmt::format("http: the timeout watchdog failed {} time(s) and was "
                                        "restarted; last: {}",
                                        n, dog_->last_failure()));
    }
    co_return;
  }

 private:
  class item_io;

  /// Writes the jar to `cookies.file` once (the first of close() and the
  /// destructor).
  void save_cookies() {
    if (jar_ && !cfg_.cookies_file.empty() && !jar_saved_.exchange(true)) {
      jar_->save_file(cfg_.cookies_file, std::chrono::system_clock::now());
    }
  }

  config cfg_;
  transport transport_;
  proxy_rules proxies_;  ///< before origins_, which point into it
  origin_table origins_;
  temp_files temp_files_;
  std::function<void(log_level, std::string_view)> log_;
  std::shared_ptr<watchdog> dog_;
  std::unique_ptr<cookie_jar> jar_;  ///< with `cookies:`, shared by every worker
  std::atomic<bool> jar_saved_{false};
};

/// The network side of one item's fetch: the consumer's transport and
/// origins, this worker's watchdog slot and the item's body sink.
class http_consumer::item_io final : public fetch_io {
 public:
  item_io(http_consumer& c, const worker_info& w, result& r)
      : item_io(c, w, r,
                {c.cfg_.max_decoded, c.cfg_.memory_body, c.cfg_.keep_body && w.keep_bodies}) {}

  item_io(http_consumer& c, const worker_info& w, result& r, body_sink::limits l)
      : c_(c),
        w_(w),
        body_(r, l, c.temp_files_, w.index),
        ctx_{w.executor, *c.dog_, c.dog_->slot_for(w.index, w.executor), r, body_} {}

  std::shared_ptr<origin> origin_of(const target& t) override {
    return c_.origins_.find_or_add(t, c_.proxies_.for_target(t));
  }

  // The hop's request, with the jar's cookies for `t` (appended to a Cookie
  // field of the user's or the record's).
  std::string request(const origin& o, const target& t, std::string_view method, bool with_body,
                      bool foreign) override {
    std::string req = build_request(o, t, method, with_body, foreign);
    if (c_.jar_) {
      add_cookie_header(req,
                        c_.jar_->header_for(cookie_url_of(t), std::chrono::system_clock::now()));
    }
    return req;
  }

  void store_cookies(const target& t, const outcome& out) override {
    if (c_.jar_ && !out.set_cookies.empty()) {
      auto now = std::chrono::system_clock::now();
      for (const auto& v : out.set_cookies) {
        c_.jar_->set_from(cookie_url_of(t), v, now);
      }
    }
  }

  std::string build_request(const origin& o, const target& t, std::string_view method,
                            bool with_body, bool foreign) {
    const request_spec* spec = ctx_.r.request.get();
    if (!spec || !spec->overrides_request()) {
      return c_.transport_.request(o, t, method, with_body, foreign);
    }
    // A body_file is sent at the size it has now (the head says so); one
    // that is gone fails the item as request_file, before any connection.
    ctx_.body_file = nullptr;
    if (with_body && !spec->body_file.empty()) {
      ctx_.body_file = &spec->body_file;
      std::error_code ec;
      ctx_.body_file_size = std::filesystem::file_size(spec->body_file, ec);
      ctx_.body_file_error =
          ec ? fmt::format("{}: body_file '{}': {}", spec->source, spec->body_file, ec.message())
             : std::string();
    }
    return c_.transport_.request(o, t, method, with_body, foreign, spec, ctx_.body_file_size);
  }

  // Not coroutines: they return the transport's awaitable, so an attempt
  // costs no extra frame.
  net::awaitable<outcome> attempt(origin& o, const target& t, const std::string& request,
                                  bool head) override {
    if (ctx_.body_file && !ctx_.body_file_error.empty()) {
      return failed(fetch_errc::request_file, ctx_.body_file_error);
    }
    return c_.transport_.attempt(ctx_, o, t, request, head);
  }

  net::awaitable<bool> wait(nanoseconds d) override { return sleep_for(d); }

  void discard_response() override { body_.discard(); }

  // Its own result and body sink, limited as `cfg` says; the same worker's
  // watchdog slot (the item waits meanwhile).
  net::awaitable<result> fetch_aside(const config& cfg, std::string url) override {
    result aside;
    aside.url = std::move(url);
    aside.worker = w_.index;
    item_io io(c_, w_, aside, {cfg.max_decoded, cfg.memory_body, cfg.keep_body});
    co_await fetch(io, cfg, aside);
    co_return aside;
  }

 private:
  static cookie_url cookie_url_of(const target& t) { return {t.host, t.ip_literal, t.tls, t.path}; }

  static net::awaitable<outcome> failed(fetch_errc kind, std::string message) {
    outcome out;
    out.fail(kind, std::move(message));
    co_return out;
  }

  http_consumer& c_;
  const worker_info& w_;  // process()'s, which outlives this
  body_sink body_;
  attempt_context ctx_;
};

net::awaitable<result> http_consumer::process(item it, worker_info w) {
  result r;
  r.url = std::move(it.url);
  r.request = std::move(it.request);
  r.index = it.index;
  r.producer = it.producer;
  r.worker = w.index;
  r.enqueued_at = it.enqueued_at;
  r.started_at = clock::now();
  {
    item_io io(*this, w, r);
    try {
      co_await fetch(io, cfg_, r);
    } catch (const boost::system::system_error& e) {
      if (e.code() != net::error::operation_aborted) {
        throw;
      }
      io.discard_response();
      r.error_kind = name(fetch_errc::cancelled);
      r.error_message = name(fetch_errc::cancelled);
    }
  }
  // A record's URL that cannot be fetched (ftp://, a bad port) names the
  // record's file and line, as the producer's own checks do.
  if (r.request && !r.request->source.empty() && r.redirects == 0 &&
      r.error_kind == name(fetch_errc::bad_url)) {
    r.error_message = r.request->source + ": " + r.error_message;
  }
  r.finished_at = clock::now();
  r.time.total = r.finished_at - r.started_at;
  co_return r;
}

}  // namespace

std::unique_ptr<consumer> make_consumer(const stage_context& ctx, config cfg) {
  return std::make_unique<http_consumer>(ctx, std::move(cfg));
}

}  // namespace sluice::stages::http

namespace sluice {

void register_http_stages(registry& reg) {
  namespace h = stages::http;
  stage_info info;
  info.kind = stage_kind::consumer;
  info.name = "http";
  info.summary =
      "Fetches each item's URL over HTTP/1.1 or HTTPS (Boost.Beast): keep-alive pool, per-host "
      "limits and rate, timeouts, retries, redirects, gzip";
  info.schema = h::schema();
  info.validate = [](const options& o) { (void)h::parse_config(o, nullptr); };
  // A CA file that is not there fails every HTTPS item; `check` says so.
  info.check_files = [](const stage_context& ctx) {
    const auto tls = ctx.opts.get_object("tls");
    const auto file = tls.has("ca_file") ? tls.get_string("ca_file") : std::string();
    std::error_code ec;
    if (!file.empty() && !std::filesystem::is_regular_file(ctx.resolve(file), ec)) {
      throw config_error("tls.ca_file", "no such CA file '" + ctx.resolve(file).string() + "'");
    }
  };
  info.make_consumer = [](const stage_context& ctx) {
    return h::make_consumer(ctx, h::parse_config(ctx.opts, &ctx));
  };
  reg.add(std::move(info));
}

}  // namespace sluice
