// The fetch's rules over a fake network: which failures retry and how often,
// backoff waits, Retry-After pausing the origin (capped), fail_status,
// redirect chains across origins (credentials flagged for foreign hops, the
// method a 303 turns into), loops and cancellation; with `robots: obey`, the
// hops robots.txt disallows are never requested. No socket: fetch_io is a
// script of responses per URL.
#include "fetch.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <map>

#include <boost/asio/io_context.hpp>

#include "test_support.hpp"

using namespace std::chrono_literals;
namespace net = boost::asio;
namespace hd = sluice::stages::http;
using sluice::fetch_errc;

namespace {

/// One scripted answer: a status (with Location / Retry-After) or a failure.
struct answer {
  int status = 200;
  std::string location;
  fetch_errc kind{};
  std::optional<std::chrono::nanoseconds> retry_after;
  std::string body;
};

/// What the fetch asked for.
struct sent {
  std::string url;  // origin key + path
  std::string method;
  bool with_body;
  bool foreign;
};

class fake_io final : public hd::fetch_io {
 public:
  fake_io(const hd::config& cfg, net::io_context& ioc, sluice::result& r)
      : origins_(cfg, ioc.get_executor()), r_(&r) {}

  std::map<std::string, std::deque<answer>> script;  // by origin key + path
  std::vector<sent> requests;
  std::vector<std::chrono::nanoseconds> waits;
  int discarded = 0;
  bool cancel_waits = false;

  std::shared_ptr<hd::origin> origin_of(const hd::target& t) override {
    return origins_.find_or_add(t.key_view());
  }
  std::string request(const hd::origin&, const hd::target& t, std::string_view method,
                      bool with_body, bool foreign) override {
    requests.push_back({key(t), std::string(method), with_body, foreign});
    return std::string(method);
  }
  net::awaitable<hd::outcome> attempt(hd::origin&, const hd::target& t, const std::string&,
                                      bool) override {
    hd::outcome out;
    auto& q = script[key(t)];
    REQUIRE_MESSAGE(!q.empty(), "no scripted answer left for " << key(t));
    answer a = q.front();
    if (q.size() > 1) {
      q.pop_front();  // the last answer repeats
    }
    ++attempts;
    r_->status = a.kind == fetch_errc{} ? a.status : 0;
    r_->body = a.body;
    if (a.kind != fetch_errc{}) {
      out.fail(a.kind, "scripted " + std::string(sluice::name(a.kind)));
    }
    out.location = a.location;
    out.retry_after = a.retry_after;
    co_return out;
  }
  net::awaitable<bool> wait(std::chrono::nanoseconds d) override {
    waits.push_back(d);
    co_return !cancel_waits;
  }
  void discard_response() override { ++discarded; }
  // The same script, into the aside result while it runs.
  net::awaitable<sluice::result> fetch_aside(const hd::config& cfg, std::string url) override {
    asides.push_back(url);
    sluice::result aside;
    aside.url = std::move(url);
    auto* item = std::exchange(r_, &aside);
    co_await hd::fetch(*this, cfg, aside);
    r_ = item;
    co_return aside;
  }
  std::vector<std::string> asides;

  std::shared_ptr<hd::origin> origin(std::string_view key) { return origins_.find_or_add(key); }
  int attempts = 0;

 private:
  static std::string key(const hd::target& t) {
    return std::string(t.key_view()) + std::string(t.path);
  }
  hd::origin_table origins_;
  sluice::result* r_;
};

struct fetch_fixture {
  net::io_context ioc;
  hd::config cfg;
  sluice::result r;
  std::unique_ptr<fake_io> io;

  fetch_fixture() {
    cfg.backoff_base = 100ms;
    cfg.backoff_max = 1s;
  }
  fake_io& make() {
    io = std::make_unique<fake_io>(cfg, ioc, r);
    return *io;
  }
  void run(std::string url) {
    r.url = std::move(url);
    sluice::test::run_until(ioc, ioc.get_executor(), hd::fetch(*io, cfg, r), 5s);
  }
};

}  // namespace

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.retries_retryable_failures_with_backoff") {
  auto& f = make();
  f.script["http://a:80/x"] = {{503}, {.kind = fetch_errc::connect}, {200}};
  run("http://a/x");
  CHECK(r.error_kind.empty());
  CHECK(r.status == 200);
  CHECK(r.attempts == 3);
  CHECK(f.attempts == 3);
  REQUIRE(f.waits.size() == 2);
  CHECK(f.waits[0] <= 100ms);  // full jitter below base * 2^(n-1)
  CHECK(f.waits[1] <= 200ms);
  CHECK(f.requests.size() == 1);  // one request built for the hop
}

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.gives_up_after_attempts_and_on_other_kinds") {
  SUBCASE("a status that stays 503: the last response, a failure only with fail_status") {
    cfg.fail_status = {"5xx"};
    auto& f = make();
    f.script["http://a:80/"] = {{503}};
    run("http://a/");
    CHECK(r.attempts == cfg.attempts);
    CHECK(r.status == 503);
    CHECK(r.error_kind == "http_status");
  }
  SUBCASE("tls is not in the default retry classes") {
    auto& f = make();
    f.script["http://a:80/"] = {{.kind = fetch_errc::tls}};
    run("http://a/");
    CHECK(r.attempts == 1);
    CHECK(r.error_kind == "tls");
    CHECK(f.waits.empty());
  }
  SUBCASE("404 is an answer, not a retry: a failure by default (fail_status 4xx, 5xx)") {
    auto& f = make();
    f.script["http://a:80/"] = {{404}};
    run("http://a/");
    CHECK(r.attempts == 1);
    CHECK(r.status == 404);
    CHECK(r.error_kind == "http_status");
  }
}

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.retry_after_pauses_the_origin_capped") {
  cfg.retry_after_max = 2s;
  cfg.attempts = 1;
  auto& f = make();
  f.script["http://a:80/"] = {{.status = 429, .retry_after = 3600s}};
  auto before = sluice::clock::now();
  run("http://a/");
  CHECK(r.status == 429);
  auto until = f.origin("http://a:80")->gate.paused_until();
  CHECK(until >= before + 2s);
  CHECK(until <= sluice::clock::now() + 2s);
  CHECK(f.origin("http://b:80")->gate.paused_until() < before);  // other origins go on
}

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.redirect_chain_across_origins") {
  cfg.method = "POST";
  auto& f = make();
  f.script["http://a:80/1"] = {{.status = 307, .location = "http://b:8080/2"}};
  f.script["http://b:8080/2"] = {{.status = 303, .location = "http://a/3"}};
  f.script["http://a:80/3"] = {{200}};
  run("http://a/1");
  CHECK(r.error_kind.empty());
  CHECK(r.redirects == 2);
  CHECK(r.final_url == "http://a/3");
  CHECK(f.discarded == 2);
  REQUIRE(f.requests.size() == 3);
  CHECK(f.requests[0].method == "POST");
  CHECK_FALSE(f.requests[0].foreign);
  CHECK(f.requests[1].method == "POST");  // 307 keeps the method and body
  CHECK(f.requests[1].with_body);
  CHECK(f.requests[1].foreign);          // another origin: no credentials
  CHECK(f.requests[2].method == "GET");  // 303
  CHECK_FALSE(f.requests[2].with_body);
  CHECK_FALSE(f.requests[2].foreign);  // back on the item's origin
}

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.loops_bad_urls_and_cancellation") {
  SUBCASE("a loop") {
    auto& f = make();
    f.script["http://a:80/1"] = {{.status = 302, .location = "/2"}};
    f.script["http://a:80/2"] = {{.status = 302, .location = "/1"}};
    run("http://a/1");
    CHECK(r.error_kind == "redirect_loop");
    CHECK(r.redirects == 1);
  }
  SUBCASE("a bad URL is never sent") {
    auto& f = make();
    run("not a url");
    CHECK(r.error_kind == "bad_url");
    CHECK(f.attempts == 0);
  }
  SUBCASE("a cancelled backoff ends the item as cancelled") {
    auto& f = make();
    f.cancel_waits = true;
    f.script["http://a:80/"] = {{503}};
    run("http://a/");
    CHECK(r.error_kind == "cancelled");
    CHECK(r.attempts == 1);
  }
  SUBCASE("a cancelled attempt is not retried") {
    auto& f = make();
    f.script["http://a:80/"] = {{.kind = fetch_errc::cancelled}};
    run("http://a/");
    CHECK(r.error_kind == "cancelled");
    CHECK(f.waits.empty());
  }
}

TEST_CASE_FIXTURE(fetch_fixture, "http.fetch.robots_disallowed_hops_are_not_requested") {
  cfg.robots_obey = true;
  cfg.robots_agent = "sluice";
  cfg.attempts = 2;
  SUBCASE("rules of the item's origin, fetched once, and of a redirect's other origin") {
    auto& f = make();
    f.script["http://a:80/robots.txt"] = {
        {.status = 200, .body = "User-agent: *\nDisallow: /private\nCrawl-delay: 4\n"}};
    f.script["http://b:80/robots.txt"] = {
        {.status = 200, .body = "User-agent: sluice\nDisallow: /\n"}};
    f.script["http://a:80/open"] = {{.status = 302, .location = "http://b/x"}};
    run("http://a/private/1");
    CHECK(r.error_kind == "robots");
    CHECK(r.status == 0);
    CHECK(r.attempts == 0);
    CHECK(r.error_message.find("line 2: Disallow: /private") != std::string::npos);
    r = {};
    run("http://a/open");
    CHECK(r.error_kind == "robots");  // the hop to b, which disallows everything for sluice
    CHECK(r.final_url == "http://b/x");
    CHECK(f.asides == std::vector<std::string>{"http://a:80/robots.txt", "http://b:80/robots.txt"});
    CHECK(f.attempts == 3);  // two robots.txt and /open: never /private/1 nor b's /x
    CHECK(f.origin("http://a:80")->gate.rate() == doctest::Approx(0.25));  // Crawl-delay: 4
    CHECK(f.origin("http://b:80")->gate.rate() == 0);
  }
  SUBCASE("the stricter of rate and Crawl-delay wins") {
    cfg.rate_per_sec = 0.1;
    cfg.rate_burst = 2;  // robots.txt and the item at once
    auto& f = make();
    f.script["http://a:80/robots.txt"] = {
        {.status = 200, .body = "User-agent: *\nCrawl-delay: 2\n"}};
    f.script["http://a:80/"] = {{200}};
    run("http://a/");
    CHECK(r.error_kind.empty());
    CHECK(f.origin("http://a:80")->gate.rate() == doctest::Approx(0.1));
  }
  SUBCASE("5xx after the retries: everything disallowed; 404: everything allowed") {
    auto& f = make();
    f.script["http://a:80/robots.txt"] = {{503}};
    f.script["http://b:80/robots.txt"] = {{404}};
    f.script["http://b:80/x"] = {{200}};
    run("http://a/x");
    CHECK(r.error_kind == "robots");
    CHECK(r.error_message.find("HTTP 503 after 2 attempt(s)") != std::string::npos);
    r = {};
    run("http://b/x");
    CHECK(r.error_kind.empty());
    CHECK(r.status == 200);
    CHECK(f.attempts == 4);  // 503 twice (retried), 404 once, b's /x; never a's /x
  }
  SUBCASE("a network failure disallows; a redirect loop allows") {
    auto& f = make();
    f.script["http://a:80/robots.txt"] = {{.kind = fetch_errc::connect}};
    f.script["http://b:80/robots.txt"] = {{.status = 302, .location = "/robots.txt"}};
    f.script["http://b:80/x"] = {{200}};
    run("http://a/x");
    CHECK(r.error_kind == "robots");
    r = {};
    run("http://b/x");
    CHECK(r.error_kind.empty());
  }
  SUBCASE("a robots.txt redirect to another origin is followed, its rules apply to the first") {
    auto& f = make();
    f.script["http://a:80/robots.txt"] = {{.status = 301, .location = "http://c/r.txt"}};
    f.script["http://c:80/r.txt"] = {{.status = 200, .body = "User-agent: *\nDisallow: /x\n"}};
    run("http://a/x");
    CHECK(r.error_kind == "robots");
    CHECK(f.asides.size() == 1);  // c's own robots.txt is not read for the robots fetch
  }
}
