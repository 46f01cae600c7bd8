// The http consumer's requests and attempts (see exchange.hpp).
#include "exchange.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "connection.hpp"
#include "proxy.hpp"
#include "request.hpp"
#include "request_writer.hpp"
#include "response_reader.hpp"
#include "retry_policy.hpp"
#include "speed_guard.hpp"

namespace sluice::stages::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

/// Feeds buffered bytes to the parser; `progressed` when it took any.
error_code parse_buffered(connection& c, response_reader& p, bool& progressed) {
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

}  // namespace

struct transport::impl {
  connector conn;
  request_template requests;
  std::vector<request_template> rule_requests;  ///< by `hosts:` rule (their headers)
  header_selection keep;
  reader_settings reader;

  explicit impl(const config& c) : conn(c), requests(c), keep(c.keep_headers) {
    rule_requests = request_template::for_rules(c);
    // A user's Accept-Encoding means they want the body as it comes.
    reader = {c.max_header, c.decompress && !request_template::user_sets(c, "accept-encoding"),
              &keep, c.cookies};
  }
};

namespace {

/// One exchange on one connection: the request written, the response read.
template <class Stream>
class session {
 public:
  session(const config& cfg, attempt_context& ctx, connection& c, Stream& s, outcome& out)
      : cfg_(cfg), ctx_(ctx), c_(c), s_(s), out_(out) {}

  /// Returns whether the connection may serve another request.
  net::awaitable<bool> run(const reader_settings& rs, const std::string& request, bool reused,
                           clock::time_point deadline, bool head);

 private:
  net::awaitable<error_code> read_more(response_reader& p, clock::time_point at);
  net::awaitable<error_code> read_body_direct(response_reader& p, clock::time_point at);
  net::awaitable<bool> read_header(response_reader& p, bool reused, phase_deadline header);
  net::awaitable<bool> read_final_header(const reader_settings& rs,
                                         std::optional<response_reader>& p, bool reused,
                                         phase_deadline header, bool head);
  net::awaitable<void> read_body(response_reader& p, clock::time_point deadline);

  const config& cfg_;
  attempt_context& ctx_;
  connection& c_;
  Stream& s_;
  outcome& out_;
  bool timed_out_ = false;
};

/// One read from the connection into its buffer, within the armed phase.
/// EOF after part of a message lets the parser decide (a body delimited by
/// the close ends there); EOF before any byte is end_of_stream, as in Beast.
template <class Stream>
net::awaitable<error_code> session<Stream>::read_more(response_reader& p, clock::time_point at) {
  auto& b = c_.buffer;
  auto room = std::clamp<std::size_t>(b.capacity() - b.size(), 512, k_read_buffer);
  ctx_.dog.arm(ctx_.slot, c_.lowest(), at);
  auto [ec, n] = co_await s_.async_read_some(b.prepare(room), use_tuple);
  timed_out_ = ctx_.dog.disarm(ctx_.slot);
  b.commit(n);
  if (timed_out_ && ec == net::error::operation_aborted) {
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
template <class Stream>
net::awaitable<error_code> session<Stream>::read_body_direct(response_reader& p,
                                                             clock::time_point at) {
  static thread_local std::array<char, k_read_buffer> scratch;
  tcp::socket& s = c_.lowest();
  for (;;) {
    error_code ec;
    auto n = s.read_some(net::buffer(scratch), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ctx_.dog.arm(ctx_.slot, s, at);
      auto [wec] = co_await s.async_wait(tcp::socket::wait_read, use_tuple);
      timed_out_ = ctx_.dog.disarm(ctx_.slot);
      if (wec) {
        co_return timed_out_&& wec == net::error::operation_aborted ? beast::error::timeout : wec;
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
      auto& b = c_.buffer;
      b.commit(net::buffer_copy(b.prepare(n - off), net::buffer(scratch.data() + off, n - off)));
    }
    co_return ec;
  }
}

/// The header: parse what is buffered, read more until it is complete.
/// False (with the failure in the outcome) when it does not complete.
template <class Stream>
net::awaitable<bool> session<Stream>::read_header(response_reader& p, bool reused,
                                                  phase_deadline header) {
  auto timeout_kind = header.own_first ? fetch_errc::timeout_header : fetch_errc::timeout_total;
  auto fail = [&](const error_code& ec) {
    if (reused && is_reset(ec) && !p.got_some() && c_.buffer.size() == 0) {
      out_.stale_reuse = true;
    }
    out_.fail(classify(cfg_, ec, fetch_errc::read, timeout_kind));
  };
  // The whole head first, so that one a strict parser rejects but curl and
  // browsers read (bare LF, no reason phrase) can be rewritten before Beast
  // sees it; bounded by max_header.
  for (;;) {
    auto* data = static_cast<const char*>(c_.buffer.data().data());
    std::string_view buffered(data, c_.buffer.size());
    if (buffered.size() >= 5 && !buffered.starts_with("HTTP/")) {
      break;  // not HTTP: the parser says so at once
    }
    if (auto len = head_length(buffered)) {
      if (auto fixed = normalize_head(buffered.substr(0, len))) {
        std::string rest(buffered.substr(len));
        c_.buffer.clear();
        for (const std::string* part : {&*fixed, &rest}) {
          c_.buffer.commit(net::buffer_copy(c_.buffer.prepare(part->size()), net::buffer(*part)));
        }
      }
      break;
    }
    if (buffered.size() > cfg_.max_header) {
      fail(bhttp::error::header_limit);
      co_return false;
    }
    if (auto ec = co_await read_more(p, header.at)) {
      fail(ec);
      co_return false;
    }
  }
  while (!p.is_header_done()) {
    bool progressed = false;
    auto ec = parse_buffered(c_, p, progressed);
    if (!ec && (p.is_header_done() || progressed)) {
      continue;
    }
    if (!ec) {
      ec = co_await read_more(p, header.at);
    }
    if (ec) {
      fail(ec);
      co_return false;
    }
  }
  co_return true;
}

/// The final response's head: interim (1xx) responses before it are read and
/// dropped, all of them together within max_header; an unasked-for 101 is a
/// protocol failure (the connection speaks something else after it).
template <class Stream>
net::awaitable<bool> session<Stream>::read_final_header(const reader_settings& rs,
                                                        std::optional<response_reader>& p,
                                                        bool reused, phase_deadline header,
                                                        bool head) {
  std::uint64_t interim_bytes = 0;
  for (;;) {
    p.emplace(rs, ctx_.r, ctx_.body, out_);
    p->header_limit(
        static_cast<std::uint32_t>(std::min<std::uint64_t>(cfg_.max_header, UINT32_MAX)));
    p->body_limit(cfg_.max_body);
    p->skip(head);
    if (!co_await read_header(*p, reused, header)) {
      co_return false;
    }
    int status = ctx_.r.status;
    if (status < 100 || status > 199) {
      co_return true;
    }
    // Nothing of an interim response belongs to the result.
    ctx_.r.status = 0;
    ctx_.r.headers.clear();
    ctx_.r.content_type.clear();
    out_.location.clear();
    out_.retry_after_value.clear();
    if (status == 101) {
      out_.fail(fetch_errc::protocol, "unexpected 101 Switching Protocols (no upgrade was asked)");
      co_return false;
    }
    interim_bytes += p->header_bytes();
    if (interim_bytes > cfg_.max_header) {
      out_.fail(
          fetch_errc::header_limit,
          fmt::format("interim (1xx) responses exceed max_header ({} bytes)", cfg_.max_header));
      co_return false;
    }
    reused = false;  // the server has answered: a close now is no stale connection
  }
}

/// The body: the reader decodes (gzip/deflate) on the fly and spills to a
/// file when large; here only the I/O, the timeouts and the speed guard.
template <class Stream>
net::awaitable<void> session<Stream>::read_body(response_reader& p, clock::time_point deadline) {
  speed_guard guard(cfg_.min_speed, cfg_.speed_window, clock::now());
  while (!p.is_done()) {
    auto next = guard.next_read(deadline);
    auto before = p.wire_bytes();
    // Usually the whole body arrived with the header: parse it in place.
    bool progressed = false;
    auto ec = parse_buffered(c_, p, progressed);
    if (!progressed && !ec && c_.buffer.size() > cfg_.max_header) {
      // A chunk header or trailer section the parser is still waiting to see
      // the end of: bounded like the header, or it grows without limit.
      out_.fail(
          fetch_errc::header_limit,
          fmt::format("chunk header or trailers exceed max_header ({} bytes)", cfg_.max_header));
      co_return;
    }
    if (!progressed && !ec) {
      // Bytes the parser left (a partial chunk header) must stay in front
      // of the next ones: then read into the connection's buffer.
      bool direct = false;
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        direct = c_.buffer.size() == 0;
      }
      if (direct) {
        ec = co_await read_body_direct(p, next.at);
      } else {
        ec = co_await read_more(p, next.at);
      }
    }
    std::uint64_t got = p.wire_bytes() - before;
    if (out_.failed()) {
      co_return;  // the reader failed the body (decode, body_limit, body_file)
    }
    if (ec == beast::error::timeout && next.own_first) {
      out_.fail(fetch_errc::too_slow,
                fmt::format("body slower than min_speed ({} bytes/s): {} bytes in the last {}",
                            cfg_.min_speed, guard.window_bytes() + got,
                            format_duration(cfg_.speed_window)));
      co_return;
    }
    if (ec) {
      out_.fail(classify(cfg_, ec, fetch_errc::read, fetch_errc::timeout_total));
      co_return;
    }
    guard.add(got, clock::now());
  }
}

template <class Stream>
net::awaitable<bool> session<Stream>::run(const reader_settings& rs, const std::string& request,
                                          bool reused, clock::time_point deadline, bool head) {
  auto header = phase_limit(deadline, cfg_.header_timeout, clock::now());
  // The head in one call, then a streamed body_file by the attempt's deadline.
  auto wst = co_await write_request(s_, ctx_, c_, request, header.at, deadline);
  if (wst.file) {
    out_.fail(std::move(*wst.file));
    co_return false;
  }
  if (auto wec = wst.ec) {
    out_.stale_reuse = reused && is_reset(wec);
    out_.fail(classify(cfg_, wec, fetch_errc::write,
                       header.own_first ? fetch_errc::timeout_header : fetch_errc::timeout_total));
    co_return false;
  }
  auto written = clock::now();
  std::optional<response_reader> reader;
  if (!co_await read_final_header(rs, reader, reused, header, head)) {
    co_return false;
  }
  response_reader& p = *reader;
  ctx_.r.time.ttfb += clock::now() - written;
  if (!out_.retry_after_value.empty()) {
    out_.retry_after = parse_retry_after(out_.retry_after_value, std::chrono::system_clock::now());
  }
  if (!is_redirect(ctx_.r.status)) {
    out_.location.clear();
  }
  co_await read_body(p, deadline);
  if (out_.failed()) {
    co_return false;
  }
  if (p.truncated_encoding()) {
    out_.fail(fetch_errc::decode, "truncated compressed body");
    co_return false;
  }
  if (auto f = ctx_.body.finish()) {
    out_.fail(std::move(*f));
    co_return false;
  }
  co_return p.keep_alive() && c_.buffer.size() == 0;
}

}  // namespace

void connection_deleter::operator()(connection* c) const noexcept {
  delete c;
}

transport::transport(const config& cfg) : impl_(std::make_unique<impl>(cfg)) {}
transport::~transport() = default;

std::string transport::request(const origin& o, const target& t, std::string_view method,
                               bool with_body, bool foreign, const request_spec* spec,
                               std::uint64_t file_size) const {
  const auto& requests =
      o.rule < 0 ? impl_->requests : impl_->rule_requests[static_cast<std::size_t>(o.rule)];
  auto req = spec ? requests.build_for(t, method, with_body, foreign, *spec, file_size)
                  : requests.build(t, method, with_body, foreign);
  return o.proxy && !t.tls ? for_proxy(std::move(req), t, *o.proxy) : req;
}

net::awaitable<outcome> transport::attempt(attempt_context& ctx, origin& o, const target& t,
                                           const std::string& request, bool head) const {
  const config& cfg = o.cfg;  // the origin's effective timeouts (its `hosts:` rule)
  outcome out;
  auto deadline = cfg.total_timeout > std::chrono::nanoseconds::zero()
                      ? clock::now() + cfg.total_timeout
                      : clock::time_point::max();
  for (int fresh_tries = 0; fresh_tries < 2; ++fresh_tries) {
    out = outcome{};
    ctx.body.discard();
    connection_ptr c;
    if (fresh_tries == 0) {
      auto now = clock::now();
      c = o.pool.take(now, cfg.pool_idle_timeout);
      while (c && has_unsolicited_bytes(*c, now)) {
        c = o.pool.take(now, cfg.pool_idle_timeout);
      }
    }
    bool reused = c != nullptr;
    if (!c) {
      c.reset(new connection());
      if (auto f = co_await impl_->conn.open(ctx, t, o, deadline, *c); f.kind != fetch_errc{}) {
        out.fail(std::move(f));
        co_return out;
      }
    }
    bool reusable = false;
    if (c->tls) {
      session<ssl::stream<tcp::socket>> s(cfg, ctx, *c, *c->tls, out);
      reusable = co_await s.run(impl_->reader, request, reused, deadline, head);
    } else {
      session<tcp::socket> s(cfg, ctx, *c, *c->plain, out);
      reusable = co_await s.run(impl_->reader, request, reused, deadline, head);
    }
    if (out.stale_reuse && !out.cancelled()) {
      continue;  // the server closed an idle connection: once more on a fresh one
    }
    if (o.proxy && !t.tls && !out.failed() && ctx.r.status == 407) {
      out.fail(fetch_errc::proxy_auth, proxy_auth_message(*o.proxy));
    }
    if (!out.failed() && reusable && cfg.pool_max_idle > 0) {
      c->idle_since = clock::now();
      c->buffer.clear();
      o.pool.give_back(std::move(c), cfg.pool_max_idle);
    }
    co_return out;
  }
  co_return out;
}

}  // namespace sluice::stages::http
