// Signals during an http run, end to end: `sluice run` with the built-in
// origin and the http consumer, signalled from outside. A first signal
// (SIGINT, SIGTERM or SIGHUP) stops at once: in-flight items finish, queued
// ones are not started; a second cancels in-flight requests and their
// `cancelled` results still reach the sinks; the report's counts equal the
// sinks' lines in every case. SIGPIPE (`| head`) ends only the stdout sink.
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <map>
#include <thread>

#include <boost/json.hpp>

#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

struct jsonl_summary {
  std::size_t lines = 0;
  std::size_t ok = 0;
  std::map<std::string, std::size_t> kinds;  // error_kind of the failed lines
  bool whole = true;                         // every line a complete object
};

jsonl_summary read_jsonl(const std::filesystem::path& p) {
  jsonl_summary s;
  std::string text = std::filesystem::exists(p) ? read_file(p) : "";
  s.whole = text.empty() || text.back() == '\n';
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    end = end == std::string::npos ? text.size() : end;
    boost::system::error_code ec;
    auto v = json::parse(std::string_view(text).substr(start, end - start), ec);
    if (ec || !v.is_object()) {
      s.whole = false;
    } else {
      ++s.lines;
      if (v.at("ok").as_bool()) {
        ++s.ok;
      } else {
        ++s.kinds[json::value_to<std::string>(v.at("error_kind"))];
      }
    }
    start = end + 1;
  }
  return s;
}

std::uint64_t num(const json::object& o, const char* key) {
  return o.at(key).to_number<std::uint64_t>();
}

/// A pipeline of `count` URLs of the origin's /delay/MS through `workers`
/// http workers into a jsonl file, with a queue of `capacity`.
std::string delay_pipeline(int count, int workers, int ms, int capacity = 1000) {
  return "name: signals\norigin: {port: 0}\n"
         "producers: [{type: range, url: \"${origin}/delay/" +
         std::to_string(ms) + "?i={i}\", to: " + std::to_string(count) +
         "}]\n"
         "queue: {capacity: " +
         std::to_string(capacity) +
         "}\n"
         "consumers: {type: http, workers: " +
         std::to_string(workers) +
         ", per_host: 100, keep_body: false}\n"
         "sinks: [{type: jsonl, path: out.jsonl}]\n";
}

struct started_run {
  child_process child;
  clock_type::time_point at;
};

started_run start(const temp_dir& d, bool state = true) {
  std::vector<std::string> argv{sluice_bin(),    "run",          (d / "p.yaml").string(),
                                "--no-progress", "--stats-json", (d / "stats.json").string()};
  if (!state) {
    argv.push_back("--no-state");
  }
  auto c = spawn_process(argv, d / "stdout", d / "stderr");
  return {c, clock_type::now()};
}

void wait_for_text(const std::filesystem::path& p, const std::string& needle) {
  for (int i = 0; i < 1000; ++i) {
    if (std::filesystem::exists(p) && read_file(p).find(needle) != std::string::npos) {
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
}

/// A first `sig` 1 s into a run of 5,000 items of 500 ms on 20 workers: the
/// run exits well before the queue could drain (that would take ~125 s).
void first_signal_stops_soon(int sig, int expected_exit, const char* reason, int capacity = 1000) {
  temp_dir d;
  write_file(d / "p.yaml", delay_pipeline(5000, 20, 500, capacity));
  auto run = start(d);
  std::this_thread::sleep_for(1s);
  auto signalled = clock_type::now();
  ::kill(run.child.pid, sig);
  auto r = wait_process(run.child, 60s);
  auto took = clock_type::now() - signalled;
  INFO(read_file(d / "stderr"));
  CHECK(r.exit_code == expected_exit);
  MESSAGE("exit " << std::chrono::duration<double>(took).count() << " s after the signal");
  // In-flight items need up to 500 ms more; then the commit and the exit.
  CHECK(took < 2s);
  auto stats = json::parse(read_file(d / "stats.json")).as_object();
  auto out = read_jsonl(d / "out.jsonl");
  CHECK(out.whole);
  CHECK(json::value_to<std::string>(stats.at("stop_reason")) == reason);
  // Every item a worker took finished and is in the sink, exactly once.
  CHECK(num(stats, "consumed") == out.lines);
  CHECK(out.ok == out.lines);
  CHECK(num(stats, "failed") == 0);
  CHECK(out.lines >= 20);  // one round of 20 workers at least
  CHECK(num(stats, "unstarted") > 0);
  CHECK(num(stats, "produced") == num(stats, "consumed") + num(stats, "unstarted"));
}

}  // namespace

TEST_CASE("http.signals.sigint_stops_within_in_flight_time_not_the_queue") {
  first_signal_stops_soon(SIGINT, 130, "SIGINT");
}

TEST_CASE("http.signals.sigint_after_the_producers_ended_does_not_drain_the_queue_either") {
  // A queue that holds every URL: the producer is done at once and the
  // run is in its join when the signal comes.
  first_signal_stops_soon(SIGINT, 130, "SIGINT", 10000);
}

TEST_CASE("http.signals.sigterm_stops_the_same_way") {
  first_signal_stops_soon(SIGTERM, 143, "SIGTERM");
}

TEST_CASE("http.signals.sighup_stops_like_sigterm_and_flushes") {
  first_signal_stops_soon(SIGHUP, 129, "SIGHUP");
}

// With state (the default) the cancelled items are not done: no sink gets
// them and the next run fetches them; the report counts them as interrupted.
// With --no-state they are recorded as `cancelled` and reach the sinks.
TEST_CASE("http.signals.second_signal_cancels_in_flight_and_records_them") {
  for (bool state : {false, true}) {
    CAPTURE(state);
    temp_dir d;
    // Requests of 60 s: only cancelling them ends the run early. 100 fast
    // items go first so the sink has ok lines too.
    write_file(d / "p.yaml", R"(name: second
origin: {port: 0}
producers:
  - {type: range, url: "${origin}/item/{i}", to: 100}
  - {type: range, url: "${origin}/delay/60000?i={i}", to: 1000}
queue: {capacity: 50}
consumers: {type: http, workers: 5, per_host: 100, keep_body: false}
sinks: [{type: jsonl, path: out.jsonl}]
)");
    auto run = start(d, state);
    // Wait until the fast items are through and the 5 workers hold slow ones.
    for (int i = 0; i < 1000 && read_jsonl(d / "out.jsonl").lines < 100; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    std::this_thread::sleep_for(300ms);
    ::kill(run.child.pid, SIGTERM);
    wait_for_text(d / "stderr", "SIGTERM received");
    ::kill(run.child.pid, SIGINT);
    auto r = wait_process(run.child, 30s);
    INFO(read_file(d / "stderr"));
    CHECK(r.exit_code == 143);
    auto stats = json::parse(read_file(d / "stats.json")).as_object();
    auto out = read_jsonl(d / "out.jsonl");
    CHECK(out.whole);
    const auto& kinds = stats.at("errors_by_kind").as_object();
    if (state) {
      CHECK(out.kinds["cancelled"] == 0);
      CHECK(kinds.if_contains("cancelled") == nullptr);
      CHECK(num(stats, "interrupted") == 5);
    } else {
      CHECK(out.kinds["cancelled"] == 5);
      CHECK(kinds.at("cancelled").to_number<std::uint64_t>() == 5);
      CHECK(num(stats, "interrupted") == 0);
    }
    // The report and the sink agree line for line.
    CHECK(num(stats, "consumed") == out.lines);
    CHECK(num(stats, "consumed") - num(stats, "failed") == out.ok);
    CHECK(num(stats, "failed") == out.lines - out.ok);
    CHECK(num(stats, "produced") ==
          num(stats, "consumed") + num(stats, "unstarted") + num(stats, "interrupted"));
  }
}

TEST_CASE("http.signals.sigpipe_on_stdout_ends_that_sink_only") {
  temp_dir d;
  write_file(d / "p.yaml", R"(name: pipe
origin: {port: 0}
producers: [{type: range, url: "${origin}/item/{i}", to: 2000}]
queue: {capacity: 100}
consumers: {type: http, workers: 4, keep_body: false}
sinks:
  - {type: stdout}
  - {type: jsonl, path: out.jsonl}
)");
  auto cmd = "'" + sluice_bin() + "' run '" + (d / "p.yaml").string() +
             "' --no-progress --stats-json '" + (d / "stats.json").string() + "' 2>'" +
             (d / "stderr").string() + "' | head -n 5; echo \"rc=${PIPESTATUS[0]}\"";
  auto r = run_process({"bash", "-c", cmd}, {.timeout = 60s});
  INFO(read_file(d / "stderr"));
  INFO(r.out);
  // head got its five lines; sluice was not killed by SIGPIPE and went on
  // to fetch everything into the other sink.
  CHECK(r.out.find("rc=0") != std::string::npos);
  auto out = read_jsonl(d / "out.jsonl");
  CHECK(out.whole);
  CHECK(out.lines == 2000);
  CHECK(out.ok == 2000);
  auto err = read_file(d / "stderr");
  CHECK(err.find("stdout") != std::string::npos);  // says the stdout sink ended
  // EPIPE is no failure to retry: said once, not once per result.
  CHECK(err.find("retry") == std::string::npos);
}
