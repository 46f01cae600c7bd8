// The http consumer's redirect rules without a server: Location resolution
// (dot segments above the root, as RFC 3986 section 5.2.4 and curl), hop
// limits, loops, refused schemes, and the method a redirect turns into.
#include "redirect_policy.hpp"

#include <doctest/doctest.h>
#include <boost/url/parse.hpp>

namespace hd = sluice::stages::http;
namespace urls = boost::urls;
using action = hd::redirect_step::action;

namespace {

hd::redirect_step step(std::string_view from, int status, std::string_view location,
                       hd::hop_state& st, std::uint32_t max = 10) {
  urls::url base(from);
  return hd::next_hop(base, status, location, max, st);
}

}  // namespace

TEST_CASE("http.redirect_policy.resolves_locations") {
  struct row {
    const char* from;
    const char* location;
    const char* next;
  };
  for (auto r :
       {row{"http://a/b/c/d", "../../../../ok", "http://a/ok"},
        row{"http://a/b/c/d", "./x", "http://a/b/c/x"},
        row{"http://a/b/c/d", "/x?y#frag", "http://a/x?y"},
        row{"http://a/b", "//other:81/p", "http://other:81/p"},
        row{"https://a/b", "http://c/d", "http://c/d"},
        row{"http://a/deep/path?q=1", "?q=2", "http://a/deep/path?q=2"},
        // Reserved characters stay encoded: %2F is no `/`, %2B no
        // `+` (found by http_differential_test against curl).
        row{"http://a/x", "/echo/a%2Fb%2Bc%3Bd%40e%7Ef", "http://a/echo/a%2Fb%2Bc%3Bd%40e%7Ef"},
        row{"http://a/x", "d%c3%afr/", "http://a/d%c3%afr/"},
        row{"http://a/b/c", "/a/./b/../c/", "http://a/a/c/"},
        row{"http://a/b/c", "/a/b/..", "http://a/a/"},
        row{"http://a/b/c", "/a/b/.", "http://a/a/b/"},
        row{"http://a/b/c", "/../..//x", "http://a//x"}, row{"http://a/b/c", "..", "http://a/"}}) {
    hd::hop_state st{"GET"};
    auto s = step(r.from, 302, r.location, st);
    CHECK_MESSAGE(s.what == action::follow, r.location);
    CHECK_MESSAGE(s.next.buffer() == r.next, r.location);
    CHECK(st.redirects == 1);
    CHECK(st.visited == std::vector<std::string>{r.from});
  }
}

TEST_CASE("http.redirect_policy.only_redirect_statuses_with_a_location") {
  hd::hop_state st{"GET"};
  CHECK(step("http://a/", 200, "/x", st).what == action::done);
  CHECK(step("http://a/", 304, "/x", st).what == action::done);
  CHECK(step("http://a/", 302, "", st).what == action::done);
  CHECK(step("http://a/", 302, "/x", st, 0).what == action::done);  // redirects: 0
  for (int status : {301, 302, 303, 307, 308}) {
    hd::hop_state s2{"GET"};
    CHECK(step("http://a/", status, "/x", s2).what == action::follow);
  }
  CHECK(st.redirects == 0);
}

TEST_CASE("http.redirect_policy.refuses_bad_targets_loops_and_long_chains") {
  hd::hop_state st{"GET"};
  auto ftp = step("http://a/", 302, "ftp://a/x", st);
  CHECK(ftp.what == action::fail);
  CHECK(ftp.failure.kind == sluice::fetch_errc::redirect_scheme);
  auto bad = step("http://a/", 302, "http://[::1", st);
  CHECK(bad.what == action::fail);
  CHECK(bad.failure.kind == sluice::fetch_errc::redirect_scheme);

  hd::hop_state loop{"GET"};
  CHECK(step("http://a/1", 302, "/2", loop).what == action::follow);
  auto back = step("http://a/2", 302, "/1", loop);
  CHECK(back.what == action::fail);
  CHECK(back.failure.kind == sluice::fetch_errc::redirect_loop);

  hd::hop_state chain{"GET"};
  for (int i = 0; i < 3; ++i) {
    CHECK(step("http://a/" + std::to_string(i), 302, "/" + std::to_string(i + 1), chain, 3).what ==
          action::follow);
  }
  auto more = step("http://a/3", 302, "/4", chain, 3);
  CHECK(more.what == action::fail);
  CHECK(more.failure.kind == sluice::fetch_errc::too_many_redirects);
  CHECK(chain.redirects == 3);
}

TEST_CASE("http.redirect_policy.methods_change_as_browsers_and_curl_do") {
  struct row {
    const char* method;
    int status;
    const char* after;
    bool body;
  };
  for (auto r :
       {row{"POST", 303, "GET", false}, row{"POST", 302, "GET", false},
        row{"POST", 301, "GET", false}, row{"POST", 307, "POST", true},
        row{"POST", 308, "POST", true}, row{"PUT", 302, "PUT", true}, row{"PUT", 303, "GET", false},
        row{"HEAD", 303, "HEAD", false}, row{"GET", 301, "GET", true}}) {
    hd::hop_state st{r.method};
    REQUIRE(step("http://a/", r.status, "/x", st).what == action::follow);
    CHECK_MESSAGE(st.method == r.after, r.method << " " << r.status);
    CHECK_MESSAGE(st.with_body == r.body, r.method << " " << r.status);
  }
  CHECK(hd::is_head("head"));
  CHECK_FALSE(hd::is_head("GET"));
}
