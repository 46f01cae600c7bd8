// The Prometheus endpoint of a run: what a scrape shows (a sample of the
// runtime's own counters), how it is rendered, and the loopback HTTP
// listener that serves it. Internal to the framework; Beast stays in the .cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "metrics_listen.hpp"
#include "sluice/runtime/histogram.hpp"
#include "sluice/stage/stage.hpp"

namespace sluice::detail {

/// One host's figures in a sample, merged over the workers.
struct host_sample {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
};

/// What one scrape shows, gathered from the runtime's counters when the
/// scrape arrives (no metric objects are updated on the hot path).
/// Thread safety: a plain value.
struct metrics_sample {
  std::string pipeline;
  double start_time_s = 0;  ///< Unix time the run started
  std::uint64_t produced = 0, done = 0, failed = 0, bytes = 0, retries = 0;
  std::uint64_t in_flight = 0, queued = 0, duplicates = 0;
  std::size_t queue_capacity = 0, queue_high_water = 0, workers = 0;
  std::map<std::string, std::uint64_t> errors_by_kind;
  std::map<int, std::uint64_t> statuses;
  std::map<std::string, host_sample> hosts;  ///< every host; "(other)": a worker's overflow
  std::vector<origin_limit> origin_limits;   ///< the consumer's, at most metrics_top_hosts
  histogram latency, queue_time;
};

/// The per-host series show this many hosts (by requests), plus `other`.
constexpr std::size_t metrics_top_hosts = 10;
/// Distinct `kind` labels of sluice_items_failed_total; the rest are `other`.
constexpr std::size_t metrics_max_error_kinds = 32;

/// Renders a sample in the Prometheus text exposition format (0.0.4) with
/// prometheus-cpp's TextSerializer.
/// Thread safety: a pure function.
std::string render_metrics(const metrics_sample& s);

/// Serves GET /metrics over HTTP/1.1 on one strand: every connection is a
/// coroutine on that strand with a 5 s deadline per request and an 8 KiB
/// cap on the request line and headers; at most 64 connections at once (a
/// further one is closed at once). A scrape calls `gather` and renders its
/// result. Coroutines are spawned with completion handlers, never detached;
/// stop() closes the listener and every connection and waits (at most 1 s)
/// for them.
/// Thread safety: open() and url() before start(); start() once; stop() once
/// from any coroutine; the object outlives stop()'s completion.
class metrics_server {
 public:
  using gather_fn = std::function<boost::asio::awaitable<metrics_sample>()>;

  metrics_server(boost::asio::any_io_executor strand, gather_fn gather);
  ~metrics_server();
  metrics_server(const metrics_server&) = delete;
  metrics_server& operator=(const metrics_server&) = delete;

  /// Binds and listens; returns why not ("" on success).
  std::string open(const listen_address& a);
  /// `http://HOST:PORT/metrics` with the bound port.
  std::string url() const;
  /// Starts accepting.
  void start();
  /// Closes the listener and every connection, then waits for them.
  boost::asio::awaitable<void> stop();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace sluice::detail
