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
  argv.insert(argv.end(), {"run", (d / "pipeline.yaml").string(), "--no-progress", "--stats-json",
                           (d / "stats.json").string()});
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

}  // namespace

TEST_CASE("shutdown.second_signal.consumer_ignoring_cancellation_is_abandoned_after_grace") {
  temp_dir d;
  auto c = start(d, stubborn_pipeline, true);
  ::kill(c.pid, SIGINT);
  REQUIRE(wait_for_stderr(d / "stderr", "SIGINT received"));
  ::kill(c.pid, SIGINT);
  // Items take 120 s and ignore cancellation: only the grace ends the run.
  auto r = wait_process(c, std::chrono::seconds(40));
  auto err = read_file(d / "stderr");
  INFO(err);
  CHECK(r.exit_code == 130);
  CHECK(contains(err, "3 consumer workers still running 5 s after cancellation"));
  REQUIRE(fs::exists(d / "stats.json"));
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  CHECK(json::value_to<std::string>(stats.at("stop_reason")) == "SIGINT");
  CHECK(stats.at("consumed").to_number<std::uint64_t>() == 0);
}

TEST_CASE("shutdown.third_signal.exits_at_once_flushing_nothing") {
  temp_dir d;
  auto c = start(d, stubborn_pipeline, true);
  ::kill(c.pid, SIGTERM);
  REQUIRE(wait_for_stderr(d / "stderr", "SIGTERM received"));
  ::kill(c.pid, SIGTERM);
  REQUIRE(wait_for_stderr(d / "stderr", "second signal"));
  ::kill(c.pid, SIGTERM);
  auto r = wait_process(c, std::chrono::seconds(40));
  auto err = read_file(d / "stderr");
  INFO(err);
  CHECK(r.exit_code == 143);
  CHECK(contains(err, "third signal: exiting at once"));
  // No report: the process ended before the grace ran out.
  CHECK_FALSE(contains(err, "still running"));
  CHECK_FALSE(fs::exists(d / "stats.json"));
}

TEST_CASE("shutdown.http.second_signal_cancels_slow_requests") {
  temp_dir d;
  auto c = start(d, http_pipeline, false);
  ::kill(c.pid, SIGINT);
  REQUIRE(wait_for_stderr(d / "stderr", "SIGINT received"));
  ::kill(c.pid, SIGINT);
  auto r = wait_process(c, std::chrono::seconds(40));
  auto err = read_file(d / "stderr");
  INFO(err);
  CHECK(r.exit_code == 130);
  CHECK_FALSE(contains(err, "still running"));
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  // The four in-flight requests were cancelled and written as failures.
  CHECK(stats.at("consumed").to_number<std::uint64_t>() == 4);
  CHECK(stats.at("failed").to_number<std::uint64_t>() == 4);
}

TEST_CASE("shutdown.http.third_signal_exits_at_once") {
  temp_dir d;
  auto c = start(d, http_pipeline, false);
  ::kill(c.pid, SIGTERM);
  REQUIRE(wait_for_stderr(d / "stderr", "SIGTERM received"));
  ::kill(c.pid, SIGTERM);
  REQUIRE(wait_for_stderr(d / "stderr", "second signal"));
  ::kill(c.pid, SIGTERM);
  auto r = wait_process(c, std::chrono::seconds(40));
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 143);
}
