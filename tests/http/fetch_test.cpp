// The fetch's rules over a fake network: which failures retry and how often,
// backoff waits, Retry-After pausing the origin (capped), fail_status,
// redirect chains across origins (credentials flagged for foreign hops, the
// method a 303 turns into), loops and cancellation. No socket: fetch_io is a
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
      : origins_(cfg, ioc.get_executor()), r_(r) {}

  std::map<std::string, std::deque<answer>> script;  // by origin key + path
  std::vector<sent> requests;
  std::vector<std::chrono::nanoseconds> waits;
  int discarded = 0;
  bool cancel_waits = false;

  std::shared_ptr<hd::origin> origin_of(const hd::target& t) override {
    return origins_.find_or_add(t.key_view());
  }
  std::string request(const hd::target& t, std::string_view method, bool with_body,
                      bool foreign) override {
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
    r_.status = a.kind == fetch_errc{} ? a.status : 0;
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

  std::shared_ptr<hd::origin> origin(std::string_view key) { return origins_.find_or_add(key); }
  int attempts = 0;

 private:
  static std::string key(const hd::target& t) {
    return std::string(t.key_view()) + std::string(t.path);
  }
  hd::origin_table origins_;
  sluice::result& r_;
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
