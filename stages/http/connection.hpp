// One keep-alive connection of the http consumer: its sockets and its read
// buffer. Included only by the exchange, the one TU that reads and writes:
// elsewhere a connection is the incomplete type of origin_table.hpp.
#pragma once

#include <chrono>

#include <boost/beast/core/flat_buffer.hpp>

#include "sluice/core/item.hpp"
#include "sockets.hpp"

namespace sluice::stages::http {

/// Read buffer capacity per connection. Beast sizes each read by the flat
/// buffer's free capacity (at least 512 bytes), and the body is parsed out of
/// it at once, so without this reserve a large body arrives 512 bytes a read.
inline constexpr std::size_t k_read_buffer = 64 * 1024;

/// Owned by exactly one coroutine at a time (a worker while in use, the
/// origin's idle pool otherwise).
/// Thread safety: one owner.
struct connection : sockets {
  boost::beast::flat_buffer buffer;
  clock::time_point idle_since{};

  connection() { buffer.reserve(k_read_buffer); }
};

/// A connection idle for less than this is reused unchecked: bytes that soon after a response
/// no client can tell from the next response, and the check is a syscall.
inline constexpr auto k_unsolicited_check_after = std::chrono::milliseconds(1);

/// True when an idle connection has bytes waiting that no request asked
/// for (a server's garbage after a response, a second unasked response): a
/// request on it would read them as its answer, so it is closed instead.
inline bool has_unsolicited_bytes(connection& c, clock::time_point now) {
  if (now - c.idle_since < k_unsolicited_check_after) {
    return false;
  }
  boost::system::error_code ec;
  auto n = c.lowest().available(ec);
  return ec || n > 0;
}

}  // namespace sluice::stages::http
