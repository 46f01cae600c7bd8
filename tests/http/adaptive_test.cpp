// `per_host: auto` against the built-in origin configured to overload above
// 8 concurrent requests (`slow_above: 8`: a ninth is answered 200 ms late
// with a 503). Two runs in one test, 64 workers each: `per_host: auto` with
// `adaptive.max: 64`, then a fixed `per_host: 64`. After a second of warm-up
// the origin's per-second peak of requests in flight must stay within 6-12
// with auto, and auto's failed items must be at most a quarter of the fixed
// run's (one attempt per item, so every 503 is a failed item). The report
// shows the origin's limit as adaptive and within the same band, and the
// Prometheus endpoint shows it during the run. Also: latency alone (the late
// answers are 200s) holds the limit near the threshold.
#include <doctest/doctest.h>

#include <regex>
#include <thread>

#include <boost/json.hpp>

#include "sluice/stages/origin.hpp"
#include "test_support.hpp"

using namespace sluice::test;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr int k_items = 2000;

struct run_figures {
  std::uint64_t failed = 0;
  std::vector<std::uint64_t> peaks;  ///< the origin's in-flight peak per second
  std::uint64_t slowed = 0;
  json::object stats;
  std::string err;
};

run_figures run(sluice::origin_server& server, const std::string& per_host,
                std::vector<std::string> extra = {}) {
  server.reset_counters();
  temp_dir d;
  write_file(d / "p.yaml",
             "name: adaptive-test\n"
             "max_failed: 100%\n"
             "producers:\n"
             "  - {type: range, url: \"" +
                 server.base_url() + "/delay/20?i={i}\", to: " + std::to_string(k_items) +
                 "}\n"
                 "consumers:\n"
                 "  type: http\n"
                 "  workers: 64\n"
                 "  per_host: " +
                 per_host +
                 "\n"
                 "  adaptive: {min: 1, max: 64}\n"
                 "  retry: {attempts: 1}\n"
                 "sinks: [{type: null}]\n");
  std::vector<std::string> argv{
      sluice_bin(),    "run",          (d / "p.yaml").string(),    "--no-state",
      "--no-progress", "--stats-json", (d / "stats.json").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  process_options po;
  po.timeout = 120s;
  auto r = run_process(argv, po);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  run_figures f;
  f.err = r.err;
  f.stats = json::parse(read_file(d / "stats.json")).as_object();
  f.failed = f.stats.at("failed").to_number<std::uint64_t>();
  REQUIRE(f.stats.at("consumed").to_number<int>() == k_items);
  auto c = server.counters();
  f.peaks = c.in_flight_peaks;
  f.slowed = c.slowed;
  return f;
}

std::string joined(const std::vector<std::uint64_t>& v) {
  std::string s;
  for (auto x : v) {
    s += std::to_string(x) + " ";
  }
  return s;
}

}  // namespace

TEST_CASE("http.adaptive.settles_near_the_origin_threshold_with_fewer_errors") {
  sluice::origin_options oo;
  oo.threads = 2;
  oo.slow_above = 8;
  oo.slow_delay = 200ms;
  oo.slow_status = 503;
  sluice::origin_server server(oo);
  server.start();

  auto adaptive = run(server, "auto");
  auto fixed = run(server, "64");
  MESSAGE("auto: failed " << adaptive.failed << ", 503s " << adaptive.slowed << ", peaks "
                          << joined(adaptive.peaks));
  MESSAGE("fixed: failed " << fixed.failed << ", 503s " << fixed.slowed << ", peaks "
                           << joined(fixed.peaks));

  // The fixed run overloads the origin: a real share of its items fail.
  CHECK(fixed.failed >= k_items / 10);
  CHECK(adaptive.failed * 4 <= fixed.failed);
  CHECK(adaptive.slowed * 4 <= fixed.slowed);

  // After the first second (slow start), every full second's peak is in 6..12.
  REQUIRE(adaptive.peaks.size() >= 3);
  for (std::size_t s = 1; s + 1 < adaptive.peaks.size(); ++s) {
    CHECK_MESSAGE(adaptive.peaks[s] >= 6, "second " << s);
    CHECK_MESSAGE(adaptive.peaks[s] <= 12, "second " << s);
  }
  // The fixed run's peaks are far above the threshold: the test can fail.
  REQUIRE(fixed.peaks.size() >= 2);
  CHECK(fixed.peaks[1] > 12);

  // The report: the origin's current limit, adaptive, near the threshold.
  const auto& limits = adaptive.stats.at("origin_limits").as_array();
  REQUIRE(limits.size() == 1);
  CHECK(limits[0].at("adaptive") == true);
  auto limit = limits[0].at("limit").to_number<int>();
  CHECK(limit >= 6);
  CHECK(limit <= 12);
  CHECK(std::regex_search(adaptive.err, std::regex(R"(per_host \d+ \(auto\))")));
  const auto& fixed_limits = fixed.stats.at("origin_limits").as_array();
  REQUIRE(fixed_limits.size() == 1);
  CHECK(fixed_limits[0].at("limit") == 64);
  CHECK(fixed_limits[0].at("adaptive") == false);
}

TEST_CASE("http.adaptive.latency_alone_holds_the_limit") {
  // The late answers are 200s: only their latency says the origin is busy.
  sluice::origin_options oo;
  oo.threads = 2;
  oo.slow_above = 8;
  oo.slow_delay = 300ms;
  oo.slow_status = 0;
  sluice::origin_server server(oo);
  server.start();
  auto f = run(server, "auto");
  MESSAGE("latency only: slowed " << f.slowed << ", peaks " << joined(f.peaks));
  CHECK(f.failed == 0);
  REQUIRE(f.peaks.size() >= 3);
  for (std::size_t s = 1; s + 1 < f.peaks.size(); ++s) {
    CHECK_MESSAGE(f.peaks[s] <= 12, "second " << s);
    CHECK_MESSAGE(f.peaks[s] >= 6, "second " << s);
  }
  // Most requests were served at full speed, not late.
  CHECK(f.slowed * 10 <= static_cast<std::uint64_t>(k_items));
}

TEST_CASE("http.adaptive.metrics_show_the_origin_limit") {
  sluice::origin_options oo;
  oo.slow_above = 4;
  oo.slow_delay = 100ms;
  sluice::origin_server server(oo);
  server.start();
  temp_dir d;
  write_file(d / "p.yaml",
             "name: adaptive-metrics\n"
             "max_failed: 100%\n"
             "metrics: {listen: \"127.0.0.1:0\", linger: 3s}\n"
             "producers: [{type: range, url: \"" +
                 server.base_url() +
                 "/delay/20?i={i}\", to: 300}]\n"
                 "consumers: {type: http, workers: 16, per_host: auto, retry: {attempts: 1}}\n"
                 "sinks: [{type: null}]\n");
  auto child =
      spawn_process({sluice_bin(), "run", (d / "p.yaml").string(), "--no-state", "--no-progress"},
                    d / "stdout", d / "stderr");
  static const std::regex at(R"(sluice: metrics at (http://127\.0\.0\.1:\d+/metrics))");
  std::string url;
  for (int i = 0; i < 1000 && url.empty(); ++i) {
    std::smatch m;
    auto err = read_file(d / "stderr");
    if (std::regex_search(err, m, at)) {
      url = m[1];
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  REQUIRE_MESSAGE(!url.empty(), read_file(d / "stderr"));
  const std::regex series("sluice_origin_concurrency_limit\\{origin=\"" +
                          std::regex_replace(server.base_url(), std::regex(R"([.])"), R"(\.)") +
                          "\",mode=\"auto\"\\} ([0-9]+)");
  std::smatch m;
  std::string text;
  for (int i = 0; i < 100; ++i) {
    text = run_process({"curl", "-s", "--max-time", "2", url}).out;
    if (std::regex_search(text, m, series)) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  INFO(text);
  REQUIRE(std::regex_search(text, m, series));
  auto limit = std::stoi(m[1]);
  CHECK(limit >= 1);
  CHECK(limit <= 64);
  CHECK(text.find("sluice_origin_in_flight{origin=") != std::string::npos);
  auto r = wait_process(child, 60s);
  CHECK(r.exit_code == 0);
}
