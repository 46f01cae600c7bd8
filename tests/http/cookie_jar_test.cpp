// The cookie jar without sockets: RFC 6265's rules case by case (the
// cookie-date algorithm, domain-match, host-only, public suffixes via
// libpsl, IP hosts, default-path and path-match, Secure, replace, delete,
// the Cookie header's order, limits, hostile values), the Netscape cookie
// file (round trip, curl's lines, malformed lines, the atomic write) and four
// threads setting and reading at once (run under tsan).
#include <doctest/doctest.h>

#include <random>
#include <sstream>
#include <thread>

#include "cookie_jar.hpp"
#include "test_support.hpp"

using namespace sluice::stages::http;
using sluice::test::read_file;
using sluice::test::temp_dir;
using sluice::test::write_file;

namespace {

using sys = std::chrono::system_clock;

// 2026-01-01T00:00:00Z
const sys::time_point k_now = sys::time_point(std::chrono::seconds(1767225600));

cookie_url url(std::string_view host, std::string_view path = "/", bool https = false) {
  bool ip = host.find_first_not_of("0123456789.") == std::string_view::npos ||
            host.find(':') != std::string_view::npos;
  return {host, ip, https, path};
}

std::int64_t unix_of(std::string_view text) {
  auto t = parse_cookie_date(text);
  REQUIRE_MESSAGE(t, text);
  return *t;
}

}  // namespace

TEST_CASE("cookie_jar.date.rfc6265_cookie_date_algorithm") {
  CHECK(unix_of("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);   // RFC 1123
  CHECK(unix_of("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777);  // RFC 850
  CHECK(unix_of("Sun Nov  6 08:49:37 1994") == 784111777);        // asctime
  CHECK(unix_of("06 nov 1994 08:49:37") == 784111777);            // any order, any case
  CHECK(unix_of("Thu, 01 Jan 1970 00:00:00 GMT") == 0);
  CHECK(unix_of("Wed, 09 Jun 2021 10:18:14 GMT") == 1623233894);
  CHECK(unix_of("1 Jan 69 00:00:00") == unix_of("1 Jan 2069 00:00:00"));  // 0-69: 20xx
  CHECK(unix_of("1 Jan 70 00:00:00") == 0);                               // 70-99: 19xx
  CHECK(unix_of("29 Feb 2024 23:59:59") == 1709251199);
  CHECK(unix_of("31 Dec 9999 23:59:59") == 253402300799);
  // Bad dates: no time, no year, a day of 32, a hour of 24, a year before
  // 1601, Feb 30, 3-digit days, garbage, NUL bytes, empty.
  for (std::string_view bad : std::initializer_list<std::string_view>{
           "Sun, 06 Nov 1994", "06 Nov 08:49:37", "32 Nov 1994 08:49:37", "06 Nov 1994 24:00:00",
           "06 Nov 1600 08:49:37", "30 Feb 2023 00:00:00", "31 Apr 2023 00:00:00",
           "006 Nov 1994 08:49:37", "garbage", "", std::string_view("\0\0\0", 3),
           "06 Foo 1994 08:49:37", "99999999999999999999 Nov 1994 08:49:37"}) {
    CHECK_MESSAGE(!parse_cookie_date(bad), bad);
  }
  CHECK(!parse_cookie_date(std::string(100000, '9')));
}

TEST_CASE("cookie_jar.rules.domain_and_path_match_and_default_path") {
  CHECK(domain_match("example.com", "example.com", false));
  CHECK(domain_match("www.example.com", "example.com", false));
  CHECK(!domain_match("wwwexample.com", "example.com", false));
  CHECK(!domain_match("example.com", "www.example.com", false));
  CHECK(!domain_match("1.2.3.4", "2.3.4", true));
  CHECK(default_path("") == "/");
  CHECK(default_path("/") == "/");
  CHECK(default_path("/a") == "/");
  CHECK(default_path("/a/b") == "/a");
  CHECK(default_path("/a/b/?q=/x/y") == "/a/b");
  CHECK(default_path("?q") == "/");
  CHECK(path_match("/", "/"));
  CHECK(path_match("/a/b", "/a"));
  CHECK(path_match("/a/b", "/a/"));
  CHECK(path_match("/a?x", "/a"));
  CHECK(!path_match("/ab", "/a"));
  CHECK(!path_match("/", "/a"));
  CHECK(path_match("", "/"));
  CHECK(is_public_suffix("com"));
  CHECK(is_public_suffix("co.uk"));
  CHECK(is_public_suffix("github.io"));
  CHECK(!is_public_suffix("example.com"));
  CHECK(!is_public_suffix("localhost"));
}

TEST_CASE("cookie_jar.set.domain_host_only_and_public_suffix") {
  cookie_jar jar;
  CHECK(jar.set_from(url("www.example.com"), "host=1", k_now).empty());
  CHECK(jar.set_from(url("www.example.com"), "dom=2; Domain=.Example.COM", k_now).empty());
  CHECK(jar.set_from(url("www.example.com"), "same=3; Domain=www.example.com", k_now).empty());
  CHECK(jar.set_from(url("www.example.com"), "psl=4; Domain=com", k_now).find("public suffix") !=
        std::string::npos);
  CHECK(jar.set_from(url("a.b.co.uk"), "psl=5; Domain=co.uk", k_now).find("public suffix") !=
        std::string::npos);
  CHECK(jar.set_from(url("www.example.com"), "other=6; Domain=example.org", k_now)
            .find("does not match") != std::string::npos);
  CHECK(jar.set_from(url("www.example.com"), "sub=7; Domain=a.www.example.com", k_now)
            .find("does not match") != std::string::npos);
  CHECK(jar.set_from(url("www.example.com"), "bad=8; Domain=exa mple.com", k_now) != "");
  // Host-only goes to the host only; a domain cookie to the domain and below.
  CHECK(jar.header_for(url("www.example.com"), k_now) == "host=1; dom=2; same=3");
  CHECK(jar.header_for(url("example.com"), k_now) == "dom=2");
  CHECK(jar.header_for(url("a.www.example.com"), k_now) == "dom=2; same=3");
  CHECK(jar.header_for(url("WWW.EXAMPLE.COM"), k_now) == "host=1; dom=2; same=3");
  CHECK(jar.header_for(url("example.org"), k_now).empty());
  CHECK(jar.header_for(url("notexample.com"), k_now).empty());
  // A public suffix as the host itself: Domain=<host> gives a host-only cookie.
  CHECK(jar.set_from(url("github.io"), "s=1; Domain=github.io", k_now).empty());
  CHECK(jar.header_for(url("x.github.io"), k_now).empty());
  CHECK(jar.header_for(url("github.io"), k_now) == "s=1");
}

TEST_CASE("cookie_jar.set.ip_hosts_are_host_only") {
  cookie_jar jar;
  CHECK(jar.set_from(url("127.0.0.1"), "a=1", k_now).empty());
  CHECK(jar.set_from(url("127.0.0.1"), "b=2; Domain=127.0.0.1", k_now).empty());
  CHECK(jar.set_from(url("127.0.0.1"), "c=3; Domain=0.0.1", k_now).find("IP") != std::string::npos);
  CHECK(jar.set_from(url("::1"), "v6=1", k_now).empty());
  CHECK(jar.header_for(url("127.0.0.1"), k_now) == "a=1; b=2");
  CHECK(jar.header_for(url("localhost"), k_now).empty());
  CHECK(jar.header_for(url("10.127.0.0.1"), k_now).empty());
  CHECK(jar.header_for(url("::1"), k_now) == "v6=1");
  for (auto& c : jar.cookies(k_now)) {
    CHECK(c.host_only);
  }
}

TEST_CASE("cookie_jar.set.paths_and_header_order") {
  cookie_jar jar;
  CHECK(jar.set_from(url("h", "/docs/api/x"), "d=default", k_now).empty());  // path /docs/api
  CHECK(jar.set_from(url("h"), "root=1; Path=/", k_now).empty());
  CHECK(jar.set_from(url("h"), "docs=2; Path=/docs", k_now).empty());
  CHECK(jar.set_from(url("h"), "rel=3; Path=relative", k_now).empty());  // default-path "/"
  CHECK(jar.set_from(url("h"), "early=4; Path=/", k_now).empty());
  CHECK(jar.header_for(url("h", "/docs/api/y?q=1"), k_now) ==
        "d=default; docs=2; root=1; rel=3; early=4");
  CHECK(jar.header_for(url("h", "/docsx"), k_now) == "root=1; rel=3; early=4");
  CHECK(jar.header_for(url("h", "/docs"), k_now) == "docs=2; root=1; rel=3; early=4");
  // The last Path wins.
  CHECK(jar.set_from(url("h"), "two=5; Path=/a; Path=/b", k_now).empty());
  CHECK(jar.header_for(url("h", "/b"), k_now).find("two=5") != std::string::npos);
  CHECK(jar.header_for(url("h", "/a"), k_now).find("two=5") == std::string::npos);
}

TEST_CASE("cookie_jar.set.replace_keeps_creation_order_and_delete") {
  cookie_jar jar;
  CHECK(jar.set_from(url("h"), "a=1", k_now).empty());
  CHECK(jar.set_from(url("h"), "b=2", k_now).empty());
  CHECK(jar.set_from(url("h"), "a=3", k_now).empty());  // replaced, keeps its place
  CHECK(jar.header_for(url("h"), k_now) == "a=3; b=2");
  CHECK(jar.size() == 2);
  CHECK(jar.set_from(url("h"), "a=x; Path=/p", k_now).empty());  // another path: another cookie
  CHECK(jar.size() == 3);
  CHECK(jar.set_from(url("h"), "a=; Max-Age=0", k_now).empty());  // deletes a at /
  CHECK(jar.header_for(url("h"), k_now) == "b=2");
  CHECK(jar.set_from(url("h"), "b=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", k_now).empty());
  CHECK(jar.header_for(url("h"), k_now).empty());
  CHECK(jar.size() == 1);  // a at /p
  CHECK(jar.set_from(url("h"), "a=; Max-Age=-1; Path=/p", k_now).empty());
  CHECK(jar.size() == 0);
}

TEST_CASE("cookie_jar.set.expiry_max_age_wins_over_expires") {
  cookie_jar jar;
  auto later = k_now + std::chrono::seconds(100);
  // Max-Age wins whatever the order; a bad Expires or Max-Age is ignored.
  CHECK(jar.set_from(url("h"), "m=1; Max-Age=50; Expires=Fri, 01 Jan 2100 00:00:00 GMT", k_now)
            .empty());
  CHECK(jar.set_from(url("h"), "n=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=50", k_now)
            .empty());
  CHECK(jar.set_from(url("h"), "e=3; Expires=Fri, 01 Jan 2100 00:00:00 GMT", k_now).empty());
  CHECK(jar.set_from(url("h"), "bad=4; Expires=yesterday; Max-Age=1e9", k_now).empty());  // session
  CHECK(jar.set_from(url("h"), "big=5; Max-Age=99999999999999999999999", k_now).empty());
  CHECK(jar.header_for(url("h"), k_now) == "m=1; n=2; e=3; bad=4; big=5");
  CHECK(jar.header_for(url("h"), later) == "e=3; bad=4; big=5");
  for (auto& c : jar.cookies(k_now)) {
    if (c.name == "bad") {
      CHECK(!c.persistent);
    }
    if (c.name == "big") {
      CHECK(c.expiry == 253402300799);
    }
    if (c.name == "m") {
      CHECK(c.expiry == 1767225600 + 50);
    }
  }
  CHECK(jar.cookies(later).size() == 3);  // expired ones are gone
}

TEST_CASE("cookie_jar.set.secure_httponly_and_prefixes") {
  cookie_jar jar;
  CHECK(jar.set_from(url("h", "/", true), "s=1; Secure; HttpOnly; SameSite=Strict", k_now).empty());
  CHECK(jar.set_from(url("h"), "ins=2; secure", k_now).find("Secure") != std::string::npos);
  CHECK(jar.set_from(url("h"), "s=over", k_now).find("Secure") != std::string::npos);
  CHECK(jar.header_for(url("h", "/", true), k_now) == "s=1");
  CHECK(jar.header_for(url("h"), k_now).empty());
  CHECK(jar.cookies(k_now).at(0).http_only);
  CHECK(!jar.set_from(url("h", "/", true), "__Secure-x=1", k_now).empty());
  CHECK(jar.set_from(url("h", "/", true), "__Secure-x=1; Secure", k_now).empty());
  CHECK(!jar.set_from(url("h", "/", true), "__Host-y=1; Secure; Path=/a", k_now).empty());
  CHECK(jar.set_from(url("h", "/", true), "__Host-y=1; Secure; Path=/", k_now).empty());
}

TEST_CASE("cookie_jar.set.hostile_values_are_ignored_not_fatal") {
  cookie_jar jar;
  CHECK(!jar.set_from(url("h"), "", k_now).empty());
  CHECK(!jar.set_from(url("h"), "novalue", k_now).empty());
  CHECK(!jar.set_from(url("h"), "=value", k_now).empty());
  CHECK(!jar.set_from(url("h"), " ; a=1", k_now).empty());
  CHECK(!jar.set_from(url("h"), std::string("a=1\0b", 5), k_now).empty());
  CHECK(!jar.set_from(url("h"), "a=1\tb", k_now).empty());
  CHECK(!jar.set_from(url("h"), "big=" + std::string(4094, 'x'), k_now).empty());
  CHECK(jar.set_from(url("h"), "fits=" + std::string(4091, 'x'), k_now).empty());
  CHECK(!jar.set_from(url("h"), std::string(1 << 20, 'x') + "=1", k_now).empty());
  // Thousands of attributes, a 1 MiB attribute, a bad Domain: bounded work.
  std::string many = "m=1";
  for (int i = 0; i < 10000; ++i) {
    many += "; Path=/p" + std::to_string(i);
  }
  CHECK(jar.set_from(url("h"), many, k_now).empty());
  CHECK(jar.set_from(url("h"), "huge=1; Path=/" + std::string(1 << 20, 'p'), k_now).empty());
  CHECK(jar.set_from(url("h"), "sp=1  ;  Path = /sp  ;;;; Secure=junk=; ", k_now) != "");
  CHECK(jar.set_from(url("h", "/", true), "sp=1  ;  Path = /sp  ;;;; ", k_now).empty());
  CHECK(jar.header_for(url("h", "/sp", true), k_now).starts_with("sp=1"));
}

TEST_CASE("cookie_jar.limits.per_domain_and_total_evict_least_recently_used") {
  cookie_jar jar({.per_domain = 50, .total = 120, .max_bytes = 4096});
  for (int i = 0; i < 10000; ++i) {
    jar.set_from(url("h"), "c" + std::to_string(i) + "=v", k_now);
  }
  CHECK(jar.size() == 50);
  auto kept = jar.cookies(k_now);
  CHECK(kept.front().name == "c9950");  // the newest 50 stay
  CHECK(kept.back().name == "c9999");
  // A cookie just sent is used recently: it outlives older unused ones.
  cookie_jar lru({.per_domain = 3, .total = 100, .max_bytes = 4096});
  lru.set_from(url("h"), "a=1; Path=/a", k_now);
  lru.set_from(url("h"), "b=1; Path=/b", k_now);
  lru.set_from(url("h"), "c=1; Path=/c", k_now);
  CHECK(lru.header_for(url("h", "/a"), k_now) == "a=1");
  lru.set_from(url("h"), "d=1; Path=/d", k_now);
  CHECK(lru.header_for(url("h", "/a"), k_now) == "a=1");
  CHECK(lru.header_for(url("h", "/b"), k_now).empty());
  // The whole jar is bounded too: 3 hosts x 50 with total 120.
  for (std::string host : {"x1", "x2", "x3"}) {
    for (int i = 0; i < 50; ++i) {
      jar.set_from(url(host), "k" + std::to_string(i) + "=v", k_now);
    }
  }
  CHECK(jar.size() == 120);
}

TEST_CASE("cookie_jar.header.appended_to_the_users_cookie_field") {
  std::string req = "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\n\r\n";
  add_cookie_header(req, "");
  CHECK(req == "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\n\r\n");
  add_cookie_header(req, "a=1; b=2");
  CHECK(req == "GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: x\r\nCookie: a=1; b=2\r\n\r\n");
  std::string own = "POST / HTTP/1.1\r\ncookie: mine=1\r\nX: y\r\n\r\nbody\r\n\r\n";
  add_cookie_header(own, "a=1");
  CHECK(own == "POST / HTTP/1.1\r\ncookie: mine=1; a=1\r\nX: y\r\n\r\nbody\r\n\r\n");
  std::string empty = "GET / HTTP/1.1\r\nCookie: \r\n\r\n";
  add_cookie_header(empty, "a=1");
  CHECK(empty == "GET / HTTP/1.1\r\nCookie: a=1\r\n\r\n");
}

TEST_CASE("cookie_jar.netscape.round_trip_and_curl_lines") {
  cookie_jar jar;
  jar.set_from(url("www.example.com"), "sess=1", k_now);
  jar.set_from(url("www.example.com"), "dom=2; Domain=example.com; Path=/p; Max-Age=3600", k_now);
  jar.set_from(url("127.0.0.1", "/", true), "sec=3; Secure; HttpOnly; Max-Age=60", k_now);
  std::ostringstream out;
  jar.save_netscape(out, k_now);
  const std::string text = out.str();
  CHECK(text.starts_with("# Netscape HTTP Cookie File\n"));
  CHECK(text.find("www.example.com\tFALSE\t/\tFALSE\t0\tsess\t1\n") != std::string::npos);
  CHECK(text.find(".example.com\tTRUE\t/p\tFALSE\t1767229200\tdom\t2\n") != std::string::npos);
  CHECK(text.find("#HttpOnly_127.0.0.1\tFALSE\t/\tTRUE\t1767225660\tsec\t3\n") !=
        std::string::npos);
  cookie_jar back;
  std::istringstream in(text);
  CHECK(back.load_netscape(in, "jar.txt", k_now).empty());
  std::ostringstream again;
  back.save_netscape(again, k_now);
  CHECK(again.str() == text);
  CHECK(back.header_for(url("a.example.com", "/p/q"), k_now) == "dom=2");
  CHECK(back.header_for(url("127.0.0.1", "/", true), k_now) == "sec=3");
}

TEST_CASE("cookie_jar.netscape.a_tab_in_an_attribute_cannot_break_the_file") {
  // A field value may hold a tab (HTAB), and the Netscape file is
  // tab-separated: a Path with one is ignored (the default-path), so the
  // written line still has its seven fields and reads back the same.
  cookie_jar jar;
  CHECK(jar.set_from(url("www.example.com", "/d/page"), "t=1; Path=/a\tb; Max-Age=60", k_now)
            .empty());
  auto all = jar.cookies(k_now);
  REQUIRE(all.size() == 1);
  CHECK(all[0].path == "/d");
  std::ostringstream out;
  jar.save_netscape(out, k_now);
  cookie_jar back;
  std::istringstream in(out.str());
  CHECK(back.load_netscape(in, "jar.txt", k_now).empty());
  std::ostringstream again;
  back.save_netscape(again, k_now);
  CHECK(again.str() == out.str());
}

TEST_CASE("cookie_jar.netscape.malformed_lines_are_skipped_with_file_and_line") {
  const std::string text =
      "# Netscape HTTP Cookie File\r\n"
      "\n"
      "example.com\tFALSE\t/\tFALSE\t0\tok\tv\r\n"
      "example.com\tFALSE\t/\tFALSE\t0\tnovalue\n"  // 6 fields: empty value (curl)
      "too\tfew\tfields\n"
      "example.com\tMAYBE\t/\tFALSE\t0\tbad\tflag\n"
      "example.com\tFALSE\t/\tFALSE\tsoon\tbad\texpiry\n"
      "example.com\tFALSE\tnoslash\tFALSE\t0\tbad\tpath\n"
      "\tFALSE\t/\tFALSE\t0\tno\tdomain\n"
      "example.com\tFALSE\t/\tFALSE\t1000\told\texpired\n"  // expired: skipped, no warning
      "example.com\tFALSE\t/\tFALSE\t-5\tneg\texpiry\n"
      "example.com\tFALSE\t/\tFALSE\t0\t\tnoname\n"
      "#HttpOnly_.example.com\tTRUE\t/\tTRUE\t4102444800\thttponly\tv\n";
  cookie_jar jar;
  std::istringstream in(text);
  auto w = jar.load_netscape(in, "jar.txt", k_now);
  REQUIRE(w.size() == 7);
  CHECK(w[0].starts_with("jar.txt:5: expected 7 tab-separated fields, found 3"));
  CHECK(w[1].starts_with("jar.txt:6: "));
  CHECK(w[2].starts_with("jar.txt:7: bad expiry 'soon'"));
  CHECK(w[3].starts_with("jar.txt:8: "));
  CHECK(w[4].starts_with("jar.txt:9: empty domain"));
  CHECK(w[5].starts_with("jar.txt:11: "));
  CHECK(w[6].starts_with("jar.txt:12: empty cookie name"));
  CHECK(jar.size() == 3);
  CHECK(jar.header_for(url("example.com", "/", true), k_now) == "ok=v; novalue=; httponly=v");
  // Binary junk and a huge line: skipped, not fatal.
  std::istringstream junk(std::string("\0\1\2\tx\n", 6) + std::string(1 << 20, 'z') + "\n");
  CHECK(jar.load_netscape(junk, "junk", k_now).size() == 2);
}

TEST_CASE("cookie_jar.netscape.file_missing_is_empty_and_write_is_atomic") {
  temp_dir d;
  cookie_jar jar;
  CHECK(jar.load_file(d / "missing.txt", k_now).empty());
  jar.set_from(url("h"), "a=1", k_now);
  jar.save_file(d / "jar.txt", k_now);
  CHECK(read_file(d / "jar.txt").find("h\tFALSE\t/\tFALSE\t0\ta\t1\n") != std::string::npos);
  auto perms = std::filesystem::status(d / "jar.txt").permissions();
  CHECK((perms & std::filesystem::perms::group_read) == std::filesystem::perms::none);
  // No temporary file is left beside it.
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path())) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
  CHECK_THROWS_AS(jar.save_file(d / "no-such-dir" / "jar.txt", k_now), std::runtime_error);
  cookie_jar back;
  CHECK(back.load_file(d / "jar.txt", k_now).empty());
  CHECK(back.header_for(url("h"), k_now) == "a=1");
}

TEST_CASE("cookie_jar.threads.four_threads_set_and_read") {
  cookie_jar jar({.per_domain = 50, .total = 200, .max_bytes = 4096});
  std::vector<std::thread> threads;
  std::atomic<int> headers{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        std::string host = "h" + std::to_string((t + i) % 8) + ".example.com";
        jar.set_from(url(host),
                     "c" + std::to_string(i % 70) + "=" + std::to_string(t) +
                         "; Domain=example.com; Max-Age=" + std::to_string(i % 5),
                     k_now);
        if (!jar.header_for(url(host), k_now).empty()) {
          headers.fetch_add(1);
        }
        if (i % 500 == 0) {
          std::ostringstream out;
          jar.save_netscape(out, k_now);
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  CHECK(headers.load() > 0);
  CHECK(jar.size() <= 50);
  CHECK(jar.cookies(k_now).size() == jar.size());
}

TEST_CASE("cookie_jar.hostile.random_bytes_never_crash") {
  // Random mixes of the characters the parsers care about (fixed seed).
  std::minstd_rand rng(42);
  static constexpr char k_chars[] =
      "a=;.,-:/\t \0\r\n9Mx_Secure;Domain=Path=Max-Age=Expires=Jan1970";
  const std::string alphabet(k_chars, sizeof k_chars - 1);  // with the NUL
  cookie_jar jar;
  std::size_t stored = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    auto n = rng() % 200;
    for (std::size_t k = 0; k < n; ++k) {
      s += alphabet[rng() % alphabet.size()];
    }
    (void)parse_cookie_date(s);
    stored +=
        jar.set_from(url(i % 2 ? "a.example.com" : "10.0.0.1", "/" + s.substr(0, 5)), s, k_now)
            .empty();
    (void)jar.header_for(url("a.example.com", s), k_now);
    std::istringstream in(s);
    (void)jar.load_netscape(in, "fuzz", k_now);
  }
  CHECK(stored > 0);
  CHECK(jar.size() <= 3000);
}
