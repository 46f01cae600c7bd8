// The http consumer's retry rules, without a network: retry classes,
// full-jitter backoff, Retry-After in all three date forms and far dates.
#include "retry_policy.hpp"

#include "http_config.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
namespace hd = sluice::stages::http;

TEST_CASE("http.retry_policy.retry_after_forms") {
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

TEST_CASE("http.retry_policy.backoff_full_jitter") {
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

TEST_CASE("http.retry_policy.retry_classes") {
  std::vector<std::string> def = {"connect", "timeout", "reset", "5xx", "429"};
  struct row {
    const char* kind;
    int status;
    bool retry;
  };
  for (auto [kind, status, retry] :
       {row{"", 503, true}, row{"", 429, true}, row{"", 404, false}, row{"", 200, false},
        row{"connect", 0, true}, row{"timeout_connect", 0, true}, row{"timeout_header", 0, true},
        row{"timeout_total", 0, true}, row{"read", 0, true}, row{"write", 0, true},
        row{"tls", 0, false}, row{"bad_url", 0, false}, row{"body_limit", 0, false}}) {
    CHECK_MESSAGE(hd::should_retry(def, kind, status) == retry, kind << " " << status);
  }
  CHECK(hd::should_retry({"503"}, "", 503));
  CHECK_FALSE(hd::should_retry({"503"}, "", 502));
  CHECK(hd::status_matches({"4xx"}, 404));
  CHECK_FALSE(hd::status_matches({"4xx"}, 500));
  CHECK(hd::status_matches({"418"}, 418));
}

TEST_CASE("http.retry_policy.retry_after_far_dates_are_capped_not_now") {
  // Year 9999 once overflowed the nanosecond clock and meant "retry now".
  auto now = std::chrono::system_clock::from_time_t(1445412480);
  auto far = hd::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now);
  REQUIRE(far);
  CHECK(*far == hd::k_retry_after_ceiling);
  auto huge = hd::parse_retry_after("99999999999999999999999", now);
  REQUIRE(huge);
  CHECK(*huge == hd::k_retry_after_ceiling);
  CHECK(hd::parse_retry_after("31536000000", now).value() == hd::k_retry_after_ceiling);
  // Within the ceiling, a date is exact.
  CHECK(hd::parse_retry_after("Thu, 22 Oct 2015 07:28:00 GMT", now).value() == 24h);
}

TEST_CASE("http.retry_policy.kinds_by_enum_and_by_name_agree") {
  const std::vector<std::string> def = hd::config{}.retry_on;
  for (auto& row : sluice::fetch_errors()) {
    CHECK_MESSAGE(
        hd::should_retry(def, std::optional(row.code), 0) == hd::should_retry(def, row.name, 0),
        row.name);
  }
  CHECK_FALSE(hd::should_retry(def, "no_such_kind", 0));
  CHECK(hd::valid_status_pattern("5xx"));
  CHECK(hd::valid_status_pattern("404"));
  CHECK_FALSE(hd::valid_status_pattern("6xx"));
  CHECK_FALSE(hd::valid_status_pattern("4x"));
  CHECK_FALSE(hd::valid_status_pattern("40a"));
}
