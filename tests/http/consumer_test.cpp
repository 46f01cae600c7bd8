// The http consumer against the built-in origin (docs/origin.md) on 127.0.0.1.
#include "sluice/stages/http.hpp"

#include <filesystem>
#include <fstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <boost/asio/ip/tcp.hpp>

#include "http_harness.hpp"
#include "sluice/stages/origin.hpp"

using namespace std::chrono_literals;
using sluice::test::http_harness;
using sluice::test::ns;
namespace json = boost::json;

namespace {

/// `n` distinct URLs: `prefix` followed by `?i=0`, `?i=1`, ...
std::vector<std::string> numbered(const std::string& prefix, int n) {
  std::vector<std::string> urls;
  for (int i = 0; i < n; ++i) {
    urls.push_back(prefix + "?i=" + std::to_string(i));
  }
  return urls;
}

std::string header(const sluice::result& r, const std::string& name) {
  for (auto& [k, v] : r.headers) {
    if (k == name) {
      return v;
    }
  }
  return {};
}

// The built-in origin on a free port of 127.0.0.1, serving on two threads.
class test_origin {
 public:
  test_origin() : server_(options()) { server_.start(); }
  std::string base() const { return server_.base_url(); }
  std::uint16_t port() const { return server_.port(); }
  sluice::origin_counters counters() const { return server_.counters(); }

 private:
  static sluice::origin_options options() {
    sluice::origin_options o;
    o.threads = 2;
    return o;
  }
  sluice::origin_server server_;
};

// The request /echo saw, as JSON.
json::object echoed(const sluice::result& r) {
  return json::parse(r.body).as_object();
}

std::string echoed_header(const sluice::result& r, const char* name) {
  const json::object e = echoed(r);
  const auto* v = e.at("headers").as_object().if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

json::object no_retry() {
  json::object o;
  o["retry"] = json::object{{"attempts", 1}};
  return o;
}

}  // namespace

TEST_CASE("http.fetch.status_codes") {
  test_origin srv;
  auto o = no_retry();
  o["fail_status"] = json::array{};  // every status is data
  http_harness h(o);
  auto rs =
      h.run({srv.base() + "/status/200", srv.base() + "/status/204", srv.base() + "/status/404",
             srv.base() + "/status/500", srv.base() + "/status/418"},
            2);
  CHECK(rs[0].status == 200);
  CHECK(rs[1].status == 204);
  CHECK(rs[2].status == 404);
  CHECK(rs[3].status == 500);
  CHECK(rs[4].status == 418);
  for (auto& r : rs) {
    // With `fail_status: []` statuses are data.
    CHECK_MESSAGE(r.ok(), r.url << ": " << r.error_kind << " " << r.error_message);
    CHECK(r.attempts == 1);
    CHECK(r.final_url == r.url);
  }
}

TEST_CASE("http.fetch.statuses_from_400_fail_by_default") {
  test_origin srv;
  http_harness h(no_retry());
  auto rs =
      h.run({srv.base() + "/status/200", srv.base() + "/status/204", srv.base() + "/status/304",
             srv.base() + "/status/399", srv.base() + "/status/400", srv.base() + "/status/404",
             srv.base() + "/status/429", srv.base() + "/status/500", srv.base() + "/status/503",
             srv.base() + "/status/599"});
  for (auto& r : rs) {
    CAPTURE(r.url);
    if (r.status < 400) {
      CHECK_MESSAGE(r.ok(), r.error_kind << " " << r.error_message);
    } else {
      CHECK(r.error_kind == "http_status");
      CHECK(r.error_message == "HTTP status " + std::to_string(r.status));
    }
  }
}

TEST_CASE("http.fetch.fail_status_marks_failures") {
  test_origin srv;
  auto o = no_retry();
  o["fail_status"] = json::array{"4xx", "503"};
  http_harness h(o);
  auto rs = h.run({srv.base() + "/status/404", srv.base() + "/status/503",
                   srv.base() + "/status/500", srv.base() + "/status/200"});
  CHECK(rs[0].error_kind == "http_status");
  CHECK(rs[0].status == 404);
  CHECK(rs[1].error_kind == "http_status");
  CHECK(rs[2].ok());
  CHECK(rs[3].ok());
}

TEST_CASE("http.fetch.body_and_headers") {
  test_origin srv;
  http_harness h;
  auto r = h.fetch(srv.base() + "/bytes/100");
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  CHECK(r.bytes == 100);
  CHECK(r.body == sluice::origin_body(100));
  CHECK(header(r, "content-length") == "100");
  CHECK(r.body_file.empty());
  CHECK(r.time.total > 0ns);
}

TEST_CASE("http.fetch.request_options_are_sent") {
  test_origin srv;
  json::object o;
  o["method"] = "POST";
  o["body"] = "hello=world";
  o["headers"] = json::object{{"X-Test", "yes"}};
  o["user_agent"] = "sluice-test/1";
  o["basic_auth"] = json::object{{"user", "alice"}, {"password", "secret"}};
  http_harness h(o);
  auto r = h.fetch(srv.base() + "/echo");
  REQUIRE(r.ok());
  auto e = echoed(r);
  CHECK(e.at("method") == "POST");
  CHECK(e.at("target") == "/echo");
  CHECK(e.at("http_version") == "1.1");
  CHECK(e.at("body") == "hello=world");
  CHECK(echoed_header(r, "x-test") == "yes");
  CHECK(echoed_header(r, "user-agent") == "sluice-test/1");
  CHECK(echoed_header(r, "authorization") == "Basic YWxpY2U6c2VjcmV0");
  CHECK(echoed_header(r, "content-length") == "11");
  CHECK(echoed_header(r, "accept-encoding") == "gzip, deflate, br");
}

TEST_CASE("http.fetch.request_target_is_origin_form") {
  test_origin srv;
  http_harness h;
  auto host = srv.base().substr(std::string("http://").size());
  auto r = h.fetch(srv.base() + "/echo?x=1&y=%20#frag");
  REQUIRE(r.ok());
  CHECK(echoed(r).at("method") == "GET");
  CHECK(echoed(r).at("target") == "/echo?x=1&y=%20");
  CHECK(echoed_header(r, "host") == host);
  // No path: the target is "/" (with the query kept; the origin echoes
  // requests for / with a query).
  auto q = h.fetch(srv.base() + "?q=1");
  REQUIRE(q.ok());
  CHECK(echoed(q).at("target") == "/?q=1");
  // Without a query the origin answers / with its index (anything but "/"
  // would be a 404 or 400).
  auto bare = h.fetch(srv.base());
  REQUIRE(bare.ok());
  CHECK(bare.status == 200);
  CHECK(bare.body.rfind("sluice origin:", 0) == 0);
}

TEST_CASE("http.fetch.chunked_and_close_delimited_bodies_split_across_reads") {
  test_origin srv;
  http_harness h(json::object{{"memory_body", 1 << 20}});
  auto expected = [](std::size_t n) { return sluice::origin_body(n); };
  // Chunk headers land across reads (777- and 3-byte chunks).
  auto rs = h.run({srv.base() + "/chunked/300000?chunk=777", srv.base() + "/chunked/5000?chunk=3",
                   srv.base() + "/until-close/300000", srv.base() + "/chunked/0"},
                  2);
  for (auto& r : rs) {
    CHECK_MESSAGE(r.ok(), r.url << ": " << r.error_kind << " " << r.error_message);
  }
  CHECK(rs[0].bytes == 300000);
  CHECK(rs[0].body == expected(300000));
  CHECK(rs[1].body == expected(5000));
  CHECK(rs[2].bytes == 300000);
  CHECK(rs[2].body == expected(300000));
  CHECK(rs[3].bytes == 0);
}

TEST_CASE("http.fetch.large_body_spills_to_file") {
  test_origin srv;
  http_harness h(json::object{{"memory_body", 1000}});
  auto rs = h.run({srv.base() + "/bytes/300000", srv.base() + "/bytes/999"});
  auto& big = rs[0];
  REQUIRE(big.ok());
  CHECK(big.bytes == 300000);
  CHECK(big.body.empty());
  REQUIRE(!big.body_file.empty());
  CHECK(std::filesystem::file_size(big.body_file) == 300000);
  std::ifstream in(big.body_file, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == sluice::origin_body(300000));
  std::filesystem::remove(big.body_file);
  CHECK(rs[1].body_file.empty());
  CHECK(rs[1].body.size() == 999);
}

TEST_CASE("http.fetch.keep_body_false_counts_bytes") {
  test_origin srv;
  http_harness h(json::object{{"keep_body", false}});
  auto r = h.fetch(srv.base() + "/bytes/5000");
  REQUIRE(r.ok());
  CHECK(r.bytes == 5000);
  CHECK(r.body.empty());
  CHECK(r.body_file.empty());
}

TEST_CASE("http.limits.body_limit") {
  test_origin srv;
  auto o = no_retry();
  o["max_body"] = 1000;
  http_harness h(o);
  auto rs = h.run({srv.base() + "/bytes/10000", srv.base() + "/bytes/1000"});
  CHECK(rs[0].error_kind == "body_limit");
  CHECK(rs[0].error_message.find("max_body") != std::string::npos);
  CHECK(rs[1].ok());
  CHECK(rs[1].bytes == 1000);
}

TEST_CASE("http.limits.header_limit") {
  test_origin srv;
  SUBCASE("default 64 KiB rejects a 100 KB header") {
    http_harness h(no_retry());
    auto r = h.fetch(srv.base() + "/big-header/100000");
    CHECK_MESSAGE(r.error_kind == "header_limit", r.error_message);
  }
  SUBCASE("a larger max_header accepts it") {
    auto o = no_retry();
    o["max_header"] = 1 << 20;
    http_harness h(o);
    auto r = h.fetch(srv.base() + "/big-header/100000");
    CHECK(r.ok());
    CHECK(r.body == "big header\n");
  }
}

TEST_CASE("http.redirect.relative") {
  test_origin srv;
  http_harness h;
  auto r = h.fetch(srv.base() + "/redirect-relative/3");
  REQUIRE_MESSAGE(r.ok(), r.error_kind << " " << r.error_message);
  CHECK(r.status == 200);
  CHECK(r.redirects == 3);
  CHECK(r.final_url == srv.base() + "/redirect-relative/0");
  CHECK(r.url == srv.base() + "/redirect-relative/3");
  CHECK(r.body == "redirects done\n");
}

TEST_CASE("http.redirect.absolute") {
  test_origin srv;
  http_harness h;
  auto r = h.fetch(srv.base() + "/redirect-absolute/2");
  REQUIRE(r.ok());
  CHECK(r.redirects == 2);
  CHECK(r.final_url == srv.base() + "/redirect-absolute/0");
}

TEST_CASE("http.redirect.to_another_origin") {
  test_origin a;
  test_origin b;
  http_harness h;
  auto r = h.fetch(a.base() + "/redirect-to?url=" + b.base() + "/bytes/7");
  REQUIRE(r.ok());
  CHECK(r.redirects == 1);
  CHECK(r.final_url == b.base() + "/bytes/7");
  CHECK(r.bytes == 7);
}

TEST_CASE("http.redirect.loop_detected") {
  test_origin srv;
  http_harness h;
  auto r = h.fetch(srv.base() + "/redirect-cycle/a");
  CHECK(r.error_kind == "redirect_loop");
  CHECK(r.redirects == 1);
}

TEST_CASE("http.redirect.non_http_scheme_refused") {
  test_origin srv;
  http_harness h;
  auto rs = h.run({srv.base() + "/redirect-to?url=ftp://127.0.0.1/file",
                   srv.base() + "/redirect-to?url=file:///etc/passwd"});
  for (auto& r : rs) {
    CHECK(r.error_kind == "redirect_scheme");
    CHECK(r.status == 302);
  }
}

TEST_CASE("http.redirect.limit") {
  test_origin srv;
  SUBCASE("more hops than allowed fail") {
    http_harness h(json::object{{"redirects", 2}});
    auto r = h.fetch(srv.base() + "/redirect-relative/5");
    CHECK(r.error_kind == "too_many_redirects");
    CHECK(r.redirects == 2);
  }
  SUBCASE("redirects: 0 returns the 3xx itself") {
    http_harness h(json::object{{"redirects", 0}});
    auto r = h.fetch(srv.base() + "/redirect-relative/5");
    CHECK(r.ok());
    CHECK(r.status == 302);
    CHECK(header(r, "location") == "4");
  }
}

TEST_CASE("http.decode.gzip_and_deflate") {
  test_origin srv;
  http_harness h;
  auto rs = h.run({srv.base() + "/gzip/50000", srv.base() + "/deflate/50000"});
  for (auto& r : rs) {
    REQUIRE_MESSAGE(r.ok(), r.url << " " << r.error_kind << " " << r.error_message);
    CHECK(r.bytes == 50000);
    REQUIRE(r.body.size() == 50000);
    CHECK(r.body == sluice::origin_body(50000));
    CHECK(header(r, "content-encoding") != "");
  }
}

TEST_CASE("http.decode.corrupt_gzip_fails_with_decode") {
  test_origin srv;
  http_harness h(no_retry());
  auto r = h.fetch(srv.base() + "/bad-gzip");
  CHECK(r.error_kind == "decode");
}

TEST_CASE("http.decode.decoded_size_is_capped") {
  test_origin srv;
  auto o = no_retry();
  o["max_decoded"] = 10000;
  http_harness h(o);
  auto r = h.fetch(srv.base() + "/gzip/1000000");
  CHECK(r.error_kind == "body_limit");
  CHECK(r.error_message.find("max_decoded") != std::string::npos);
}

TEST_CASE("http.decode.off_keeps_raw_bytes") {
  test_origin srv;
  http_harness h(json::object{{"decompress", false}});
  auto r = h.fetch(srv.base() + "/gzip/50000");
  REQUIRE(r.ok());
  CHECK(r.bytes < 50000);
  CHECK(static_cast<unsigned char>(r.body[0]) == 0x1f);  // gzip magic
}

TEST_CASE("http.retry.5xx_then_success") {
  test_origin srv;
  http_harness h(json::object{
      {"retry",
       json::object{{"attempts", 3}, {"backoff_base", ns(1ms)}, {"backoff_max", ns(5ms)}}}});
  auto rs = h.run({srv.base() + "/flaky/2?key=a", srv.base() + "/flaky/5?key=b"});
  CHECK(rs[0].status == 200);
  CHECK(rs[0].attempts == 3);
  CHECK(rs[0].ok());
  // Retries exhausted: the last response stands (a status, not an error).
  CHECK(rs[1].status == 503);
  CHECK(rs[1].attempts == 3);
}

TEST_CASE("http.retry.not_retried_when_class_not_listed") {
  test_origin srv;
  http_harness h(json::object{
      {"retry",
       json::object{{"attempts", 3}, {"backoff_base", ns(1ms)}, {"on", json::array{"429"}}}}});
  auto r = h.fetch(srv.base() + "/flaky/1?key=c");
  CHECK(r.status == 503);
  CHECK(r.attempts == 1);
}

TEST_CASE("http.retry.connect_errors") {
  // A port nobody listens on: bind, read the port, close.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  http_harness h(json::object{{"retry", json::object{{"attempts", 3}, {"backoff_base", ns(1ms)}}}});
  auto r = h.fetch("http://127.0.0.1:" + std::to_string(port) + "/");
  CHECK(r.error_kind == "connect");
  CHECK(r.attempts == 3);
  CHECK(r.status == 0);
}

TEST_CASE("http.retry_after.seconds_pauses_the_whole_origin") {
  test_origin srv;
  auto o = no_retry();
  http_harness h(o);
  // The first response is a 429 with Retry-After: 2 and no retry is allowed;
  // the next request to the same origin must still wait for the pause.
  auto first = h.fetch(srv.base() + "/retry-after/2?key=p&times=1");
  CHECK(first.status == 429);
  CHECK(header(first, "retry-after") == "2");
  auto second = h.fetch(srv.base() + "/bytes/1");
  CHECK(second.ok());
  CHECK(second.time.total >= 1500ms);
}

TEST_CASE("http.retry_after.honoured_on_retry") {
  test_origin srv;
  http_harness h(json::object{{"retry", json::object{{"attempts", 2}, {"backoff_base", ns(1ms)}}}});
  SUBCASE("delta seconds") {
    auto r = h.fetch(srv.base() + "/retry-after/1?key=s&times=1");
    CHECK(r.status == 200);
    CHECK(r.attempts == 2);
    CHECK(r.time.total >= 900ms);
  }
  SUBCASE("HTTP-date") {
    auto r = h.fetch(srv.base() + "/retry-after/2?date=1&key=d&times=1");
    CHECK(r.status == 200);
    CHECK(r.attempts == 2);
    CHECK(r.time.total >= 900ms);  // second granularity of the date
  }
}

TEST_CASE("http.retry_after.capped_by_config") {
  test_origin srv;
  json::object o;
  o["retry"] =
      json::object{{"attempts", 2}, {"backoff_base", ns(1ms)}, {"retry_after_max", ns(200ms)}};
  http_harness h(o);
  // Retry-After: 3600 capped to 200ms; without the cap the deadline fails this.
  auto r = h.fetch(srv.base() + "/retry-after/3600?key=cap&times=1", 20s);
  CHECK(r.status == 200);
  CHECK(r.attempts == 2);
  CHECK(r.time.total >= 150ms);
}

TEST_CASE("http.limits.per_host_holds") {
  test_origin srv;
  auto urls = numbered(srv.base() + "/delay/20", 60);
  SUBCASE("per_host: 3") {
    http_harness h(json::object{{"per_host", 3}});
    auto rs = h.run(urls, 20);
    for (auto& r : rs) {
      CHECK(r.ok());
    }
    CHECK(srv.counters().max_in_flight <= 3);
    CHECK(srv.counters().max_in_flight >= 1);
  }
  SUBCASE("unlimited lets 20 workers overlap") {
    http_harness h;
    auto rs = h.run(urls, 20);
    CHECK(srv.counters().max_in_flight > 3);
  }
}

TEST_CASE("http.pool.keep_alive_reuses_connections") {
  test_origin srv;
  auto urls = numbered(srv.base() + "/bytes/100", 500);
  SUBCASE("pooled") {
    http_harness h;
    auto rs = h.run(urls, 10);
    for (auto& r : rs) {
      REQUIRE(r.ok());
    }
    CHECK(srv.counters().requests == 500);
    CHECK(srv.counters().connections_accepted <= 10);
  }
  SUBCASE("max_idle: 0 opens one connection per request") {
    http_harness h(json::object{{"pool", json::object{{"max_idle", 0}}}});
    auto rs = h.run(urls, 10);
    CHECK(srv.counters().connections_accepted == 500);
  }
}

TEST_CASE("http.pool.server_close_is_not_reused") {
  test_origin srv;
  http_harness h;
  auto rs = h.run({srv.base() + "/close", srv.base() + "/close", srv.base() + "/bytes/1"});
  for (auto& r : rs) {
    CHECK(r.ok());
  }
  CHECK(srv.counters().connections_accepted == 3);
}

TEST_CASE("http.timeout.header") {
  test_origin srv;
  auto o = no_retry();
  o["timeouts"] = json::object{{"header", ns(200ms)}};
  http_harness h(o);
  auto r = h.fetch(srv.base() + "/delay/3000");
  CHECK(r.error_kind == "timeout_header");
}

TEST_CASE("http.timeout.total") {
  test_origin srv;
  auto o = no_retry();
  o["timeouts"] = json::object{{"header", ns(10s)}, {"total", ns(300ms)}};
  http_harness h(o);
  auto r = h.fetch(srv.base() + "/stall");
  CHECK(r.error_kind == "timeout_total");
  CHECK(r.status == 200);
}

TEST_CASE("http.timeout.min_speed") {
  test_origin srv;
  auto o = no_retry();
  o["timeouts"] = json::object{{"min_speed", 1024}, {"speed_window", ns(300ms)}};
  http_harness h(o);
  auto rs = h.run({srv.base() + "/drip?bytes=50&duration=5000", srv.base() + "/stall"}, 2);
  CHECK(rs[0].error_kind == "too_slow");
  CHECK(rs[1].error_kind == "too_slow");
}

TEST_CASE("http.timeout.connect") {
  // A listener with a backlog of 0 whose queue we fill: further SYNs are
  // dropped, so connect() hangs until the consumer's connect timeout.
  namespace net = boost::asio;
  using tcp = net::ip::tcp;
  net::io_context ioc;
  tcp::acceptor a(ioc);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  a.open(ep.protocol());
  a.bind(ep);
  a.listen(0);
  auto port = a.local_endpoint().port();
  // Raw non-blocking sockets: Asio's synchronous connect would wait.
  std::vector<int> fill;
  for (int i = 0; i < 4; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    fill.push_back(fd);
  }
  std::this_thread::sleep_for(100ms);
  auto o = no_retry();
  o["timeouts"] = json::object{{"connect", ns(300ms)}};
  http_harness h(o);
  auto r = h.fetch("http://127.0.0.1:" + std::to_string(port) + "/");
  CHECK(r.error_kind == "timeout_connect");
  for (int fd : fill) {
    ::close(fd);
  }
}

TEST_CASE("http.bad_url.each_fails_its_own_item") {
  test_origin srv;
  http_harness h;
  std::vector<std::string> urls = {
      "127.0.0.1/no-scheme",
      "http://127.0.0.1:99999/",
      "http://127.0.0.1:abc/",
      "http://exa mple.com/",
      "ftp://127.0.0.1/file",
      "http:///path-only",
      "http://",
      "",
      srv.base() + "/bytes/3",
  };
  auto rs = h.run(urls, 3);
  for (std::size_t i = 0; i + 1 < urls.size(); ++i) {
    CHECK_MESSAGE(rs[i].error_kind == "bad_url", "'" << urls[i] << "' -> " << rs[i].error_kind);
    CHECK(!rs[i].error_message.empty());
    CHECK(rs[i].status == 0);
  }
  CHECK(rs.back().ok());
  CHECK(rs.back().bytes == 3);
}

TEST_CASE("http.rate.token_bucket_spaces_requests") {
  test_origin srv;
  json::object o;
  o["rate"] = "20/s";
  o["burst"] = 1;
  http_harness h(o);
  auto urls = numbered(srv.base() + "/bytes/1", 11);
  auto start = sluice::clock::now();
  auto rs = h.run(urls, 4);
  auto elapsed = sluice::clock::now() - start;
  for (auto& r : rs) {
    CHECK(r.ok());
  }
  // 11 requests at 20/s with a burst of 1 need at least 10 gaps of 50 ms.
  CHECK(elapsed >= 450ms);
}

TEST_CASE("http.dns.hostname_resolves_and_caches") {
  test_origin srv;
  http_harness h;
  auto base = "http://localhost:" + std::to_string(srv.port());
  auto rs = h.run({base + "/bytes/2", base + "/bytes/3"});
  REQUIRE_MESSAGE(rs[0].ok(), rs[0].error_kind << " " << rs[0].error_message);
  CHECK(rs[0].bytes == 2);
  CHECK(rs[1].ok());
  CHECK(rs[1].time.dns == 0ns);  // cached (and the connection reused)
}

TEST_CASE("http.fetch.unresolvable_host") {
  http_harness h(no_retry());
  auto r = h.fetch("http://no-such-host.invalid/");
  CHECK(r.error_kind == "resolve");
}
