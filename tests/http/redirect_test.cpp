// Redirects across two built-in origins: chains of 2-10 hops with long and
// short URLs (the Boost.URL re-pointed url_view crash, boostorg/url#872), and
// which credentials follow a hop to another origin (curl's rule: none unless
// trusted), compared with curl itself in the same run.
#include "sluice/stages/http.hpp"

#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include "http_harness.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using sluice::origin_options;
using sluice::origin_server;
using sluice::test::http_harness;
namespace json = boost::json;

namespace {

struct two_origins {
  origin_server a{origin_options{}};
  origin_server b{origin_options{}};
  two_origins() {
    a.start();
    b.start();
  }
};

std::string encode(const std::string& s) {
  return boost::urls::encode(s, boost::urls::unreserved_chars);
}

/// A URL on `from` that redirects to `to` (any URL) in one hop.
std::string hop(const origin_server& from, const std::string& to) {
  return from.base_url() + "/redirect-to?url=" + encode(to);
}

/// A chain of `hops` redirects alternating between the two origins, ending at
/// `/item/end` with a query of `pad` characters on every URL.
std::string chain(const two_origins& o, int hops, std::size_t pad) {
  std::string q = "?pad=" + std::string(pad, 'x');
  std::string url = o.b.base_url() + "/item/end" + q;
  for (int i = 0; i < hops; ++i) {
    url = hop(i % 2 == 0 ? o.a : o.b, url) + "&p=" + std::string(pad, 'y');
  }
  return url;
}

std::string summary(const sluice::result& r) {
  return std::to_string(r.status) + " " + r.error_kind + " " + std::to_string(r.redirects) + " " +
         r.final_url + " " + r.body;
}

/// The `headers` object the origin's /echo returned in a result's body.
json::object echoed_headers(const sluice::result& r) {
  auto v = json::parse(r.body);
  return v.as_object().at("headers").as_object();
}

/// What curl sends after following `url` with `args`: the echoed headers.
json::object curl_echo(std::vector<std::string> args, const std::string& url) {
  std::vector<std::string> argv{"curl", "-s", "-L", "--max-redirs", "20", "-m", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back(url);
  auto res = sluice::test::run_process(argv);
  REQUIRE(res.exit_code == 0);
  return json::parse(res.out).as_object().at("headers").as_object();
}

}  // namespace

TEST_CASE("http.redirect.chains_across_two_origins_long_and_short_urls") {
  two_origins o;
  std::vector<std::string> urls;
  std::vector<int> hops;
  for (int n = 2; n <= 10; ++n) {
    for (std::size_t pad : {0, 1, 56, 300}) {
      urls.push_back(chain(o, n, pad));
      hops.push_back(n);
    }
  }
  // Same-origin chains whose item URL is longer than the first Location (the
  // minimal crash: /redirect/3?pad= plus 56 characters).
  for (int n = 2; n <= 10; ++n) {
    urls.push_back(o.a.base_url() + "/redirect/" + std::to_string(n) +
                   "?pad=" + std::string(56 + 20 * n, 'z'));
    hops.push_back(n);
  }
  std::vector<std::string> first;
  for (int run = 0; run < 3; ++run) {
    json::object opts;
    opts["redirects"] = 20;
    opts["retry"] = json::object{{"attempts", 1}};
    http_harness h(opts);
    auto rs = h.run(urls, 4);
    std::vector<std::string> got;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      auto& r = rs[i];
      CHECK_MESSAGE(r.ok(), r.url << ": " << r.error_kind << " " << r.error_message);
      CHECK(r.status == 200);
      CHECK(r.redirects == static_cast<std::uint32_t>(hops[i]));
      got.push_back(summary(r));
    }
    if (run == 0) {
      first = got;
    } else {
      CHECK(got == first);
    }
  }
}

TEST_CASE("http.redirect.credentials_stay_on_their_origin") {
  two_origins o;
  json::object opts;
  opts["basic_auth"] = json::object{{"user", "alice"}, {"password", "secret"}};
  opts["headers"] = json::object{
      {"Cookie", "sid=1"}, {"Proxy-Authorization", "Basic eHg6eXk="}, {"X-Trace", "kept"}};
  auto cross = hop(o.a, o.b.base_url() + "/echo");
  auto same = hop(o.a, o.a.base_url() + "/echo");
  // The same host and scheme on another port is another origin (curl too).
  SUBCASE("dropped on a hop to another origin, kept on the same one") {
    http_harness h(opts);
    auto rs = h.run({cross, same});
    REQUIRE(rs[0].ok());
    REQUIRE(rs[1].ok());
    auto x = echoed_headers(rs[0]);
    CHECK(!x.contains("authorization"));
    CHECK(!x.contains("cookie"));
    CHECK(!x.contains("proxy-authorization"));
    CHECK(x.at("x-trace") == "kept");
    auto s = echoed_headers(rs[1]);
    CHECK(s.at("authorization") == "Basic YWxpY2U6c2VjcmV0");
    CHECK(s.at("cookie") == "sid=1");
    CHECK(s.at("proxy-authorization") == "Basic eHg6eXk=");

    // Differential: curl -u drops the credentials on the cross-origin hop and
    // keeps them on the same origin.
    auto cx = curl_echo({"-u", "alice:secret"}, cross);
    auto cs = curl_echo({"-u", "alice:secret"}, same);
    CHECK(cx.contains("authorization") == x.contains("authorization"));
    CHECK(cs.contains("authorization") == s.contains("authorization"));
  }
  SUBCASE("a hop back to the first origin sends them again") {
    http_harness h(opts);
    auto r = h.fetch(hop(o.a, hop(o.b, o.a.base_url() + "/echo")));
    REQUIRE(r.ok());
    CHECK(r.redirects == 2);
    CHECK(echoed_headers(r).at("authorization") == "Basic YWxpY2U6c2VjcmV0");
  }
  SUBCASE("trusted redirects send them everywhere, as curl --location-trusted") {
    opts["redirect_trusted"] = true;
    http_harness h(opts);
    auto r = h.fetch(cross);
    REQUIRE(r.ok());
    auto x = echoed_headers(r);
    CHECK(x.at("authorization") == "Basic YWxpY2U6c2VjcmV0");
    CHECK(x.at("cookie") == "sid=1");
    auto cx = curl_echo({"--location-trusted", "-u", "alice:secret"}, cross);
    CHECK(cx.at("authorization") == x.at("authorization"));
  }
}

TEST_CASE("http.redirect.dot_segments_never_climb_above_the_root") {
  // RFC 3986 section 5.2.4: `../../item/x` from `/redirect-to` is `/item/x`
  // (Boost.URL 1.81 alone gives `/../../item/x`).
  origin_server a{origin_options{}};
  a.start();
  http_harness h;
  for (const char* loc : {"../../item/x", "/../item/x", "./../item/x"}) {
    auto r = h.fetch(a.base_url() + "/redirect-to?url=" + encode(loc));
    CHECK_MESSAGE(r.ok(), loc << ": " << r.error_kind << " " << r.error_message);
    CHECK(r.final_url == a.base_url() + "/item/x");
    CHECK(r.body == "item x\n");
  }
}
