// The built-in HTTP origin: an HTTP/1.1 Beast server with test endpoints.
//
// One coroutine per connection, each on its own strand of the server's own
// io_context, so the origin's load never competes with a pipeline's strands
// for the same queue. Every endpoint is a small function that writes its own
// response, because several of them (drip, chunked, large bodies, reset)
// need more control over the wire than "build a message, write it".
#include "sluice/stages/origin.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "hostile.hpp"
#include "sluice/core/base64.hpp"
#include "sluice/core/json_text.hpp"

namespace sluice {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = boost::asio::ssl;
namespace json = boost::json;
namespace urls = boost::urls;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

constexpr auto nothrow = net::as_tuple(net::use_awaitable);

// Largest body an endpoint generates; bodies are streamed, so this only
// guards against typos like /bytes/99999999999999.
constexpr std::uint64_t max_generated_bytes = std::uint64_t{1} << 40;
// /gzip/N compresses in memory (the compressed form of the pattern is tiny,
// but compressing costs CPU), so it has a lower cap.
constexpr std::uint64_t max_gzip_bytes = std::uint64_t{1} << 30;
constexpr std::chrono::milliseconds max_delay = 600s;

// The generated body pattern, a whole number of periods (95) long, so a slice
// starting at `pattern.data() + offset % 95` continues the body at `offset`.
const std::string& pattern() {
  static const std::string p = [] {
    std::string s(95 * 700, '\0');
    for (std::size_t i = 0; i < s.size(); ++i) {
      s[i] = origin_body_byte(i);
    }
    return s;
  }();
  return p;
}

// How much of `pattern()` one write may take, starting at any phase.
std::size_t pattern_slice_max() {
  return pattern().size() - 95;
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || s.empty()) {
    return std::nullopt;
  }
  return v;
}

std::string http_date(std::chrono::system_clock::time_point tp) {
  std::time_t t = std::chrono::system_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::array<char, 64> buf{};
  auto n = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf.data(), n);
}

// Compresses the first `n` pattern bytes with zlib: gzip framing when `gzip`,
// else the zlib ("deflate" content coding) framing.
std::string compress_pattern(std::uint64_t n, bool gzip) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, gzip ? 15 + 16 : 15, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("deflateInit2 failed");
  }
  std::string out;
  std::array<unsigned char, 64 * 1024> chunk{};
  std::uint64_t fed = 0;
  int flush = Z_NO_FLUSH;
  do {
    if (zs.avail_in == 0 && flush == Z_NO_FLUSH) {
      std::size_t len =
          static_cast<std::size_t>(std::min<std::uint64_t>(n - fed, pattern_slice_max()));
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(pattern().data() + fed % 95));
      zs.avail_in = static_cast<uInt>(len);
      fed += len;
      if (fed == n) {
        flush = Z_FINISH;
      }
    }
    zs.next_out = chunk.data();
    zs.avail_out = static_cast<uInt>(chunk.size());
    int rc = deflate(&zs, flush);
    if (rc == Z_STREAM_ERROR) {
      deflateEnd(&zs);
      throw std::runtime_error("deflate failed");
    }
    out.append(reinterpret_cast<const char*>(chunk.data()), chunk.size() - zs.avail_out);
    if (rc == Z_STREAM_END) {
      break;
    }
  } while (true);
  deflateEnd(&zs);
  return out;
}

// A self-signed certificate (P-256) for localhost and 127.0.0.1, usable as its
// own CA file by a client. Returns {certificate PEM, private key PEM}.
std::pair<std::string, std::string> make_self_signed() {
  auto fail = [](const char* what) {
    throw std::runtime_error(std::string("origin TLS: ") + what);
  };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) {
    fail("key generation failed");
  }
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(
      X509_get_serialNumber(cert.get()),
      static_cast<long>(std::chrono::system_clock::now().time_since_epoch().count() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("sluice origin"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"},
                            std::pair{NID_ext_key_usage, "serverAuth"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    if (!ext) {
      fail("certificate extension failed");
    }
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    fail("signing failed");
  }
  auto to_pem = [&](auto writer) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!writer(bio.get())) {
      fail("PEM encoding failed");
    }
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(len));
  };
  std::string cert_pem = to_pem([&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; });
  std::string key_pem = to_pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  return {cert_pem, key_pem};
}

}  // namespace

std::string origin_body(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    s[i] = origin_body_byte(i);
  }
  return s;
}

struct stages::origin::origin_state {
  origin_options opts;
  std::optional<ssl::context> tls;  // declared first: streams using it die with ioc
  std::unique_ptr<net::io_context> ioc = std::make_unique<net::io_context>();
  std::optional<tcp::acceptor> acceptor{std::in_place, *ioc};
  std::string cert_pem;
  std::uint16_t port = 0;
  std::vector<std::thread> threads;
  bool started = false;
  bool stopped = false;

  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> in_flight{0};
  std::atomic<std::uint64_t> max_in_flight{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  std::atomic<std::uint64_t> slowed{0};
  std::atomic<std::uint64_t> fast_busy{0};  // requests holding one of slow_above's slots

  // The peak of in_flight per second since `peaks_epoch` (behind its mutex).
  mutable std::mutex peaks_mutex;
  std::chrono::steady_clock::time_point peaks_epoch = std::chrono::steady_clock::now();
  std::vector<std::uint64_t> peaks;

  void record_peak(std::uint64_t now_in_flight) {
    std::lock_guard lock(peaks_mutex);
    auto sec = static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                            std::chrono::steady_clock::now() - peaks_epoch)
                                            .count());
    if (sec >= 3600) {
      return;
    }
    if (peaks.size() <= sec) {
      // a second without arrivals still had the requests in flight before it
      peaks.resize(sec + 1, now_in_flight > 0 ? now_in_flight - 1 : 0);
    }
    peaks[sec] = std::max(peaks[sec], now_in_flight);
  }

  // Per-key hit counts for the stateful endpoints (/flaky, /retry-after with
  // key=): a test names its own key, so tests sharing an origin do not meet.
  std::mutex keys_mutex;
  std::unordered_map<std::string, std::uint64_t> key_hits;

  std::uint64_t hit(const std::string& key) {
    std::lock_guard lock(keys_mutex);
    return ++key_hits[key];
  }

  void enter() {
    requests.fetch_add(1, std::memory_order_relaxed);
    auto now = in_flight.fetch_add(1, std::memory_order_relaxed) + 1;
    auto seen = max_in_flight.load(std::memory_order_relaxed);
    while (now > seen &&
           !max_in_flight.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
    }
    record_peak(now);
  }

  origin_counters snapshot() const {
    origin_counters c;
    c.requests = requests.load(std::memory_order_relaxed);
    c.connections_accepted = accepted.load(std::memory_order_relaxed);
    c.connections_open = open.load(std::memory_order_relaxed);
    c.in_flight = in_flight.load(std::memory_order_relaxed);
    c.max_in_flight = max_in_flight.load(std::memory_order_relaxed);
    c.bytes_sent = bytes_sent.load(std::memory_order_relaxed);
    c.slowed = slowed.load(std::memory_order_relaxed);
    std::lock_guard lock(peaks_mutex);
    c.in_flight_peaks = peaks;
    return c;
  }

  void reset() {
    requests.store(0, std::memory_order_relaxed);
    accepted.store(0, std::memory_order_relaxed);
    bytes_sent.store(0, std::memory_order_relaxed);
    max_in_flight.store(in_flight.load(std::memory_order_relaxed), std::memory_order_relaxed);
    slowed.store(0, std::memory_order_relaxed);
    {
      std::lock_guard lock(peaks_mutex);
      peaks.clear();
      peaks_epoch = std::chrono::steady_clock::now();
    }
    std::lock_guard lock(keys_mutex);
    key_hits.clear();
  }

  std::string scheme() const { return tls ? "https" : "http"; }

  net::awaitable<void> accept_loop();
};

namespace {

using request_t = http::request<http::string_body>;

// What one endpoint needs about the request being served.
struct exchange {
  const request_t& req;
  urls::url_view target;  // the parsed origin-form target
  std::vector<std::string> segs;
  bool keep_alive = true;  // whether this response may keep the connection
  stages::origin::origin_state& st;
};

std::optional<std::string> param(const exchange& ex, std::string_view key) {
  auto params = ex.target.params();
  auto it = params.find(key);
  if (it == params.end()) {
    return std::nullopt;
  }
  return std::string((*it).value);
}

std::optional<std::uint64_t> param_u64(const exchange& ex, std::string_view key) {
  auto v = param(ex, key);
  if (!v) {
    return std::nullopt;
  }
  return to_u64(*v);
}

using fields_t = std::vector<std::pair<std::string, std::string>>;

// One extra response field. (A named function, because GCC 12 rejects
// braced pairs of string literals inside co_await expressions.)
fields_t field(std::string name, std::string value) {
  fields_t f;
  f.emplace_back(std::move(name), std::move(value));
  return f;
}

template <class Stream>
auto& lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

// Writes a complete response with a string body. HEAD gets the same header
// with the body's Content-Length and no body.
template <class Stream>
net::awaitable<void> send_text(Stream& s, exchange& ex, http::status status, std::string body,
                               std::string_view content_type = "text/plain", fields_t fields = {}) {
  ex.st.bytes_sent.fetch_add(ex.req.method() == http::verb::head ? 0 : body.size(),
                             std::memory_order_relaxed);
  if (ex.req.method() == http::verb::head) {
    http::response<http::empty_body> res{status, ex.req.version()};
    res.set(http::field::server, "sluice-origin");
    res.set(http::field::content_type, content_type);
    for (auto& [k, v] : fields) {
      res.insert(k, v);  // a name may repeat (Set-Cookie)
    }
    res.content_length(body.size());
    res.keep_alive(ex.keep_alive);
    lowest(s).expires_after(30s);
    co_await http::async_write(s, res, net::use_awaitable);
    co_return;
  }
  http::response<http::string_body> res{status, ex.req.version()};
  res.set(http::field::server, "sluice-origin");
  if (!body.empty() ||
      (status != http::status::no_content && status != http::status::not_modified)) {
    res.set(http::field::content_type, content_type);
  }
  for (auto& [k, v] : fields) {
    res.insert(k, v);
  }
  res.body() = std::move(body);
  res.keep_alive(ex.keep_alive);
  res.prepare_payload();
  lowest(s).expires_after(30s);
  co_await http::async_write(s, res, net::use_awaitable);
}

template <class Stream>
net::awaitable<void> bad_request(Stream& s, exchange& ex, std::string why) {
  co_await send_text(s, ex, http::status::bad_request, why + "\n");
}

// Streams `n` pattern bytes. `steps` > 0 spreads them over `duration` in that
// many writes, each after an equal pause (the drip). `chunked` uses
// Transfer-Encoding: chunked instead of Content-Length, `chunk` bytes a chunk.
// `until_close` sends neither (the body ends when the connection closes).
// `stall_after` > 0 stops writing after that many bytes and waits (a stalled
// body; the connection ends when the client gives up or the server stops).
struct stream_plan {
  std::uint64_t n = 0;
  std::uint64_t steps = 0;
  std::chrono::milliseconds duration{0};
  bool chunked = false;
  std::uint64_t chunk = 0;
  http::status status = http::status::ok;
  bool until_close = false;
  std::uint64_t stall_after = 0;
};

// A drip writes at most one step a millisecond (and 1,000 in all): finer
// steps look the same to a client and cost the origin a timer and a write
// each (bytes=3000&duration=20 was 1,000 writes 20 us apart: the origin,
// not the client, was the bottleneck of a 500 request/s test).
std::uint64_t drip_steps(std::uint64_t n, std::chrono::milliseconds duration) {
  auto per_ms = static_cast<std::uint64_t>(std::max<std::int64_t>(1, duration.count()));
  return std::clamp<std::uint64_t>(n, 1, std::min<std::uint64_t>(1000, per_ms));
}

template <class Stream>
net::awaitable<void> send_generated(Stream& s, exchange& ex, stream_plan plan) {
  if (ex.req.method() == http::verb::head) {
    http::response<http::empty_body> res{plan.status, ex.req.version()};
    res.set(http::field::server, "sluice-origin");
    res.set(http::field::content_type, "application/octet-stream");
    if (!plan.chunked) {
      res.content_length(plan.n);
    }
    res.keep_alive(ex.keep_alive);
    co_await http::async_write(s, res, net::use_awaitable);
    co_return;
  }
  http::response<http::buffer_body> res{plan.status, ex.req.version()};
  res.set(http::field::server, "sluice-origin");
  res.set(http::field::content_type, "application/octet-stream");
  if (plan.chunked) {
    res.chunked(true);
  } else if (plan.until_close) {
    ex.keep_alive = false;
  } else {
    res.content_length(plan.n);
  }
  res.keep_alive(ex.keep_alive);
  res.body().data = nullptr;
  res.body().more = true;
  http::response_serializer<http::buffer_body> sr{res};
  lowest(s).expires_after(30s);
  co_await http::async_write_header(s, sr, net::use_awaitable);

  net::steady_timer timer(co_await net::this_coro::executor);
  std::uint64_t sent = 0;
  std::uint64_t step = 0;
  auto started = std::chrono::steady_clock::now();
  while (sent < plan.n) {
    if (plan.stall_after > 0 && sent >= plan.stall_after) {
      timer.expires_after(max_delay);
      co_await timer.async_wait(net::use_awaitable);
      throw boost::system::system_error(net::error::timed_out);
    }
    std::uint64_t len = plan.n - sent;
    if (plan.stall_after > 0) {
      len = std::min(len, plan.stall_after - sent);
    }
    if (plan.steps > 0) {
      // Step k ends at k/steps of the duration; its share of the bytes
      // is computed from the cumulative target so rounding never drifts.
      ++step;
      timer.expires_at(started + plan.duration * step / plan.steps);
      co_await timer.async_wait(net::use_awaitable);
      len = plan.n * step / plan.steps - sent;
    }
    if (plan.chunk > 0) {
      len = std::min(len, plan.chunk);
    }
    len = std::min<std::uint64_t>(len, pattern_slice_max());
    if (len == 0) {
      continue;
    }
    res.body().data = const_cast<char*>(pattern().data() + sent % 95);
    res.body().size = static_cast<std::size_t>(len);
    res.body().more = true;
    lowest(s).expires_after(30s);
    auto [ec, written] = co_await http::async_write(s, sr, nothrow);
    if (ec && ec != http::error::need_buffer) {
      throw boost::system::system_error(ec);
    }
    sent += len;
    ex.st.bytes_sent.fetch_add(len, std::memory_order_relaxed);
  }
  res.body().data = nullptr;
  res.body().size = 0;
  res.body().more = false;
  lowest(s).expires_after(30s);
  co_await http::async_write(s, sr, net::use_awaitable);
}

net::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(net::use_awaitable);
}

std::optional<http::status> redirect_status(const exchange& ex) {
  auto code = param_u64(ex, "status").value_or(302);
  switch (code) {
    case 301:
    case 302:
    case 303:
    case 307:
    case 308:
      return static_cast<http::status>(code);
    default:
      return std::nullopt;
  }
}

template <class Stream>
net::awaitable<void> send_redirect(Stream& s, exchange& ex, std::string location) {
  auto status = redirect_status(ex);
  if (!status) {
    co_await bad_request(s, ex, "status must be 301, 302, 303, 307 or 308");
    co_return;
  }
  co_await send_text(s, ex, *status, "redirecting to " + location + "\n", "text/plain",
                     field("Location", location));
}

json::object counters_json(const origin_counters& c) {
  return json::object{{"requests", c.requests},
                      {"connections_accepted", c.connections_accepted},
                      {"connections_open", c.connections_open},
                      {"in_flight", c.in_flight},
                      {"max_in_flight", c.max_in_flight},
                      {"bytes_sent", c.bytes_sent},
                      {"slowed", c.slowed},
                      {"in_flight_peaks", json::value_from(c.in_flight_peaks)}};
}

// The request as JSON: method, target, path, query, version, headers (names
// lowercased; a repeated field becomes an array), body.
std::string echo_json(const exchange& ex) {
  json::object headers;
  for (const auto& f : ex.req) {
    std::string name(f.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto value = json::string(f.value());
    if (auto* existing = headers.if_contains(name)) {
      if (!existing->is_array()) {
        *existing = json::array{*existing};
      }
      existing->as_array().push_back(value);
    } else {
      headers[name] = value;
    }
  }
  json::object query;
  for (auto p : ex.target.params()) {
    query[p.key] = p.value;
  }
  json::object out{{"method", std::string(ex.req.method_string())},
                   {"target", std::string(ex.req.target())},
                   {"path", std::string(ex.target.path())},
                   {"query", std::move(query)},
                   {"http_version", ex.req.version() == 11 ? "1.1" : "1.0"},
                   {"headers", std::move(headers)},
                   {"body", ex.req.body()},
                   {"body_bytes", ex.req.body().size()}};
  return sluice::to_json_text(out) + "\n";
}

const char* index_text =
    "sluice origin: test endpoints (see docs/origin.md)\n"
    "  /bytes/N  /item/I  /delay/MS  /status/CODE  /gzip/N  /deflate/N  /chunked/N\n"
    "  /until-close/N  /stall  /bad-gzip\n"
    "  /drip?bytes=N&duration=MS&delay=MS&code=C\n"
    "  /redirect/N  /redirect-relative/N  /redirect-absolute/N  /redirect-loop  /redirect-cycle/a\n"
    "  /redirect-to?url=U  /redirect-ftp  (all take ?status=301|302|303|307|308)\n"
    "  /retry-after/S[?date=1&status=C&key=K&times=T]  /flaky/N?key=K[&status=C]\n"
    "  /echo  /basic-auth/USER/PASS  /big-header/N  /close  /reset  /stats  /stats/reset\n"
    "  /cookies/set?NAME=VALUE  /cookies\n"
    "  /hostile  /hostile/CASE (misbehaving responses: GET /hostile lists them)\n";

// What the connection does after a response.
enum class after { keep, close, reset };

// The number in path segment i, if there is one.
std::optional<std::uint64_t> seg_u64(const exchange& ex, std::size_t i) {
  if (ex.segs.size() <= i) {
    return std::nullopt;
  }
  return to_u64(ex.segs[i]);
}

// The redirect endpoints; nullopt when the target is none of them.
template <class Stream>
net::awaitable<std::optional<after>> serve_redirects(Stream& s, exchange& ex) {
  const auto& segs = ex.segs;
  const std::string head = segs.empty() ? std::string() : segs[0];
  auto arg = [&](std::size_t i) { return seg_u64(ex, i); };
  if (head == "redirect" || head == "redirect-relative" || head == "redirect-absolute") {
    auto n = arg(1);
    if (segs.size() != 2 || !n) {
      co_await bad_request(s, ex, "usage: /" + head + "/N");
    } else if (*n == 0) {
      co_await send_text(s, ex, http::status::ok, "redirects done\n");
    } else {
      std::string next = std::to_string(*n - 1);
      std::string query = ex.target.has_query() ? "?" + std::string(ex.target.encoded_query()) : "";
      if (head == "redirect") {
        co_await send_redirect(s, ex, "/redirect/" + next + query);
      } else if (head == "redirect-relative") {
        co_await send_redirect(s, ex, next + query);
      } else {
        auto host_it = ex.req.find(http::field::host);
        std::string host = host_it != ex.req.end()
                               ? std::string(host_it->value())
                               : ex.st.opts.address + ":" + std::to_string(ex.st.port);
        urls::url u;
        u.set_scheme(ex.st.scheme());
        auto ok = urls::parse_authority(host);
        if (!ok) {
          co_await bad_request(s, ex, "bad Host header");
        } else {
          u.set_encoded_authority(ok->buffer());
          u.set_path("/redirect-absolute/" + next);
          if (ex.target.has_query()) {
            u.set_encoded_query(ex.target.encoded_query());
          }
          co_await send_redirect(s, ex, std::string(u.buffer()));
        }
      }
    }
  } else if (head == "redirect-loop" && segs.size() == 1) {
    co_await send_redirect(s, ex, "/redirect-loop");
  } else if (head == "redirect-cycle" && segs.size() == 2 && (segs[1] == "a" || segs[1] == "b")) {
    co_await send_redirect(s, ex, segs[1] == "a" ? "/redirect-cycle/b" : "/redirect-cycle/a");
  } else if (head == "redirect-ftp" && segs.size() == 1) {
    co_await send_redirect(s, ex, "ftp://127.0.0.1/file.txt");
  } else if (head == "redirect-to" && segs.size() == 1) {
    auto url = param(ex, "url");
    if (!url || url->empty() || url->find_first_of("\r\n") != std::string::npos) {
      co_await bad_request(s, ex, "usage: /redirect-to?url=URL");
    } else {
      co_await send_redirect(s, ex, *url);
    }
  } else {
    co_return std::nullopt;
  }
  co_return ex.keep_alive ? after::keep : after::close;
}

// Endpoints that misbehave on request (Retry-After, flaky, auth, big
// headers); nullopt when the target is none of them.
template <class Stream>
net::awaitable<std::optional<after>> serve_behaviours(Stream& s, exchange& ex) {
  const auto& segs = ex.segs;
  const std::string head = segs.empty() ? std::string() : segs[0];
  auto arg = [&](std::size_t i) { return seg_u64(ex, i); };
  if (head == "retry-after" && segs.size() == 2) {
    auto secs = arg(1);
    auto code = param_u64(ex, "status").value_or(429);
    auto times = param_u64(ex, "times");
    auto key = param(ex, "key");
    if (!secs || code < 400 || code > 599) {
      co_await bad_request(s, ex, "usage: /retry-after/S[?date=1&status=C&key=K&times=T]");
    } else if (key && times && ex.st.hit("retry-after:" + *key) > *times) {
      co_await send_text(s, ex, http::status::ok, "ok after retry-after\n");
    } else {
      std::string value =
          param(ex, "date") == "1"
              ? http_date(std::chrono::system_clock::now() + std::chrono::seconds(*secs))
              : std::to_string(*secs);
      co_await send_text(s, ex, static_cast<http::status>(code), "retry after " + value + "\n",
                         "text/plain", field("Retry-After", value));
    }
  } else if (head == "flaky" && segs.size() == 2) {
    auto n = arg(1);
    auto key = param(ex, "key");
    auto code = param_u64(ex, "status").value_or(503);
    if (!n || !key || code < 400 || code > 599) {
      co_await bad_request(s, ex, "usage: /flaky/N?key=K[&status=C]");
    } else if (ex.st.hit("flaky:" + *key) > *n) {
      co_await send_text(s, ex, http::status::ok, "ok after " + segs[1] + " failures\n");
    } else if (param(ex, "mode") == "reset") {
      co_return after::reset;
    } else {
      co_await send_text(s, ex, static_cast<http::status>(code), "flaky failure\n");
    }
  } else if (head == "basic-auth" && segs.size() == 3) {
    auto it = ex.req.find(http::field::authorization);
    std::string expected = "Basic " + base64_encode(segs[1] + ":" + segs[2]);
    if (it != ex.req.end() && it->value() == expected) {
      co_await send_text(s, ex, http::status::ok, "authenticated " + segs[1] + "\n");
    } else {
      co_await send_text(s, ex, http::status::unauthorized, "unauthorized\n", "text/plain",
                         field("WWW-Authenticate", "Basic realm=\"sluice\""));
    }
  } else if (head == "cookies" && segs.size() == 2 && segs[1] == "set") {
    // As httpbin: a cookie per query parameter, then a 302 to /cookies.
    fields_t set;
    for (auto p : ex.target.params()) {
      set.emplace_back("Set-Cookie", std::string(p.key) + "=" + std::string(p.value) + "; Path=/");
    }
    set.emplace_back("Location", "/cookies");
    co_await send_text(s, ex, http::status::found, "redirecting to /cookies\n", "text/plain",
                       std::move(set));
  } else if (head == "cookies" && segs.size() == 1) {
    co_await send_text(s, ex, http::status::ok,
                       "cookies: " + std::string(ex.req[http::field::cookie]) + "\n");
  } else if (head == "big-header" && segs.size() == 2) {
    auto n = arg(1);
    if (!n || *n > (std::uint64_t{16} << 20)) {
      co_await bad_request(s, ex, "usage: /big-header/N (at most 16 MiB)");
    } else {
      // Beast caps one field at 64 KiB, so the filler is split into
      // X-Filler-0, X-Filler-1, ... of at most 60000 bytes each.
      fields_t fillers;
      for (std::uint64_t done = 0, i = 0; done < *n; ++i) {
        auto len = std::min<std::uint64_t>(*n - done, 60000);
        fillers.emplace_back("X-Filler-" + std::to_string(i),
                             std::string(static_cast<std::size_t>(len), 'x'));
        done += len;
      }
      co_await send_text(s, ex, http::status::ok, "big header\n", "text/plain", std::move(fillers));
    }
  } else {
    co_return std::nullopt;
  }
  co_return ex.keep_alive ? after::keep : after::close;
}

// Plays a hostile case's script of raw writes and pauses (hostile.hpp);
// stops when the client goes away.
template <class Stream>
net::awaitable<after> serve_hostile(Stream& s, exchange& ex,
                                    const stages::origin::hostile_case& c) {
  auto script = c.script();
  for (const auto& step : script.steps) {
    for (std::uint64_t i = 0; i < step.repeat; ++i) {
      if (!step.bytes.empty()) {
        lowest(s).expires_after(30s);
        auto [ec, n] = co_await net::async_write(s, net::buffer(step.bytes), nothrow);
        if (ec) {
          co_return after::close;
        }
      }
      if (step.pause.count() > 0) {
        co_await sleep_for(step.pause);
      }
    }
  }
  using end = stages::origin::hostile_script::end;
  if (script.then == end::reset) {
    co_return after::reset;
  }
  co_return script.then == end::keep&& ex.keep_alive ? after::keep : after::close;
}

// Serves one request and says what becomes of the connection.
template <class Stream>
net::awaitable<after> dispatch(Stream& s, exchange& ex) {
  const auto& segs = ex.segs;
  const std::string head = segs.empty() ? std::string() : segs[0];
  auto arg = [&](std::size_t i) { return seg_u64(ex, i); };

  if (head == "echo" || (head.empty() && ex.target.has_query())) {
    co_await send_text(s, ex, http::status::ok, echo_json(ex), "application/json");
  } else if (head.empty()) {
    co_await send_text(s, ex, http::status::ok, index_text);
  } else if (head == "bytes" && segs.size() == 2) {
    auto n = arg(1);
    if (!n || *n > max_generated_bytes) {
      co_await bad_request(s, ex, "usage: /bytes/N");
    } else {
      co_await send_generated(s, ex, stream_plan{.n = *n});
    }
  } else if (head == "until-close" && segs.size() == 2) {
    auto n = arg(1);
    if (!n || *n > max_generated_bytes) {
      co_await bad_request(s, ex, "usage: /until-close/N");
    } else {
      co_await send_generated(s, ex, stream_plan{.n = *n, .until_close = true});
      co_return after::close;
    }
  } else if (head == "stall" && segs.size() == 1) {
    co_await send_generated(s, ex, stream_plan{.n = 1000, .stall_after = 10});
  } else if (head == "bad-gzip" && segs.size() == 1) {
    co_await send_text(s, ex, http::status::ok, "these bytes are not gzip\n",
                       "application/octet-stream", field("Content-Encoding", "gzip"));
  } else if (head == "chunked" && segs.size() == 2) {
    auto n = arg(1);
    auto chunk = param_u64(ex, "chunk").value_or(1024);
    if (!n || *n > max_generated_bytes || chunk == 0) {
      co_await bad_request(s, ex, "usage: /chunked/N?chunk=SIZE");
    } else {
      co_await send_generated(s, ex, stream_plan{.n = *n, .chunked = true, .chunk = chunk});
    }
  } else if (head == "item" && segs.size() == 2) {
    co_await send_text(s, ex, http::status::ok, "item " + segs[1] + "\n");
  } else if (head == "delay" && segs.size() == 2) {
    auto ms = arg(1);
    if (!ms || std::chrono::milliseconds(*ms) > max_delay) {
      co_await bad_request(s, ex, "usage: /delay/MS (at most 600000)");
    } else {
      co_await sleep_for(std::chrono::milliseconds(*ms));
      co_await send_text(s, ex, http::status::ok, "delayed " + segs[1] + " ms\n");
    }
  } else if (head == "status" && segs.size() == 2) {
    auto code = arg(1);
    if (!code || *code < 200 || *code > 599) {
      co_await bad_request(s, ex, "usage: /status/CODE with CODE in 200..599");
    } else {
      auto st = static_cast<http::status>(*code);
      std::string body =
          (*code == 204 || *code == 304) ? std::string() : "status " + segs[1] + "\n";
      co_await send_text(s, ex, st, std::move(body));
    }
  } else if ((head == "gzip" || head == "deflate") && segs.size() == 2) {
    auto n = arg(1);
    if (!n || *n > max_gzip_bytes) {
      co_await bad_request(s, ex, "usage: /" + head + "/N (at most 1 GiB)");
    } else {
      co_await send_text(s, ex, http::status::ok, compress_pattern(*n, head == "gzip"),
                         "application/octet-stream", field("Content-Encoding", head));
    }
  } else if (head == "drip" && segs.size() == 1) {
    auto n = param_u64(ex, "bytes").value_or(10);
    auto duration = std::chrono::milliseconds(param_u64(ex, "duration").value_or(2000));
    auto delay = std::chrono::milliseconds(param_u64(ex, "delay").value_or(0));
    auto code = param_u64(ex, "code").value_or(200);
    if (n > max_generated_bytes || duration > max_delay || delay > max_delay || code < 200 ||
        code > 599) {
      co_await bad_request(s, ex, "usage: /drip?bytes=N&duration=MS&delay=MS&code=C");
    } else {
      co_await sleep_for(delay);
      co_await send_generated(s, ex,
                              stream_plan{.n = n,
                                          .steps = drip_steps(n, duration),
                                          .duration = duration,
                                          .status = static_cast<http::status>(code)});
    }
  } else if (auto done = co_await serve_redirects(s, ex)) {
    co_return *done;
  } else if (auto done = co_await serve_behaviours(s, ex)) {
    co_return *done;
  } else if (head == "hostile" && segs.size() == 1) {
    co_await send_text(s, ex, http::status::ok, stages::origin::hostile_cases_markdown(),
                       "text/markdown");
  } else if (head == "hostile" && segs.size() == 2) {
    if (const auto* c = stages::origin::find_hostile_case(segs[1])) {
      co_return co_await serve_hostile(s, ex, *c);
    }
    co_await send_text(s, ex, http::status::not_found,
                       "no hostile case '" + segs[1] + "' (GET /hostile lists them)\n");
  } else if (head == "close" && segs.size() == 1) {
    ex.keep_alive = false;
    co_await send_text(s, ex, http::status::ok, "closing\n");
    co_return after::close;
  } else if (head == "reset" && segs.size() == 1) {
    co_return after::reset;
  } else if (head == "stats" && segs.size() <= 2) {
    bool reset = segs.size() == 2 && segs[1] == "reset";
    if (segs.size() == 2 && !reset) {
      co_await send_text(s, ex, http::status::not_found, "not found\n");
    } else {
      auto body = sluice::to_json_text(counters_json(ex.st.snapshot())) + "\n";
      if (reset) {
        ex.st.reset();
      }
      co_await send_text(s, ex, http::status::ok, std::move(body), "application/json");
    }
  } else {
    co_await send_text(s, ex, http::status::not_found,
                       "not found: " + std::string(ex.req.target()) + "\n");
  }
  co_return ex.keep_alive ? after::keep : after::close;
}

// `slow_above`: a request that finds every fast slot busy is answered
// `slow_delay` late, with `slow_status` or (0) the endpoint's own answer.
template <class Stream>
net::awaitable<after> dispatch_paced(Stream& s, exchange& ex) {
  auto& st = ex.st;
  if (st.opts.slow_above == 0) {
    co_return co_await dispatch(s, ex);
  }
  if (st.fast_busy.fetch_add(1, std::memory_order_relaxed) < st.opts.slow_above) {
    struct slot_guard {
      stages::origin::origin_state& st;
      ~slot_guard() { st.fast_busy.fetch_sub(1, std::memory_order_relaxed); }
    } slot{st};
    co_return co_await dispatch(s, ex);
  }
  st.fast_busy.fetch_sub(1, std::memory_order_relaxed);
  st.slowed.fetch_add(1, std::memory_order_relaxed);
  co_await sleep_for(st.opts.slow_delay);
  if (st.opts.slow_status == 0) {
    co_return co_await dispatch(s, ex);
  }
  co_await send_text(s, ex, static_cast<http::status>(st.opts.slow_status), "overloaded\n");
  co_return ex.keep_alive ? after::keep : after::close;
}

// `/robots.txt` as the options say (their text, or another endpoint's
// answer), every other target by dispatch_paced.
template <class Stream>
net::awaitable<after> route(Stream& s, exchange& ex) {
  const auto& o = ex.st.opts;
  if (ex.target.encoded_path() != "/robots.txt") {
    co_return co_await dispatch_paced(s, ex);
  }
  if (o.robots_txt) {
    co_await send_text(s, ex, http::status::ok, *o.robots_txt);
    co_return ex.keep_alive ? after::keep : after::close;
  }
  auto alt = urls::parse_origin_form(o.robots_path);
  if (o.robots_path.empty() || !alt) {
    co_return co_await dispatch(s, ex);
  }
  exchange as{ex.req, *alt, {}, ex.keep_alive, ex.st};
  for (auto seg : alt->segments()) {
    as.segs.emplace_back(seg);
  }
  co_return co_await dispatch(s, as);
}

// True for the endpoints excluded from the counters.
bool is_stats_target(std::string_view target) {
  return target == "/stats" || target == "/stats/reset" || target.starts_with("/stats?");
}

// Closes the TCP connection with an RST instead of a FIN.
void reset_connection(tcp::socket& sock) {
  boost::system::error_code ignored;
  sock.set_option(net::socket_base::linger(true, 0), ignored);
  sock.close(ignored);
}

template <class Stream>
net::awaitable<void> session(Stream stream, stages::origin::origin_state& st) {
  struct open_guard {
    stages::origin::origin_state& st;
    ~open_guard() { st.open.fetch_sub(1, std::memory_order_relaxed); }
  } guard{st};
  constexpr bool is_tls = !std::is_same_v<Stream, beast::tcp_stream>;
  if constexpr (is_tls) {
    lowest(stream).expires_after(10s);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, nothrow);
    if (ec) {
      co_return;
    }
  }
  beast::flat_buffer buffer;
  std::uint64_t served = 0;
  bool reset = false;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(16 * 1024 * 1024);
    lowest(stream).expires_after(st.opts.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
    if (ec) {
      if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
          ec != net::error::eof && ec != net::error::connection_reset &&
          ec != net::error::operation_aborted) {
        // Malformed request: answer 400 once, then close.
        http::response<http::string_body> res{http::status::bad_request, 11};
        res.set(http::field::content_type, "text/plain");
        res.body() = "bad request: " + ec.message() + "\n";
        res.keep_alive(false);
        res.prepare_payload();
        lowest(stream).expires_after(5s);
        co_await http::async_write(stream, res, nothrow);
      }
      break;
    }
    lowest(stream).expires_never();
    request_t req = parser.release();
    auto parsed = urls::parse_origin_form(req.target());
    if (!parsed) {
      // The absolute form, as a proxy gets it (RFC 9112 3.2.2: servers accept it too).
      parsed = urls::parse_absolute_uri(req.target());
    }
    bool counted = !is_stats_target(req.target());
    if (counted) {
      st.enter();
    }
    struct flight_guard {
      stages::origin::origin_state& st;
      bool on;
      ~flight_guard() {
        if (on) {
          st.in_flight.fetch_sub(1, std::memory_order_relaxed);
        }
      }
    } flight{st, counted};
    ++served;
    bool last =
        st.opts.max_requests_per_connection != 0 && served >= st.opts.max_requests_per_connection;
    after next = after::close;
    if (!parsed) {
      exchange ex{req, urls::url_view(), {}, false, st};
      co_await bad_request(stream, ex, "bad request target");
    } else {
      exchange ex{req, *parsed, {}, req.keep_alive() && !last, st};
      for (auto seg : parsed->segments()) {
        ex.segs.emplace_back(seg);
      }
      next = counted ? co_await route(stream, ex) : co_await dispatch(stream, ex);
    }
    if (next == after::reset) {
      reset = true;
    }
    if (next != after::keep) {
      break;
    }
  }
  if (reset) {
    reset_connection(lowest(stream).socket());
    co_return;
  }
  if constexpr (is_tls) {
    lowest(stream).expires_after(2s);
    co_await stream.async_shutdown(nothrow);
  } else {
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

}  // namespace

net::awaitable<void> stages::origin::origin_state::accept_loop() {
  for (;;) {
    auto [ec, sock] = co_await acceptor->async_accept(net::make_strand(*ioc), nothrow);
    if (ec) {
      if (!acceptor->is_open() || ec == net::error::operation_aborted) {
        co_return;
      }
      // Out of descriptors or a transient error: back off briefly, keep serving.
      net::steady_timer t(*ioc, 10ms);
      co_await t.async_wait(nothrow);
      continue;
    }
    accepted.fetch_add(1, std::memory_order_relaxed);
    open.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    auto ex = sock.get_executor();
    // A connection's failure (a reset, a timeout) ends that connection only.
    auto on_done = [](std::exception_ptr) {};
    if (tls) {
      net::co_spawn(
          ex,
          session(beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(sock)), *tls),
                  *this),
          on_done);
    } else {
      net::co_spawn(ex, session(beast::tcp_stream(std::move(sock)), *this), on_done);
    }
  }
}

origin_server::origin_server(origin_options opts)
    : impl_(std::make_unique<stages::origin::origin_state>()) {
  impl_->opts = std::move(opts);
  auto& st = *impl_;
  if (st.opts.threads == 0) {
    st.opts.threads = 1;
  }
  if (st.opts.tls) {
    st.tls.emplace(ssl::context::tls_server);
    st.tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                        ssl::context::no_sslv3);
    if (!st.opts.cert_file.empty() && !st.opts.key_file.empty()) {
      st.tls->use_certificate_chain_file(st.opts.cert_file);
      st.tls->use_private_key_file(st.opts.key_file, ssl::context::pem);
      std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(st.opts.cert_file.c_str(), "r"),
                                                    BIO_free);
      if (bio) {
        char buf[4096];
        int n = 0;
        while ((n = BIO_read(bio.get(), buf, sizeof buf)) > 0) {
          st.cert_pem.append(buf, static_cast<std::size_t>(n));
        }
      }
    } else if (!st.opts.cert_file.empty() || !st.opts.key_file.empty()) {
      throw std::invalid_argument("origin TLS: give both a certificate and a key, or neither");
    } else {
      auto [cert, key] = make_self_signed();
      st.tls->use_certificate_chain(net::buffer(cert));
      st.tls->use_private_key(net::buffer(key), ssl::context::pem);
      st.cert_pem = std::move(cert);
    }
  }
  try {
    auto address = net::ip::make_address(st.opts.address);
    tcp::endpoint ep(address, st.opts.port);
    st.acceptor->open(ep.protocol());
    st.acceptor->set_option(net::socket_base::reuse_address(true));
    st.acceptor->bind(ep);
    st.acceptor->listen(net::socket_base::max_listen_connections);
    st.port = st.acceptor->local_endpoint().port();
  } catch (const boost::system::system_error& e) {
    throw std::system_error(e.code(), "origin: cannot listen on " + st.opts.address + ":" +
                                          std::to_string(st.opts.port));
  }
}

origin_server::~origin_server() {
  stop();
}

void origin_server::start() {
  auto& st = *impl_;
  if (st.started || st.stopped) {
    return;
  }
  st.started = true;
  net::co_spawn(st.acceptor->get_executor(), st.accept_loop(), [](std::exception_ptr) {});
  for (unsigned i = 0; i < st.opts.threads; ++i) {
    st.threads.emplace_back([&st] { st.ioc->run(); });
  }
}

void origin_server::stop() {
  auto& st = *impl_;
  if (st.stopped) {
    return;
  }
  st.stopped = true;
  st.ioc->stop();
  for (auto& t : st.threads) {
    t.join();
  }
  st.threads.clear();
  // Destroying the context destroys the suspended accept loop and session
  // coroutines, which closes their sockets: clients see the connections
  // close when stop returns.
  st.acceptor.reset();
  st.ioc.reset();
}

std::uint16_t origin_server::port() const noexcept {
  return impl_->port;
}

std::string origin_server::base_url() const {
  auto addr = net::ip::make_address(impl_->opts.address);
  std::string host = addr.is_v6() ? "[" + addr.to_string() + "]" : addr.to_string();
  return impl_->scheme() + "://" + host + ":" + std::to_string(impl_->port);
}

std::string origin_server::certificate_pem() const {
  return impl_->cert_pem;
}

origin_counters origin_server::counters() const noexcept {
  return impl_->snapshot();
}

void origin_server::reset_counters() noexcept {
  impl_->reset();
}

}  // namespace sluice
