// robots.txt parsing and matching without a network: RFC 9309's examples
// (§5.1, §5.2, the special characters and percent-encoding tables of
// §2.2.2–2.2.3), group selection by product token, the 500 KiB limit and
// the odd inputs a crawler meets (no groups, binary, CR line ends, a BOM).
#include "robots.hpp"

#include <doctest/doctest.h>

#include <string>

namespace hd = sluice::stages::http;
using namespace std::string_view_literals;

namespace {

bool allowed(const hd::robots_rules& r, std::string_view path) {
  return r.check(path).allowed;
}

// RFC 9309 §5.1.
constexpr std::string_view k_rfc_example =
    "User-Agent: *\n"
    "Disallow: *.gif$\n"
    "Disallow: /example/\n"
    "Allow: /publications/\n"
    "\n"
    "User-Agent: foobot\n"
    "Disallow:/\n"
    "Allow:/example/page.html\n"
    "Allow:/example/allowed.gif\n"
    "\n"
    "User-Agent: barbot\n"
    "User-Agent: bazbot\n"
    "Disallow: /example/page.html\n"
    "\n"
    "User-Agent: quxbot\n"
    "\n"
    "EOF\n";

}  // namespace

TEST_CASE("http.robots.rfc9309_simple_example") {
  auto foo = hd::parse_robots(k_rfc_example, "foobot");
  CHECK(allowed(foo, "/example/page.html"));
  CHECK(allowed(foo, "/example/allowed.gif"));
  CHECK_FALSE(allowed(foo, "/example/other.html"));
  CHECK_FALSE(allowed(foo, "/"));
  CHECK_FALSE(allowed(foo, ""));       // an empty target is `/`
  CHECK(allowed(foo, "/robots.txt"));  // implicitly allowed (§2.2.2)

  for (auto bot : {"barbot", "bazbot", "BazBot"}) {
    auto b = hd::parse_robots(k_rfc_example, bot);
    CHECK_FALSE(allowed(b, "/example/page.html"));
    CHECK(allowed(b, "/example/page.htm"));
    CHECK(allowed(b, "/picture.gif"));  // the `*` group is not theirs
  }

  // quxbot's group has no rules: everything is allowed, not the `*` rules.
  auto qux = hd::parse_robots(k_rfc_example, "quxbot");
  CHECK(qux.rules.empty());
  CHECK(allowed(qux, "/example/x"));
  CHECK(allowed(qux, "/a.gif"));

  auto other = hd::parse_robots(k_rfc_example, "sluice");
  CHECK_FALSE(allowed(other, "/a.gif"));
  CHECK_FALSE(allowed(other, "/images/b.gif"));
  CHECK(allowed(other, "/a.gif?size=2"));  // `$`: the end of the path
  CHECK_FALSE(allowed(other, "/example/"));
  CHECK_FALSE(allowed(other, "/example/deep/page"));
  CHECK(allowed(other, "/example"));
  CHECK(allowed(other, "/publications/x"));
  CHECK(allowed(other, "/anything"));
}

TEST_CASE("http.robots.rfc9309_longest_match") {
  // RFC 9309 §5.2.
  auto r = hd::parse_robots(
      "User-Agent: foobot\n"
      "Allow: /example/page/\n"
      "Disallow: /example/page/disallowed.gif\n",
      "foobot");
  CHECK(allowed(r, "/example/page/"));
  CHECK(allowed(r, "/example/page/other.gif"));
  CHECK_FALSE(allowed(r, "/example/page/disallowed.gif"));
  auto v = r.check("/example/page/disallowed.gif");
  REQUIRE(v.rule != nullptr);
  CHECK(v.rule->line == 3);
  CHECK(v.rule->pattern == "/example/page/disallowed.gif");

  SUBCASE("allow wins a tie, in either order") {
    for (auto text : {"User-agent: *\nAllow: /page\nDisallow: /page\n",
                      "User-agent: *\nDisallow: /page\nAllow: /page\n"}) {
      auto t = hd::parse_robots(text, "x");
      CHECK(allowed(t, "/page"));
      CHECK(allowed(t, "/pages"));
    }
  }
  SUBCASE("a longer disallow beats a shorter allow") {
    auto t = hd::parse_robots("User-agent: *\nAllow: /\nDisallow: /private\n", "x");
    CHECK(allowed(t, "/public"));
    CHECK_FALSE(allowed(t, "/private/x"));
    CHECK(allowed(t, "/robots.txt"));
  }
}

TEST_CASE("http.robots.special_characters") {
  // RFC 9309 §2.2.3: `*` any run of characters, a final `$` the end.
  CHECK(hd::robots_match("/fish", "/fish"));
  CHECK(hd::robots_match("/fish", "/fish.html"));
  CHECK(hd::robots_match("/fish", "/fishheads/yummy.html"));
  CHECK_FALSE(hd::robots_match("/fish", "/Fish.asp"));
  CHECK_FALSE(hd::robots_match("/fish", "/catfish"));
  CHECK(hd::robots_match("/fish*", "/fish.php?id=anything"));
  CHECK(hd::robots_match("/*.php", "/folder/filename.php?parameters"));
  CHECK_FALSE(hd::robots_match("/*.php", "/windows.PHP"));
  CHECK(hd::robots_match("/*.php$", "/folder/filename.php"));
  CHECK_FALSE(hd::robots_match("/*.php$", "/filename.php?parameters"));
  CHECK_FALSE(hd::robots_match("/*.php$", "/filename.php5"));
  CHECK(hd::robots_match("/fish*.php", "/fishheads/catfish.php?parameters"));
  CHECK_FALSE(hd::robots_match("/fish*.php", "/Fish.PHP"));
  CHECK(hd::robots_match("/this/*/exactly", "/this/is/exactly"));
  CHECK(hd::robots_match("/a$b", "/a$b/c"));  // `$` inside a pattern is a character
  CHECK(hd::robots_match("*", ""));
  CHECK(hd::robots_match("/$", "/"));
  CHECK_FALSE(hd::robots_match("/$", "/a"));
  CHECK(hd::robots_match("/**a**$", "/xxa"));
  CHECK_FALSE(hd::robots_match("/a", ""));
}

TEST_CASE("http.robots.percent_encoding") {
  // RFC 9309 §2.2.2's table: raw UTF-8 is encoded, escapes of unreserved
  // characters are decoded, other escapes compare in upper case.
  CHECK(hd::robots_normalize("/foo/bar?baz=quz") == "/foo/bar?baz=quz");
  CHECK(hd::robots_normalize("/foo/bar/\xE3\x83\x84") == "/foo/bar/%E3%83%84");
  CHECK(hd::robots_normalize("/foo/bar/%E3%83%84") == "/foo/bar/%E3%83%84");
  CHECK(hd::robots_normalize("/foo/bar/%e3%83%84") == "/foo/bar/%E3%83%84");
  CHECK(hd::robots_normalize("/foo/bar/%62%61%7A") == "/foo/bar/baz");
  CHECK(hd::robots_normalize("/a%2Fb") == "/a%2Fb");  // a reserved escape stays one
  CHECK(hd::robots_normalize("/100%") == "/100%25");  // a `%` that starts no escape
  CHECK(hd::robots_normalize("/a%4") == "/a%254");    // cut short
  CHECK(hd::robots_normalize("/a b\x7F") == "/a%20b%7F");
  CHECK(hd::robots_normalize("/*.gif$") == "/*.gif$");

  auto r = hd::parse_robots("User-agent: *\nDisallow: /foo/bar/\xE3\x83\x84\nDisallow: /%7Euser/\n",
                            "x");
  CHECK_FALSE(allowed(r, "/foo/bar/%E3%83%84"));
  CHECK_FALSE(allowed(r, "/foo/bar/%e3%83%84/deeper"));
  CHECK_FALSE(allowed(r, "/~user/page"));
  CHECK_FALSE(allowed(r, "/%7euser/page"));
  CHECK(allowed(r, "/foo/bar/"));
}

TEST_CASE("http.robots.group_selection") {
  constexpr std::string_view text =
      "user-agent: *\n"
      "disallow: /star\n"
      "crawl-delay: 7\n"
      "\n"
      "USER-AGENT: Sluice/1.0 (compatible)\n"
      "Disallow: /one\n"
      "Crawl-delay: 2.5\n"
      "\n"
      "User-agent: sluice-news\n"  // another product token: `-` is part of it
      "Disallow: /news\n"
      "\n"
      "User-agent: other\n"
      "Disallow: /two-a\n"
      "User-agent: sluice\n"  // after a rule: a new group, merged with the first
      "Disallow: /two-b\n";
  auto r = hd::parse_robots(text, "sluice");
  CHECK_FALSE(allowed(r, "/one"));
  CHECK_FALSE(allowed(r, "/two-b"));
  CHECK(allowed(r, "/two-a"));
  CHECK(allowed(r, "/news"));
  CHECK(allowed(r, "/star"));
  REQUIRE(r.crawl_delay);
  CHECK(*r.crawl_delay == doctest::Approx(2.5));

  auto star = hd::parse_robots(text, "unknownbot");
  CHECK_FALSE(allowed(star, "/star"));
  CHECK(allowed(star, "/one"));
  CHECK(star.crawl_delay.value_or(0) == doctest::Approx(7));

  auto news = hd::parse_robots(text, "sluice-news");
  CHECK_FALSE(allowed(news, "/news"));
  CHECK(allowed(news, "/one"));

  // No group for us and no `*`: nothing is disallowed.
  auto none = hd::parse_robots("User-agent: googlebot\nDisallow: /\n", "sluice");
  CHECK(allowed(none, "/"));
  CHECK(none.rules.empty());
}

TEST_CASE("http.robots.odd_files") {
  SUBCASE("rules before any user-agent, unknown lines, no colon") {
    auto r = hd::parse_robots(
        "Disallow: /orphan\n"
        "Sitemap: https://example.com/sitemap.xml\n"
        "User-agent: *\n"
        "Host: example.com\n"
        "Disalow: /typo\n"
        "Disallow /nocolon\n"
        "Noindex: /x\n"
        "Disallow: /real # a comment\n"
        "# Disallow: /commented\n",
        "sluice");
    CHECK(allowed(r, "/orphan"));
    CHECK(allowed(r, "/typo"));
    CHECK(allowed(r, "/nocolon"));
    CHECK(allowed(r, "/commented"));
    CHECK_FALSE(allowed(r, "/real"));
    CHECK_FALSE(allowed(r, "/real/deeper"));
    CHECK(r.rules.size() == 1);
  }
  SUBCASE("CR and CRLF line ends, a BOM, tabs, empty values") {
    auto r = hd::parse_robots("\xEF\xBB\xBFUser-agent:\t*\rDisallow:\t/cr\r\nDisallow:\nAllow:\n",
                              "sluice");
    CHECK_FALSE(allowed(r, "/cr"));
    CHECK(allowed(r, "/other"));
    CHECK(r.rules.size() == 1);
  }
  SUBCASE("a pattern without a leading slash gets one") {
    auto r = hd::parse_robots("User-agent: *\nDisallow: private\n", "sluice");
    CHECK_FALSE(allowed(r, "/private/x"));
  }
  SUBCASE("bad crawl delays are ignored") {
    for (auto d : {"-1", "0", "soon", "nan", "inf", ""}) {
      auto r = hd::parse_robots(std::string("User-agent: *\nCrawl-delay: ") + d + "\n", "x");
      CHECK_MESSAGE(!r.crawl_delay, d);
    }
  }
  SUBCASE("binary") {
    std::string bin;
    for (int i = 0; i < 4096; ++i) {
      bin += static_cast<char>((i * 131 + 7) % 256);
    }
    auto r = hd::parse_robots(bin, "sluice");
    (void)r.check("/x");
    auto nul = hd::parse_robots(std::string("User-agent: *\nDisallow: /a\0b\n"sv), "sluice");
    CHECK_FALSE(allowed(nul, "/a%00b"));
  }
}

TEST_CASE("http.robots.parse_limit") {
  // A rule past the first 500 KiB is not read; one before it is.
  std::string text = "User-agent: *\nDisallow: /early\n";
  text += "# " + std::string(hd::k_robots_parse_limit, 'x') + "\n";
  text += "Disallow: /late\n";
  auto r = hd::parse_robots(text, "sluice");
  CHECK_FALSE(allowed(r, "/early"));
  CHECK(allowed(r, "/late"));

  // Many rules and a long path: still answers (the matcher is polynomial).
  std::string many = "User-agent: *\n";
  while (many.size() < hd::k_robots_parse_limit - 64) {
    many += "Disallow: /*a*a*a*a*a*a*a*a*b\n";
  }
  auto m = hd::parse_robots(many, "sluice");
  CHECK(m.rules.size() > 10000);
  CHECK(allowed(m, "/" + std::string(60, 'a')));
}

TEST_CASE("http.robots.product_token") {
  CHECK(hd::robots_product_token("sluice/0.2.0") == "sluice");
  CHECK(hd::robots_product_token("  My_Bot-2/1.0") == "My_Bot-");
  CHECK(hd::robots_product_token("Mozilla/5.0 (compatible; x)") == "Mozilla");
  CHECK(hd::robots_product_token("/1.0").empty());
  CHECK(hd::robots_product_token("").empty());
}

TEST_CASE("http.robots.disallow_all") {
  hd::robots_rules r;
  r.disallow_all = true;
  CHECK_FALSE(allowed(r, "/"));
  CHECK_FALSE(allowed(r, "/robots.txt"));
}
