// The origin's hostile case table: at least 40 cases across every group the
// issue names, unique names, expectations without a byte count for a
// failure, scripts that end, and the docs table (docs/origin.md)
// generated from it (`SLUICE_UPDATE_DOCS=1 ctest -R origin_hostile` rewrites
// them). Each case's effect on the http consumer is tested by
// tests/http/hostile_test.cpp.
#include "hostile.hpp"

#include <doctest/doctest.h>

#include <set>

#include "sluice/core/fetch_error.hpp"
#include "test_support.hpp"

namespace ho = sluice::stages::origin;

TEST_CASE("origin.hostile.table") {
  auto cases = ho::hostile_cases();
  CHECK(cases.size() >= 40);
  std::set<std::string_view> names;
  std::set<std::string_view> groups;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(names.insert(c.name).second);
    groups.insert(c.group);
    CHECK_FALSE(c.doc.empty());
    CHECK(ho::find_hostile_case(c.name) == &c);
    if (c.expect.kind != sluice::fetch_errc{}) {
      CHECK(c.expect.bytes == 0);  // a failure has no body to count
    }
    auto script = c.script();
    CHECK(script.steps.size() < 1000);
  }
  for (const char* g :
       {"header", "interim", "framing", "connection", "encoding", "redirect", "rate", "slow"}) {
    CHECK_MESSAGE(groups.count(g) == 1, g);
  }
  CHECK(ho::find_hostile_case("no-such-case") == nullptr);
}

TEST_CASE("origin.hostile.docs_table_is_generated_from_the_table") {
  for (const auto& problem : sluice::test::check_doc_table(
           {"docs/origin.md"}, "| case | group | what the origin does | sluice |",
           ho::hostile_cases_markdown())) {
    FAIL_CHECK(problem);
  }
}
