// The `when:` expression language: parsing, typing, evaluation, errors.
#include "sluice/runtime/filter.hpp"

#include <doctest/doctest.h>

namespace {

sluice::result res(int status, std::string error_kind = "", std::uint64_t bytes = 0,
                   std::string url = "http://a/x") {
  sluice::result r;
  r.url = std::move(url);
  r.status = status;
  r.error_kind = std::move(error_kind);
  r.bytes = bytes;
  r.attempts = 1;
  return r;
}

bool eval(const std::string& expr, const sluice::result& r) {
  std::string err;
  int col = -1;
  auto f = sluice::result_filter::parse(expr, err, col);
  INFO(expr, " -> ", err);
  REQUIRE(f);
  return f->matches(r);
}

std::pair<std::string, int> error_of(const std::string& expr) {
  std::string err;
  int col = -1;
  auto f = sluice::result_filter::parse(expr, err, col);
  CHECK_MESSAGE(!f, expr);
  CHECK(!err.empty());
  return {err, col};
}

}  // namespace

TEST_CASE("filter.parse.fields_and_booleans") {
  CHECK(eval("ok", res(200)));
  CHECK_FALSE(eval("ok", res(0, "timeout_total")));
  CHECK(eval("!ok", res(0, "timeout_total")));
  CHECK(eval("not ok", res(0, "timeout_total")));
  CHECK(eval("!!ok", res(200)));
  CHECK(eval("ok == true", res(200)));
  CHECK(eval("ok != false", res(200)));
  CHECK(eval("true", res(0, "x")));
  CHECK_FALSE(eval("false", res(200)));
  // Non-boolean operands are truthy when non-zero / non-empty.
  CHECK(eval("error_kind", res(0, "timeout_total")));
  CHECK_FALSE(eval("error_kind", res(200)));
  CHECK(eval("bytes", res(200, "", 5)));
}

TEST_CASE("filter.parse.comparisons") {
  CHECK(eval("status >= 200 && status < 300", res(204)));
  CHECK_FALSE(eval("status >= 200 && status < 300", res(301)));
  CHECK(eval("status == 404", res(404)));
  CHECK(eval("status != 404", res(200)));
  CHECK(eval("status <= 200", res(200)));
  CHECK(eval("status > 199", res(200)));
  CHECK(eval("bytes > 1000000", res(200, "", 2000000)));
  CHECK(eval("attempts == 1", res(200)));
  CHECK(eval("error_kind == \"timeout_header\"", res(0, "timeout_header")));
  CHECK(eval("error_kind == 'timeout_total'", res(0, "timeout_total")));
  CHECK(eval("error_kind != \"timeout_total\"", res(0, "connect")));
  CHECK(eval("url == \"http://a/x\"", res(200)));
  CHECK(eval("\"a\" < \"b\"", res(200)));
  CHECK(eval("url == \"q\\\"x\"", res(200, "", 0, "q\"x")));
}

TEST_CASE("filter.parse.error_class_matches_every_kind_of_the_class") {
  // The kinds a timeout really produces: error_kind == "timeout" matches none.
  for (const char* kind : {"timeout_connect", "timeout_header", "timeout_total"}) {
    CHECK(eval("error_class == \"timeout\"", res(0, kind)));
    CHECK_FALSE(eval("error_kind == \"timeout\"", res(0, kind)));
  }
  CHECK(eval("error_class == 'reset'", res(0, "read")));
  CHECK(eval("error_class == 'reset'", res(0, "write")));
  CHECK(eval("error_class == 'redirect'", res(0, "too_many_redirects")));
  CHECK_FALSE(eval("error_class == \"timeout\"", res(0, "connect")));
  CHECK_FALSE(eval("error_class", res(200)));
  // A kind the table does not know (a plugin's own) has no class.
  CHECK_FALSE(eval("error_class", res(0, "plugin_specific")));
}

TEST_CASE("filter.parse.status_classes") {
  CHECK(eval("status == 2xx", res(200)));
  CHECK(eval("status == 2xx", res(299)));
  CHECK_FALSE(eval("status == 2xx", res(300)));
  CHECK(eval("status == 5XX", res(503)));
  CHECK(eval("status != 2xx", res(404)));
  CHECK(eval("4xx == status", res(418)));
  CHECK_FALSE(eval("status == 2xx", res(0, "connect")));
}

TEST_CASE("filter.parse.precedence_and_parentheses") {
  // && binds tighter than ||.
  CHECK(eval("ok && status == 2xx || error_class == \"timeout\"", res(0, "timeout_total")));
  CHECK(eval("!ok || bytes > 10 && status == 2xx", res(0, "x")));
  CHECK_FALSE(eval("(ok || status == 0) && bytes > 10", res(0, "x", 5)));
  CHECK(eval("ok and (status == 2xx or status == 3xx)", res(301)));
  CHECK(eval("!(status == 4xx)", res(200)));
  CHECK(eval("  ( ( ok ) )  ", res(200)));
  // Short-circuit results.
  CHECK(eval("ok || error_kind == \"x\"", res(200)));
}

TEST_CASE("filter.parse.errors_have_columns") {
  // Each bad filter, a part of its message ("" for any) and the column the
  // error points at (-1 for any).
  struct bad_filter {
    const char* what;
    std::string expr;
    std::string message;
    int column;
  };
  const bad_filter cases[] = {
      {"unknown field", "stats == 200", "unknown field 'stats'", 0},
      {"type mismatch", "url > 3", "cannot compare a string with a number", 6},
      {"class with a string", "error_kind == 2xx", "status class", 0},
      {"class ordering", "status < 2xx", "", 7},
      {"bare class", "2xx", "", -1},
      {"bad class", "status == 7xx", "", -1},
      {"single equals", "status = 200", "'=='", 7},
      {"unclosed parenthesis", "(ok && !ok", "", 10},
      {"trailing garbage", "ok ok", "", 3},
      {"unterminated string", "url == \"abc", "", 7},
      {"empty", "", "", -1},
      {"dangling operator", "ok &&", "", -1},
      {"boolean ordering", "ok < true", "", -1},
      {"decimal", "bytes > 1.5", "", -1},
      {"huge number", "bytes > 99999999999999999999999", "", -1},
  };
  for (const auto& c : cases) {
    SUBCASE(c.what) {
      auto [err, col] = error_of(c.expr);
      if (!c.message.empty()) {
        CHECK(err.find(c.message) != std::string::npos);
      }
      if (c.column >= 0) {
        CHECK(col == c.column);
      }
    }
  }
}

// Found by the `when` fuzzer: 100,000 `(` overflowed the recursive parser's
// stack and killed sluice; deep nesting is now a diagnostic.
TEST_CASE("filter.parse.deep_nesting_is_an_error_not_a_crash") {
  auto [err, col] = error_of(std::string(100000, '(') + "ok" + std::string(100000, ')'));
  CHECK(err.find("nested deeper than 64 levels") != std::string::npos);
  CHECK(col == 64);
  auto [nerr, ncol] = error_of(std::string(100000, '!') + "ok");
  CHECK(nerr.find("nested deeper than 64 levels") != std::string::npos);
  // Sensible nesting still works.
  CHECK(eval(std::string(64, '(') + "ok" + std::string(64, ')'), res(200)));
  CHECK_FALSE(eval(std::string(31, '!') + "ok", res(200)));
}
