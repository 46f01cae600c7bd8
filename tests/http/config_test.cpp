// The http consumer's pure helpers and option parsing (no network).
#include "http_config.hpp"
#include "retry_policy.hpp"

#include <doctest/doctest.h>

#include "sluice/core/error.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stages/http.hpp"

using namespace std::chrono_literals;
namespace hd = sluice::stages::http;
namespace json = boost::json;

TEST_CASE("http.config.parse_rate") {
  CHECK(hd::parse_rate("50/s").value() == doctest::Approx(50));
  CHECK(hd::parse_rate("600/m").value() == doctest::Approx(10));
  CHECK(hd::parse_rate("36/h").value() == doctest::Approx(0.01));
  CHECK(hd::parse_rate("2.5/s").value() == doctest::Approx(2.5));
  CHECK(hd::parse_rate("7").value() == doctest::Approx(7));
  CHECK_FALSE(hd::parse_rate("fast"));
  CHECK_FALSE(hd::parse_rate("0/s"));
  CHECK_FALSE(hd::parse_rate("-1/s"));
  CHECK_FALSE(hd::parse_rate("5/fortnight"));
  CHECK_FALSE(hd::parse_rate(""));
}

TEST_CASE("http.config.retry_after_forms") {
  auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  CHECK(hd::parse_retry_after("120", now).value() == 120s);
  CHECK(hd::parse_retry_after(" 0 ", now).value() == 0s);
  CHECK(hd::parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now).value() == 30s);
  CHECK(hd::parse_retry_after("Wednesday, 21-Oct-15 07:29:00 GMT", now).value() == 60s);
  CHECK(hd::parse_retry_after("Wed Oct 21 07:28:10 2015", now).value() == 10s);
  CHECK(hd::parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now).value() == 0s);  // past
  CHECK_FALSE(hd::parse_retry_after("soon", now));
  CHECK_FALSE(hd::parse_retry_after("", now));
  CHECK_FALSE(hd::parse_retry_after("-5", now));
}

TEST_CASE("http.config.backoff_full_jitter") {
  std::minstd_rand rng(42);
  for (std::uint32_t n = 1; n <= 12; ++n) {
    auto cap = std::min<std::chrono::nanoseconds>(100ms * (1 << (n - 1)), 2s);
    for (int i = 0; i < 50; ++i) {
      auto d = hd::backoff_delay(n, 100ms, 2s, rng);
      CHECK(d >= 0ns);
      CHECK(d <= cap);
    }
  }
  CHECK(hd::backoff_delay(0, 100ms, 2s, rng) == 0ns);
  // Jitter: not all the same.
  auto a = hd::backoff_delay(5, 100ms, 2s, rng);
  bool differs = false;
  for (int i = 0; i < 20 && !differs; ++i) {
    differs = hd::backoff_delay(5, 100ms, 2s, rng) != a;
  }
  CHECK(differs);
}

TEST_CASE("http.config.retry_classes") {
  std::vector<std::string> def = {"connect", "timeout", "reset", "5xx", "429"};
  CHECK(hd::should_retry(def, "", 503));
  CHECK(hd::should_retry(def, "", 429));
  CHECK_FALSE(hd::should_retry(def, "", 404));
  CHECK_FALSE(hd::should_retry(def, "", 200));
  CHECK(hd::should_retry(def, "connect", 0));
  CHECK(hd::should_retry(def, "timeout_connect", 0));
  CHECK(hd::should_retry(def, "timeout_header", 0));
  CHECK(hd::should_retry(def, "timeout_total", 0));
  CHECK(hd::should_retry(def, "read", 0));
  CHECK(hd::should_retry(def, "write", 0));
  CHECK_FALSE(hd::should_retry(def, "tls", 0));
  CHECK_FALSE(hd::should_retry(def, "bad_url", 0));
  CHECK_FALSE(hd::should_retry(def, "body_limit", 0));
  CHECK(hd::should_retry({"503"}, "", 503));
  CHECK_FALSE(hd::should_retry({"503"}, "", 502));
  CHECK(hd::status_matches({"4xx"}, 404));
  CHECK_FALSE(hd::status_matches({"4xx"}, 500));
  CHECK(hd::status_matches({"418"}, 418));
}

TEST_CASE("http.config.schema_and_errors") {
  sluice::registry reg;
  sluice::register_http_stages(reg);
  const auto* info = reg.find(sluice::stage_kind::consumer, "http");
  REQUIRE(info != nullptr);
  std::vector<std::string> names;
  for (auto& s : info->schema) {
    names.push_back(s.name);
    CHECK_MESSAGE(!s.doc.empty(), s.name);
  }
  for (const char* n :
       {"per_host",   "pool",         "rate",        "burst",      "timeouts",   "retry",
        "redirects",  "method",       "headers",     "body",       "basic_auth", "user_agent",
        "decompress", "max_decoded",  "tls",         "max_header", "max_body",   "memory_body",
        "keep_body",  "keep_headers", "fail_status", "dns_ttl",    "recv_buffer"}) {
    CHECK_MESSAGE(std::find(names.begin(), names.end(), n) != names.end(), n);
  }
  auto expect_error = [&](json::object o, const std::string& option) {
    try {
      info->validate(sluice::options(std::move(o), "consumers"));
      FAIL("no config_error for " << option);
    } catch (const sluice::config_error& e) {
      CHECK(e.option() == option);
    }
  };
  expect_error({{"rate", "lots"}}, "rate");
  expect_error({{"retry", json::object{{"on", json::array{"sometimes"}}}}}, "retry.on");
  expect_error({{"fail_status", json::array{"4x"}}}, "fail_status");
  expect_error({{"method", "GE T"}}, "method");
  expect_error({{"recv_buffer", std::uint64_t{2} << 30}}, "recv_buffer");
  // A good configuration passes.
  info->validate(sluice::options(json::object{{"rate", "50/s"}, {"per_host", 4}}, "consumers"));
  auto cfg = hd::parse_config(
      sluice::options(json::object{{"rate", "50/s"},
                                   {"burst", 5},
                                   {"retry", json::object{{"on", json::array{"5XX", "429"}}}}},
                      "consumers"),
      nullptr);
  CHECK(cfg.rate_per_sec == doctest::Approx(50));
  CHECK(cfg.rate_burst == doctest::Approx(5));
  CHECK(cfg.retry_on == std::vector<std::string>{"5xx", "429"});
  CHECK(cfg.max_header == 64 * 1024);
  CHECK(cfg.max_body == 32 * 1024 * 1024);
  CHECK(cfg.max_redirects == 10);
  CHECK(cfg.recv_buffer == 1024 * 1024);
  auto autotuned =
      hd::parse_config(sluice::options(json::object{{"recv_buffer", 0}}, "consumers"), nullptr);
  CHECK(autotuned.recv_buffer == 0);
  auto big = hd::parse_config(
      sluice::options(json::object{{"recv_buffer", 4 * 1024 * 1024}}, "consumers"), nullptr);
  CHECK(big.recv_buffer == 4 * 1024 * 1024);
}
