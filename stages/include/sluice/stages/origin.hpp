// The built-in HTTP origin: a small Beast server with test endpoints
// (`/bytes/N`, `/delay/MS`, `/status/CODE`, `/redirect/N`, `/gzip/N`, ...),
// used by `sluice serve`, by the `origin:` pipeline section and by tests.
// Beast stays inside stages/origin/*.cpp; this header only needs the standard
// library and the stage API.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sluice {

class registry;

namespace stages::origin {
struct origin_state;  // the server's internals (origin_server.cpp)
}  // namespace stages::origin

/// Registers the `origin` service (the top-level `origin:` pipeline section).
/// Thread safety: as registry::add.
void register_origin_stages(registry& reg);

/// How an origin server listens and behaves.
/// `port` 0 picks an ephemeral port (read it back with origin_server::port).
/// With `tls`, `cert_file`/`key_file` (PEM) are used when both are given,
/// otherwise a self-signed certificate for `localhost` and `127.0.0.1` is
/// generated in memory at construction.
/// `idle_timeout` closes a keep-alive connection that sends nothing for that
/// long; `max_requests_per_connection` (0: unlimited) closes a connection after
/// that many responses (as nginx's `keepalive_requests`).
/// Thread safety: a plain value.
struct origin_options {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  bool tls = false;
  std::string cert_file;
  std::string key_file;
  unsigned threads = 1;
  std::chrono::milliseconds idle_timeout{60'000};
  std::uint64_t max_requests_per_connection = 0;
  /// When set, `GET /robots.txt` answers `200 text/plain` with this body.
  std::optional<std::string> robots_txt;
  /// When not empty (an origin-form target such as `/status/503`), `/robots.txt`
  /// is answered as that target would be; `robots_txt` wins over it.
  std::string robots_path;
  /// Overload (0: off): the origin serves this many requests at once at full
  /// speed; one that arrives while all of them are busy is answered
  /// `slow_delay` later, with `slow_status` (0: the endpoint's own answer,
  /// only late), and counted in `slowed`.
  std::uint64_t slow_above = 0;
  std::chrono::milliseconds slow_delay{200};
  unsigned slow_status = 503;
};

/// The origin's counters, as `/stats` reports them.
/// `requests` counts every request read (the `/stats` endpoints excluded, so
/// a test reading them does not disturb them); `in_flight` is the number of
/// requests between "request read" and "response written", `max_in_flight` its
/// high-water mark since the last reset; `connections_accepted` counts accepted
/// TCP connections (keep-alive reuse shows as requests ≫ connections_accepted);
/// `connections_open` is the number open now.
/// Thread safety: a plain value.
struct origin_counters {
  std::uint64_t requests = 0;
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t in_flight = 0;
  std::uint64_t max_in_flight = 0;
  std::uint64_t bytes_sent = 0;  ///< response body bytes written
  std::uint64_t slowed = 0;      ///< requests answered late by `slow_above`
  /// The highest `in_flight` of each second since start (or the last reset),
  /// oldest first (at most an hour).
  std::vector<std::uint64_t> in_flight_peaks;
};

/// Byte `offset` of every generated body (`/bytes/N`, `/gzip/N`, `/drip`):
/// printable ASCII `' ' + offset % 95`, so a test can check a body without
/// keeping a copy. Thread safety: pure.
constexpr char origin_body_byte(std::uint64_t offset) noexcept {
  return static_cast<char>(' ' + static_cast<int>(offset % 95));
}

/// The first `n` bytes of the generated body. Thread safety: pure.
std::string origin_body(std::size_t n);

/// An HTTP/1.1 server with its own io_context and threads.
/// The constructor binds and listens (so `port()` is known at once and a
/// bind failure throws std::system_error there); `start` begins accepting on
/// `threads` threads; `stop` closes the listener and every connection and
/// joins the threads (idempotent, also run by the destructor).
/// Thread safety: `port`, `base_url`, `counters` and `reset_counters` from any
/// thread; `start` and `stop` from one controlling thread.
class origin_server {
 public:
  explicit origin_server(origin_options opts);
  ~origin_server();
  origin_server(const origin_server&) = delete;
  origin_server& operator=(const origin_server&) = delete;

  void start();
  void stop();

  /// The port actually bound.
  std::uint16_t port() const noexcept;

  /// `http://127.0.0.1:PORT` (`https://` with TLS; the configured address).
  std::string base_url() const;

  /// The certificate in use with TLS (PEM), for clients that want to trust
  /// it; empty without TLS.
  std::string certificate_pem() const;

  origin_counters counters() const noexcept;

  /// Zeroes requests, connections_accepted and bytes_sent, and sets
  /// max_in_flight to the current in_flight.
  void reset_counters() noexcept;

 private:
  std::unique_ptr<stages::origin::origin_state> impl_;
};

}  // namespace sluice
