// The one table of error kinds: lookups both ways, classes as error
// conditions, the retry classes the http consumer derives from it, and the
// docs tables (README.md, docs/http.md) that must hold its Markdown verbatim.
// `SLUICE_UPDATE_DOCS=1 build/tests/http_fetch_error_test` rewrites them.
#include "sluice/core/fetch_error.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include <doctest/doctest.h>

#include "retry_policy.hpp"

using sluice::fetch_condition;
using sluice::fetch_errc;

namespace {

std::string source_dir() {
  const char* d = std::getenv("SLUICE_SOURCE_DIR");
  return d != nullptr ? d : SLUICE_SOURCE_DIR_FALLBACK;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The table in `text`: from its header row to the first line not a row.
std::pair<std::size_t, std::size_t> table_span(const std::string& text) {
  auto begin = text.find("| kind | class | when |\n");
  if (begin == std::string::npos) {
    return {std::string::npos, 0};
  }
  auto end = begin;
  while (end < text.size() && text[end] == '|') {
    end = text.find('\n', end) + 1;
  }
  return {begin, end};
}

}  // namespace

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
  auto table = sluice::fetch_errors_markdown();
  for (const char* doc : {"/README.md", "/docs/http.md"}) {
    auto path = source_dir() + doc;
    auto text = slurp(path);
    auto [begin, end] = table_span(text);
    REQUIRE_MESSAGE(begin != std::string::npos, path << " has no error-kind table");
    if (std::getenv("SLUICE_UPDATE_DOCS") != nullptr) {
      text.replace(begin, end - begin, table);
      std::ofstream(path) << text;
      continue;
    }
    CHECK_MESSAGE(text.substr(begin, end - begin) == table,
                  path << ": the error-kind table differs from the code's; run "
                          "SLUICE_UPDATE_DOCS=1 build/tests/http_fetch_error_test");
  }
}
