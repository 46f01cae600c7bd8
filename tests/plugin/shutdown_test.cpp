// Stopping a run with signals, through the `sluice` program: a consumer that
// ignores cancellation (the `stubborn` test plugin) cannot hang the run after
// a second signal, a third signal exits at once, and the http consumer's
// slow requests against the built-in origin are cancelled by a second signal.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <boost/json.hpp>

#include "test_support.hpp"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace sluice::test;

namespace {

bool contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

/// Waits (at most 10 s) until the child's stderr contains `text`.
bool wait_for_stderr(const fs::path& err, const std::string& text) {
  for (int i = 0; i < 1000; ++i) {
    if (fs::exists(err) && contains(read_file(err), text)) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

/// Starts `sluice [--plugin stubborn] run pipeline.yaml` in `d`.
child_process start(const temp_dir& d, const std::string& yaml, bool stubborn) {
  write_file(d / "pipeline.yaml", yaml);
  std::vector<std::string> argv{sluice_bin()};
  if (stubborn) {
    argv.insert(argv.end(), {"--plugin", SLUICE_PLUGIN_STUBBORN});
  }
  // --no-state: cancelled items are recorded, as these tests count them.
  argv.insert(argv.end(), {"run", (d / "pipeline.yaml").string(), "--no-progress", "--no-state",
                           "--stats-json", (d / "stats.json").string()});
  auto c = spawn_process(argv, d / "stdout", d / "stderr");
  // Long enough for the workers to have taken their first items.
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  return c;
}

const std::string stubborn_pipeline = R"(producers: [{type: range, url: "http://h/{i}", to: 1000}]
queue: {capacity: 10}
consumers: {type: stubborn, workers: 3, delay: 120s}
sinks: [{type: jsonl, path: out.jsonl}]
)";

const std::string http_pipeline = R"(origin: {port: 0}
producers: [{type: range, url: "${origin}/delay/60000?i={i}", to: 1000}]
queue: {capacity: 10}
consumers: {type: http, workers: 4}
sinks: [{type: jsonl, path: out.jsonl}]
)";

/// What a run stopped by `times` signals `sig` left behind.
struct stopped {
  process_result process;
  std::string err;
  bool has_stats = false;
  json::object stats;
};

/// Runs `yaml` in `d`, sends `sig` `times` times (each after sluice said it
/// saw the one before) and waits (at most 40 s) for the process to end.
stopped stop_with(const temp_dir& d, const std::string& yaml, bool stubborn, int sig, int times) {
  auto c = start(d, yaml, stubborn);
  const char* seen[] = {sig == SIGINT ? "SIGINT received" : "SIGTERM received", "second signal"};
  for (int i = 0; i < times; ++i) {
    ::kill(c.pid, sig);
    if (i + 1 < times) {
      REQUIRE(wait_for_stderr(d / "stderr", seen[i]));
    }
  }
  stopped s;
  s.process = wait_process(c, std::chrono::seconds(40));
  s.err = read_file(d / "stderr");
  s.has_stats = fs::exists(d / "stats.json");
  if (s.has_stats) {
    s.stats = json::parse(read_file(d / "stats.json")).as_object();
  }
  return s;
}

}  // namespace

TEST_CASE("shutdown.second_signal.consumer_ignoring_cancellation_is_abandoned_after_grace") {
  temp_dir d;
  // Items take 120 s and ignore cancellation: only the grace ends the run.
  auto s = stop_with(d, stubborn_pipeline, true, SIGINT, 2);
  INFO(s.err);
  CHECK(s.process.exit_code == 130);
  CHECK(contains(s.err, "3 consumer workers still running 5 s after cancellation"));
  REQUIRE(s.has_stats);
  CHECK(json::value_to<std::string>(s.stats.at("stop_reason")) == "SIGINT");
  CHECK(s.stats.at("consumed").to_number<std::uint64_t>() == 0);
}

TEST_CASE("shutdown.http.second_signal_cancels_slow_requests") {
  temp_dir d;
  auto s = stop_with(d, http_pipeline, false, SIGINT, 2);
  INFO(s.err);
  CHECK(s.process.exit_code == 130);
  CHECK_FALSE(contains(s.err, "still running"));
  REQUIRE(s.has_stats);
  // The four in-flight requests were cancelled and written as failures.
  CHECK(s.stats.at("consumed").to_number<std::uint64_t>() == 4);
  CHECK(s.stats.at("failed").to_number<std::uint64_t>() == 4);
}

// With the stubborn consumer the run would otherwise wait out the grace; the
// http one may have finished cancelling before the third signal arrives.
TEST_CASE("shutdown.third_signal.exits_at_once_flushing_nothing") {
  for (bool stubborn : {true, false}) {
    CAPTURE(stubborn);
    temp_dir d;
    auto s = stop_with(d, stubborn ? stubborn_pipeline : http_pipeline, stubborn, SIGTERM, 3);
    INFO(s.err);
    CHECK(s.process.exit_code == 143);
    if (stubborn) {
      CHECK(contains(s.err, "third signal: exiting at once"));
      // No report: the process ended before the grace ran out.
      CHECK_FALSE(contains(s.err, "still running"));
      CHECK_FALSE(s.has_stats);
    }
  }
}
