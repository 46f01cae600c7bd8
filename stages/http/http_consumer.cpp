// The http consumer: one instance shared by all M workers. Each `process`
// call fetches one URL on its worker's strand: parse the URL (Boost.URL),
// wait for the origin's pause / permit / rate token, take a pooled keep-alive
// connection or open one (cached DNS, TCP, TLS with SNI and verification),
// write the request and read the response with Beast, decode gzip/deflate
// with zlib, keep the body in memory or spill it to a temporary file, then
// retry or follow redirects as configured. Every failure becomes data in the
// result (error_kind + error_message); nothing is thrown per item.
//
// Shared state lives in one `origin` object per scheme+host+port: its idle
// connections, DNS entry and token bucket sit behind a small mutex that is
// never held across a co_await; the per-origin concurrency limit is a
// concurrent_channel used as a permit pool (try_receive first, so an
// uncontended acquire does not leave the strand).
//
// Timeouts cost nothing per I/O operation: before each phase (connect, TLS
// handshake, request + response header, each body read) a worker stores the
// phase's deadline in its slot of the consumer's watchdog, the earlier of the
// phase's own limit and the attempt's total deadline. One watchdog coroutine
// scans the slots every few milliseconds and cancels the socket of a phase
// that is past its deadline, on that worker's strand; the worker then maps
// the aborted operation to the phase's timeout kind. (A Beast tcp_stream
// would arm and cancel a timer for every read and write instead.)
#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <unistd.h>
#include <zlib.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "http_options.hpp"
#include "inflater.hpp"
#include "sluice/core/base64.hpp"
#include "sluice/core/error.hpp"
#include "sluice/core/fetch_error.hpp"
#include "target.hpp"
#include "watchdog.hpp"

namespace sluice::http_detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace urls = boost::urls;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using std::chrono::nanoseconds;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
/// Read buffer capacity per connection. Beast sizes each read by the flat
/// buffer's free capacity (at least 512 bytes), and the body is parsed out of
/// it at once, so without this reserve a large body arrives 512 bytes a read.
constexpr std::size_t k_read_buffer = 64 * 1024;

/// One keep-alive connection; owned by exactly one coroutine at a time
/// (a worker while in use, the origin's idle list otherwise).
struct connection {
  std::optional<tcp::socket> plain;
  std::unique_ptr<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
  clock::time_point idle_since{};

  connection() { buffer.reserve(k_read_buffer); }

  tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
};

using permit_channel = net::experimental::concurrent_channel<void(error_code)>;

/// Shared per-origin state (scheme+host+port).
/// Thread safety: `mutex_` guards idle/dns/bucket; paused_until is atomic;
/// the permit channel is itself thread-safe.
class origin {
 public:
  origin(const config& cfg, const net::any_io_executor& ex)
      : tokens_(cfg.rate_burst), refilled_(clock::now()) {
    if (cfg.per_host > 0) {
      permits_ = std::make_unique<permit_channel>(ex, cfg.per_host);
      for (std::uint32_t i = 0; i < cfg.per_host; ++i) {
        permits_->try_send(error_code{});
      }
    }
  }

  /// Takes the freshest idle connection that is younger than `idle_timeout`.
  std::unique_ptr<connection> take_idle(clock::time_point now, nanoseconds idle_timeout) {
    std::unique_ptr<connection> c;
    std::vector<std::unique_ptr<connection>> stale;
    {
      std::lock_guard lock(mutex_);
      while (!idle_.empty()) {
        auto cand = std::move(idle_.back());
        idle_.pop_back();
        if (idle_timeout.count() == 0 || now - cand->idle_since < idle_timeout) {
          c = std::move(cand);
          break;
        }
        stale.push_back(std::move(cand));
      }
      // Whatever is left below the freshest one is older still.
      if (c != nullptr && idle_timeout.count() != 0) {
        auto keep_from = std::find_if(idle_.begin(), idle_.end(),
                                      [&](auto& x) { return now - x->idle_since < idle_timeout; });
        for (auto it = idle_.begin(); it != keep_from; ++it) {
          stale.push_back(std::move(*it));
        }
        idle_.erase(idle_.begin(), keep_from);
      }
    }
    return c;  // `stale` closes its sockets outside the lock
  }

  void give_back(std::unique_ptr<connection> c, std::uint32_t max_idle) {
    std::unique_ptr<connection> evicted;
    std::lock_guard lock(mutex_);
    if (max_idle == 0) {
      return;
    }
    if (idle_.size() >= max_idle) {
      evicted = std::move(idle_.front());
      idle_.erase(idle_.begin());
    }
    idle_.push_back(std::move(c));
  }

  std::optional<std::vector<tcp::endpoint>> cached_endpoints(clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (!endpoints_.empty() && now < dns_expires_) {
      return endpoints_;
    }
    return std::nullopt;
  }

  void cache_endpoints(std::vector<tcp::endpoint> eps, clock::time_point expires) {
    std::lock_guard lock(mutex_);
    endpoints_ = std::move(eps);
    dns_expires_ = expires;
  }

  void forget_endpoints() {
    std::lock_guard lock(mutex_);
    endpoints_.clear();
  }

  /// Reserves one token; returns how long to wait before using it.
  nanoseconds reserve_token(double rate, double burst) {
    std::lock_guard lock(mutex_);
    auto now = clock::now();
    double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min(burst, tokens_ + elapsed * rate);
    tokens_ -= 1.0;
    if (tokens_ >= 0) {
      return nanoseconds::zero();
    }
    return std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(-tokens_ / rate));
  }

  void pause_until(clock::time_point t) {
    auto v = t.time_since_epoch().count();
    auto cur = paused_until_.load(std::memory_order_relaxed);
    while (cur < v && !paused_until_.compare_exchange_weak(cur, v)) {
    }
  }

  clock::time_point paused_until() const {
    return clock::time_point(clock::duration(paused_until_.load(std::memory_order_relaxed)));
  }

  permit_channel* permits() { return permits_.get(); }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<connection>> idle_;
  std::vector<tcp::endpoint> endpoints_;
  clock::time_point dns_expires_{};
  double tokens_;
  clock::time_point refilled_;
  std::atomic<clock::rep> paused_until_{0};
  std::unique_ptr<permit_channel> permits_;
};

bool iequals(std::string_view a, std::string_view b) {
  return beast::iequals(a, b);
}

/// Request fields that carry credentials: never sent to another origin after
/// a redirect unless the user trusts redirects.
bool is_credential_field(std::string_view name) {
  return iequals(name, "authorization") || iequals(name, "cookie") ||
         iequals(name, "proxy-authorization");
}

bool is_reset(const error_code& ec) {
  return ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe || ec == net::error::connection_aborted ||
         ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message ||
         ec == ssl::error::stream_truncated;
}

/// The request as it goes on the wire (Beast's serializer, run once).
std::string serialize(const bhttp::request<bhttp::string_body>& req) {
  std::string out;
  out.reserve(256 + req.body().size());
  bhttp::request_serializer<bhttp::string_body> sr{req};
  error_code ec;
  while (!sr.is_done() && !ec) {
    sr.next(ec, [&](error_code&, const auto& buffers) {
      for (auto b : beast::buffers_range_ref(buffers)) {
        out.append(static_cast<const char*>(b.data()), b.size());
      }
      sr.consume(beast::buffer_bytes(buffers));
    });
  }
  return out;
}

/// What one attempt ended with, beyond what it wrote into the result.
struct outcome {
  fetch_errc kind{};  // none: a response was received
  std::string message;
  std::optional<nanoseconds> retry_after;
  std::string retry_after_value;
  std::string location;
  bool cancelled = false;
  bool stale_reuse = false;  // a pooled connection failed before any response byte
};

class http_consumer final : public consumer {
 public:
  http_consumer(const stage_context& ctx, config cfg)
      : cfg_(std::move(cfg)),
        executor_(ctx.executor),
        temp_dir_(ctx.temp_dir.empty() ? std::filesystem::temp_directory_path() : ctx.temp_dir),
        log_(ctx.log_sink),
        dog_(std::make_shared<watchdog>(ctx.executor, watchdog_tick(cfg_))) {
    if (!cfg_.tls_ca_file.empty()) {
      // Load it now, so a missing or bad file is a configuration error (exit 2).
      ssl_context();
      if (ssl_error_) {
        throw config_error("tls.ca_file", fmt::format("cannot load CA file '{}': {}",
                                                      cfg_.tls_ca_file, ssl_error_.message()));
      }
    }
    if (!cfg_.basic_auth.empty()) {
      authorization_ = "Basic " + base64_encode(cfg_.basic_auth);
    }
    for (auto& [k, v] : cfg_.headers) {
      if (iequals(k, "user-agent")) {
        ua_overridden_ = true;
      }
      if (iequals(k, "accept-encoding")) {
        ae_overridden_ = true;
      }
      if (iequals(k, "host")) {
        host_overridden_ = true;
      }
    }
    for (auto& name : cfg_.keep_headers) {
      auto f = bhttp::string_to_field(name);
      if (f == bhttp::field::unknown) {
        keep_other_.push_back(name);
      } else {
        keep_known_.emplace_back(f, name);
      }
    }
    tail_with_body_[0] = request_tail(cfg_.method, true, false);
    tail_without_body_[0] = request_tail("GET", false, false);
    tail_with_body_[1] = request_tail(cfg_.method, true, true);
    tail_without_body_[1] = request_tail("GET", false, true);
  }

  net::awaitable<result> process(item it, worker_info w) override;

  net::awaitable<void> close() override {
    dog_->stop();
    if (auto n = dog_->failures(); n > 0 && log_) {
      log_(log_level::warn, fmt::format("http: the timeout watchdog failed {} time(s) and was "
                                        "restarted; last: {}",
                                        n, dog_->last_failure()));
    }
    co_return;
  }

 private:
  struct fetch;  // per-item state, defined below

  /// Everything after the request line of a request with the configured
  /// fields (and body), serialized by Beast.
  /// `foreign`: for another origin than the item's after a redirect, where
  /// credentials are left out unless redirects are trusted (curl's rule).
  std::string request_tail(const std::string& method, bool with_body, bool foreign) const {
    bool credentials = !foreign || cfg_.redirect_trusted;
    bhttp::request<bhttp::string_body> req;
    req.version(11);
    req.method_string(method);
    req.target("/");
    if (!ua_overridden_ && !cfg_.user_agent.empty()) {
      req.set(bhttp::field::user_agent, cfg_.user_agent);
    }
    if (cfg_.decompress && !ae_overridden_) {
      req.set(bhttp::field::accept_encoding, "gzip, deflate");
    }
    if (!authorization_.empty() && credentials) {
      req.set(bhttp::field::authorization, authorization_);
    }
    for (auto& [k, v] : cfg_.headers) {
      if (credentials || !is_credential_field(k)) {
        req.set(k, v);
      }
    }
    if (with_body && !cfg_.body.empty()) {
      req.body() = cfg_.body;
      req.prepare_payload();
    }
    std::string wire = serialize(req);
    return wire.substr(wire.find("\r\n") + 2);
  }

  std::shared_ptr<origin> origin_for(std::string_view key) {
    std::lock_guard lock(origins_mutex_);
    auto it = origins_.find(key);
    if (it == origins_.end()) {
      it = origins_.emplace(std::string(key), std::make_shared<origin>(cfg_, executor_)).first;
    }
    return it->second;
  }

  std::filesystem::path next_temp_file(std::uint32_t worker) {
    auto n = temp_counter_.fetch_add(1, std::memory_order_relaxed);
    return temp_dir_ / fmt::format("http-{}-{}-{}.body", ::getpid(), worker, n);
  }

  friend struct fetch;

  /// How often the watchdog looks: a tenth of the shortest configured limit,
  /// between 1 ms and 50 ms (a timeout fires at most one tick late).
  static nanoseconds watchdog_tick(const config& c) {
    nanoseconds shortest = std::chrono::milliseconds(500);
    for (auto d : {c.connect_timeout, c.header_timeout, c.total_timeout}) {
      if (d > nanoseconds::zero()) {
        shortest = std::min(shortest, d);
      }
    }
    if (c.min_speed > 0 && c.speed_window > nanoseconds::zero()) {
      shortest = std::min(shortest, c.speed_window);
    }
    return std::clamp<nanoseconds>(shortest / 10, std::chrono::milliseconds(1),
                                   std::chrono::milliseconds(50));
  }

  config cfg_;
  net::any_io_executor executor_;
  std::filesystem::path temp_dir_;
  /// The TLS client context, built on first use: loading the system CA store
  /// costs tens of milliseconds, which a run over plain http should not pay.
  ssl::context& ssl_context() {
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

  std::once_flag ssl_once_;
  std::unique_ptr<ssl::context> ssl_ctx_;
  error_code ssl_error_;
  std::function<void(log_level, std::string_view)> log_;
  std::string authorization_;
  bool ua_overridden_ = false;
  bool ae_overridden_ = false;
  bool host_overridden_ = false;
  /// Indexed by `foreign` (see request_tail).
  std::array<std::string, 2> tail_with_body_;
  std::array<std::string, 2> tail_without_body_;
  /// keep_headers split by whether Beast knows the field: a known one is
  /// matched by its enum, the rest by case-insensitive name.
  std::vector<std::pair<bhttp::field, std::string>> keep_known_;
  std::vector<std::string> keep_other_;
  std::mutex origins_mutex_;
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept {
      return std::hash<std::string_view>{}(k);
    }
  };
  std::unordered_map<std::string, std::shared_ptr<origin>, key_hash, std::equal_to<>> origins_;
  std::atomic<std::uint64_t> temp_counter_{0};
  std::shared_ptr<watchdog> dog_;
};

/// Holds one permit of an origin while alive.
class permit_guard {
 public:
  permit_guard() = default;
  explicit permit_guard(permit_channel* ch) : ch_(ch) {}
  permit_guard(permit_guard&& o) noexcept : ch_(std::exchange(o.ch_, nullptr)) {}
  permit_guard& operator=(permit_guard&& o) noexcept {
    release();
    ch_ = std::exchange(o.ch_, nullptr);
    return *this;
  }
  ~permit_guard() { release(); }
  void release() {
    if (ch_ != nullptr) {
      ch_->try_send(error_code{});
      ch_ = nullptr;
    }
  }

 private:
  permit_channel* ch_ = nullptr;
};

/// The state of fetching one item, across attempts and redirect hops.
struct http_consumer::fetch {
  http_consumer& self;
  const config& cfg;
  worker_info worker;
  result& r;
  std::minstd_rand rng;
  watchdog& dog;
  watchdog::slot& slot;
  /// keep_body, unless no sink of the pipeline reads bodies.
  bool keep_body;

  // Body sink state for the current attempt.
  std::FILE* file = nullptr;
  std::filesystem::path file_path;
  std::uint64_t wire_bytes = 0;

  fetch(http_consumer& s, worker_info w, result& res)
      : self(s),
        cfg(s.cfg_),
        worker(std::move(w)),
        r(res),
        rng(static_cast<std::uint32_t>(res.index * 2654435761u + res.worker + 1)),
        dog(*s.dog_),
        slot(dog.slot_for(worker.index, worker.executor)),
        keep_body(cfg.keep_body && worker.keep_bodies) {}

  ~fetch() { discard_file(); }

  void discard_file() {
    if (file != nullptr) {
      std::fclose(file);
      file = nullptr;
      std::error_code ec;
      std::filesystem::remove(file_path, ec);
    }
  }

  void reset_response() {
    discard_file();
    if (!r.body_file.empty()) {
      // A finished body of a response we are not keeping (a redirect, a retry).
      std::error_code ec;
      std::filesystem::remove(r.body_file, ec);
    }
    r.status = 0;
    r.bytes = 0;
    r.body.clear();
    r.body_file.clear();
    r.content_type.clear();
    r.headers.clear();
    wire_bytes = 0;
  }

  /// Appends decoded body bytes; false (with kind/message) past a limit.
  bool append(const char* p, std::size_t n, outcome& o) {
    std::uint64_t next = r.bytes + n;
    if (next > cfg.max_decoded) {
      o.kind = fetch_errc::body_limit;
      o.message = fmt::format("decoded body exceeds max_decoded ({} bytes)", cfg.max_decoded);
      return false;
    }
    r.bytes = next;
    if (!keep_body) {
      return true;
    }
    if (file == nullptr && next > cfg.memory_body) {
      file_path = self.next_temp_file(worker.index);
      file = std::fopen(file_path.c_str(), "wb");
      if (file == nullptr) {
        o.kind = fetch_errc::body_file;
        o.message = fmt::format("cannot create {}: {}", file_path.string(), std::strerror(errno));
        return false;
      }
      if (!r.body.empty() && std::fwrite(r.body.data(), 1, r.body.size(), file) != r.body.size()) {
        o.kind = fetch_errc::body_file;
        o.message = fmt::format("cannot write {}: {}", file_path.string(), std::strerror(errno));
        return false;
      }
      std::string().swap(r.body);
    }
    if (file != nullptr) {
      if (std::fwrite(p, 1, n, file) != n) {
        o.kind = fetch_errc::body_file;
        o.message = fmt::format("cannot write {}: {}", file_path.string(), std::strerror(errno));
        return false;
      }
    } else {
      r.body.append(p, n);
    }
    return true;
  }

  bool finish_body(outcome& o) {
    if (file != nullptr) {
      bool ok = std::fflush(file) == 0;
      ok = (std::fclose(file) == 0) && ok;
      file = nullptr;
      if (!ok) {
        o.kind = fetch_errc::body_file;
        o.message = fmt::format("cannot write {}", file_path.string());
        std::error_code ec;
        std::filesystem::remove(file_path, ec);
        return false;
      }
      r.body_file = file_path.string();
    }
    return true;
  }

  net::awaitable<bool> sleep_for(nanoseconds d) {
    if (d <= nanoseconds::zero()) {
      co_return true;
    }
    net::steady_timer t(worker.executor, d);
    auto [ec] = co_await t.async_wait(use_tuple);
    co_return !ec;
  }

  /// Resolves (or takes from cache) the endpoints of `t`.
  net::awaitable<std::vector<tcp::endpoint>> endpoints(const target& t, origin& o,
                                                       clock::time_point limit, outcome& out) {
    std::vector<tcp::endpoint> eps;
    if (t.ip_literal) {
      error_code ec;
      auto addr = net::ip::make_address(t.host, ec);
      if (ec) {
        out.kind = fetch_errc::bad_url;
        out.message = fmt::format("bad address '{}'", t.host);
        co_return eps;
      }
      eps.emplace_back(addr, t.port);
      co_return eps;
    }
    auto now = clock::now();
    if (auto c = o.cached_endpoints(now)) {
      co_return std::move(*c);
    }
    using namespace net::experimental::awaitable_operators;
    tcp::resolver resolver(worker.executor);
    net::steady_timer timer(worker.executor, limit);
    auto started = clock::now();
    auto res = co_await (resolver.async_resolve(t.host, std::to_string(t.port), use_tuple) ||
                         timer.async_wait(use_tuple));
    r.time.dns += clock::now() - started;
    if (res.index() == 1) {
      auto [tec] = std::get<1>(res);
      if (tec == net::error::operation_aborted) {
        out.cancelled = true;
        out.kind = fetch_errc::cancelled;
        out.message = name(fetch_errc::cancelled);
      } else {
        out.kind = fetch_errc::timeout_connect;
        out.message = fmt::format("resolving {} timed out", t.host);
      }
      co_return eps;
    }
    auto [ec, results] = std::get<0>(res);
    if (ec == net::error::operation_aborted) {
      out.cancelled = true;
      out.kind = fetch_errc::cancelled;
      out.message = name(fetch_errc::cancelled);
      co_return eps;
    }
    if (ec || results.empty()) {
      out.kind = fetch_errc::resolve;
      out.message = fmt::format("cannot resolve '{}': {}", t.host,
                                ec ? ec.message() : std::string("no addresses"));
      co_return eps;
    }
    for (auto& e : results) {
      eps.push_back(e.endpoint());
    }
    if (cfg.dns_ttl > nanoseconds::zero()) {
      o.cache_endpoints(eps, clock::now() + cfg.dns_ttl);
    }
    co_return eps;
  }

  static clock::time_point earlier(clock::time_point deadline, nanoseconds limit,
                                   clock::time_point from, bool& limit_first) {
    if (limit <= nanoseconds::zero()) {
      limit_first = false;
      return deadline;
    }
    auto t = from + limit;
    limit_first = t < deadline;
    return limit_first ? t : deadline;
  }

  /// Opens a new connection to `t` (DNS, TCP, TLS).
  net::awaitable<std::unique_ptr<connection>> open(const target& t, origin& o,
                                                   clock::time_point deadline, outcome& out) {
    bool connect_first = false;
    auto limit = earlier(deadline, cfg.connect_timeout, clock::now(), connect_first);
    auto timeout_kind = connect_first ? fetch_errc::timeout_connect : fetch_errc::timeout_total;
    auto eps = co_await endpoints(t, o, limit, out);
    if (out.kind != fetch_errc{}) {
      if (out.kind == fetch_errc::timeout_connect && !connect_first) {
        out.kind = fetch_errc::timeout_total;
      }
      co_return nullptr;
    }
    auto c = std::make_unique<connection>();
    if (t.tls) {
      c->tls = std::make_unique<ssl::stream<tcp::socket>>(worker.executor, self.ssl_context());
    } else {
      c->plain.emplace(worker.executor);
    }
    auto& sock = c->lowest();
    auto started = clock::now();
    // Each address in turn, all within the one connect deadline.
    error_code ec = net::error::host_not_found;
    bool timed_out = false;
    for (auto& ep : eps) {
      error_code ignore;
      sock.close(ignore);
      sock.open(ep.protocol(), ec);
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
      dog.arm(slot, sock, limit);
      auto [cec] = co_await sock.async_connect(ep, use_tuple);
      timed_out = dog.disarm(slot);
      ec = cec;
      if (!ec || timed_out || ec == net::error::operation_aborted) {
        break;
      }
    }
    r.time.connect += clock::now() - started;
    if (ec) {
      if (timed_out) {
        out.kind = timeout_kind;
        out.message = fmt::format("connecting to {}:{} timed out", t.host, t.port);
      } else if (ec == net::error::operation_aborted) {
        out.cancelled = true;
        out.kind = fetch_errc::cancelled;
        out.message = name(fetch_errc::cancelled);
      } else {
        out.kind = fetch_errc::connect;
        out.message = fmt::format("connect to {}:{} failed: {}", t.host, t.port, ec.message());
        // A stale DNS answer may be the cause; resolve afresh next time.
        o.forget_endpoints();
      }
      co_return nullptr;
    }
    error_code ignore;
    sock.set_option(tcp::no_delay(true), ignore);
    sock.non_blocking(true, ignore);  // read_body_direct reads without blocking
    if (t.tls) {
      auto& s = *c->tls;
      if (!t.ip_literal) {
        // SNI: the name the server should present a certificate for.
        if (!SSL_set_tlsext_host_name(s.native_handle(), t.host.c_str())) {
          out.kind = fetch_errc::tls;
          out.message = "cannot set SNI host name";
          co_return nullptr;
        }
      }
      if (cfg.tls_verify) {
        s.set_verify_callback(ssl::host_name_verification(t.host), ignore);
      }
      auto hs_started = clock::now();
      dog.arm(slot, sock, limit);
      auto [hec] = co_await s.async_handshake(ssl::stream_base::client, use_tuple);
      bool hs_timed_out = dog.disarm(slot);
      r.time.tls += clock::now() - hs_started;
      if (hec) {
        if (hs_timed_out) {
          out.kind = timeout_kind;
          out.message = fmt::format("TLS handshake with {} timed out", t.host);
        } else if (hec == net::error::operation_aborted) {
          out.cancelled = true;
          out.kind = fetch_errc::cancelled;
          out.message = name(fetch_errc::cancelled);
        } else {
          out.kind = fetch_errc::tls;
          std::string detail = hec.message();
          long vr = SSL_get_verify_result(s.native_handle());
          if (vr != X509_V_OK) {
            detail += fmt::format(" ({})", X509_verify_cert_error_string(vr));
          }
          out.message = fmt::format("TLS handshake with {} failed: {}", t.host, detail);
        }
        co_return nullptr;
      }
    }
    co_return c;
  }

  /// Maps a Beast/Asio error of the exchange to a kind.
  void classify(const error_code& ec, fetch_errc phase_kind, fetch_errc timeout_kind,
                outcome& out) {
    std::string_view phase = name(phase_kind);
    if (ec == beast::error::timeout) {
      out.kind = timeout_kind;
      if (out.kind == fetch_errc::timeout_header) {
        out.message = fmt::format("no complete response header within {} ({})",
                                  format_duration(cfg.header_timeout), phase);
      } else {
        out.message = fmt::format("attempt exceeded the total timeout of {} ({})",
                                  format_duration(cfg.total_timeout), phase);
      }
    } else if (ec == net::error::operation_aborted) {
      out.cancelled = true;
      out.kind = fetch_errc::cancelled;
      out.message = name(fetch_errc::cancelled);
    } else if (ec == bhttp::error::header_limit) {
      out.kind = fetch_errc::header_limit;
      out.message = fmt::format("response header exceeds max_header ({} bytes)", cfg.max_header);
    } else if (ec == bhttp::error::body_limit) {
      out.kind = fetch_errc::body_limit;
      out.message = fmt::format("response body exceeds max_body ({} bytes)", cfg.max_body);
    } else if (is_reset(ec)) {
      out.kind = phase_kind;
      out.message = fmt::format("{} failed: connection closed by peer ({})", phase, ec.message());
    } else if (ec.category() == bhttp::make_error_code(bhttp::error::bad_version).category()) {
      out.kind = fetch_errc::protocol;
      out.message = fmt::format("malformed response: {}", ec.message());
    } else {
      out.kind = phase_kind;
      out.message = fmt::format("{} failed: {}", phase, ec.message());
    }
  }

  /// A Beast parser that keeps only what a result needs: the status, the
  /// selected headers, and the body, decoded and stored as it arrives (no
  /// field container, no intermediate body buffer).
  class response_reader final : public bhttp::basic_parser<false> {
   public:
    response_reader(fetch& f, outcome& o) : f_(f), out_(o) {}

    std::unique_ptr<inflater> inf;  // when the body is gzip/deflate encoded

   private:
    void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int,
                         error_code&) override {}

    void on_response_impl(int code, beast::string_view reason, int, error_code&) override {
      f_.r.status = code;
      header_bytes_ = 15 + reason.size();
    }

    void on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                       error_code& ec) override {
      // Beast checks header_limit per parse call, and fields parsed by one
      // call are consumed before the next, so count the whole header here.
      header_bytes_ += name_string.size() + value.size() + 4;
      if (header_bytes_ > f_.cfg.max_header) {
        ec = bhttp::error::header_limit;
        return;
      }
      std::string_view v(value.data(), value.size());
      switch (name) {
        case bhttp::field::content_type:
          f_.r.content_type.assign(v);
          break;
        case bhttp::field::content_encoding:
          encoding_ = v;
          break;
        case bhttp::field::retry_after:
          out_.retry_after_value.assign(v);
          break;
        case bhttp::field::location:
          out_.location.assign(v);
          break;
        default:
          break;
      }
      const std::string* keep = nullptr;
      if (name != bhttp::field::unknown) {
        for (auto& [f, n] : f_.self.keep_known_) {
          if (f == name) {
            keep = &n;
            break;
          }
        }
      } else {
        for (auto& n : f_.self.keep_other_) {
          if (iequals(n, std::string_view(name_string.data(), name_string.size()))) {
            keep = &n;
            break;
          }
        }
      }
      if (keep != nullptr) {
        if (f_.r.headers.empty()) {
          f_.r.headers.reserve(f_.cfg.keep_headers.size());
        }
        f_.r.headers.emplace_back(*keep, std::string(v));
      }
    }

    void on_header_impl(error_code&) override {}

    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
      const config& cfg = f_.cfg;
      if (cfg.decompress && !f_.self.ae_overridden_ && !encoding_.empty()) {
        if (iequals(encoding_, "gzip") || iequals(encoding_, "x-gzip")) {
          inf = std::make_unique<inflater>();
          inf->start(true);
        } else if (iequals(encoding_, "deflate")) {
          inf = std::make_unique<inflater>();
          inf->start(false);
        }
      }
      if (f_.keep_body && !inf && length && *length <= cfg.memory_body) {
        f_.r.body.reserve(static_cast<std::size_t>(*length));
      }
    }

    std::size_t on_body_impl(beast::string_view body, error_code& ec) override {
      f_.wire_bytes += body.size();
      auto sink = [this](const char* d, std::size_t n) { return f_.append(d, n, out_); };
      bool ok = inf ? inf->feed(body.data(), body.size(), sink, out_.message)
                    : sink(body.data(), body.size());
      if (!ok) {
        if (out_.kind == fetch_errc{}) {
          out_.kind = fetch_errc::decode;
        }
        // Any error stops the parser; out_.kind says which.
        ec = make_error_code(boost::system::errc::illegal_byte_sequence);
      }
      return body.size();
    }

    void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}

    std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body,
                                   error_code& ec) override {
      return on_body_impl(body, ec);
    }

    void on_finish_impl(error_code&) override {}

    fetch& f_;
    outcome& out_;
    std::string encoding_;
    std::uint64_t header_bytes_ = 0;
  };

  /// One read from the connection into its buffer, within the armed phase.
  /// EOF after part of a message lets the parser decide (a body delimited by
  /// the close ends there); EOF before any byte is end_of_stream, as in Beast.
  template <class Stream>
  net::awaitable<error_code> read_more(Stream& s, connection& c, response_reader& p,
                                       clock::time_point at, bool& timed_out) {
    auto& b = c.buffer;
    auto room = std::clamp<std::size_t>(b.capacity() - b.size(), 512, k_read_buffer);
    dog.arm(slot, c.lowest(), at);
    auto [ec, n] = co_await s.async_read_some(b.prepare(room), use_tuple);
    timed_out = dog.disarm(slot);
    b.commit(n);
    if (timed_out && ec == net::error::operation_aborted) {
      co_return beast::error::timeout;
    }
    if (ec == net::error::eof) {
      if (p.got_some()) {
        error_code eec;
        p.put_eof(eec);
        co_return eec;
      }
      co_return bhttp::error::end_of_stream;
    }
    co_return ec;
  }

  /// Reads body bytes of a plain connection the way a reactor client does:
  /// non-blocking reads into a per-thread buffer (hot in cache, where 100
  /// connection buffers are not), parsed at once; only when the socket has
  /// nothing does the worker wait for readiness. Bytes the parser leaves
  /// (a partial chunk header) move to the connection's buffer. The buffer is
  /// never held across a suspension, so coroutines sharing a thread cannot
  /// overwrite each other's data.
  net::awaitable<error_code> read_body_direct(tcp::socket& s, connection& c, response_reader& p,
                                              clock::time_point at, bool& timed_out) {
    static thread_local std::array<char, k_read_buffer> scratch;
    for (;;) {
      error_code ec;
      auto n = s.read_some(net::buffer(scratch), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        dog.arm(slot, s, at);
        auto [wec] = co_await s.async_wait(tcp::socket::wait_read, use_tuple);
        timed_out = dog.disarm(slot);
        if (wec) {
          co_return timed_out&& wec == net::error::operation_aborted ? beast::error::timeout : wec;
        }
        continue;
      }
      if (ec == net::error::eof) {
        error_code eec;
        p.put_eof(eec);  // the header is done: got_some() holds
        co_return eec;
      }
      if (ec) {
        co_return ec;
      }
      std::size_t off = 0;
      while (off < n && !p.is_done()) {
        auto used = p.put(net::buffer(scratch.data() + off, n - off), ec);
        off += used;
        if (ec == bhttp::error::need_more) {
          ec = {};
          break;
        }
        if (ec || used == 0) {
          break;
        }
      }
      if (off < n) {
        auto& b = c.buffer;
        b.commit(net::buffer_copy(b.prepare(n - off), net::buffer(scratch.data() + off, n - off)));
      }
      co_return ec;
    }
  }

  /// Feeds buffered bytes to the parser; `progressed` when it took any.
  static error_code parse_buffered(connection& c, response_reader& p, bool& progressed) {
    error_code ec;
    progressed = false;
    if (c.buffer.size() == 0) {
      return ec;
    }
    auto used = p.put(c.buffer.data(), ec);
    c.buffer.consume(used);
    progressed = used > 0;
    if (ec == bhttp::error::need_more) {
      ec = {};
    }
    return ec;
  }

  /// Writes the request and reads the response on an open connection.
  template <class Stream>
  net::awaitable<void> exchange(Stream& s, connection& c, bool reused, const std::string& req,
                                clock::time_point deadline, bool head, outcome& out,
                                bool& reusable) {
    bool header_first = false;
    auto header_at = earlier(deadline, cfg.header_timeout, clock::now(), header_first);
    fetch_errc header_timeout_kind =
        header_first ? fetch_errc::timeout_header : fetch_errc::timeout_total;
    // One flat buffer, serialized once per hop, written in one call (the
    // socket takes it whole unless the send buffer is full).
    dog.arm(slot, c.lowest(), header_at);
    auto [wec, wn] = co_await net::async_write(s, net::buffer(req), use_tuple);
    bool timed_out = dog.disarm(slot);
    if (wec) {
      if (timed_out && wec == net::error::operation_aborted) {
        wec = beast::error::timeout;
      }
      if (reused && is_reset(wec)) {
        out.stale_reuse = true;
      }
      classify(wec, fetch_errc::write, header_timeout_kind, out);
      co_return;
    }
    auto written = clock::now();
    response_reader p(*this, out);
    p.header_limit(static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg.max_header, UINT32_MAX)));
    p.body_limit(cfg.max_body);
    if (head) {
      p.skip(true);
    }
    // The header: parse what is buffered, read more until it is complete.
    while (!p.is_header_done()) {
      bool progressed = false;
      auto ec = parse_buffered(c, p, progressed);
      if (!ec && (p.is_header_done() || progressed)) {
        continue;
      }
      if (!ec) {
        ec = co_await read_more(s, c, p, header_at, timed_out);
      }
      if (ec) {
        if (reused && is_reset(ec) && !p.got_some() && c.buffer.size() == 0) {
          out.stale_reuse = true;
        }
        classify(ec, fetch_errc::read, header_timeout_kind, out);
        co_return;
      }
    }
    r.time.ttfb += clock::now() - written;
    if (!out.retry_after_value.empty()) {
      out.retry_after = parse_retry_after(out.retry_after_value, std::chrono::system_clock::now());
    }
    if (!is_redirect(r.status)) {
      out.location.clear();
    }

    // Body: the reader decodes (gzip/deflate) on the fly and spills to a file
    // when large; here only the I/O, the timeouts and the speed guard.
    bool speed_guard = cfg.min_speed > 0;
    auto window_start = clock::now();
    std::uint64_t window_bytes = 0;
    double need_per_window = static_cast<double>(cfg.min_speed) *
                             std::chrono::duration<double>(cfg.speed_window).count();
    while (!p.is_done()) {
      bool speed_first = false;
      fetch_errc kind = fetch_errc::timeout_total;
      clock::time_point at = deadline;
      if (speed_guard) {
        at = earlier(deadline, cfg.speed_window, window_start, speed_first);
        if (speed_first) {
          kind = fetch_errc::too_slow;
        }
      }
      auto before = wire_bytes;
      // Usually the whole body arrived with the header: parse it in place.
      bool progressed = false;
      auto ec = parse_buffered(c, p, progressed);
      if (!progressed && !ec) {
        // Bytes the parser left (a partial chunk header) must stay in front
        // of the next ones: then read into the connection's buffer.
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
          if (c.buffer.size() == 0) {
            ec = co_await read_body_direct(s, c, p, at, timed_out);
          } else {
            ec = co_await read_more(s, c, p, at, timed_out);
          }
        } else {
          ec = co_await read_more(s, c, p, at, timed_out);
        }
      }
      std::size_t got = wire_bytes - before;
      if (out.kind != fetch_errc{}) {
        co_return;  // the reader failed the body (decode, body_limit, body_file)
      }
      if (ec) {
        if (ec == beast::error::timeout && speed_first) {
          out.kind = fetch_errc::too_slow;
          out.message =
              fmt::format("body slower than min_speed ({} bytes/s): {} bytes in the last {}",
                          cfg.min_speed, window_bytes + got, format_duration(cfg.speed_window));
          co_return;
        }
        classify(ec, fetch_errc::read, kind, out);
        co_return;
      }
      if (speed_guard) {
        window_bytes += got;
        if (static_cast<double>(window_bytes) >= need_per_window) {
          window_start = clock::now();
          window_bytes = 0;
        }
      }
    }
    if (p.inf && !p.inf->finished() && r.bytes == 0 && wire_bytes > 0) {
      out.kind = fetch_errc::decode;
      out.message = "truncated compressed body";
      co_return;
    }
    if (!finish_body(out)) {
      co_return;
    }
    reusable = p.keep_alive() && c.buffer.size() == 0;
  }

  bool ae_user_set() const { return self.ae_overridden_; }

  /// One attempt: connection, exchange, pool hand-back.
  net::awaitable<outcome> attempt(const target& t, origin& o, const std::string& req, bool head) {
    outcome out;
    auto now = clock::now();
    auto deadline = cfg.total_timeout > nanoseconds::zero() ? now + cfg.total_timeout
                                                            : clock::time_point::max();
    for (int fresh_tries = 0; fresh_tries < 2; ++fresh_tries) {
      out = outcome{};
      reset_response();
      bool reused = false;
      std::unique_ptr<connection> c;
      if (fresh_tries == 0) {
        c = o.take_idle(clock::now(), cfg.pool_idle_timeout);
        reused = c != nullptr;
      }
      if (!c) {
        c = co_await open(t, o, deadline, out);
        if (!c) {
          co_return out;
        }
      }
      bool reusable = false;
      if (c->tls) {
        co_await exchange(*c->tls, *c, reused, req, deadline, head, out, reusable);
      } else {
        co_await exchange(*c->plain, *c, reused, req, deadline, head, out, reusable);
      }
      if (out.stale_reuse && !out.cancelled) {
        continue;  // the server closed an idle connection: once more on a fresh one
      }
      if (out.kind == fetch_errc{} && reusable && cfg.pool_max_idle > 0) {
        c->idle_since = clock::now();
        c->buffer.clear();
        o.give_back(std::move(c), cfg.pool_max_idle);
      }
      co_return out;
    }
    co_return out;
  }

  /// The request for one hop: the request line and Host are per URL; every
  /// other field (and the body) was serialized by Beast once, at construction.
  std::string build_request(const target& t, std::string_view method, bool with_body,
                            bool foreign) {
    const std::string& tail =
        with_body ? self.tail_with_body_[foreign] : self.tail_without_body_[foreign];
    std::string out;
    out.reserve(method.size() + t.path.size() + t.host_header.size() + tail.size() + 26);
    out.append(method).append(" ");
    if (t.path.empty() || t.path.front() != '/') {
      out.push_back('/');  // "http://h" and "http://h?q" have no path: "/", "/?q"
    }
    out.append(t.path).append(" HTTP/1.1\r\n");
    if (!self.host_overridden_) {
      out.append("Host: ").append(t.host_header).append("\r\n");
    }
    out.append(tail);
    return out;
  }

  /// Waits for the origin's Retry-After pause, a permit and a rate token.
  net::awaitable<bool> admit(origin& o, permit_guard& permit) {
    if (auto until = o.paused_until(); until > clock::now()) {
      if (!co_await sleep_for(until - clock::now())) {
        co_return false;
      }
    }
    if (auto* ch = o.permits()) {
      bool got = ch->try_receive([](error_code) {});
      if (!got) {
        auto [ec] = co_await ch->async_receive(use_tuple);
        if (ec) {
          co_return false;
        }
      }
      permit = permit_guard(ch);
    }
    if (cfg.rate_per_sec > 0) {
      auto wait = o.reserve_token(cfg.rate_per_sec, cfg.rate_burst);
      if (!co_await sleep_for(wait)) {
        co_return false;
      }
    }
    // A 429 seen by another worker while we waited pauses us too.
    if (auto until = o.paused_until(); until > clock::now()) {
      if (!co_await sleep_for(until - clock::now())) {
        co_return false;
      }
    }
    co_return true;
  }

  void fail(fetch_errc kind, std::string message) {
    r.error_kind = name(kind);
    r.error_message = std::move(message);
  }

  net::awaitable<void> run() {
    auto parsed = urls::parse_uri(r.url);
    if (!parsed) {
      fail(fetch_errc::bad_url, describe_bad_url(r.url));
      co_return;
    }
    // The parsed r.url until a redirect; then `owned`, the resolved Location.
    // A pointer, not a url_view assigned from `owned`: in Boost.URL 1.81 such
    // a view keeps reading the url's own (later moved-to) sizes, so every use
    // of it after the next move is out of bounds (boostorg/url#872).
    const urls::url_view_base* current = &*parsed;
    urls::url owned;
    std::string first_origin;
    std::vector<std::string> visited;
    std::string method = cfg.method;
    bool with_body = true;
    for (;;) {
      target t;
      if (auto why = make_target(*current, t); !why.empty()) {
        if (r.redirects == 0) {
          fail(fetch_errc::bad_url, why);
        } else {
          fail(fetch_errc::redirect_scheme,
               fmt::format("redirect to {}: {}", current->buffer(), why));
        }
        co_return;
      }
      r.final_url.assign(current->buffer().data(), current->buffer().size());
      auto o = self.origin_for(t.key_view());
      bool head = iequals(method, "HEAD");
      if (r.redirects == 0) {
        first_origin.assign(t.key_view());
      }
      auto req = build_request(t, method, with_body, t.key_view() != first_origin);
      outcome out;
      r.attempts = 0;
      for (std::uint32_t attempt_no = 1;; ++attempt_no) {
        permit_guard permit;
        // Skip the admission coroutine (a frame per request) when nothing limits this origin.
        bool limited =
            o->permits() != nullptr || cfg.rate_per_sec > 0 || o->paused_until() > clock::now();
        if (limited && !co_await admit(*o, permit)) {
          fail(fetch_errc::cancelled, std::string(name(fetch_errc::cancelled)));
          co_return;
        }
        r.attempts = attempt_no;
        out = co_await attempt(t, *o, req, head);
        permit.release();
        if (out.cancelled) {
          fail(fetch_errc::cancelled, std::string(name(fetch_errc::cancelled)));
          co_return;
        }
        if (out.retry_after) {
          auto ra = std::min(*out.retry_after, cfg.retry_after_max);
          // Applies to the whole origin: every worker waits, not just this one.
          o->pause_until(clock::now() + ra);
        }
        bool retry = out.kind == fetch_errc{} ? should_retry(cfg.retry_on, "", r.status)
                                              : should_retry(cfg.retry_on, name(out.kind), 0);
        if (!retry || attempt_no >= cfg.attempts) {
          break;
        }
        auto delay = backoff_delay(attempt_no, cfg.backoff_base, cfg.backoff_max, rng);
        if (!co_await sleep_for(delay)) {
          fail(fetch_errc::cancelled, std::string(name(fetch_errc::cancelled)));
          co_return;
        }
      }
      if (out.kind != fetch_errc{}) {
        fail(std::move(out.kind), std::move(out.message));
        co_return;
      }
      if (is_redirect(r.status) && cfg.max_redirects > 0 && !out.location.empty()) {
        auto ref = urls::parse_uri_reference(out.location);
        if (!ref) {
          fail(fetch_errc::redirect_scheme,
               fmt::format("bad Location '{}': {}", out.location, ref.error().message()));
          co_return;
        }
        auto resolved = resolve_location(*current, *ref);
        if (!resolved) {
          fail(fetch_errc::redirect_scheme, fmt::format("cannot resolve Location '{}': {}",
                                                        out.location, resolved.error().message()));
          co_return;
        }
        urls::url next = std::move(*resolved);
        target next_target;
        if (auto why = make_target(next, next_target); !why.empty()) {
          fail(fetch_errc::redirect_scheme,
               fmt::format("redirect to {} refused: {}", next.buffer(), why));
          co_return;
        }
        if (r.redirects >= cfg.max_redirects) {
          fail(fetch_errc::too_many_redirects,
               fmt::format("more than {} redirects (next: {})", cfg.max_redirects, next.buffer()));
          co_return;
        }
        visited.emplace_back(current->buffer());
        std::string next_s(next.buffer());
        if (std::find(visited.begin(), visited.end(), next_s) != visited.end()) {
          fail(fetch_errc::redirect_loop, fmt::format("redirect loop back to {}", next_s));
          co_return;
        }
        if (r.status == 303 || ((r.status == 301 || r.status == 302) && method == "POST")) {
          if (!head) {
            method = "GET";
          }
          with_body = false;
        }
        ++r.redirects;
        reset_response();
        owned = std::move(next);
        current = &owned;
        continue;
      }
      if (status_matches(cfg.fail_status, r.status)) {
        fail(fetch_errc::http_status, fmt::format("HTTP status {}", r.status));
      }
      co_return;
    }
  }
};

net::awaitable<result> http_consumer::process(item it, worker_info w) {
  result r;
  r.url = std::move(it.url);
  r.index = it.index;
  r.producer = it.producer;
  r.worker = w.index;
  r.enqueued_at = it.enqueued_at;
  r.started_at = clock::now();
  {
    fetch f(*this, w, r);
    try {
      co_await f.run();
    } catch (const boost::system::system_error& e) {
      if (e.code() != net::error::operation_aborted) {
        throw;
      }
      f.reset_response();
      r.error_kind = name(fetch_errc::cancelled);
      r.error_message = name(fetch_errc::cancelled);
    }
  }
  r.finished_at = clock::now();
  r.time.total = r.finished_at - r.started_at;
  co_return r;
}

}  // namespace

std::unique_ptr<consumer> make_consumer(const stage_context& ctx, config cfg) {
  return std::make_unique<http_consumer>(ctx, std::move(cfg));
}

}  // namespace sluice::http_detail
