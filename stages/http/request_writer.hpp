// Writing one request on a connection: the head (one flat buffer, serialized
// once per hop) and, for a record with a body_file, the file streamed after
// it in fixed chunks, so a request body of any size costs one chunk of
// memory. Private to exchange.cpp (Asio templates over the stream type).
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>

#include "connection.hpp"
#include "connector.hpp"

namespace sluice::stages::http {

/// How writing a request ended: `ec` from the stream (a timeout as
/// beast::error::timeout), or `file` when the body file failed.
struct write_status {
  boost::system::error_code ec;
  std::optional<fetch_failure> file;
};

/// The size of one chunk of a streamed request body.
inline constexpr std::size_t k_body_chunk = 64 * 1024;

/// Writes `head` by `head_at`, then `ctx.body_file` (when set) by `body_at`,
/// each write under the watchdog.
/// Thread safety: the worker's strand.
template <class Stream>
boost::asio::awaitable<write_status> write_request(Stream& s, attempt_context& ctx, connection& c,
                                                   const std::string& head,
                                                   clock::time_point head_at,
                                                   clock::time_point body_at) {
  namespace net = boost::asio;
  constexpr auto use_tuple = net::as_tuple(net::use_awaitable);
  write_status st;
  auto write = [&](net::const_buffer b, clock::time_point at) -> net::awaitable<bool> {
    ctx.dog.arm(ctx.slot, c.lowest(), at);
    auto [ec, n] = co_await net::async_write(s, b, use_tuple);
    bool timed_out = ctx.dog.disarm(ctx.slot);
    st.ec = timed_out && ec == net::error::operation_aborted ? boost::beast::error::timeout : ec;
    co_return !st.ec;
  };
  if (!co_await write(net::buffer(head), head_at) || !ctx.body_file) {
    co_return st;
  }
  const std::string& path = *ctx.body_file;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    st.file = fetch_failure{fetch_errc::request_file, fmt::format("cannot open body_file '{}': {}",
                                                                  path, std::strerror(errno))};
    co_return st;
  }
  std::vector<char> chunk(k_body_chunk);
  for (std::uint64_t left = ctx.body_file_size; left > 0;) {
    auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left, chunk.size()));
    auto got = std::fread(chunk.data(), 1, want, f.get());
    if (got == 0) {
      st.file = fetch_failure{
          fetch_errc::request_file,
          fmt::format("body_file '{}' became shorter while it was sent ({} of {} bytes left)", path,
                      left, ctx.body_file_size)};
      co_return st;
    }
    if (!co_await write(net::buffer(chunk.data(), got), body_at)) {
      co_return st;
    }
    left -= got;
  }
  co_return st;
}

}  // namespace sluice::stages::http
