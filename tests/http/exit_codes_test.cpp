// Exit codes and the failure policy, end to end (`sluice run` with the
// built-in origin and the http consumer), a test for each row of the table:
// 0 ok (also with failures within `max_failed`), 1 a stage failed, 2 a
// configuration or usage error, 3 more items failed than `max_failed`
// allows; 130/143/129 are http_signals_test's. Statuses from 400 fail by
// default; `-q` still prints one line when items failed.
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

/// `ok` URLs that succeed and `bad` that fail (404 from the origin), then
/// the extra top-level keys.
std::string pipeline(int ok, int bad, const std::string& extra = "", const std::string& http = "") {
  return "name: codes\norigin: {port: 0}\n" + extra +
         "producers:\n"
         "  - {type: range, url: \"${origin}/item/{i}\", to: " +
         std::to_string(ok) +
         "}\n"
         "  - {type: range, url: \"${origin}/status/404?i={i}\", to: " +
         std::to_string(bad) +
         "}\n"
         "consumers: {type: http, workers: 4, retry: {attempts: 1}" +
         http +
         "}\n"
         "sinks: [{type: jsonl, path: out.jsonl}]\n";
}

struct outcome {
  process_result run;
  json::object stats;
};

outcome run_in(const temp_dir& d, const std::string& yaml, std::vector<std::string> extra = {}) {
  write_file(d / "p.yaml", yaml);
  std::vector<std::string> argv = {sluice_bin(),    "run",          "p.yaml",
                                   "--no-progress", "--stats-json", "stats.json"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  process_options po;
  po.cwd = d.path();
  po.timeout = 60s;
  outcome o;
  o.run = run_process(argv, po);
  if (std::filesystem::exists(d / "stats.json")) {
    o.stats = json::parse(read_file(d / "stats.json")).as_object();
  }
  return o;
}

std::uint64_t num(const json::object& o, const char* key) {
  return o.at(key).to_number<std::uint64_t>();
}

}  // namespace

TEST_CASE("exit_codes.0_every_item_ok") {
  temp_dir d;
  auto o = run_in(d, pipeline(20, 0));
  INFO(o.run.err);
  CHECK(o.run.exit_code == 0);
  CHECK(num(o.stats, "failed") == 0);
}

TEST_CASE("exit_codes.3_any_item_failed_by_default_404_included") {
  temp_dir d;
  auto o = run_in(d, pipeline(20, 1));
  INFO(o.run.err);
  CHECK(o.run.exit_code == 3);
  CHECK(num(o.stats, "failed") == 1);
  CHECK(o.stats.at("errors_by_kind").as_object().at("http_status").to_number<int>() == 1);
  CHECK(o.stats.at("too_many_failed").as_bool());
  CHECK(o.run.err.find("more than max_failed (0) allows: exit 3") != std::string::npos);
}

TEST_CASE("exit_codes.3_every_connection_refused_and_quiet_still_reports") {
  temp_dir d;
  // Port 1 on loopback: nothing listens, every connect is refused.
  write_file(d / "p.yaml", R"(name: refused
producers: [{type: range, url: "http://127.0.0.1:1/{i}", to: 50}]
consumers: {type: http, workers: 4, retry: {attempts: 1}}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  process_options po;
  po.cwd = d.path();
  auto r = run_process({sluice_bin(), "run", "-q", "p.yaml"}, po);
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("failed 50") != std::string::npos);
  CHECK(r.err.find("exit 3") != std::string::npos);
}

TEST_CASE("exit_codes.0_failures_within_max_failed_count_and_percent") {
  SUBCASE("a count") {
    temp_dir d;
    auto o = run_in(d, pipeline(45, 5, "max_failed: 5\n"));
    INFO(o.run.err);
    CHECK(o.run.exit_code == 0);
    CHECK(num(o.stats, "failed") == 5);
    CHECK_FALSE(o.stats.at("too_many_failed").as_bool());
  }
  SUBCASE("one more than the count") {
    temp_dir d;
    auto o = run_in(d, pipeline(45, 5, "max_failed: 4\n"));
    CHECK(o.run.exit_code == 3);
  }
  SUBCASE("a percentage: 5 of 50 is 10%") {
    temp_dir d;
    CHECK(run_in(d, pipeline(45, 5, "max_failed: 10%\n")).run.exit_code == 0);
    CHECK(run_in(d, pipeline(45, 5, "max_failed: 9.5%\n")).run.exit_code == 3);
  }
}

TEST_CASE("exit_codes.0_fail_status_empty_makes_statuses_data") {
  temp_dir d;
  auto o = run_in(d, pipeline(10, 10, "", ", fail_status: []"));
  INFO(o.run.err);
  CHECK(o.run.exit_code == 0);
  CHECK(num(o.stats, "failed") == 0);
}

TEST_CASE("exit_codes.quiet_prints_one_line_when_items_failed_within_the_budget") {
  temp_dir d;
  write_file(d / "p.yaml", pipeline(10, 3, "max_failed: 3\n"));
  process_options po;
  po.cwd = d.path();
  auto r = run_process({sluice_bin(), "run", "-q", "p.yaml"}, po);
  CHECK(r.exit_code == 0);
  // The origin's own line, then the one about the failures: no report.
  CHECK(r.err.find("sluice: codes: 3 of 13 items failed (http_status 3)\n") != std::string::npos);
  CHECK(r.err.find("items     produced") == std::string::npos);
  write_file(d / "p.yaml", pipeline(10, 0));
  auto clean = run_process({sluice_bin(), "run", "-q", "p.yaml"}, po);
  CHECK(clean.exit_code == 0);
  CHECK(clean.err.find("failed") == std::string::npos);  // nothing failed: quiet is quiet
  CHECK(clean.err.find("items     produced") == std::string::npos);
}

TEST_CASE("exit_codes.stop_after_failed_stops_early_and_gracefully") {
  temp_dir d;
  auto o = run_in(d, pipeline(0, 5000, "stop_after_failed: 3\n"));
  INFO(o.run.err);
  CHECK(o.run.exit_code == 3);
  CHECK(json::value_to<std::string>(o.stats.at("stop_reason")) == "stop_after_failed");
  CHECK(num(o.stats, "failed") >= 3);
  CHECK(num(o.stats, "consumed") < 5000);  // stopped: not every item was fetched
  CHECK(num(o.stats, "produced") == num(o.stats, "consumed") + num(o.stats, "unstarted"));
}

TEST_CASE("exit_codes.1_a_stage_failed") {
  temp_dir d;
  // The sink's directory is a file: opening the jsonl fails.
  write_file(d / "blocker", "a file, not a directory\n");
  auto o = run_in(d,
                  "name: broken\nproducers: [{type: range, url: \"http://h/{i}\", to: 5}]\n"
                  "consumers: {type: sleep}\n"
                  "sinks: [{type: jsonl, path: blocker/out.jsonl}]\n");
  CHECK(o.run.exit_code == 1);
  CHECK(o.run.err.find("jsonl") != std::string::npos);
}

TEST_CASE("exit_codes.2_configuration_and_usage_errors") {
  temp_dir d;
  auto bad = run_in(d, pipeline(1, 0, "max_failed: lots\n"));
  CHECK(bad.run.exit_code == 2);
  CHECK(bad.run.err.find("p.yaml:3:13: error: 'max_failed' must be a count (like 10) or a "
                         "percentage") != std::string::npos);
  CHECK(run_in(d, pipeline(1, 0, "max_failed: 101%\n")).run.exit_code == 2);
  CHECK(run_in(d, pipeline(1, 0, "max_failed: -1\n")).run.exit_code == 2);
  auto negative = run_in(d, pipeline(1, 0, "stop_after_failed: 0\n"));
  CHECK(negative.run.exit_code == 2);
  auto usage = run_in(d, pipeline(1, 0), {"--no-such-flag"});
  CHECK(usage.run.exit_code == 2);
}
