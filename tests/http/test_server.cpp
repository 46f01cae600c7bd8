#include "test_server.hpp"

#include <charconv>
#include <ctime>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <zlib.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace sluice::test {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr auto use_tuple = net::as_tuple(net::use_awaitable);

std::string compress(const std::string& in, bool gzip) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::uint64_t to_u64(std::string_view s, std::uint64_t def = 0) {
  std::uint64_t v = def;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

std::string http_date(std::time_t t) {
  char buf[64];
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

}  // namespace

struct test_server::impl {
  test_server& owner;
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<ssl::context> tls;
  std::thread thread;
  std::mutex mutex;
  std::map<std::string, int> hits;

  explicit impl(test_server& o) : owner(o) {}

  int hit(const std::string& key) {
    std::lock_guard lock(mutex);
    return ++hits[key];
  }

  std::string base() const {
    return std::string(tls ? "https" : "http") +
           "://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
  }

  template <class Stream>
  net::awaitable<bool> send(Stream& s, bhttp::response<bhttp::string_body>& res,
                            const bhttp::request<bhttp::string_body>& req) {
    res.version(11);
    res.keep_alive(req.keep_alive() && res.keep_alive());
    res.prepare_payload();
    auto [ec, n] = co_await bhttp::async_write(s, res, use_tuple);
    co_return !ec && res.keep_alive();
  }

  /// Handles one request; returns false to close the connection.
  template <class Stream>
  net::awaitable<bool> handle(Stream& s, const bhttp::request<bhttp::string_body>& req) {
    auto uv = boost::urls::parse_origin_form(req.target());
    bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
    res.keep_alive(true);
    if (!uv) {
      res.result(400);
      co_return co_await send(s, res, req);
    }
    std::string path(uv->path());
    auto param = [&](const char* name) -> std::string {
      auto it = uv->params().find(name);
      return it == uv->params().end() ? std::string() : std::string((*it).value);
    };
    auto tail = [&](std::string_view prefix) { return path.substr(prefix.size()); };
    auto starts = [&](std::string_view prefix) { return path.rfind(prefix, 0) == 0; };

    if (starts("/bytes/")) {
      res.body() = std::string(to_u64(tail("/bytes/")), 'x');
    } else if (starts("/status/")) {
      res.result(static_cast<unsigned>(to_u64(tail("/status/"), 500)));
    } else if (starts("/redirect/")) {
      auto n = to_u64(tail("/redirect/"));
      if (n == 0) {
        res.body() = "done";
      } else {
        res.result(302);
        res.set(bhttp::field::location, std::to_string(n - 1));  // relative to /redirect/
      }
    } else if (starts("/abs-redirect/")) {
      auto n = to_u64(tail("/abs-redirect/"));
      if (n == 0) {
        res.body() = "done";
      } else {
        res.result(301);
        res.set(bhttp::field::location, base() + "/abs-redirect/" + std::to_string(n - 1));
      }
    } else if (path == "/loop/a" || path == "/loop/b") {
      res.result(302);
      res.set(bhttp::field::location, path == "/loop/a" ? "/loop/b" : "/loop/a");
    } else if (path == "/to") {
      res.result(302);
      res.set(bhttp::field::location, param("url"));
    } else if (starts("/gzip/") || starts("/deflate/")) {
      bool gz = starts("/gzip/");
      auto n = to_u64(tail(gz ? "/gzip/" : "/deflate/"));
      std::string plain;
      plain.reserve(n);
      for (std::uint64_t i = 0; plain.size() < n; ++i) {
        plain += "line " + std::to_string(i) + "\n";
      }
      plain.resize(n);
      res.body() = compress(plain, gz);
      res.set(bhttp::field::content_encoding, gz ? "gzip" : "deflate");
      res.set(bhttp::field::content_type, "text/plain");
    } else if (path == "/badgzip") {
      res.body() = "this is not gzip at all, not even close";
      res.set(bhttp::field::content_encoding, "gzip");
    } else if (starts("/retry-after/") || starts("/retry-date/")) {
      if (hit(path) == 1) {
        res.result(429);
        auto secs = to_u64(param("s"), 1);
        if (starts("/retry-after/")) {
          res.set(bhttp::field::retry_after, std::to_string(secs));
        } else {
          res.set(bhttp::field::retry_after,
                  http_date(std::time(nullptr) + static_cast<std::time_t>(secs)));
        }
      } else {
        res.body() = "ok";
      }
    } else if (starts("/flaky/")) {
      if (hit(path) <= static_cast<int>(to_u64(param("n"), 1))) {
        res.result(503);
      } else {
        res.body() = "ok";
      }
    } else if (starts("/delay/")) {
      net::steady_timer t(ioc, std::chrono::milliseconds(to_u64(tail("/delay/"))));
      co_await t.async_wait(use_tuple);
      res.body() = "late";
    } else if (path == "/stall" || path == "/drip") {
      bool drip = path == "/drip";
      auto n = drip ? to_u64(param("bytes"), 10) : 1000;
      auto gap = std::chrono::milliseconds(drip ? to_u64(param("ms"), 100) : 0);
      bhttp::response<bhttp::empty_body> head{bhttp::status::ok, 11};
      head.content_length(n);
      bhttp::response_serializer<bhttp::empty_body> sr{head};
      auto [ec, hn] = co_await bhttp::async_write_header(s, sr, use_tuple);
      if (ec) {
        co_return false;
      }
      if (!drip) {
        co_await net::async_write(s, net::buffer("0123456789", 10), use_tuple);
        net::steady_timer t(ioc, std::chrono::seconds(60));
        co_await t.async_wait(use_tuple);
        co_return false;
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        net::steady_timer t(ioc, gap);
        co_await t.async_wait(use_tuple);
        auto [e2, m] = co_await net::async_write(s, net::buffer("x", 1), use_tuple);
        if (e2) {
          co_return false;
        }
      }
      co_return true;
    } else if (path == "/chunked" || path == "/until-close") {
      // Raw framing written in 1000-byte slices with pauses, so that reads
      // end inside chunk headers: a body of `bytes` letters a..z repeating,
      // chunked in pieces of `chunk` bytes, or delimited by the close.
      bool chunked = path == "/chunked";
      auto n = to_u64(param("bytes"), 100000);
      auto piece = std::max<std::uint64_t>(1, to_u64(param("chunk"), 777));
      std::string wire = chunked ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 : "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
      for (std::uint64_t off = 0; off < n; off += piece) {
        auto len = std::min(piece, n - off);
        if (chunked) {
          std::ostringstream hex;
          hex << std::hex << len << "\r\n";
          wire += hex.str();
        }
        for (std::uint64_t i = off; i < off + len; ++i) {
          wire.push_back(static_cast<char>('a' + i % 26));
        }
        if (chunked) {
          wire += "\r\n";
        }
      }
      if (chunked) {
        wire += "0\r\n\r\n";
      }
      for (std::size_t off = 0; off < wire.size(); off += 1000) {
        auto len = std::min<std::size_t>(1000, wire.size() - off);
        auto [ec, m] = co_await net::async_write(s, net::buffer(wire.data() + off, len), use_tuple);
        if (ec) {
          co_return false;
        }
        if (off / 1000 % 8 == 7) {
          net::steady_timer t(ioc, std::chrono::milliseconds(1));
          co_await t.async_wait(use_tuple);
        }
      }
      co_return chunked;  // after an until-close body the connection ends
    } else if (path == "/bigheader") {
      // Many 1000-byte lines (Beast caps the size of a single field value).
      auto total = to_u64(param("n"), 100000);
      for (std::uint64_t i = 0; i * 1000 < total; ++i) {
        res.set("X-Big-" + std::to_string(i), std::string(1000, 'h'));
      }
      res.body() = "big";
    } else if (path == "/close") {
      res.keep_alive(false);
      res.body() = "bye";
    } else if (path == "/echo" || path == "/" || path.empty()) {
      std::ostringstream os;
      os << req.base();
      res.body() = os.str();
    } else {
      res.result(404);
    }
    co_return co_await send(s, res, req);
  }

  template <class Stream>
  net::awaitable<void> session(Stream& s) {
    beast::flat_buffer buf;
    for (;;) {
      bhttp::request<bhttp::string_body> req;
      auto [ec, n] = co_await bhttp::async_read(s, buf, req, use_tuple);
      if (ec) {
        co_return;
      }
      owner.requests_++;
      auto now = ++owner.concurrent_;
      auto prev = owner.max_concurrent_.load();
      while (static_cast<std::uint64_t>(now) > prev &&
             !owner.max_concurrent_.compare_exchange_weak(prev, now)) {
      }
      bool keep = co_await handle(s, req);
      --owner.concurrent_;
      if (!keep) {
        break;
      }
    }
    error_code ignore;
    beast::get_lowest_layer(s).socket().shutdown(tcp::socket::shutdown_send, ignore);
  }

  net::awaitable<void> serve(tcp::socket sock) {
    owner.connections_++;
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> s(beast::tcp_stream(std::move(sock)), *tls);
      auto [ec] = co_await s.async_handshake(ssl::stream_base::server, use_tuple);
      if (ec) {
        co_return;
      }
      co_await session(s);
    } else {
      beast::tcp_stream s(std::move(sock));
      co_await session(s);
    }
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
      if (ec) {
        co_return;
      }
      net::co_spawn(ioc, serve(std::move(sock)), net::detached);
    }
  }
};

test_server::test_server(std::string cert_file, std::string key_file)
    : impl_(std::make_unique<impl>(*this)) {
  if (!cert_file.empty()) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->tls->use_certificate_chain_file(cert_file);
    impl_->tls->use_private_key_file(key_file, ssl::context::pem);
  }
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(1024);
  net::co_spawn(impl_->ioc, impl_->accept_loop(), net::detached);
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

test_server::~test_server() {
  impl_->ioc.stop();
  impl_->thread.join();
}

std::uint16_t test_server::port() const {
  return impl_->acceptor.local_endpoint().port();
}

std::string test_server::base() const {
  return impl_->base();
}

}  // namespace sluice::test
