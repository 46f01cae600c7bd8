// libFuzzer harness: the `when:` filter parser. Any text either compiles to
// a filter or fails with a message and a column inside the text; a compiled
// filter evaluates every kind of result without crashing, and compiling the
// same text again gives a filter that decides the same way.
#include <cstdlib>
#include <string>
#include <vector>

#include "sluice/runtime/filter.hpp"

namespace {

std::vector<sluice::result> samples() {
  std::vector<sluice::result> v(6);
  v[0].status = 200;
  v[0].bytes = 100;
  v[0].content_type = "text/html";
  v[1].status = 404;
  v[1].error_kind = "http_status";
  v[2].error_kind = "timeout_total";
  v[2].error_message = "total timeout";
  v[3].status = 301;
  v[3].redirects = 3;
  v[3].bytes = 1ull << 40;
  v[4].error_kind = "connect";
  v[4].attempts = 5;
  v[5].status = 599;
  v[5].url = "http://h/a?b";
  v[5].final_url = "http://h/c";
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string expr(reinterpret_cast<const char*>(data), size);
  std::string error;
  int column = -1;
  auto f = sluice::result_filter::parse(expr, error, column);
  if (!f) {
    if (error.empty() || column < 0 || static_cast<std::size_t>(column) > expr.size()) {
      std::abort();  // a rejected filter must say what and where
    }
    return 0;
  }
  std::string error2;
  int column2 = -1;
  auto again = sluice::result_filter::parse(expr, error2, column2);
  if (!again) {
    std::abort();
  }
  static const auto results = samples();
  for (const auto& r : results) {
    if (f->matches(r) != again->matches(r)) {
      std::abort();
    }
  }
  return 0;
}
