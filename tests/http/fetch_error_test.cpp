// The one table of error kinds: lookups both ways, classes as error
// conditions, the retry classes the http consumer derives from it, and the
// docs table (docs/http.md) that must hold its Markdown verbatim.
// `SLUICE_UPDATE_DOCS=1 ctest -R http_fetch_error` rewrites them.
#include "sluice/core/fetch_error.hpp"

#include <string>

#include <doctest/doctest.h>

#include "retry_policy.hpp"
#include "test_support.hpp"

using sluice::fetch_condition;
using sluice::fetch_errc;

TEST_CASE("fetch_error.table.names_round_trip") {
  for (auto& e : sluice::fetch_errors()) {
    CHECK(sluice::fetch_errc_from_name(e.name) == e.code);
    CHECK(sluice::name(e.code) == e.name);
    CHECK(sluice::fetch_condition_from_name(sluice::name(e.condition)) == e.condition);
    CHECK(!e.doc.empty());
    auto ec = make_error_code(e.code);
    CHECK(ec == e.condition);  // the condition compares equal, Beast style
    CHECK(ec.message() == std::string(e.doc));
  }
  CHECK(!sluice::fetch_errc_from_name("timeout"));
  CHECK(sluice::error_class_of("timeout_header") == "timeout");
  CHECK(sluice::error_class_of("read") == "reset");
  CHECK(sluice::error_class_of("") == "");
  CHECK(make_error_code(fetch_errc::timeout_connect) != fetch_condition::connect);
}

TEST_CASE("fetch_error.retry.classes_follow_the_table") {
  using sluice::stages::http::should_retry;
  std::vector<std::string> timeout{"timeout"}, connect{"connect"}, reset{"reset"};
  CHECK(should_retry(timeout, "timeout_header", 0));
  CHECK(should_retry(timeout, "timeout_total", 0));
  CHECK(should_retry(timeout, "timeout_connect", 0));
  CHECK(should_retry(connect, "timeout_connect", 0));  // also a failed connect
  CHECK_FALSE(should_retry(connect, "timeout_header", 0));
  CHECK(should_retry(reset, "read", 0));
  CHECK(should_retry(reset, "write", 0));
  CHECK_FALSE(should_retry(reset, "protocol", 0));
  CHECK_FALSE(should_retry(timeout, "unknown_kind", 0));
}

TEST_CASE("fetch_error.docs.tables_are_generated_from_the_table") {
  for (const auto& problem : sluice::test::check_doc_table(
           {"docs/http.md"}, "| kind | class | when |", sluice::fetch_errors_markdown())) {
    FAIL_CHECK(problem);
  }
}
