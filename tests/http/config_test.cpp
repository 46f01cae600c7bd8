// The http consumer's pure helpers and option parsing (no network).
#include "http_config.hpp"

#include <doctest/doctest.h>

#include "sluice/config/config.hpp"
#include "sluice/core/error.hpp"
#include "sluice/stage/registry.hpp"
#include "sluice/stages/builtin.hpp"
#include "sluice/stages/http.hpp"

using namespace std::chrono_literals;
namespace hd = sluice::stages::http;
namespace json = boost::json;

TEST_CASE("http.config.parse_rate") {
  const std::pair<const char*, double> good[] = {
      {"50/s", 50}, {"600/m", 10}, {"36/h", 0.01}, {"2.5/s", 2.5}, {"7", 7}};
  for (auto [text, per_second] : good) {
    CHECK_MESSAGE(hd::parse_rate(text).value() == doctest::Approx(per_second), text);
  }
  for (const char* bad : {"fast", "0/s", "-1/s", "5/fortnight", ""}) {
    CHECK_MESSAGE(!hd::parse_rate(bad), bad);
  }
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
  expect_error({{"retry", json::object{{"on", json::array{"sometimes"}}}}}, "retry.on[0]");
  expect_error({{"fail_status", json::array{"4x"}}}, "fail_status[0]");
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

TEST_CASE("http.config.defaults_are_the_structs") {
  // The schema's defaults are read from a default-constructed config, so a
  // pipeline that sets nothing parses back to exactly that config.
  sluice::registry reg;
  sluice::register_builtin_stages(reg);
  auto loaded = sluice::load_pipeline_text(R"(producers:
  - type: list
    urls: ["http://127.0.0.1/"]
consumers:
  type: http
sinks:
  - type: "null"
)",
                                           "p.yaml", reg, {});
  REQUIRE_MESSAGE(loaded.config, (loaded.diagnostics.empty() ? "" : loaded.diagnostics[0].message));
  auto c = hd::parse_config(loaded.config->consumer.opts, nullptr);
  const hd::config d;
  CHECK(c.per_host == d.per_host);
  CHECK(c.pool_max_idle == d.pool_max_idle);
  CHECK(c.pool_idle_timeout == d.pool_idle_timeout);
  CHECK(c.rate_per_sec == d.rate_per_sec);
  CHECK(c.rate_burst == d.rate_burst);
  CHECK(c.connect_timeout == d.connect_timeout);
  CHECK(c.header_timeout == d.header_timeout);
  CHECK(c.total_timeout == d.total_timeout);
  CHECK(c.min_speed == d.min_speed);
  CHECK(c.speed_window == d.speed_window);
  CHECK(c.attempts == d.attempts);
  CHECK(c.backoff_base == d.backoff_base);
  CHECK(c.backoff_max == d.backoff_max);
  CHECK(c.retry_on == d.retry_on);
  CHECK(c.retry_after_max == d.retry_after_max);
  CHECK(c.max_redirects == d.max_redirects);
  CHECK(c.redirect_trusted == d.redirect_trusted);
  CHECK(c.method == d.method);
  CHECK(c.user_agent == d.user_agent);
  CHECK(c.user_agent == "sluice/" SLUICE_VERSION);
  CHECK(c.decompress == d.decompress);
  CHECK(c.max_decoded == d.max_decoded);
  CHECK(c.tls_verify == d.tls_verify);
  CHECK(c.max_header == d.max_header);
  CHECK(c.max_body == d.max_body);
  CHECK(c.memory_body == d.memory_body);
  CHECK(c.recv_buffer == d.recv_buffer);
  CHECK(c.keep_body == d.keep_body);
  CHECK(c.keep_headers == d.keep_headers);
  CHECK(c.fail_status == d.fail_status);
  CHECK(c.dns_ttl == d.dns_ttl);
}
