// The address of the metrics endpoint, parsed for the config loader and the
// CLI without pulling Asio into their translation units.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::detail {

/// An IP literal and a port, as `metrics.listen` / `--metrics` give them.
struct listen_address {
  std::string host;  ///< "127.0.0.1", "::1", ...
  std::uint16_t port = 0;
};

/// The outcome of parsing: an address, or why the text is not one.
struct listen_parse {
  std::optional<listen_address> address;
  std::string error;
};

/// Parses `IP:PORT` or `[IPv6]:PORT` (Boost.URL's authority grammar, then an
/// IP literal check: no host names, so nothing is resolved); `localhost`
/// means 127.0.0.1. Port 0 asks for an ephemeral port.
/// Thread safety: a pure function.
listen_parse parse_listen_address(std::string_view text);

}  // namespace sluice::detail
