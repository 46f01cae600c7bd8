// Descriptor limits, end to end: `sluice run` with more http workers than
// `ulimit -n` allows sockets, against a separate `sluice serve` origin (so
// the origin's own sockets do not count). At start the soft limit is raised
// to the hard one; when even the hard limit is too low for the workers, the
// run warns once and items wait for a free descriptor instead of failing.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int urls = 1200;
constexpr int workers = 400;

std::string pipeline(const std::string& origin) {
  return "producers:\n"
         "  - type: range\n"
         "    url: \"" +
         origin +
         "/delay/100?i={i}\"\n"
         "    from: 0\n"
         "    to: " +
         std::to_string(urls) +
         "\n"
         "consumers:\n"
         "  type: http\n"
         "  workers: " +
         std::to_string(workers) +
         "\n"
         "sinks:\n"
         "  - type: jsonl\n"
         "    path: out.jsonl\n";
}

struct outcome {
  int exit_code = -1;
  std::string err;
  std::size_t lines = 0;
  std::size_t ok = 0;
  std::string first_error;
};

outcome run_limited(const temp_dir& d, const std::string& nofile) {
  process_options po;
  po.cwd = d.path();
  po.timeout = 90s;
  auto r = run_process({"prlimit", "--nofile=" + nofile, "--", sluice_bin(), "run", "--fresh",
                        (d / "p.yaml").string()},
                       po);
  outcome o{r.exit_code, r.err, 0, 0, {}};
  auto text = read_file(d / "out.jsonl");
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end;
    auto v = json::parse(std::string_view(text).substr(start, end - start)).as_object();
    ++o.lines;
    if (v.at("ok").as_bool()) {
      ++o.ok;
    } else if (o.first_error.empty()) {
      o.first_error = json::value_to<std::string>(v.at("error_message"));
    }
    start = end + 1;
  }
  return o;
}

}  // namespace

TEST_CASE("more workers than descriptors: items wait for one, none fails") {
  temp_dir d("sluice-fdlimit");
  background_process origin({sluice_bin(), "serve", "--port", "0", "--threads", "2"});
  auto url = origin.read_line(10s);
  REQUIRE(url.has_value());
  write_file(d / "p.yaml", pipeline(*url));

  SUBCASE("a soft limit below the workers is raised to the hard limit, silently") {
    auto o = run_limited(d, "256:4096");
    INFO(o.err);
    CHECK(o.exit_code == 0);
    CHECK(o.lines == urls);
    CHECK(o.ok == urls);
    CHECK(o.err.find("descriptor") == std::string::npos);
  }
  SUBCASE("a hard limit below the workers: one warning, then every item still succeeds") {
    auto o = run_limited(d, "256:256");
    INFO(o.err);
    INFO(o.first_error);
    CHECK(o.exit_code == 0);
    CHECK(o.lines == urls);
    CHECK(o.ok == urls);
    auto warn = o.err.find("warning: 400 workers");
    CHECK(warn != std::string::npos);
    CHECK(o.err.find("warning: 400 workers", warn + 1) == std::string::npos);
    CHECK(o.err.find("ulimit -n") != std::string::npos);
  }
}
