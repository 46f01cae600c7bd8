// Proxies (issue 15). Unit tests of the pure parts (stages/http/proxy.hpp):
// curl's no_proxy rules as a table (also through curl --noproxy), proxy URLs, the
// option/environment precedence with a fake environment, the absolute-form rewrite, the retry
// defaults. Then `sluice run` end to end through a real tinyproxy (started
// here on a free loopback port with a generated config: plain http in
// absolute form, https through CONNECT to the built-in TLS origin, Basic
// credentials right and wrong, a CONNECT port tinyproxy refuses, the proxy
// down, http_proxy/no_proxy from the environment, the option over the
// environment, curl -x through the same proxy), and through a hostile fake
// proxy (a Python script: garbage, closes, 200 then not TLS, 407, 502,
// silence). Tinyproxy's log shows which requests went through it.
// Environment variables are set only in the children (process_options), never
// in this process, and every run removes the proxy variables it does not set.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "proxy.hpp"
#include "retry_policy.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace hd = sluice::stages::http;
namespace json = boost::json;
namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

hd::target target_of(const std::string& url, boost::urls::url& keep) {
  keep = boost::urls::url(boost::urls::parse_uri(url).value());
  hd::target t;
  REQUIRE(hd::make_target(keep, t).empty());
  return t;
}

hd::env_lookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* n) -> std::optional<std::string> {
    auto it = vars.find(n);
    return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
}

/// The proxy `rules` picks for `url`: its name, or "" for a direct connection.
std::string via(const hd::proxy_rules& rules, const std::string& url) {
  boost::urls::url keep;
  auto t = target_of(url, keep);
  const auto* p = rules.for_target(t);
  return p ? p->name : "";
}

}  // namespace

namespace {

struct no_proxy_row {
  const char* list;
  const char* host;
  bool match;
};
// Each row as curl 7.86+ decides it (lib/noproxy.c, tests/unit/unit1614.c).
const no_proxy_row k_no_proxy_rows[] = {
    {"", "example.com", false},
    {"*", "example.com", true},
    {"*", "10.0.0.1", true},
    {"*,other", "example.com", false},  // `*` only alone
    {"example.com", "example.com", true},
    {"example.com", "EXAMPLE.com", true},
    {"EXAMPLE.COM", "a.example.com", true},
    {".example.com", "example.com", true},
    {".example.com", "a.b.example.com", true},
    {"example.com", "notexample.com", false},
    {"example.com", "example.com.evil", false},
    {"a.example.com", "example.com", false},
    {"example.com.", "example.com", true},  // trailing dots ignored
    {"example.com", "example.com.", true},
    {"foo, example.com ,bar", "example.com", true},
    {"foo example.com", "example.com", true},  // blanks separate too
    {",,example.com,,", "example.com", true},
    {"example.com:8080", "example.com", false},  // no ports
    {"127.0.0.1", "127.0.0.1", true},
    {"127.0.0.1", "127.0.0.2", false},
    {"127.0.0.0/8", "127.1.2.3", true},
    {"192.168.0.0/16", "192.168.255.1", true},
    {"192.168.0.0/16", "192.169.0.1", false},
    {"10.0.0.0/33", "10.0.0.1", false},
    {"localhost", "127.0.0.1", false},  // names never match an address
    {"127.0.0.1", "localhost", false},
    {".0.0.1", "127.0.0.1", false},
    {"::1", "::1", true},
    {"::1/128", "::1", true},
    {"fe80::/10", "fe80::1", true},
    {"fe80::/10", "fec0::1", false},
    {"127.0.0.1", "::ffff:127.0.0.1", false},
};

}  // namespace

TEST_CASE("proxy.no_proxy.curl_rules") {
  for (const auto& r : k_no_proxy_rows) {
    CAPTURE(r.list);
    CAPTURE(r.host);
    CHECK(hd::no_proxy_matches(r.list, r.host) == r.match);
  }
}

TEST_CASE("proxy.url.parse") {
  std::string why;
  auto p = hd::parse_proxy_url("http://us%65r:p%40ss@127.0.0.1:3128", why);
  REQUIRE(p);
  CHECK(p->hop.host == "127.0.0.1");
  CHECK(p->hop.ip_literal);
  CHECK(p->hop.port == 3128);
  CHECK(p->name == "127.0.0.1:3128");
  CHECK(p->authorization == "Basic dXNlcjpwQHNz");  // user:p@ss, decoded
  p = hd::parse_proxy_url("proxy.example", why);    // no scheme: http, port 1080 (curl)
  REQUIRE(p);
  CHECK(p->hop.host == "proxy.example");
  CHECK(p->hop.port == 1080);
  CHECK(p->authorization.empty());
  p = hd::parse_proxy_url("http://[::1]:8080/", why);
  REQUIRE(p);
  CHECK(p->hop.host == "::1");
  CHECK(p->name == "[::1]:8080");
  CHECK_FALSE(hd::parse_proxy_url("socks5://127.0.0.1:1080", why));
  CHECK(why.find("unsupported proxy scheme 'socks5'") != std::string::npos);
  CHECK_FALSE(hd::parse_proxy_url("https://127.0.0.1:443", why));
  CHECK_FALSE(hd::parse_proxy_url("http://", why));
  CHECK_FALSE(hd::parse_proxy_url("http://a b:1", why));
}

TEST_CASE("proxy.rules.option_and_environment_as_curl") {
  hd::config none;
  SUBCASE("no proxy anywhere") {
    hd::proxy_rules r(none, fake_env({}));
    CHECK(via(r, "http://example.com/") == "");
    CHECK(via(r, "https://example.com/") == "");
  }
  SUBCASE("http_proxy for http only; HTTP_PROXY ignored (httpoxy)") {
    hd::proxy_rules r(none, fake_env({{"http_proxy", "p1:1"}, {"HTTP_PROXY", "p2:2"}}));
    CHECK(via(r, "http://example.com/") == "p1:1");
    CHECK(via(r, "https://example.com/") == "");
    hd::proxy_rules upper(none, fake_env({{"HTTP_PROXY", "p2:2"}}));
    CHECK(via(upper, "http://example.com/") == "");
  }
  SUBCASE("https_proxy before HTTPS_PROXY; all_proxy before ALL_PROXY as the fallback") {
    hd::proxy_rules r(none, fake_env({{"https_proxy", "p1:1"},
                                      {"HTTPS_PROXY", "p2:2"},
                                      {"all_proxy", "p3:3"},
                                      {"ALL_PROXY", "p4:4"}}));
    CHECK(via(r, "https://example.com/") == "p1:1");
    CHECK(via(r, "http://example.com/") == "p3:3");
    hd::proxy_rules u(none, fake_env({{"HTTPS_PROXY", "p2:2"}, {"ALL_PROXY", "p4:4"}}));
    CHECK(via(u, "https://example.com/") == "p2:2");
    CHECK(via(u, "http://example.com/") == "p4:4");
  }
  SUBCASE("a variable set but empty means no proxy (no fallback to all_proxy)") {
    hd::proxy_rules r(none, fake_env({{"http_proxy", ""}, {"all_proxy", "p3:3"}}));
    CHECK(via(r, "http://example.com/") == "");
    CHECK(via(r, "https://example.com/") == "p3:3");
  }
  SUBCASE("no_proxy, then NO_PROXY") {
    hd::proxy_rules r(none, fake_env({{"http_proxy", "p1:1"},
                                      {"no_proxy", "internal.example"},
                                      {"NO_PROXY", "example.com"}}));
    CHECK(via(r, "http://a.internal.example/") == "");
    CHECK(via(r, "http://example.com/") == "p1:1");
    hd::proxy_rules u(none, fake_env({{"http_proxy", "p1:1"}, {"NO_PROXY", "example.com"}}));
    CHECK(via(u, "http://www.example.com/") == "");
  }
  SUBCASE("the option beats the environment, for both schemes; env no_proxy still applies") {
    hd::config c;
    c.proxy = "http://opt:9";
    hd::proxy_rules r(
        c, fake_env(
               {{"http_proxy", "p1:1"}, {"https_proxy", "p2:2"}, {"no_proxy", "direct.example"}}));
    CHECK(via(r, "http://example.com/") == "opt:9");
    CHECK(via(r, "https://example.com/") == "opt:9");
    CHECK(via(r, "https://direct.example/") == "");
  }
  SUBCASE("proxy: \"\" and proxy: none ignore the environment") {
    for (const char* off : {"", "none", "NONE"}) {
      hd::config c;
      c.proxy = off;
      hd::proxy_rules r(c, fake_env({{"http_proxy", "p1:1"}, {"all_proxy", "p3:3"}}));
      CHECK(via(r, "http://example.com/") == "");
      CHECK(via(r, "https://example.com/") == "");
    }
  }
  SUBCASE("the no_proxy option beats the environment's") {
    hd::config c;
    c.no_proxy = "example.com";
    hd::proxy_rules r(c, fake_env({{"http_proxy", "p1:1"}, {"no_proxy", "*"}}));
    CHECK(via(r, "http://example.com/") == "");
    CHECK(via(r, "http://other.example/") == "p1:1");
    c.no_proxy = "";
    hd::proxy_rules empty(c, fake_env({{"http_proxy", "p1:1"}, {"no_proxy", "*"}}));
    CHECK(via(empty, "http://example.com/") == "p1:1");
  }
  SUBCASE("a malformed proxy in the environment is a config error naming it") {
    try {
      hd::proxy_rules r(none, fake_env({{"https_proxy", "socks5://x:1"}}));
      FAIL("no error");
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).find("https_proxy") != std::string::npos);
    }
  }
}

TEST_CASE("proxy.request.absolute_form_and_credentials") {
  std::string why;
  auto p = hd::parse_proxy_url("http://u:p%20w@127.0.0.1:3128", why);
  REQUIRE(p);
  boost::urls::url keep;
  auto t = target_of("http://Example.com:8080/a/b?q=1", keep);
  auto req = hd::for_proxy("GET /a/b?q=1 HTTP/1.1\r\nHost: Example.com:8080\r\n\r\n", t, *p);
  CHECK(req ==
        "GET http://Example.com:8080/a/b?q=1 HTTP/1.1\r\n"
        "Proxy-Authorization: Basic dTpwIHc=\r\nHost: Example.com:8080\r\n\r\n");
  auto bare = hd::parse_proxy_url("127.0.0.1:3128", why);
  auto t2 = target_of("http://h", keep);
  CHECK(hd::for_proxy("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", t2, *bare) ==
        "HEAD http://h/ HTTP/1.1\r\nHost: h\r\n\r\n");
}

TEST_CASE("proxy.retry.defaults") {
  std::vector<std::string> def = {"connect", "timeout", "reset", "5xx", "429"};
  CHECK(hd::should_retry(def, "proxy_connect", 0));  // as connect
  CHECK_FALSE(hd::should_retry(def, "proxy_auth", 0));
  CHECK_FALSE(hd::should_retry(def, "proxy_status", 0));
  CHECK(hd::should_retry({"proxy"}, "proxy_status", 0));
  CHECK(hd::should_retry({"proxy"}, "proxy_connect", 0));
  CHECK_FALSE(hd::should_retry({"proxy"}, "proxy_auth", 0));  // never: the same credentials
  CHECK(sluice::error_class_of("proxy_auth") == "proxy");
}

// ---------------------------------------------------------------------------
// End to end.

namespace {

const std::vector<std::string> k_proxy_vars = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                               "HTTPS_PROXY", "all_proxy",  "ALL_PROXY",
                                               "no_proxy",    "NO_PROXY"};

std::uint16_t free_port() {
  net::io_context ioc;
  net::ip::tcp::acceptor a(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool accepts(std::uint16_t port) {
  net::io_context ioc;
  net::ip::tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect({net::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

bool have_program(const std::string& name) {
  return run_process({"sh", "-c", "command -v " + name + " >/dev/null"}).exit_code == 0;
}

/// tinyproxy is a test dependency (scripts/install-deps.sh): on CI its absence
/// fails the test, elsewhere it is skipped with a message.
bool need_tinyproxy() {
  if (have_program("tinyproxy")) {
    return true;
  }
  if (std::getenv("CI") != nullptr) {
    FAIL("tinyproxy is not installed (scripts/install-deps.sh installs it)");
  }
  MESSAGE("tinyproxy is not installed: skipping the end-to-end proxy tests");
  return false;
}

/// A private tinyproxy on a free 127.0.0.1 port, in the foreground (-d).
class tinyproxy {
 public:
  /// `connect_ports`: the ports CONNECT may reach (none: tinyproxy refuses
  /// every CONNECT with 403 once one is listed, so list a dummy one).
  explicit tinyproxy(std::vector<std::uint16_t> connect_ports, std::string basic_auth = {})
      : port_(free_port()) {
    std::string conf = "Port " + std::to_string(port_) +
                       "\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nMaxClients 100\n"
                       "LogLevel Connect\nLogFile \"" +
                       (dir_ / "tinyproxy.log").string() + "\"\n";
    for (auto p : connect_ports) {
      conf += "ConnectPort " + std::to_string(p) + "\n";
    }
    if (!basic_auth.empty()) {
      conf += "BasicAuth " + basic_auth + "\n";
    }
    write_file(dir_ / "tinyproxy.conf", conf);
    proc_ = std::make_unique<background_process>(
        std::vector<std::string>{"tinyproxy", "-d", "-c", (dir_ / "tinyproxy.conf").string()});
    for (int i = 0; i < 200 && !accepts(port_); ++i) {
      std::this_thread::sleep_for(25ms);
    }
    REQUIRE_MESSAGE(accepts(port_), read_file(dir_ / "tinyproxy.log"));
  }

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& userinfo = {}) const {
    return "http://" + (userinfo.empty() ? "" : userinfo + "@") +
           "127.0.0.1:" + std::to_string(port_);
  }
  /// Requests tinyproxy logged whose request line contains `what`.
  int requests(const std::string& what) const {
    auto log = read_file(dir_ / "tinyproxy.log");
    int n = 0;
    std::size_t at = 0;
    while ((at = log.find("Request (file descriptor", at)) != std::string::npos) {
      auto eol = log.find('\n', at);
      if (log.substr(at, eol - at).find(what) != std::string::npos) {
        ++n;
      }
      at = eol;
    }
    return n;
  }
  std::string log() const { return read_file(dir_ / "tinyproxy.log"); }

 private:
  temp_dir dir_{"sluice-tinyproxy"};
  std::uint16_t port_;
  std::unique_ptr<background_process> proc_;
};

struct record {
  std::string kind;
  std::string message;
  int status = 0;
  int attempts = 0;
  std::string body;
};

struct run_outcome {
  process_result run;
  std::map<std::string, record> of;  // by url
};

/// Runs `urls` through one http consumer with `http` (extra consumer keys)
/// and `env` (the only proxy variables the run sees).
run_outcome run_urls(const std::vector<std::string>& urls, const std::string& http,
                     std::map<std::string, std::string> env = {}, bool bodies = false) {
  temp_dir d;
  std::string yaml = "name: proxy\nproducers:\n  - type: list\n    urls:\n";
  for (auto& u : urls) {
    yaml += "      - \"" + u + "\"\n";
  }
  yaml +=
      "consumers: {type: http, workers: 4" +
      std::string(http.find("retry:") == std::string::npos ? ", retry: {backoff_base: 10ms}" : "") +
      http + "}\nsinks: [{type: jsonl, path: out.jsonl" + (bodies ? ", body: true" : "") + "}]\n";
  write_file(d / "p.yaml", yaml);
  process_options po;
  po.cwd = d.path();
  po.timeout = 60s;
  po.env = std::move(env);
  for (auto& v : k_proxy_vars) {
    if (!po.env.contains(v)) {
      po.unset_env.push_back(v);
    }
  }
  run_outcome o;
  o.run = run_process({sluice_bin(), "run", "p.yaml", "--no-progress"}, po);
  auto text = read_file(d / "out.jsonl");
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    auto rec = json::parse(text.substr(at, nl - at)).as_object();
    at = nl == std::string::npos ? text.size() : nl + 1;
    record r;
    auto str = [&](const char* k) {
      auto* v = rec.if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto num = [&](const char* k) {
      auto* v = rec.if_contains(k);
      return v && v->is_int64() ? static_cast<int>(v->as_int64()) : 0;
    };
    r.kind = str("error_kind");
    r.message = str("error_message");
    r.body = str("body");
    r.status = num("status");
    r.attempts = num("attempts");
    o.of[str("url")] = r;
  }
  return o;
}

std::string yq(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

TEST_CASE("proxy.tinyproxy.plain_http_https_and_curl") {
  if (!need_tinyproxy()) {
    return;
  }
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  sluice::origin_options to;
  to.tls = true;
  sluice::origin_server tls_origin(to);
  tls_origin.start();
  temp_dir d;
  write_file(d / "ca.pem", tls_origin.certificate_pem());
  const std::string ca = ", tls: {ca_file: " + yq((d / "ca.pem").string()) + "}";
  tinyproxy proxy({tls_origin.port()});
  const std::string opt = ", proxy: " + yq(proxy.url());

  SUBCASE("plain http: every request in absolute form through the proxy") {
    std::vector<std::string> urls;
    for (int i = 1; i <= 5; ++i) {
      urls.push_back(origin.base_url() + "/bytes/" + std::to_string(i * 100));
    }
    auto o = run_urls(urls, opt, {}, true);
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    for (int i = 1; i <= 5; ++i) {
      auto& r = o.of[urls[static_cast<std::size_t>(i - 1)]];
      CHECK(r.status == 200);
      CHECK(r.body == sluice::origin_body(static_cast<std::size_t>(i * 100)));
    }
    CHECK(proxy.requests("GET " + origin.base_url() + "/bytes/") == 5);
    CHECK(origin.counters().requests == 5);
  }
  SUBCASE("https: CONNECT, then TLS verified against the origin's name") {
    std::vector<std::string> urls = {tls_origin.base_url() + "/bytes/10",
                                     tls_origin.base_url() + "/echo"};
    auto o = run_urls(urls, opt + ca, {}, true);
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    CHECK(o.of[urls[0]].body == sluice::origin_body(10));
    CHECK(proxy.requests("CONNECT 127.0.0.1:" + std::to_string(tls_origin.port())) >= 1);
    CHECK(tls_origin.counters().requests == 2);
    // Inside the tunnel the request is the origin's: origin-form, no proxy header.
    auto echo = json::parse(o.of[urls[1]].body).as_object();
    CHECK(echo.at("target").as_string() == "/echo");
    CHECK_FALSE(echo.at("headers").as_object().contains("proxy-authorization"));
    // Without the CA the origin's certificate is not trusted: the TLS
    // handshake really is with the origin.
    auto untrusted = run_urls({urls[0]}, opt);
    CHECK(untrusted.of[urls[0]].kind == "tls");
  }
  SUBCASE("the same URLs through curl -x agree") {
    for (const auto& url : {origin.base_url() + "/bytes/1000", tls_origin.base_url() + "/gzip/500",
                            origin.base_url() + "/status/404"}) {
      CAPTURE(url);
      auto o = run_urls({url}, opt + ca + ", fail_status: []", {}, true);
      temp_dir cd;
      auto curl = run_process(
          {"curl", "-s", "--compressed", "-x", proxy.url(), "--cacert", (d / "ca.pem").string(),
           "-o", (cd / "body").string(), "-w", "%{http_code}", url},
          {.unset_env = k_proxy_vars});
      CHECK(std::to_string(o.of[url].status) == curl.out);
      CHECK(o.of[url].body == read_file(cd / "body"));
    }
  }
  SUBCASE("a redirect to another host stays on the proxy; basic_auth does not follow") {
    sluice::origin_server second(sluice::origin_options{});
    second.start();
    auto other = second.base_url() + "/echo";
    auto url = origin.base_url() + "/redirect-to?url=" + other;
    auto o = run_urls({url}, opt + ", basic_auth: {user: u, password: p}", {}, true);
    INFO(o.run.err);
    CHECK(o.of[url].status == 200);
    CHECK(proxy.requests("GET " + origin.base_url() + "/redirect-to") == 1);
    CHECK(proxy.requests("GET " + other) == 1);
    auto echo = json::parse(o.of[url].body).as_object();
    CHECK_FALSE(echo.at("headers").as_object().contains("authorization"));
    CHECK_FALSE(echo.at("headers").as_object().contains("proxy-authorization"));
  }
}

TEST_CASE("proxy.tinyproxy.credentials_refusals_and_a_dead_proxy") {
  if (!need_tinyproxy()) {
    return;
  }
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  sluice::origin_options to;
  to.tls = true;
  sluice::origin_server tls_origin(to);
  tls_origin.start();
  temp_dir d;
  write_file(d / "ca.pem", tls_origin.certificate_pem());
  const std::string ca = ", tls: {ca_file: " + yq((d / "ca.pem").string()) + "}";
  const std::vector<std::string> urls = {
      origin.base_url() + "/bytes/10", origin.base_url() + "/bytes/20",
      tls_origin.base_url() + "/bytes/30", tls_origin.base_url() + "/bytes/40"};

  SUBCASE("Basic credentials, percent-decoded, for http and CONNECT") {
    tinyproxy proxy({tls_origin.port()}, "user pass");
    auto o = run_urls(urls, ", proxy: " + yq(proxy.url("us%65r:p%61ss")) + ca);
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    for (auto& u : urls) {
      CHECK_MESSAGE(o.of[u].status == 200, u);
    }
  }
  SUBCASE("no or wrong credentials: every item fails, never retried") {
    tinyproxy proxy({tls_origin.port()}, "user pass");
    // No credentials: tinyproxy answers 407, proxy_auth for both schemes.
    auto o = run_urls(urls, ", proxy: " + yq(proxy.url()) + ca);
    INFO(o.run.err);
    CHECK(o.run.exit_code == 3);
    REQUIRE(o.of.size() == urls.size());
    for (auto& u : urls) {
      CAPTURE(u);
      CHECK(o.of[u].kind == "proxy_auth");
      CHECK(o.of[u].attempts == 1);
      CHECK(o.of[u].message.find("407 Proxy Authentication Required") != std::string::npos);
      CHECK(o.of[u].message.find("no credentials in the proxy URL") != std::string::npos);
    }
    // A wrong password: tinyproxy 1.11 answers 401, not 407. CONNECT's 401
    // is proxy_status; a plain request's 401 is the response (curl: the
    // same), http_status.
    auto w = run_urls(urls, ", proxy: " + yq(proxy.url("user:wrong")) + ca);
    CHECK(w.run.exit_code == 3);
    REQUIRE(w.of.size() == urls.size());
    for (auto& u : urls) {
      CAPTURE(u);
      bool tls = u.starts_with("https");
      CHECK(w.of[u].kind == (tls ? "proxy_status" : "http_status"));
      CHECK(w.of[u].attempts == 1);
      CHECK(w.of[u].message.find(tls ? "proxy CONNECT 401" : "HTTP status 401") !=
            std::string::npos);
    }
    CHECK(origin.counters().requests == 0);
    CHECK(tls_origin.counters().requests == 0);
  }
  SUBCASE("a CONNECT port the proxy refuses: proxy_status with the status") {
    tinyproxy proxy({1});  // only port 1 may be tunnelled to
    auto o = run_urls(urls, ", proxy: " + yq(proxy.url()) + ca);
    CHECK(o.of[urls[0]].kind == "");  // plain http is no CONNECT
    CHECK(o.of[urls[2]].kind == "proxy_status");
    CHECK(o.of[urls[2]].message.find("proxy CONNECT 403") != std::string::npos);
    CHECK(o.of[urls[2]].attempts == 1);
  }
  SUBCASE("the proxy down: proxy_connect, retried as connect") {
    auto dead = "http://127.0.0.1:" + std::to_string(free_port());
    auto o = run_urls(urls, ", proxy: " + yq(dead) + ca);
    CHECK(o.run.exit_code == 3);
    for (auto& u : urls) {
      CAPTURE(u);
      CHECK(o.of[u].kind == "proxy_connect");
      CHECK(o.of[u].attempts == 3);
      CHECK(o.of[u].message.find("proxy 127.0.0.1:") != std::string::npos);
    }
    CHECK(origin.counters().requests == 0);
    CHECK(tls_origin.counters().requests == 0);
    // `error_class: proxy` selects them.
  }
  SUBCASE("an unresolvable proxy host: proxy_connect") {
    auto o = run_urls({urls[0]}, ", proxy: \"http://proxy.invalid:3128\", retry: {attempts: 1}");
    CHECK(o.of[urls[0]].kind == "proxy_connect");
  }
}

TEST_CASE("proxy.tinyproxy.environment") {
  if (!need_tinyproxy()) {
    return;
  }
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  tinyproxy proxy({1});
  const auto dead = "http://127.0.0.1:" + std::to_string(free_port());
  const auto url = origin.base_url() + "/bytes/10";
  const auto through = "GET " + url;

  SUBCASE("http_proxy is honoured") {
    auto o = run_urls({url}, "", {{"http_proxy", proxy.url()}});
    CHECK(o.of[url].status == 200);
    CHECK(proxy.requests(through) == 1);
  }
  SUBCASE("HTTP_PROXY is not (curl, httpoxy)") {
    auto o = run_urls({url}, "", {{"HTTP_PROXY", dead}});
    CHECK(o.of[url].status == 200);
  }
  SUBCASE("all_proxy is the fallback") {
    auto o = run_urls({url}, "", {{"all_proxy", proxy.url()}});
    CHECK(o.of[url].status == 200);
    CHECK(proxy.requests(through) == 1);
  }
  SUBCASE("no_proxy=127.0.0.1 bypasses it, as NO_PROXY does, and a CIDR block") {
    for (const auto& [var, value] : std::vector<std::pair<std::string, std::string>>{
             {"no_proxy", "127.0.0.1"}, {"NO_PROXY", "127.0.0.1"}, {"no_proxy", "127.0.0.0/8"}}) {
      auto o = run_urls({url}, "", {{"http_proxy", dead}, {var, value}});
      CHECK_MESSAGE(o.of[url].status == 200, (var + "=" + value));
    }
    CHECK(proxy.requests(through) == 0);
  }
  SUBCASE("the option beats the environment") {
    auto o = run_urls({url}, ", proxy: " + yq(proxy.url()), {{"http_proxy", dead}});
    CHECK(o.of[url].status == 200);
    CHECK(proxy.requests(through) == 1);
    for (const char* off : {"\"\"", "none"}) {
      auto direct = run_urls({url}, std::string(", proxy: ") + off, {{"http_proxy", dead}});
      CHECK(direct.of[url].status == 200);
    }
    auto bypass = run_urls({url}, ", no_proxy: [example.com, 127.0.0.1]",
                           {{"http_proxy", dead}, {"no_proxy", ""}});
    CHECK(bypass.of[url].status == 200);
    auto env_no = run_urls({url}, ", no_proxy: example.com",
                           {{"http_proxy", proxy.url()}, {"no_proxy", "127.0.0.1"}});
    CHECK(env_no.of[url].status == 200);
    CHECK(proxy.requests(through) == 2);  // the option's no_proxy replaced the variable's
  }
  SUBCASE("malformed proxies: sluice check and the run say which") {
    temp_dir d;
    write_file(d / "p.yaml", "name: p\nproducers: [{type: list, urls: [\"" + url +
                                 "\"]}]\nconsumers: {type: http, proxy: \"socks5://127.0.0.1:1\"}\n"
                                 "sinks: [{type: jsonl, path: out.jsonl}]\n");
    auto check =
        run_process({sluice_bin(), "check", (d / "p.yaml").string()}, {.unset_env = k_proxy_vars});
    CHECK(check.exit_code == 2);
    CHECK((check.out + check.err).find("unsupported proxy scheme") != std::string::npos);
    auto o = run_urls({url}, "", {{"http_proxy", "ftp://127.0.0.1:1"}});
    CHECK(o.run.exit_code == 2);
    CHECK(o.run.err.find("http_proxy") != std::string::npos);
  }
}

TEST_CASE("proxy.origin_as_proxy.absolute_form_on_the_wire") {
  // The built-in origin answers an absolute-form request too, so it can play
  // the proxy: the URL's host is a name nobody resolves, and the request the
  // "proxy" got is echoed back.
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  const std::string url = "http://no-such-host.invalid:8080/echo?x=1";
  auto o = run_urls(
      {url}, ", proxy: " + yq("http://al%69ce:s3cret@127.0.0.1:" + std::to_string(origin.port())),
      {}, true);
  INFO(o.run.err);
  REQUIRE(o.of[url].status == 200);
  auto echo = json::parse(o.of[url].body).as_object();
  CHECK(echo.at("target").as_string() == url);
  auto& h = echo.at("headers").as_object();
  CHECK(h.at("host").as_string() == "no-such-host.invalid:8080");
  CHECK(h.at("proxy-authorization").as_string() == "Basic YWxpY2U6czNjcmV0");  // alice:s3cret
}

namespace {

// A proxy that misbehaves by the port of the target it is asked for.
constexpr const char* k_fake_proxy = R"PY(
import socket, socketserver, sys, time

class H(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return
            data += chunk
        target = data.split(b"\r\n", 1)[0].split(b" ")[1].decode()
        case = int(target.rsplit(":", 1)[1].split("/")[0])
        if case == 1:
            s.sendall(b"garbage, not HTTP at all\r\n\r\n")
        elif case == 2:
            pass  # close at once
        elif case == 3:
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            s.recv(4096)  # the ClientHello
            s.sendall(b"this is no TLS record\r\n" * 10)
        elif case == 4:
            s.sendall(b"HTTP/1.1 200 Connection established\r\n\r\nearly bytes")
            time.sleep(0.5)
        elif case == 5:
            s.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                      b"Proxy-Authenticate: Basic realm=x\r\nContent-Length: 0\r\n\r\n")
        elif case == 6:
            s.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad")
        elif case == 7:
            time.sleep(5)
        elif case == 8:
            s.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Long: " + b"x" * 100000 + b"\r\n\r\n")

class S(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

srv = S(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)PY";

}  // namespace

TEST_CASE("proxy.hostile.fake_proxy") {
  temp_dir d;
  write_file(d / "fake_proxy.py", k_fake_proxy);
  background_process fake({"python3", (d / "fake_proxy.py").string()});
  auto line = fake.read_line(10s);
  REQUIRE(line);
  const std::string proxy = "http://127.0.0.1:" + *line;
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  // The origin's own URLs go direct (no_proxy: localhost), the rest to the
  // fake proxy: one bad answer fails one item, the others are fine.
  const std::string good = "http://localhost:" + std::to_string(origin.port()) + "/bytes/";
  struct expect {
    std::string url;
    std::string kind;
    std::string in_message;
  };
  const std::vector<expect> cases = {
      {"https://127.0.0.1:1/", "proxy_connect", "bad answer to CONNECT"},
      {"https://127.0.0.1:2/", "proxy_connect", "closed the connection during CONNECT"},
      {"https://127.0.0.1:3/", "tls", "TLS handshake with 127.0.0.1"},
      {"https://127.0.0.1:4/", "proxy_connect", "bytes after the CONNECT 200 answer"},
      {"https://127.0.0.1:5/", "proxy_auth", "CONNECT 407"},
      {"https://127.0.0.1:6/", "proxy_status", "proxy CONNECT 502"},
      {"https://127.0.0.1:7/", "timeout_connect", "CONNECT 127.0.0.1:7 timed out"},
      {"https://127.0.0.1:8/", "proxy_connect", "bad answer to CONNECT"},  // header too long
      {"http://127.0.0.1:1/x", "protocol", ""},
      {"http://127.0.0.1:2/x", "read", ""},
      {"http://127.0.0.1:5/x", "proxy_auth", "407"},
      {"http://127.0.0.1:6/x", "http_status",
       "HTTP status 502"},  // the proxy's answer is the answer
  };
  std::vector<std::string> urls;
  for (auto& c : cases) {
    urls.push_back(c.url);
  }
  for (int i = 1; i <= 6; ++i) {
    urls.push_back(good + std::to_string(i));
  }
  auto o = run_urls(urls, ", proxy: " + yq(proxy) +
                              ", no_proxy: localhost, retry: {attempts: 1, backoff_base: 10ms}, "
                              "timeouts: {connect: 1s}");
  INFO(o.run.err);
  CHECK(o.run.exit_code == 3);
  REQUIRE(o.of.size() == urls.size());
  for (auto& c : cases) {
    CAPTURE(c.url);
    CAPTURE(o.of[c.url].message);
    CHECK(o.of[c.url].kind == c.kind);
    CHECK(o.of[c.url].message.find(c.in_message) != std::string::npos);
  }
  for (int i = 1; i <= 6; ++i) {
    CHECK(o.of[good + std::to_string(i)].status == 200);
  }
  CHECK(origin.counters().requests == 6);
}

TEST_CASE("proxy.no_proxy.table_agrees_with_curl") {
  // Each row of the no_proxy table through curl itself: a dead proxy, the
  // row's list as --noproxy, the row's host resolved to the origin
  // (--resolve): a bypassed host answers, a proxied one cannot.
  if (!have_program("curl")) {
    MESSAGE("curl is not installed: skipping the comparison with curl");
    return;
  }
  sluice::origin_server origin(sluice::origin_options{});
  origin.start();
  const auto port = std::to_string(origin.port());
  const auto dead = "http://127.0.0.1:" + std::to_string(free_port());
  int compared = 0;
  for (const auto& r : k_no_proxy_rows) {
    std::string host = r.host;
    if (*r.list == '\0' || host.ends_with('.') || host.find(':') != std::string::npos) {
      continue;  // curl's arguments cannot say these (an empty list, a trailing dot, IPv6)
    }
    CAPTURE(r.list);
    CAPTURE(r.host);
    auto c = run_process({"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-x", dead,
                          "--noproxy", r.list, "--resolve", host + ":" + port + ":127.0.0.1",
                          "http://" + host + ":" + port + "/status/204"},
                         {.unset_env = k_proxy_vars});
    CHECK((c.out == "204") == r.match);
    ++compared;
  }
  CHECK(compared >= 20);
}
