// The sockets of one http consumer connection: plain TCP, or TLS over TCP.
// Beast-free, so the connector that opens them compiles without Beast;
// connection.hpp adds the read buffer.
#pragma once

#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace sluice::stages::http {

/// Thread safety: one owner.
struct sockets {
  std::optional<boost::asio::ip::tcp::socket> plain;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket>> tls;

  boost::asio::ip::tcp::socket& lowest() { return tls ? tls->next_layer() : *plain; }
};

}  // namespace sluice::stages::http
