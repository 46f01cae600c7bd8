// How the http consumer opens a connection: DNS (cached per origin), TCP to
// each address in turn within the connect deadline, TLS with SNI and
// certificate verification. No Beast in this header.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include "body_sink.hpp"
#include "http_config.hpp"
#include "origin_table.hpp"
#include "outcome.hpp"
#include "target.hpp"
#include "watchdog.hpp"

namespace sluice::stages::http {

/// The per-item state an attempt works with.
/// Thread safety: the worker's.
struct attempt_context {
  boost::asio::any_io_executor executor;  ///< the worker's strand
  watchdog& dog;
  watchdog::slot& slot;
  result& r;  ///< timings, status, headers
  body_sink& body;
  /// The request body to stream from a file after the head (a record's
  /// body_file), or null; its size as the head's Content-Length says, and
  /// why it cannot be sent when `body_file_error` is not empty.
  const std::string* body_file = nullptr;
  std::uint64_t body_file_size = 0;
  std::string body_file_error;
};

struct sockets;

/// Opens connections for one consumer.
/// Thread safety: `open` from any worker at once (the TLS context is built
/// once, under std::call_once, and then only read).
class connector {
 public:
  /// Loads `tls.ca_file` now, so a missing or bad file is a configuration
  /// error (config_error, exit 2) rather than a failure of every item.
  explicit connector(const config& cfg);
  ~connector();

  /// Opens `s` (closed) to `t` by `deadline`, the earlier of it and
  /// `connect` from now; `o` caches the DNS answer. A failure's kind is
  /// none when it succeeded.
  boost::asio::awaitable<fetch_failure> open(attempt_context& ctx, const target& t, origin& o,
                                             clock::time_point deadline, sockets& s);

 private:
  boost::asio::ssl::context& ssl_context();

  const config& cfg_;
  std::once_flag ssl_once_;
  std::unique_ptr<boost::asio::ssl::context> ssl_ctx_;
  boost::system::error_code ssl_error_;
};

}  // namespace sluice::stages::http
