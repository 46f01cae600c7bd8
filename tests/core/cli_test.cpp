// The sluice program end to end: run (1M items, memory, bound), signals,
// check diagnostics, stages listing, usage errors.
#include <doctest/doctest.h>

#include <regex>

#include <signal.h>

#include <fstream>
#include <set>
#include <thread>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;

namespace {

std::size_t count_lines(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
  }
  return n;
}

// Every line must be a complete JSON object; returns the indices.
std::vector<std::uint64_t> parse_jsonl(const std::filesystem::path& p, bool& all_ok) {
  std::ifstream in(p, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  all_ok = text.empty() || text.back() == '\n';
  std::vector<std::uint64_t> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    boost::system::error_code ec;
    auto v = json::parse(std::string_view(text).substr(start, end - start), ec);
    if (ec || !v.is_object()) {
      all_ok = false;
    } else {
      out.push_back(v.at("index").to_number<std::uint64_t>());
    }
    start = end + 1;
  }
  return out;
}

json::object read_stats(const std::filesystem::path& p) {
  return json::parse(read_file(p)).as_object();
}

void wait_for_lines(const std::filesystem::path& p, std::size_t n) {
  for (int i = 0; i < 3000 && (!std::filesystem::exists(p) || count_lines(p) < n); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST_CASE("cli.run.json_numbers_in_plain_decimal") {
  // Boost.JSON 1.81 writes every double with an exponent (`1.53417E-1`,
  // `1E0`); the report and the jsonl records must read as plain decimals.
  temp_dir d;
  write_file(d / "p.yaml", R"(name: decimals
producers: [{type: range, url: "http://127.0.0.1:8080/item/{i}", to: 50}]
consumers: {type: sleep, workers: 5, delay: 1ms..3ms}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  auto r = run_process({sluice_bin(), "run", (d / "p.yaml").string(), "--no-progress", "--no-state",
                        "--stats-json", (d / "stats.json").string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::regex exponent("[0-9][eE][-+]?[0-9]");
  for (const auto* name : {"stats.json", "out.jsonl"}) {
    CAPTURE(name);
    auto text = read_file(d / name);
    REQUIRE(!text.empty());
    std::smatch m;
    CHECK_MESSAGE(!std::regex_search(text, m, exponent), "exponent near: " << m.str());
  }
  auto stats = read_stats(d / "stats.json");
  auto& lat = stats.at("latency").as_object();
  CHECK(lat.at("p50_ms").as_double() >= 1.0);
  CHECK(lat.at("p50_ms").as_double() <= lat.at("max_ms").as_double());
}

TEST_CASE("cli.run.one_million_items_bounded_memory") {
  temp_dir d;
  write_file(d / "count.yaml", R"(name: count
threads: 2
producers:
  - type: range
    url: "http://127.0.0.1:8080/item/{i}"
    from: 0
    to: 1000000
queue:
  capacity: 1000
consumers:
  type: sleep
  workers: 100
  delay: 0ms
sinks:
  - type: jsonl
    path: out/count.jsonl
)");
  auto r = run_process({sluice_bin(), "run", (d / "count.yaml").string(), "--no-progress",
                        "--stats-json", (d / "stats.json").string()},
                       {.timeout = std::chrono::seconds(240)});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  auto idx = parse_jsonl(d / "out/count.jsonl", ok);
  CHECK(ok);
  REQUIRE(idx.size() == 1000000);
  std::vector<bool> seen(1000000);
  std::size_t dup = 0;
  for (auto i : idx) {
    REQUIRE(i < 1000000);
    dup += seen[i] ? 1 : 0;
    seen[i] = true;
  }
  CHECK(dup == 0);
  auto stats = read_stats(d / "stats.json");
  CHECK(stats.at("consumed").to_number<std::uint64_t>() == 1000000);
  CHECK(stats.at("queue_high_water").to_number<std::uint64_t>() <= 1000);
  CHECK(stats.at("queue_high_water").to_number<std::uint64_t>() > 0);
  MESSAGE("peak RSS " << r.max_rss_kb << " KiB");
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  CHECK(r.max_rss_kb <= 32 * 1024);
#endif
}

TEST_CASE("cli.run.sigint_finishes_in_flight_items_leaves_queued_ones_exits_130") {
  temp_dir d;
  write_file(d / "long.yaml", R"(threads: 2
producers: [{type: range, url: "http://h/{i}", to: 100000000}]
queue: {capacity: 1000}
consumers: {type: sleep, workers: 50, delay: 1ms..3ms}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  auto c = spawn_process({sluice_bin(), "run", (d / "long.yaml").string(), "--no-progress",
                          "--stats-json", (d / "stats.json").string()},
                         d / "stdout", d / "stderr");
  wait_for_lines(d / "out.jsonl", 2000);
  ::kill(c.pid, SIGINT);
  auto r = wait_process(c, std::chrono::seconds(60));
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 130);
  bool ok = false;
  auto idx = parse_jsonl(d / "out.jsonl", ok);
  CHECK(ok);  // no torn line
  auto stats = read_stats(d / "stats.json");
  // Every item a worker took finished and was written; the queued ones (the
  // queue was full) were not started, and the report says how many.
  auto produced = stats.at("produced").to_number<std::uint64_t>();
  auto unstarted = stats.at("unstarted").to_number<std::uint64_t>();
  CHECK(stats.at("consumed").to_number<std::uint64_t>() == idx.size());
  CHECK(unstarted > 0);
  CHECK(produced == idx.size() + unstarted);
  CHECK(std::set<std::uint64_t>(idx.begin(), idx.end()).size() == idx.size());
  CHECK(json::value_to<std::string>(stats.at("stop_reason")) == "SIGINT");
}

TEST_CASE("cli.run.second_sigint_cancels_in_flight_work") {
  temp_dir d;
  // Items take 60 s: only cancelling them lets the run end early.
  write_file(d / "slow.yaml", R"(threads: 2
producers: [{type: range, url: "http://h/{i}", to: 1000}]
queue: {capacity: 10}
consumers: {type: sleep, workers: 5, delay: 60s}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  // --no-state: the cancelled items are recorded (with state they are not
  // done, and no sink gets them: http_signals_test covers both).
  auto c = spawn_process({sluice_bin(), "run", (d / "slow.yaml").string(), "--no-progress",
                          "--no-state", "--stats-json", (d / "stats.json").string()},
                         d / "stdout", d / "stderr");
  for (int i = 0; i < 500 && read_file(d / "stderr").empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ::kill(c.pid, SIGTERM);
  for (int i = 0; i < 500 && read_file(d / "stderr").find("SIGTERM") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(c.pid, SIGINT);
  auto r = wait_process(c, std::chrono::seconds(30));
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == 143);
  auto stats = read_stats(d / "stats.json");
  CHECK(stats.at("errors_by_kind").as_object().at("cancelled").to_number<int>() == 5);
  bool ok = false;
  auto idx = parse_jsonl(d / "out.jsonl", ok);
  CHECK(ok);
  CHECK(idx.size() == 5);
}

TEST_CASE("cli.check.three_mistakes_three_diagnostics") {
  temp_dir d;
  write_file(d / "bad.yaml", R"(producers:
  - type: rnage
    url: "http://x/{i}"
    to: 10
queue:
  capacity: -5
consumers:
  type: sleep
  delay: 5 parsecs
sinks:
  - type: "null"
)");
  auto r = run_process({sluice_bin(), "check", (d / "bad.yaml").string()});
  CHECK(r.exit_code == 2);
  auto f = (d / "bad.yaml").string();
  CHECK(r.err.find(f + ":2:11: error: unknown producer type 'rnage'") != std::string::npos);
  CHECK(r.err.find("did you mean 'range'?") != std::string::npos);
  CHECK(r.err.find(f + ":6:13: error: 'queue.capacity' is out of range") != std::string::npos);
  CHECK(r.err.find(f + ":9:10: error: 'consumers.delay' is not a duration") != std::string::npos);
  CHECK(r.err.find("3 errors in") != std::string::npos);
}

TEST_CASE("cli.check.ok_and_set_override") {
  temp_dir d;
  write_file(d / "p.yaml", R"(producers: [{type: list, urls: [a, b]}]
consumers: {type: sleep}
sinks: [{type: stdout}]
)");
  auto r = run_process({sluice_bin(), "check", (d / "p.yaml").string()});
  CHECK(r.exit_code == 0);
  auto bad =
      run_process({sluice_bin(), "check", (d / "p.yaml").string(), "--set", "queue.capacity=0"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("out of range") != std::string::npos);
}

TEST_CASE("cli.run.file_producer_reads_stdin") {
  temp_dir d;
  write_file(d / "p.yaml", R"(producers: [{type: file, path: "-"}]
consumers: {type: sleep, workers: 3}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  auto r = run_process({sluice_bin(), "run", (d / "p.yaml").string(), "-q"},
                       {.input = "# comment\nhttp://a/1\n\n  http://a/2  \nhttp://a/3\n"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(count_lines(d / "out.jsonl") == 3);
  CHECK(read_file(d / "out.jsonl").find("\"url\":\"http://a/2\"") != std::string::npos);
}

TEST_CASE("cli.stages.lists_and_describes") {
  auto r = run_process({sluice_bin(), "stages"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("range") != std::string::npos);
  CHECK(r.out.find("jsonl") != std::string::npos);
  auto one = run_process({sluice_bin(), "stages", "range"});
  CHECK(one.exit_code == 0);
  CHECK(one.out.find("from") != std::string::npos);
  CHECK(one.out.find("required") != std::string::npos);
  auto none = run_process({sluice_bin(), "stages", "rnage"});
  CHECK(none.exit_code == 2);
  CHECK(none.err.find("did you mean 'range'") != std::string::npos);
}

TEST_CASE("cli.usage_errors_exit_2") {
  CHECK(run_process({sluice_bin(), "--no-such-flag"}).exit_code == 2);
  CHECK(run_process({sluice_bin()}).exit_code == 2);
  CHECK(run_process({sluice_bin(), "run"}).exit_code == 2);
  CHECK(run_process({sluice_bin(), "run", "/nonexistent.yaml"}).exit_code == 2);
  auto v = run_process({sluice_bin(), "--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("sluice ") == 0);
  CHECK(run_process({sluice_bin(), "--help"}).exit_code == 0);
}

// Two runs of one pipeline at once would both append to its sinks and
// overwrite each other's journal: the second is refused (exit 2) while the
// first holds the state directory's lock, and a kill -9 of the first does
// not leave the lock behind: the next run resumes.
TEST_CASE("cli.run.second_run_of_a_pipeline_is_refused_while_the_first_runs") {
  temp_dir d;
  write_file(d / "p.yaml", R"(name: twice
producers: [{type: range, url: "http://x.test/{i}", to: 200}]
consumers: {type: sleep, workers: 1, delay: 50ms}
commit: {interval: 100ms, items: 10}
sinks: [{type: jsonl, path: out.jsonl}]
)");
  auto first = spawn_process({sluice_bin(), "run", "-q", (d / "p.yaml").string()}, d / "stdout",
                             d / "stderr");
  for (int i = 0; i < 200 && !std::filesystem::exists(d / "out.jsonl"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = run_process({sluice_bin(), "run", "-q", (d / "p.yaml").string()});
  CHECK(second.exit_code == 2);
  CHECK(second.err.find("another sluice run is using") != std::string::npos);
  ::kill(first.pid, SIGKILL);
  wait_process(first, std::chrono::seconds(10));
  auto third = run_process({sluice_bin(), "run", "--no-progress", (d / "p.yaml").string()});
  INFO(third.err);
  CHECK(third.exit_code == 0);
  CHECK(third.err.find("resuming") != std::string::npos);
}
