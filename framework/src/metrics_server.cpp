// The Prometheus endpoint (docs/metrics.md). Why the series are built at
// scrape time from the runtime's own counters rather than kept in
// prometheus-cpp's Counter/Histogram objects: those are atomics updated per
// item, a cost on every worker's hot path that buys nothing between
// scrapes; the runtime already counts everything per worker (without
// atomics, on the worker's strand) for its progress line and report, so a
// scrape hops onto each worker's strand, copies, merges and renders. From
// prometheus-cpp we use only the data model (MetricFamily, ClientMetric) and
// the TextSerializer, not its civetweb server: our listener is Beast on the
// run's own io_context, so it stops with the run and shares its threads.
#include "metrics_server.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "sluice/runtime/gate.hpp"

namespace sluice::detail {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace pm = prometheus;
using tcp = net::ip::tcp;

listen_parse parse_listen_address(std::string_view text) {
  auto fail = [&](std::string why) {
    return listen_parse{std::nullopt, fmt::format("'{}' is not IP:PORT ({}); for example "
                                                  "127.0.0.1:9464, or port 0 for an ephemeral one",
                                                  text, why)};
  };
  auto auth = boost::urls::parse_authority(text);
  if (!auth || auth->has_userinfo()) {
    return fail("not an authority");
  }
  if (!auth->has_port() || auth->port().empty()) {
    return fail("no port");
  }
  // port_number() wraps values above 65535, so the digits are read here.
  auto digits = auth->port();
  unsigned long port = 0;
  auto [end, err] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (err != std::errc{} || end != digits.data() + digits.size() || port > 65535) {
    return fail("the port is not 0 to 65535");
  }
  listen_address a;
  a.port = static_cast<std::uint16_t>(port);
  switch (auth->host_type()) {
    case boost::urls::host_type::ipv4:
      a.host = auth->host_ipv4_address().to_string();
      break;
    case boost::urls::host_type::ipv6:
      a.host = auth->host_ipv6_address().to_string();
      break;
    default:
      if (auth->host() != "localhost") {
        return fail("the host must be an IP address or localhost");
      }
      a.host = "127.0.0.1";
  }
  return {a, {}};
}

namespace {

pm::MetricFamily family(std::string name, std::string help, pm::MetricType type) {
  pm::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add(pm::MetricFamily& f, double v, std::vector<pm::ClientMetric::Label> labels = {}) {
  pm::ClientMetric m;
  m.label = std::move(labels);
  if (f.type == pm::MetricType::Counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  f.metric.push_back(std::move(m));
}

pm::MetricFamily scalar(std::string name, std::string help, pm::MetricType type, double v) {
  auto f = family(std::move(name), std::move(help), type);
  add(f, v);
  return f;
}

// Fixed `le` bounds in seconds (Prometheus' defaults stretched to a minute,
// as fetches can be slow). A bucket counts the values certainly <= its
// bound (histogram::count_at_most), _count and _sum are exact.
pm::MetricFamily seconds_histogram(std::string name, std::string help, const histogram& h) {
  static constexpr double bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                      0.5,   1,      2.5,   5,    10,    30,   60};
  auto f = family(std::move(name), std::move(help), pm::MetricType::Histogram);
  pm::ClientMetric m;
  m.histogram.sample_count = h.count();
  m.histogram.sample_sum = static_cast<double>(h.sum()) / 1e9;
  for (double b : bounds) {
    m.histogram.bucket.push_back(
        {h.count_at_most(static_cast<std::int64_t>(std::llround(b * 1e9))), b});
  }
  m.histogram.bucket.push_back({h.count(), std::numeric_limits<double>::infinity()});
  f.metric.push_back(std::move(m));
  return f;
}

void add_host_families(std::vector<pm::MetricFamily>& out, const metrics_sample& s) {
  std::vector<std::pair<std::string, host_sample>> hosts;
  host_sample other;
  for (const auto& [h, v] : s.hosts) {
    if (h == "(other)") {
      other.requests += v.requests;
      other.errors += v.errors;
    } else {
      hosts.emplace_back(h, v);
    }
  }
  std::sort(hosts.begin(), hosts.end(), [](const auto& a, const auto& b) {
    return a.second.requests != b.second.requests ? a.second.requests > b.second.requests
                                                  : a.first < b.first;
  });
  for (std::size_t i = metrics_top_hosts; i < hosts.size(); ++i) {
    other.requests += hosts[i].second.requests;
    other.errors += hosts[i].second.errors;
  }
  hosts.resize(std::min(hosts.size(), metrics_top_hosts));
  hosts.emplace_back("other", other);
  auto req = family("sluice_host_requests",
                    "Items per host (the top hosts by items, the rest as host=\"other\"; a gauge "
                    "because a host can move in or out of the top)",
                    pm::MetricType::Gauge);
  auto err =
      family("sluice_host_errors", "Failed items per host (same hosts as sluice_host_requests)",
             pm::MetricType::Gauge);
  for (const auto& [h, v] : hosts) {
    add(req, static_cast<double>(v.requests), {{"host", h}});
    add(err, static_cast<double>(v.errors), {{"host", h}});
  }
  out.push_back(std::move(req));
  out.push_back(std::move(err));
}

// Absent (no family at all) when the consumer limits no origin.
void add_limit_families(std::vector<pm::MetricFamily>& out, const metrics_sample& s) {
  if (s.origin_limits.empty()) {
    return;
  }
  auto limit = family("sluice_origin_concurrency_limit",
                      "The consumer's concurrency limit per origin now (per_host; mode=\"auto\" "
                      "when it adapts), the busiest origins",
                      pm::MetricType::Gauge);
  auto flying = family("sluice_origin_in_flight",
                       "Requests in flight per origin (same origins as "
                       "sluice_origin_concurrency_limit)",
                       pm::MetricType::Gauge);
  for (const auto& o : s.origin_limits) {
    add(limit, static_cast<double>(o.limit),
        {{"origin", o.origin}, {"mode", o.adaptive ? "auto" : "fixed"}});
    add(flying, static_cast<double>(o.in_flight), {{"origin", o.origin}});
  }
  out.push_back(std::move(limit));
  out.push_back(std::move(flying));
}

void add_count_families(std::vector<pm::MetricFamily>& out, const metrics_sample& s) {
  using pm::MetricType;
  auto d = [](auto v) { return static_cast<double>(v); };
  auto info =
      family("sluice_info", "The pipeline and sluice version (always 1)", MetricType::Gauge);
  add(info, 1, {{"pipeline", s.pipeline}, {"version", SLUICE_VERSION}});
  out.push_back(std::move(info));
  out.push_back(scalar("sluice_start_time_seconds", "Unix time the run started", MetricType::Gauge,
                       s.start_time_s));
  out.push_back(scalar("sluice_items_produced_total", "Items the producers pushed into the queue",
                       MetricType::Counter, d(s.produced)));
  out.push_back(scalar("sluice_items_done_total", "Results delivered (succeeded and failed)",
                       MetricType::Counter, d(s.done)));
  out.push_back(scalar("sluice_items_deduplicated_total",
                       "Items dropped before the queue by dedup: as repeats", MetricType::Counter,
                       d(s.duplicates)));
  auto failed =
      family("sluice_items_failed_total", "Failed items by error kind", MetricType::Counter);
  std::uint64_t other = 0;
  std::size_t kinds = 0;
  for (const auto& [k, v] : s.errors_by_kind) {
    if (kinds++ < metrics_max_error_kinds && k != "other") {
      add(failed, d(v), {{"kind", k}});
    } else {
      other += v;
    }
  }
  if (other > 0) {
    add(failed, d(other), {{"kind", "other"}});
  }
  out.push_back(std::move(failed));
  std::map<std::string, std::uint64_t> classes;
  for (const auto& [status, n] : s.statuses) {
    classes[fmt::format("{}xx", std::clamp(status / 100, 0, 9))] += n;
  }
  auto responses = family("sluice_http_responses_total", "Final HTTP responses by status class",
                          MetricType::Counter);
  for (const auto& [c, n] : classes) {
    add(responses, d(n), {{"class", c}});
  }
  out.push_back(std::move(responses));
  out.push_back(scalar("sluice_retries_total", "Attempts beyond each item's first",
                       MetricType::Counter, d(s.retries)));
  out.push_back(scalar("sluice_body_bytes_total", "Body bytes received (after decoding)",
                       MetricType::Counter, d(s.bytes)));
}

}  // namespace

std::string render_metrics(const metrics_sample& s) {
  using pm::MetricType;
  auto d = [](auto v) { return static_cast<double>(v); };
  std::vector<pm::MetricFamily> out;
  add_count_families(out, s);
  out.push_back(
      scalar("sluice_queue_items", "Items waiting in the queue", MetricType::Gauge, d(s.queued)));
  out.push_back(scalar("sluice_queue_capacity_items", "The queue's capacity (queue.capacity)",
                       MetricType::Gauge, d(s.queue_capacity)));
  out.push_back(scalar("sluice_queue_high_water_items", "The most items the queue has held",
                       MetricType::Gauge, d(s.queue_high_water)));
  out.push_back(scalar("sluice_items_in_flight", "Items a consumer worker is processing",
                       MetricType::Gauge, d(s.in_flight)));
  out.push_back(scalar("sluice_workers", "Consumer workers (consumers.workers)", MetricType::Gauge,
                       d(s.workers)));
  add_host_families(out, s);
  add_limit_families(out, s);
  out.push_back(seconds_histogram("sluice_item_duration_seconds",
                                  "Time a consumer worker spent on an item, retries included",
                                  s.latency));
  out.push_back(seconds_histogram("sluice_queue_wait_seconds",
                                  "Time an item waited in the queue before a worker took it",
                                  s.queue_time));
  std::ostringstream os;
  pm::TextSerializer().Serialize(os, out);
  return os.str();
}

// Shared with its coroutines (each holds a reference in its frame), so that
// frames an io_context destroys unrun, after a failed run, find it alive.
struct metrics_server::impl : std::enable_shared_from_this<impl> {
  static constexpr std::size_t max_connections = 64;
  static constexpr std::size_t header_limit = 8 * 1024;
  static constexpr auto request_timeout = std::chrono::seconds(5);
  static constexpr auto stop_grace = std::chrono::seconds(1);

  impl(net::any_io_executor s, gather_fn g)
      : strand(s), acceptor(s), gather(std::move(g)), connections_gate(s) {}

  net::any_io_executor strand;
  tcp::acceptor acceptor;
  gather_fn gather;
  std::string host;
  std::uint16_t port = 0;
  gate connections_gate;                 ///< the accept loop and every connection
  std::set<beast::tcp_stream*> streams;  ///< open connections (strand only)
  bool stopping = false;                 ///< strand only

  // Accepts until the listener closes. Out of descriptors (EMFILE), it
  // waits a little instead of spinning on the error.
  net::awaitable<void> accept_loop(std::shared_ptr<impl> self) {
    net::steady_timer backoff(strand);
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(net::as_tuple(net::use_awaitable));
      if (stopping || ec == net::error::operation_aborted) {
        co_return;
      }
      if (ec) {
        backoff.expires_after(std::chrono::milliseconds(100));
        co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
        continue;
      }
      if (streams.size() >= max_connections) {
        continue;  // the socket closes here: a bound on descriptors and memory
      }
      connections_gate.enter();
      net::co_spawn(strand, connection(std::move(socket), self), [self](std::exception_ptr e) {
        if (e) {
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            fmt::print(stderr, "sluice: metrics: a scrape failed: {}\n", ex.what());
          }
        }
        self->connections_gate.leave();
      });
    }
  }

  static http::response<http::string_body> reply(http::status st, std::string body,
                                                 unsigned version) {
    http::response<http::string_body> res{st, version};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(body);
    return res;
  }

  net::awaitable<http::response<http::string_body>> answer(
      const http::request<http::empty_body>& req) {
    auto target = boost::urls::parse_origin_form(req.target());
    if (!target || target->path() != "/metrics") {
      co_return reply(http::status::not_found, "not found: the metrics are at /metrics\n",
                      req.version());
    }
    if (req.method() != http::verb::get) {
      auto res = reply(http::status::method_not_allowed, "only GET\n", req.version());
      res.set(http::field::allow, "GET");
      co_return res;
    }
    auto sample = co_await gather();
    auto res = reply(http::status::ok, render_metrics(sample), req.version());
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    co_return res;
  }

  // One connection: requests in turn (keep-alive, as Prometheus does), each
  // read within request_timeout and header_limit; an oversized request gets
  // 431, a malformed one 400, and the connection closes.
  net::awaitable<void> connection(tcp::socket socket, [[maybe_unused]] std::shared_ptr<impl> keep) {
    beast::tcp_stream stream(std::move(socket));
    streams.insert(&stream);
    struct unlist {
      impl* self;
      beast::tcp_stream* s;
      ~unlist() { self->streams.erase(s); }
    } guard{this, &stream};
    beast::flat_buffer buffer(header_limit + 1024);
    while (!stopping) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(header_limit);
      stream.expires_after(request_timeout);
      auto [ec, n] =
          co_await http::async_read(stream, buffer, parser, net::as_tuple(net::use_awaitable));
      if (stopping || ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == net::error::operation_aborted) {
        break;
      }
      http::response<http::string_body> res;
      bool keep_alive = false;
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        res = reply(http::status::request_header_fields_too_large, "request too large\n", 11);
      } else if (ec) {
        res = reply(http::status::bad_request, "bad request\n", 11);
      } else {
        const auto& req = parser.get();
        res = co_await answer(req);
        keep_alive = req.keep_alive();
      }
      res.keep_alive(keep_alive && !stopping);
      res.prepare_payload();
      stream.expires_after(request_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, net::as_tuple(net::use_awaitable));
      if (wec || !res.keep_alive()) {
        break;
      }
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  net::awaitable<void> do_stop() {
    stopping = true;
    beast::error_code ignored;
    acceptor.close(ignored);
    for (auto* s : streams) {
      s->cancel();
      s->socket().close(ignored);
    }
    connections_gate.expire_at(gate::clock::now() + stop_grace);
    co_await connections_gate.close();
  }
};

metrics_server::metrics_server(net::any_io_executor strand, gather_fn gather)
    : impl_(std::make_shared<impl>(strand, std::move(gather))) {}

metrics_server::~metrics_server() = default;

std::string metrics_server::open(const listen_address& a) {
  beast::error_code ec;
  auto addr = net::ip::make_address(a.host, ec);
  tcp::endpoint ep(addr, a.port);
  auto& acc = impl_->acceptor;
  if (!ec) {
    acc.open(ep.protocol(), ec);
  }
  if (!ec) {
    acc.set_option(tcp::acceptor::reuse_address(true), ec);
  }
  if (!ec) {
    acc.bind(ep, ec);
  }
  if (!ec) {
    acc.listen(net::socket_base::max_listen_connections, ec);
  }
  if (ec) {
    beast::error_code ignored;
    acc.close(ignored);
    return fmt::format("metrics: cannot listen on {}:{}: {}",
                       addr.is_v6() ? "[" + a.host + "]" : a.host, a.port, ec.message());
  }
  impl_->host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  impl_->port = acc.local_endpoint(ec).port();
  return {};
}

std::string metrics_server::url() const {
  return fmt::format("http://{}:{}/metrics", impl_->host, impl_->port);
}

void metrics_server::start() {
  impl_->connections_gate.enter();
  net::co_spawn(impl_->strand, impl_->accept_loop(impl_), [self = impl_](std::exception_ptr e) {
    if (e) {
      fmt::print(stderr, "sluice: metrics: the listener failed\n");
    }
    self->connections_gate.leave();
  });
}

net::awaitable<void> metrics_server::stop() {
  co_await net::co_spawn(impl_->strand, impl_->do_stop(), net::use_awaitable);
}

}  // namespace sluice::detail
