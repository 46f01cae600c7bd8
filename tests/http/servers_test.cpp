// The http consumer against real third-party servers on 127.0.0.1: nginx
// (keep-alive reuse counted by stub_status, gzip, redirects, TLS with a
// private CA), Debian's httpbin, and sluice's own origin (per-host limit from
// its concurrency counter); and a whole pipeline with malformed URLs run
// through the sluice program.
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "http_harness.hpp"
#include "peers.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using sluice::test::http_harness;
using sluice::test::ns;
namespace json = boost::json;

namespace {

/// nginx's stub_status "accepts" and "requests" counters.
std::pair<std::uint64_t, std::uint64_t> nginx_counters(const std::string& base) {
  auto r = sluice::test::http_fetch(base + "/nginx_status");
  REQUIRE(r.status == 200);
  // "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
  std::smatch m;
  std::regex re(R"(\n\s*(\d+)\s+(\d+)\s+(\d+))");
  REQUIRE(std::regex_search(r.body, m, re));
  return {std::stoull(m[1]), std::stoull(m[3])};
}

json::object no_retry() {
  return json::object{{"retry", json::object{{"attempts", 1}}}};
}

}  // namespace

TEST_CASE("http.nginx.keep_alive_reuse") {
  sluice::test::nginx_fixture nginx;
  auto [accepts0, requests0] = nginx_counters(nginx.base_url());
  std::vector<std::string> urls;
  for (int i = 0; i < 400; ++i) {
    urls.push_back(nginx.base_url() + "/small.bin?i=" + std::to_string(i));
  }
  http_harness h;
  auto rs = h.run(urls, 10);
  for (auto& r : rs) {
    REQUIRE_MESSAGE(r.ok(), r.error_kind << " " << r.error_message);
    CHECK(r.status == 200);
    CHECK(r.bytes == 100);
  }
  auto [accepts1, requests1] = nginx_counters(nginx.base_url());
  // Our 400 requests (and the two status reads) on at most 10 connections.
  CHECK(requests1 - requests0 >= 400);
  CHECK(accepts1 - accepts0 <= 10 + 2);
}

TEST_CASE("http.nginx.gzip_and_redirects") {
  sluice::test::nginx_fixture nginx;
  http_harness h(no_retry());
  auto plain = sluice::test::http_fetch(nginx.base_url() + "/text.txt");
  REQUIRE(plain.status == 200);
  auto rs = h.run({nginx.base_url() + "/text.txt", nginx.base_url() + "/redirect",
                   nginx.base_url() + "/redirect-absolute", nginx.base_url() + "/redirect-loop",
                   nginx.base_url() + "/missing"});
  REQUIRE_MESSAGE(rs[0].ok(), rs[0].error_kind << " " << rs[0].error_message);
  bool gz = false;
  for (auto& [k, v] : rs[0].headers) {
    gz = gz || (k == "content-encoding" && v == "gzip");
  }
  CHECK(gz);  // nginx compressed it because we asked
  CHECK(rs[0].body == plain.body);
  CHECK(rs[1].ok());
  CHECK(rs[1].redirects >= 1);
  CHECK(rs[1].final_url != rs[1].url);
  CHECK(rs[2].ok());
  CHECK(rs[2].redirects >= 1);
  CHECK(rs[3].error_kind == "redirect_loop");
  CHECK(rs[4].status == 404);
}

TEST_CASE("http.tls.private_ca") {
  sluice::test::temp_dir dir("sluice-http-tls");
  auto files = sluice::test::make_tls_files(dir.path());
  sluice::test::nginx_fixture nginx(files);
  auto url = nginx.base_url() + "/small.bin";
  auto by_name = "https://localhost:" + std::to_string(nginx.port()) + "/small.bin";
  SUBCASE("verification against the system store fails") {
    http_harness h(no_retry());
    auto r = h.fetch(url);
    CHECK(r.error_kind == "tls");
    CHECK(r.error_message.find("certificate") != std::string::npos);
  }
  SUBCASE("ca_file makes it succeed, by IP and by name (SNI)") {
    auto o = no_retry();
    o["tls"] = json::object{{"ca_file", files.ca_cert.string()}};
    http_harness h(o);
    auto rs = h.run({url, by_name});
    for (auto& r : rs) {
      CHECK_MESSAGE(r.ok(), r.url << ": " << r.error_kind << " " << r.error_message);
      CHECK(r.bytes == 100);
    }
  }
  SUBCASE("verify: false accepts any certificate") {
    auto o = no_retry();
    o["tls"] = json::object{{"verify", false}};
    http_harness h(o);
    auto r = h.fetch(url);
    CHECK(r.ok());
    CHECK(r.time.tls > 0ns);
  }
  SUBCASE("a CA file that does not sign the server still fails") {
    sluice::test::temp_dir other("sluice-http-tls2");
    auto wrong = sluice::test::make_tls_files(other.path());
    auto o = no_retry();
    o["tls"] = json::object{{"ca_file", wrong.ca_cert.string()}};
    http_harness h(o);
    CHECK(h.fetch(url).error_kind == "tls");
  }
}

TEST_CASE("http.tls.errors_say_what_failed_like_curl") {
  // Each certificate problem is named with OpenSSL's verify result, as curl
  // names it, instead of "unspecified certificate verification error".
  struct tls_case {
    const char* what;
    std::string san;
    int days;
    bool trust_ca;
    std::string sluice_says;
    std::string curl_says;
  };
  const std::vector<tls_case> cases = {
      {"host name mismatch", "DNS:other.example", 30, true,
       "no certificate subject name matches 'localhost'",
       "no alternative certificate subject name matches"},
      {"expired", "", 0, true, "certificate has expired", "certificate has expired"},
      {"unknown CA", "", 30, false, "unable to get local issuer certificate",
       "unable to get local issuer certificate"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    sluice::test::temp_dir dir("sluice-http-tls-err");
    auto files = sluice::test::make_tls_files(dir.path(), c.san, c.days);
    if (c.days == 0) {
      std::this_thread::sleep_for(1100ms);  // notAfter is now: let it pass
    }
    sluice::origin_options oo;
    oo.tls = true;
    oo.cert_file = files.server_cert.string();
    oo.key_file = files.server_key.string();
    sluice::origin_server srv(oo);
    srv.start();
    auto url = "https://localhost:" + std::to_string(srv.port()) + "/bytes/10";
    auto o = no_retry();
    if (c.trust_ca) {
      o["tls"] = json::object{{"ca_file", files.ca_cert.string()}};
    }
    http_harness h(o);
    auto r = h.fetch(url);
    CHECK(r.error_kind == "tls");
    CHECK_MESSAGE(r.error_message.find(c.sluice_says) != std::string::npos, r.error_message);
    CHECK(r.error_message.find("unspecified") == std::string::npos);
    // curl, in the same run, on the same server.
    std::vector<std::string> argv{"curl", "-sS", "-o", "/dev/null", url};
    if (c.trust_ca) {
      argv.insert(argv.end() - 1, {"--cacert", files.ca_cert.string()});
    }
    auto curl = sluice::test::run_process(argv);
    CHECK(curl.exit_code != 0);
    CHECK_MESSAGE(curl.err.find(c.curl_says) != std::string::npos, curl.err);
  }
}

TEST_CASE("http.tls.own_server_keep_alive") {
  sluice::test::temp_dir dir("sluice-http-tls3");
  auto files = sluice::test::make_tls_files(dir.path());
  sluice::origin_options oo;
  oo.tls = true;
  oo.cert_file = files.server_cert.string();
  oo.key_file = files.server_key.string();
  sluice::origin_server srv(oo);
  srv.start();
  auto o = json::object{};
  o["tls"] = json::object{{"ca_file", files.ca_cert.string()}};
  http_harness h(o);
  std::vector<std::string> urls;
  for (int i = 0; i < 50; ++i) {
    urls.push_back(srv.base_url() + "/bytes/1000?i=" + std::to_string(i));
  }
  auto rs = h.run(urls, 4);
  for (auto& r : rs) {
    CHECK(r.ok());
    CHECK(r.bytes == 1000);
  }
  CHECK(srv.counters().connections_accepted <= 4);
}

TEST_CASE("http.httpbin.status_redirects_gzip") {
  sluice::test::httpbin_fixture bin;
  auto b = bin.base_url();
  http_harness h(no_retry());
  auto rs =
      h.run({b + "/status/418", b + "/relative-redirect/3", b + "/absolute-redirect/2", b + "/gzip",
             b + "/deflate", b + "/redirect-to?url=ftp%3A%2F%2Fexample.com%2F", b + "/status/503"},
            3);
  CHECK(rs[0].status == 418);
  CHECK(rs[1].ok());
  CHECK(rs[1].redirects == 3);
  CHECK(rs[1].final_url == b + "/get");
  CHECK(rs[2].ok());
  CHECK(rs[2].redirects == 2);
  for (int i : {3, 4}) {
    REQUIRE_MESSAGE(rs[i].ok(), rs[i].error_kind << " " << rs[i].error_message);
    auto doc = json::parse(rs[i].body);
    CHECK((doc.as_object().contains("gzipped") || doc.as_object().contains("deflated")));
  }
  CHECK(rs[5].error_kind == "redirect_scheme");
  CHECK(rs[6].status == 503);
}

TEST_CASE("http.origin.per_host_limit_holds") {
  sluice::origin_options oo;
  oo.threads = 2;
  sluice::origin_server origin(oo);
  origin.start();
  std::vector<std::string> urls;
  for (int i = 0; i < 80; ++i) {
    urls.push_back(origin.base_url() + "/delay/10?i=" + std::to_string(i));
  }
  json::object o;
  o["per_host"] = 4;
  http_harness h(o);
  origin.reset_counters();
  auto rs = h.run(urls, 32);
  for (auto& r : rs) {
    CHECK(r.ok());
  }
  auto c = origin.counters();
  CHECK(c.requests == 80);
  CHECK(c.max_in_flight <= 4);
  CHECK(c.max_in_flight >= 1);
  CHECK(c.connections_accepted <= 32);
}

TEST_CASE("http.pipeline.bad_urls_fail_their_items_and_exit_3") {
  sluice::test::temp_dir dir("sluice-http-pipe");
  auto out = dir.path() / "out.jsonl";
  auto yaml = dir.path() / "bad.yaml";
  {
    std::ofstream f(yaml);
    f << "name: bad-urls\n"
         "origin:\n"
         "  port: 0\n"
         "producers:\n"
         "  - type: list\n"
         "    urls:\n"
         "      - \"127.0.0.1/no-scheme\"\n"
         "      - \"http://127.0.0.1:99999/\"\n"
         "      - \"http://exa mple.com/\"\n"
         "      - \"ftp://127.0.0.1/file\"\n"
         "      - \"http:///empty-host\"\n"
         "      - \"${origin}/bytes/10\"\n"
         "consumers:\n"
         "  type: http\n"
         "  workers: 3\n"
         "sinks:\n"
         "  - type: jsonl\n"
         "    path: "
      << out.string() << "\n";
  }
  const char* bin = std::getenv("SLUICE_BIN");
  REQUIRE_MESSAGE(bin != nullptr, "SLUICE_BIN is not set (run through ctest)");
  auto r = sluice::test::run_process({bin, "run", yaml.string()});
  CHECK(r.exit_code == 3);  // items failed, more than max_failed (0) allows
  CHECK(r.err.find("more than max_failed (0) allows: exit 3") != std::string::npos);
  std::ifstream in(out);
  std::string line;
  int bad = 0;
  int ok = 0;
  while (std::getline(in, line)) {
    auto doc = json::parse(line).as_object();
    std::string kind;
    if (auto* k = doc.if_contains("error_kind"); k && k->is_string()) {
      kind = std::string(k->as_string());
    } else if (auto* e = doc.if_contains("error"); e && e->is_object()) {
      kind = std::string(e->as_object().at("kind").as_string());
    }
    if (kind == "bad_url") {
      ++bad;
    } else if (kind.empty()) {
      ++ok;
    }
  }
  CHECK(bad == 5);
  CHECK(ok == 1);
}
