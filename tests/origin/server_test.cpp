// Tests of the built-in origin's endpoints and counters, through a real
// socket, with the fixtures' Beast client.
#include "sluice/stages/origin.hpp"

#include <atomic>
#include <fstream>
#include <thread>

#include <doctest/doctest.h>
#include <zlib.h>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include "peers.hpp"

namespace {

using namespace std::chrono_literals;
using sluice::origin_body;
using sluice::origin_options;
using sluice::origin_server;
using sluice::test::http_connection;
using sluice::test::http_request_options;
using sluice::test::http_response;

// A started origin on an ephemeral port, stopped at scope exit.
struct running_origin {
  explicit running_origin(origin_options o = {}) : server(o) { server.start(); }
  http_connection connect() const { return http_connection("127.0.0.1", server.port()); }
  http_response get(const std::string& target, const http_request_options& opts = {}) const {
    auto c = connect();
    return c.request(target, opts);
  }
  origin_server server;
};

std::string inflate_all(const std::string& in) {
  z_stream zs{};
  // 15 + 32: accept both gzip and zlib framing.
  REQUIRE(inflateInit2(&zs, 15 + 32) == Z_OK);
  std::string out;
  char buf[65536];
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - zs.avail_out);
  }
  inflateEnd(&zs);
  return out;
}

// Follows redirects from `target` by hand, resolving each Location against
// the current URL with Boost.URL; returns the final URL and the hop count.
std::pair<std::string, int> follow(const running_origin& o, std::string target, int max_hops = 20) {
  boost::urls::url current = boost::urls::parse_uri(o.server.base_url() + target).value();
  for (int hops = 0; hops <= max_hops; ++hops) {
    auto r = sluice::test::http_fetch(std::string(current.buffer()));
    if (r.status < 300 || r.status > 399) {
      CAPTURE(current.buffer());
      CAPTURE(r.body);
      REQUIRE(r.status == 200);
      return {std::string(current.buffer()), hops};
    }
    std::string location = r.header("location");
    auto loc = boost::urls::parse_uri_reference(location);
    REQUIRE(loc.has_value());
    boost::urls::url next;
    REQUIRE(boost::urls::resolve(current, *loc, next).has_value());
    current = next;
  }
  FAIL("too many redirects");
  return {};
}

}  // namespace

TEST_CASE("origin.bytes.deterministic_body") {
  running_origin o;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{66'000},
                        std::size_t{1} << 20}) {
    CAPTURE(n);
    auto r = o.get("/bytes/" + std::to_string(n));
    CHECK(r.status == 200);
    CHECK(r.header("content-length") == std::to_string(n));
    CHECK(r.body == origin_body(n));
  }
  CHECK(origin_body(96).substr(94) == "~ ");
  CHECK(o.get("/bytes/abc").status == 400);
  CHECK(o.get("/no-such-endpoint").status == 404);
}

TEST_CASE("origin.chunked.transfer_encoding") {
  running_origin o;
  auto r = o.get("/chunked/5000?chunk=700");
  CHECK(r.status == 200);
  CHECK(r.header("transfer-encoding") == "chunked");
  CHECK(r.body == origin_body(5000));
}

TEST_CASE("origin.item.small_body") {
  running_origin o;
  CHECK(o.get("/item/42").body == "item 42\n");
}

TEST_CASE("origin.status.codes") {
  running_origin o;
  for (int code : {200, 201, 204, 301, 404, 418, 429, 500, 503, 599}) {
    CAPTURE(code);
    auto r = o.get("/status/" + std::to_string(code));
    CHECK(r.status == code);
    if (code == 204) {
      CHECK(r.body.empty());
    } else {
      CHECK(r.body == "status " + std::to_string(code) + "\n");
    }
  }
  CHECK(o.get("/status/99").status == 400);
  CHECK(o.get("/status/600").status == 400);
}

TEST_CASE("origin.gzip.decodes_with_zlib") {
  running_origin o;
  SUBCASE("gzip") {
    auto r = o.get("/gzip/300000");
    CHECK(r.status == 200);
    CHECK(r.header("content-encoding") == "gzip");
    CHECK(r.body.size() < 300000);
    CHECK(static_cast<unsigned char>(r.body[0]) == 0x1f);  // gzip magic
    auto plain = inflate_all(r.body);
    CHECK(plain.size() == 300000);
    CHECK(plain == origin_body(300000));
  }
  SUBCASE("deflate") {
    auto r = o.get("/deflate/1000");
    CHECK(r.header("content-encoding") == "deflate");
    CHECK(inflate_all(r.body) == origin_body(1000));
  }
  SUBCASE("empty") {
    CHECK(inflate_all(o.get("/gzip/0").body).empty());
  }
}

TEST_CASE("origin.redirect.chains") {
  running_origin o;
  // Each hop's Location, the hops to the end and where the chain ends.
  struct chain {
    const char* kind;
    std::string path;
    std::string first_location;
    int hops;
    std::string last_path;
  };
  for (const auto& c :
       {chain{"absolute path", "/redirect/3", "/redirect/2", 3, "/redirect/0"},
        chain{"relative reference", "/redirect-relative/5", "4", 5, "/redirect-relative/0"}}) {
    SUBCASE(c.kind) {
      auto r = o.get(c.path);
      CHECK(r.status == 302);
      CHECK(r.header("location") == c.first_location);
      auto [url, hops] = follow(o, c.path);
      CHECK(hops == c.hops);
      CHECK(url == o.server.base_url() + c.last_path);
    }
  }
  SUBCASE("absolute URL") {
    auto r = o.get("/redirect-absolute/2");
    CHECK(r.header("location") == o.server.base_url() + "/redirect-absolute/1");
    CHECK(follow(o, "/redirect-absolute/2").second == 2);
  }
  SUBCASE("status and query kept") {
    auto r = o.get("/redirect/2?status=307");
    CHECK(r.status == 307);
    CHECK(r.header("location") == "/redirect/1?status=307");
    CHECK(o.get("/redirect/2?status=200").status == 400);
  }
  SUBCASE("loop, cycle, ftp, redirect-to") {
    CHECK(o.get("/redirect-loop").header("location") == "/redirect-loop");
    CHECK(o.get("/redirect-cycle/a").header("location") == "/redirect-cycle/b");
    CHECK(o.get("/redirect-cycle/b").header("location") == "/redirect-cycle/a");
    auto ftp = o.get("/redirect-ftp");
    CHECK(ftp.status == 302);
    CHECK(ftp.header("location").starts_with("ftp://"));
    auto to = o.get("/redirect-to?url=http%3A%2F%2Fexample.invalid%2Fx&status=301");
    CHECK(to.status == 301);
    CHECK(to.header("location") == "http://example.invalid/x");
  }
}

TEST_CASE("origin.retry_after.header") {
  running_origin o;
  auto r = o.get("/retry-after/7");
  CHECK(r.status == 429);
  CHECK(r.header("retry-after") == "7");
  auto d = o.get("/retry-after/7?date=1&status=503");
  CHECK(d.status == 503);
  CHECK(d.header("retry-after").ends_with(" GMT"));
  CHECK(d.header("retry-after").size() == 29);  // IMF-fixdate
  // With key/times: the first `times` requests get 429, then 200.
  CHECK(o.get("/retry-after/1?key=k1&times=2").status == 429);
  CHECK(o.get("/retry-after/1?key=k1&times=2").status == 429);
  CHECK(o.get("/retry-after/1?key=k1&times=2").status == 200);
}

TEST_CASE("origin.flaky.fails_then_succeeds") {
  running_origin o;
  CHECK(o.get("/flaky/2?key=a").status == 503);
  CHECK(o.get("/flaky/2?key=a&status=500").status == 500);
  CHECK(o.get("/flaky/2?key=a").status == 200);
  CHECK(o.get("/flaky/1?key=b").status == 503);  // keys are independent
  CHECK_THROWS(o.get("/flaky/1?key=c&mode=reset"));
  CHECK(o.get("/flaky/1?key=c&mode=reset").status == 200);
}

TEST_CASE("origin.drip.spreads_bytes_over_duration") {
  running_origin o;
  auto r = o.get("/drip?bytes=20&duration=600");
  CHECK(r.status == 200);
  CHECK(r.body == origin_body(20));
  // The bytes come in several reads, the first well before the last; the
  // server cannot finish before the duration (a lower bound only).
  CHECK(r.body_reads > 1);
  CHECK(r.first_body_byte < r.complete);
  CHECK(r.complete >= 550ms);
  auto delayed = o.get("/drip?bytes=1&duration=0&delay=300&code=206");
  CHECK(delayed.status == 206);
  CHECK(delayed.first_body_byte >= 250ms);
}

TEST_CASE("origin.delay.waits") {
  running_origin o;
  auto r = o.get("/delay/200");
  CHECK(r.status == 200);
  CHECK(r.complete >= 190ms);
  CHECK(o.get("/delay/x").status == 400);
}

TEST_CASE("origin.echo.request_as_json") {
  running_origin o;
  http_request_options opts;
  opts.method = "POST";
  opts.headers = {{"X-Test", "abc"}, {"Accept-Encoding", "gzip"}};
  opts.body = "hello";
  auto r = o.get("/echo?a=1&b=two", opts);
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  auto v = boost::json::parse(r.body).as_object();
  CHECK(v.at("method").as_string() == "POST");
  CHECK(v.at("path").as_string() == "/echo");
  CHECK(v.at("query").at("b").as_string() == "two");
  CHECK(v.at("headers").at("x-test").as_string() == "abc");
  CHECK(v.at("headers").at("accept-encoding").as_string() == "gzip");
  CHECK(v.at("headers").at("user-agent").as_string() == "sluice-test-client");
  CHECK(v.at("body").as_string() == "hello");
}

TEST_CASE("origin.basic_auth") {
  running_origin o;
  CHECK(o.get("/basic-auth/u/p").status == 401);
  http_request_options opts;
  opts.headers = {{"Authorization", "Basic dTpw"}};  // u:p
  CHECK(o.get("/basic-auth/u/p", opts).status == 200);
}

TEST_CASE("origin.big_header") {
  running_origin o;
  auto r = o.get("/big-header/100000");
  CHECK(r.header("x-filler-0").size() == 60000);
  CHECK(r.header("x-filler-1").size() == 40000);
  CHECK(r.header("x-filler-2").empty());
}

TEST_CASE("origin.head.has_length_no_body") {
  running_origin o;
  http_request_options opts;
  opts.method = "HEAD";
  auto r = o.get("/bytes/1234", opts);
  CHECK(r.status == 200);
  CHECK(r.header("content-length") == "1234");
  CHECK(r.body.empty());
}

TEST_CASE("origin.counters.keep_alive_reuse") {
  running_origin o;
  auto c = o.connect();
  for (int i = 0; i < 50; ++i) {
    REQUIRE(c.request("/item/" + std::to_string(i)).status == 200);
  }
  // /stats is not counted, so reading it does not disturb the figures.
  auto stats = boost::json::parse(c.request("/stats").body).as_object();
  CHECK(boost::json::value_to<std::uint64_t>(stats.at("requests")) == 50);
  CHECK(boost::json::value_to<std::uint64_t>(stats.at("connections_accepted")) == 1);
  CHECK(c.connects() == 1);
  auto k = o.server.counters();
  CHECK(k.requests == 50);
  CHECK(k.connections_accepted == 1);
  CHECK(k.max_in_flight == 1);
  c.request("/stats/reset");
  CHECK(o.server.counters().requests == 0);
  CHECK(o.server.counters().connections_accepted == 0);
}

TEST_CASE("origin.counters.concurrent_requests") {
  origin_options opts;
  opts.threads = 2;
  running_origin o(opts);
  constexpr int n = 8;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < n; ++i) {
    clients.emplace_back([&] {
      try {
        if (o.get("/delay/1500").status == 200) {
          ++ok;
        }
      } catch (...) {
      }
    });
  }
  // All n requests are held for 1.5 s each: wait (bounded) until the
  // server sees them all at once.
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::uint64_t seen = 0;
  while (std::chrono::steady_clock::now() < deadline &&
         (seen = o.server.counters().in_flight) < n) {
    std::this_thread::sleep_for(5ms);
  }
  for (auto& t : clients) {
    t.join();
  }
  CHECK(ok == n);
  // The server counts a request done after its response is written, which
  // can be just after the client has read it: wait (bounded) for that.
  auto settle = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < settle && o.server.counters().in_flight != 0) {
    std::this_thread::sleep_for(5ms);
  }
  auto k = o.server.counters();
  CHECK(k.in_flight == 0);
  CHECK(k.max_in_flight == n);
  CHECK(k.requests == n);
  CHECK(k.connections_accepted == n);
}

TEST_CASE("origin.connection.max_requests_and_close") {
  origin_options opts;
  opts.max_requests_per_connection = 3;
  running_origin o(opts);
  auto c = o.connect();
  for (int i = 0; i < 7; ++i) {
    auto r = c.request("/item/1");
    CHECK(r.keep_alive == ((i % 3) != 2));
  }
  CHECK(c.connects() == 3);
  CHECK(o.server.counters().connections_accepted == 3);

  running_origin plain;
  auto d = plain.connect();
  CHECK_FALSE(d.request("/close").keep_alive);
  CHECK(d.request("/item/2").status == 200);
  CHECK(d.connects() == 2);
  CHECK_THROWS(d.request("/reset"));
}

TEST_CASE("origin.stop.closes_connections") {
  auto o = std::make_unique<running_origin>();
  auto c = o->connect();
  CHECK(c.request("/item/1").status == 200);
  auto port = o->server.port();
  o->server.stop();
  CHECK(o->server.port() == port);
  http_request_options quick;
  quick.timeout = 3s;
  CHECK_THROWS(c.request("/item/2", quick));
}

TEST_CASE("origin.tls.self_signed_and_given_certificate") {
  sluice::test::temp_dir dir;
  SUBCASE("self-signed") {
    origin_options opts;
    opts.tls = true;
    running_origin o(opts);
    CHECK(o.server.base_url().starts_with("https://127.0.0.1:"));
    auto pem = dir.path() / "origin.pem";
    std::ofstream(pem) << o.server.certificate_pem();
    http_connection verified("127.0.0.1", o.server.port(), true, pem);
    CHECK(verified.request("/bytes/10").body == origin_body(10));
    auto other = sluice::test::make_tls_files(dir.path() / "other");
    http_connection wrong_ca("127.0.0.1", o.server.port(), true, other.ca_cert);
    CHECK_THROWS(wrong_ca.request("/bytes/10"));
  }
  SUBCASE("certificate from make_certs.sh") {
    auto files = sluice::test::make_tls_files(dir.path() / "tls");
    origin_options opts;
    opts.tls = true;
    opts.cert_file = files.server_cert.string();
    opts.key_file = files.server_key.string();
    running_origin o(opts);
    http_connection c("localhost", o.server.port(), true, files.ca_cert);
    for (int i = 0; i < 3; ++i) {
      CHECK(c.request("/item/" + std::to_string(i)).status == 200);
    }
    CHECK(c.connects() == 1);
    CHECK(o.server.certificate_pem().find("BEGIN CERTIFICATE") != std::string::npos);
  }
}

TEST_CASE("origin.bind.port_in_use_throws") {
  running_origin o;
  origin_options opts;
  opts.port = o.server.port();
  CHECK_THROWS_AS(origin_server{opts}, std::system_error);
}

TEST_CASE("origin.endpoints.close_delimited_stalled_and_bad_gzip_bodies") {
  running_origin o;
  SUBCASE("/until-close/N: no Content-Length, no chunking, the body ends at close") {
    auto r = o.get("/until-close/5000");
    CHECK(r.status == 200);
    CHECK(r.header("content-length").empty());
    CHECK(r.header("transfer-encoding").empty());
    CHECK_FALSE(r.keep_alive);
    CHECK(r.body == origin_body(5000));
  }
  SUBCASE("/stall: 10 of 1000 announced bytes, then nothing") {
    http_request_options quick;
    quick.timeout = 500ms;
    CHECK_THROWS(o.get("/stall", quick));
  }
  SUBCASE("/bad-gzip: Content-Encoding gzip over bytes that are not gzip") {
    auto r = o.get("/bad-gzip");
    CHECK(r.status == 200);
    CHECK(r.header("content-encoding") == "gzip");
    CHECK(static_cast<unsigned char>(r.body.at(0)) != 0x1f);
  }
  SUBCASE("/?Q answers as /echo; / alone is the index") {
    auto e = boost::json::parse(o.get("/?q=1").body).as_object();
    CHECK(e.at("target").as_string() == "/?q=1");
    CHECK(o.get("/").body.rfind("sluice origin:", 0) == 0);
  }
}
