// Per-site rules of the http consumer (`hosts:`) and the pieces of
// `per_host: auto`: match patterns (parse, match, cover), the effective
// config of a rule, rules that can never match reported by `sluice check`
// at file:line:col (exit 2), the AIMD law on synthetic samples, the permit
// pool resized without losing permits, and a run against two origins of the
// built-in server where only the matching one gets a rule's header and
// timeout.
#include "http_config.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "admission.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

namespace hd = sluice::stages::http;
namespace json = boost::json;
namespace net = boost::asio;
using namespace std::chrono_literals;
using namespace sluice::test;

namespace {

hd::host_pattern pattern(std::string_view text) {
  std::string why;
  auto p = hd::parse_host_pattern(text, why);
  REQUIRE_MESSAGE(p, text << ": " << why);
  return *p;
}

/// Starts `f` on `ioc`; an exception from it fails the test.
template <class F>
void spawn(net::io_context& ioc, F f) {
  net::co_spawn(ioc, std::move(f), [](std::exception_ptr e) {
    if (e) {
      std::rethrow_exception(e);
    }
  });
}

bool malformed(std::string_view text) {
  std::string why;
  auto p = hd::parse_host_pattern(text, why);
  return !p && !why.empty();
}

hd::config parse(json::object o) {
  return hd::parse_config(sluice::options(std::move(o), "consumers"), nullptr);
}

json::object rule(std::string match, json::object rest = {}) {
  rest["match"] = std::move(match);
  return rest;
}

std::vector<std::string> error_paths(json::object o) {
  std::vector<std::string> paths;
  try {
    (void)parse(std::move(o));
  } catch (const sluice::config_errors& e) {
    for (const auto& x : e.errors()) {
      paths.push_back(x.option());
    }
  } catch (const sluice::config_error& e) {
    paths.push_back(e.option());
  }
  return paths;
}

}  // namespace

TEST_CASE("http.hosts.patterns_match_as_documented") {
  auto sub = pattern("*.Example.com");
  CHECK(sub.matches("a.example.com", 80));
  CHECK(sub.matches("A.B.EXAMPLE.COM", 8443));
  CHECK_FALSE(sub.matches("example.com", 80));     // not the apex
  CHECK_FALSE(sub.matches("badexample.com", 80));  // a label boundary, not a suffix
  CHECK_FALSE(sub.matches("example.com.evil", 80));

  auto exact = pattern("api.example.com:8443");
  CHECK(exact.matches("API.example.com", 8443));
  CHECK_FALSE(exact.matches("api.example.com", 443));
  CHECK(pattern("api.example.com").matches("api.example.com", 1));

  CHECK(pattern("*").matches("anything", 5));
  CHECK(pattern("*:8080").matches("x", 8080));
  CHECK_FALSE(pattern("*:8080").matches("x", 8081));
  CHECK(pattern("127.0.0.1:9").matches("127.0.0.1", 9));
  CHECK(pattern("[::1]:9").matches("::1", 9));

  for (auto bad :
       {"", "*.", ":80", "a.*.com", "**", "http://a.com", "a.com/x", "u@a.com", "a.com:0",
        "a.com:65536", "a.com:x", "*.127.0.0.1", "a..com", ".a.com", "a.com."}) {
    CHECK_MESSAGE(malformed(bad), std::string(bad));
  }
}

TEST_CASE("http.hosts.cover_is_a_superset") {
  CHECK(pattern("*").covers(pattern("a.com:1")));
  CHECK(pattern("*.a.com").covers(pattern("x.a.com")));
  CHECK(pattern("*.a.com").covers(pattern("*.x.a.com")));
  CHECK(pattern("*.a.com").covers(pattern("*.a.com:80")));
  CHECK_FALSE(pattern("*.a.com").covers(pattern("a.com")));
  CHECK_FALSE(pattern("*.a.com:80").covers(pattern("x.a.com")));  // any port is wider
  CHECK(pattern("a.com").covers(pattern("a.com:443")));
  CHECK_FALSE(pattern("a.com:443").covers(pattern("a.com")));
  CHECK_FALSE(pattern("x.a.com").covers(pattern("*.a.com")));
  CHECK_FALSE(pattern("*:80").covers(pattern("*")));
}

TEST_CASE("http.hosts.a_rule_lays_its_keys_over_the_consumer") {
  auto c =
      parse({{"per_host", "4"},
             {"headers", json::object{{"X-A", "base"}, {"X-B", "base"}}},
             {"timeouts", json::object{{"header", 5'000'000'000}}},
             {"hosts", json::array{rule("*.slow.test", {{"per_host", "auto"},
                                                        {"adaptive", json::object{{"max", 16}}},
                                                        {"headers", json::object{{"x-a", "rule"}}},
                                                        {"retry", json::object{{"attempts", 7}}}}),
                                   rule("fast.test:8080", {{"rate", "5/s"}})}}});
  REQUIRE(c.hosts.size() == 2);
  CHECK(hd::match_host_rule(c, "a.slow.test", 80) == 0);
  CHECK(hd::match_host_rule(c, "fast.test", 8080) == 1);
  CHECK(hd::match_host_rule(c, "fast.test", 80) == -1);
  const auto& r0 = *c.hosts[0].cfg;
  CHECK(r0.per_host_auto);
  CHECK(r0.adaptive_min == 1);
  CHECK(r0.adaptive_max == 16);
  CHECK(r0.attempts == 7);
  CHECK(r0.header_timeout == 5s);  // the consumer's, not the built-in default
  REQUIRE(r0.headers.size() == 2);
  CHECK(r0.headers[0] == std::pair<std::string, std::string>{"X-B", "base"});
  CHECK(r0.headers[1] == std::pair<std::string, std::string>{"x-a", "rule"});
  const auto& r1 = *c.hosts[1].cfg;
  CHECK(r1.per_host == 4);
  CHECK_FALSE(r1.per_host_auto);
  CHECK(r1.rate_per_sec == doctest::Approx(5.0));
  CHECK(r1.attempts == c.attempts);
  CHECK(c.rate_per_sec == 0);  // the consumer itself is untouched
}

TEST_CASE("http.hosts.rules_that_can_never_match_are_errors") {
  SUBCASE("shadowed by an earlier wider rule") {
    auto paths =
        error_paths({{"hosts", json::array{rule("*.example.com"), rule("example.com"),
                                           rule("a.example.com"), rule("*"), rule("b.test:80")}}});
    CHECK(paths == std::vector<std::string>{"hosts[2].match", "hosts[4].match"});
  }
  SUBCASE("a duplicate") {
    auto paths = error_paths({{"hosts", json::array{rule("a.test:81"), rule("a.test:81")}}});
    CHECK(paths == std::vector<std::string>{"hosts[1].match"});
  }
  SUBCASE("malformed, and bad values inside a rule") {
    auto paths =
        error_paths({{"hosts", json::array{rule("a.*.test"), rule("b.test", {{"per_host", "lots"}}),
                                           rule("c.test", {{"rate", "fast"}})}}});
    CHECK(paths ==
          std::vector<std::string>{"hosts[0].match", "hosts[1].per_host", "hosts[2].rate"});
  }
  SUBCASE("per_host and adaptive bounds") {
    CHECK(error_paths({{"per_host", "-1"}}) == std::vector<std::string>{"per_host"});
    CHECK(
        error_paths({{"per_host", "auto"}, {"adaptive", json::object{{"min", 10}, {"max", 5}}}}) ==
        std::vector<std::string>{"adaptive.max"});
    CHECK(parse({{"per_host", "AUTO"}}).per_host_auto);
    CHECK(parse({{"per_host", 3}}).per_host == 3);
  }
}

TEST_CASE("http.hosts.sluice_check_reports_them_at_their_line") {
  temp_dir d;
  SUBCASE("shadowed and malformed rules") {
    write_file(d / "p.yaml",
               "producers: [{type: list, urls: [\"http://a.example.com/\"]}]\n"
               "consumers:\n"
               "  type: http\n"
               "  hosts:\n"
               "    - match: \"*.example.com\"\n"
               "      per_host: 2\n"
               "    - match: a.example.com\n"
               "      per_host: 9\n"
               "    - {match: \"x:y:z\"}\n"
               "    - {match: ok.test, per_host: many}\n"
               "sinks: [{type: null}]\n");
    auto r = run_process({sluice_bin(), "check", (d / "p.yaml").string()});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.yaml:7:7: error: hosts[1] (match 'a.example.com') can never match: "
                     "hosts[0]") != std::string::npos);
    CHECK(r.err.find("p.yaml:9:8: error: hosts[2]: malformed match 'x:y:z'") != std::string::npos);
    CHECK(r.err.find("p.yaml:10:24: error: per_host must be") != std::string::npos);
    CHECK(r.err.find("3 errors") != std::string::npos);
  }
  SUBCASE("schema errors inside a rule") {
    write_file(d / "p.yaml",
               "producers: [{type: list, urls: [\"http://a.example.com/\"]}]\n"
               "consumers:\n"
               "  type: http\n"
               "  hosts:\n"
               "    - {match: ok.test, timeouts: {header: soon}}\n"
               "    - {mtch: typo.test}\n"
               "    - just-a-string\n"
               "sinks: [{type: null}]\n");
    auto r = run_process({sluice_bin(), "check", (d / "p.yaml").string()});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("p.yaml:5:43: error: 'consumers.hosts[0].timeouts.header' is not a "
                     "duration") != std::string::npos);
    CHECK(r.err.find("p.yaml:6:8: error: unknown option 'mtch' in consumers.hosts[1]") !=
          std::string::npos);
    CHECK(r.err.find("did you mean 'match'?") != std::string::npos);
    CHECK(r.err.find("p.yaml:7:7: error: 'consumers.hosts[2]' must be a mapping") !=
          std::string::npos);
  }
  SUBCASE("a good file passes") {
    write_file(d / "p.yaml",
               "producers: [{type: list, urls: [\"http://a.example.com/\"]}]\n"
               "consumers:\n"
               "  type: http\n"
               "  hosts:\n"
               "    - {match: a.example.com, per_host: auto, adaptive: {max: 8}}\n"
               "    - {match: \"*.example.com\", headers: {X-A: b}}\n"
               "    - {match: \"*\", rate: 2/s}\n"
               "sinks: [{type: null}]\n");
    auto r = run_process({sluice_bin(), "check", (d / "p.yaml").string()});
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
}

TEST_CASE("http.adaptive.aimd_law") {
  using hd::congestion_signal;
  auto t0 = sluice::clock::now();
  auto now = t0;
  SUBCASE("slow start doubles, its end halves, then a signal cuts by 0.9 once per round trip") {
    hd::aimd_limit a(1, 64);
    for (int i = 0; i < 20; ++i) {
      now += 20ms;
      a.on_sample(now - 20ms, 20ms, congestion_signal::none, now, now, true);
    }
    CHECK(a.limit() == 21);
    auto before_cut = now;
    now += 1ms;
    CHECK(a.on_sample(before_cut, 20ms, congestion_signal::congested, now, now, true) == 10);
    // another failure of a request that started before the cut: ignored
    CHECK(a.on_sample(before_cut, 20ms, congestion_signal::congested, now + 1ms, now, true) == 10);
    // a new one cuts again, now by 0.9; at least one less, never below min
    CHECK(a.on_sample(now + 1ms, 20ms, congestion_signal::congested, now + 2ms, now, true) == 9);
    CHECK(a.on_sample(now + 3ms, 20ms, congestion_signal::congested, now + 4ms, now, true) == 8);
  }
  SUBCASE("after slow start: one more per window at the baseline, hold when not used fully") {
    hd::aimd_limit a(4, 6);
    now += 1ms;
    a.on_sample(now, 0ms, congestion_signal::congested, now, now, true);  // ends slow start
    REQUIRE(a.limit() == 4);
    auto sample = [&](bool used) {
      auto start = now + 1ms;
      now += 21ms;
      return a.on_sample(start, 20ms, congestion_signal::none, now, now, used);
    };
    for (int i = 0; i < 4; ++i) {
      sample(false);
    }
    CHECK(a.limit() == 4);  // app-limited: no growth
    for (int i = 0; i < 4; ++i) {
      sample(true);
    }
    CHECK(a.limit() == 5);
    for (int i = 0; i < 30; ++i) {
      sample(true);
    }
    CHECK(a.limit() == 6);  // the max
  }
  SUBCASE("latency far over the baseline decreases, and so does a slow outstanding request") {
    hd::aimd_limit a(1, 64);
    for (int i = 0; i < 10; ++i) {
      now += 20ms;
      a.on_sample(now - 20ms, 20ms, congestion_signal::none, now, now, true);
    }
    auto l = a.limit();
    // one request has been outstanding for 500 ms
    auto stuck_since = now - 500ms;
    for (std::uint32_t i = 0; i < l; ++i) {
      now += 20ms;
      a.on_sample(now - 20ms, 20ms, congestion_signal::none, now, stuck_since, true);
    }
    // it began after the last cut (none yet): one decrease (the end of slow
    // start: a half), then a hold (no growth, no second cut for the same
    // slow request)
    CHECK(a.limit() == l / 2);
    l = a.limit();
    // a window with a mean at 5x the baseline decreases
    auto start = now;
    for (std::uint32_t i = 0; i < l; ++i) {
      now += 1ms;
      a.on_sample(start, 100ms, congestion_signal::none, now, now, true);
    }
    CHECK(a.limit() < l);
    CHECK(a.limit() >= 1);
    CHECK(a.baseline() <= 25ms);
  }
}

TEST_CASE("http.adaptive.the_pool_resizes_without_losing_permits") {
  net::io_context ioc;
  hd::config c;
  c.per_host_auto = true;
  c.adaptive_min = 2;
  c.adaptive_max = 8;
  hd::admission gate(ioc.get_executor(), c);
  CHECK(gate.adaptive());
  CHECK(gate.limit() == 2);
  // Slow start: each fast sample with the pool fully used adds one permit.
  std::vector<hd::permit_guard> held(8);
  auto admit_all = [&](std::size_t n) {
    std::size_t got = 0;
    for (std::size_t i = 0; i < n; ++i) {
      spawn(ioc, [&, i]() -> net::awaitable<void> {
        if (co_await gate.admit(held[i])) {
          ++got;
        }
      });
    }
    ioc.run_for(50ms);
    ioc.restart();
    return got;
  };
  CHECK(admit_all(2) == 2);
  CHECK(gate.in_flight() == 2);
  gate.complete(held[0], hd::congestion_signal::none, 1ms);
  CHECK(gate.limit() == 3);
  CHECK(gate.in_flight() == 1);
  // Two permits free now (3 - 1 held): a third waiter stays waiting.
  std::size_t got = 0;
  for (std::size_t i : {2u, 3u, 4u}) {
    spawn(ioc, [&, i]() -> net::awaitable<void> {
      if (co_await gate.admit(held[i])) {
        ++got;
      }
    });
  }
  ioc.run_for(50ms);
  ioc.restart();
  CHECK(got == 2);
  CHECK(gate.in_flight() == 3);
  // A congestion signal shrinks the limit below what is held: releases
  // withdraw permits until the pool is back at the limit, and the waiter
  // is admitted only then.
  gate.complete(held[1], hd::congestion_signal::congested, 1ms);
  CHECK(gate.limit() == 2);
  ioc.run_for(20ms);
  ioc.restart();
  CHECK(got == 2);  // 2 held = the limit: the waiter still waits
  held[2].release();
  ioc.run_for(20ms);
  ioc.restart();
  CHECK(got == 3);
  CHECK(gate.in_flight() == 2);
  for (auto& p : held) {
    p.release();
  }
  CHECK(gate.in_flight() == 0);
  // Every permit is back: exactly `limit` admissions succeed at once.
  std::vector<hd::permit_guard> again(4);
  std::size_t n = 0;
  for (auto& p : again) {
    spawn(ioc, [&]() -> net::awaitable<void> {
      if (co_await gate.admit(p)) {
        ++n;
      }
    });
  }
  ioc.run_for(50ms);
  CHECK(n == gate.limit());
  for (auto& p : again) {
    p.release();
  }
  ioc.restart();
  ioc.run_for(20ms);  // the still-waiting coroutines get the released permits
  for (auto& p : again) {
    p.release();
  }
}

TEST_CASE("http.adaptive.set_rate_applies_from_now_on") {
  net::io_context ioc;
  hd::admission gate(ioc.get_executor(), 0, 0, 1);
  CHECK_FALSE(gate.limited());
  gate.set_rate(2.0);
  CHECK(gate.limited());
  CHECK(gate.rate() == doctest::Approx(2.0));
  gate.set_rate(-1);
  CHECK(gate.rate() == 0);
  gate.set_rate(std::numeric_limits<double>::infinity());
  CHECK(gate.rate() == 0);
}

TEST_CASE("http.hosts.a_rule_applies_to_its_origin_only") {
  // The same server under two names is two origins: 127.0.0.1 and localhost.
  sluice::origin_server server(sluice::origin_options{});
  server.start();
  auto port = std::to_string(server.port());
  temp_dir d;
  write_file(d / "p.yaml",
             "producers:\n"
             "  - {type: list, urls: [\"http://127.0.0.1:" +
                 port +
                 "/echo\", "
                 "\"http://localhost:" +
                 port + "/echo\", \"http://localhost:" + port +
                 "/delay/1500\", \"http://127.0.0.1:" + port +
                 "/delay/1500\"]}\n"
                 "consumers:\n"
                 "  type: http\n"
                 "  workers: 4\n"
                 "  headers: {X-Site: default}\n"
                 "  retry: {attempts: 1}\n"
                 "  hosts:\n"
                 "    - match: localhost:" +
                 port +
                 "\n"
                 "      headers: {X-Site: local}\n"
                 "      per_host: 1\n"
                 "      timeouts: {header: 300ms}\n"
                 "sinks: [{type: jsonl, path: out.jsonl, body: true}]\n"
                 "max_failed: 10\n");
  auto r = run_process({sluice_bin(), "run", (d / "p.yaml").string(), "--no-state", "--no-progress",
                        "--stats-json", (d / "stats.json").string()});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  auto lines = read_file(d / "out.jsonl");
  std::map<std::string, json::object> by_url;
  std::size_t pos = 0;
  while (pos < lines.size()) {
    auto nl = lines.find('\n', pos);
    auto v = json::parse(lines.substr(pos, nl - pos)).as_object();
    by_url[std::string(v.at("url").as_string())] = v;
    pos = nl == std::string::npos ? lines.size() : nl + 1;
  }
  REQUIRE(by_url.size() == 4);
  auto body = [&](const std::string& url) {
    return std::string(by_url.at(url).at("body").as_string());
  };
  CHECK(body("http://localhost:" + port + "/echo").find("\"x-site\":\"local\"") !=
        std::string::npos);
  CHECK(body("http://127.0.0.1:" + port + "/echo").find("\"x-site\":\"default\"") !=
        std::string::npos);
  // The rule's header timeout applies to localhost only.
  CHECK(by_url.at("http://localhost:" + port + "/delay/1500").at("error_kind") == "timeout_header");
  CHECK(by_url.at("http://127.0.0.1:" + port + "/delay/1500").at("status") == 200);
  // The report lists the limited origin (per_host 1 from the rule).
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  const auto& limits = stats.at("origin_limits").as_array();
  REQUIRE(limits.size() == 1);
  CHECK(std::string(limits[0].at("origin").as_string()) == "http://localhost:" + port);
  CHECK(limits[0].at("limit") == 1);
  CHECK(limits[0].at("adaptive") == false);
  CHECK(r.err.find("per_host 1") != std::string::npos);
}
