// `sluice bench` run as a subprocess: argument errors, the demo's output
// lines, determinism across runs, join-then-cancel ordering from the trace,
// the timelines, and throughput mode.
#include "sluice/stages/asyncq.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "svg_test_util.hpp"
#include "test_support.hpp"

namespace aq = sluice::stages::asyncq;
namespace json = boost::json;
using sluice::test::run_process;
using sluice::test::sluice_bin;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

sluice::test::process_result bench(std::vector<std::string> args) {
  args.insert(args.begin(), {sluice_bin(), "bench"});
  return run_process(args, {.timeout = std::chrono::seconds(120)});
}

const std::regex producer_sleep_re(R"(^Producer (\d+) sleeping for (\d+) seconds\.$)");
const std::regex put_re(R"(^Producer (\d+) added <([0-9a-f]{10})> to queue\.$)");
const std::regex consumer_sleep_re(R"(^Consumer (\d+) sleeping for (\d+) seconds\.$)");
const std::regex got_re(
    R"(^Consumer (\d+) got element <([0-9a-f]{10})> in (\d+\.\d{5}) seconds\.$)");
const std::regex completed_re(R"(^Program completed in (\d+\.\d{5}) seconds\.$)");
const std::regex ideal_re(R"(^Ideal completion in (\d+\.\d{5}) seconds .*\.$)");
const std::regex overhead_re(R"(^Overhead: -?\d+\.\d{5} seconds \(.*\)\.$)");
const std::regex note_re(R"(^Note: simultaneous events .*\.$)");

/// Per producer: its lines in order; per consumer: its sleep values in order.
struct schedule_lines {
  std::map<int, std::vector<std::string>> producers;
  std::map<int, std::vector<int>> consumer_sleeps;
  std::vector<std::string> got_names;
};

schedule_lines parse_schedule(const std::string& out) {
  schedule_lines s;
  std::smatch m;
  for (const auto& line : lines_of(out)) {
    if (std::regex_match(line, m, producer_sleep_re) || std::regex_match(line, m, put_re)) {
      s.producers[std::stoi(m[1])].push_back(line);
    } else if (std::regex_match(line, m, consumer_sleep_re)) {
      s.consumer_sleeps[std::stoi(m[1])].push_back(std::stoi(m[2]));
    } else if (std::regex_match(line, m, got_re)) {
      s.got_names.push_back(m[2]);
    }
  }
  return s;
}

std::vector<json::object> read_trace(const std::filesystem::path& path) {
  std::vector<json::object> out;
  for (const auto& line : lines_of(sluice::test::read_file(path))) {
    if (!line.empty()) {
      out.push_back(json::parse(line).as_object());
    }
  }
  return out;
}

}  // namespace

TEST_CASE("bench.cli.bad_arguments_exit_2") {
  const std::vector<std::vector<std::string>> bad = {
      {"-p", "-1"},
      {"-p", "0"},
      {"-p", "abc"},
      {"-c", "x"},
      {"-c", "0"},
      {"-c", "-3"},
      {"--scale", "-1"},
      {"--scale", "fast"},
      {"--seed", "-5"},
      {"--bogus"},
      {"--items", "5"},  // throughput options need --no-sleep
      {"--no-sleep", "--items", "-10"},
      {"--no-sleep", "--capacity", "0"},
  };
  for (const auto& args : bad) {
    CAPTURE(args.front());
    const auto r = bench(args);
    CHECK(r.exit_code == 2);
    const std::string all = r.out + r.err;
    CHECK(all.find("--help") != std::string::npos);
    CHECK(r.out.find("Program completed") == std::string::npos);
  }
}

TEST_CASE("bench.cli.demo_prints_the_four_line_forms") {
  const auto r = bench({"-p", "2", "-c", "5", "--seed", "444", "--scale", "0.001"});
  REQUIRE(r.exit_code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(!lines.empty());
  int counts[4] = {0, 0, 0, 0};
  for (std::size_t k = 0; k + 1 < lines.size(); ++k) {
    const auto& l = lines[k];
    CAPTURE(l);
    if (std::regex_match(l, producer_sleep_re)) {
      ++counts[0];
    } else if (std::regex_match(l, put_re)) {
      ++counts[1];
    } else if (std::regex_match(l, consumer_sleep_re)) {
      ++counts[2];
    } else if (std::regex_match(l, got_re)) {
      ++counts[3];
    } else {
      CHECK((std::regex_match(l, ideal_re) || std::regex_match(l, overhead_re) ||
             std::regex_match(l, note_re)));
    }
  }
  CHECK(std::regex_match(lines.back(), completed_re));
  aq::params p;
  p.producers = 2;
  p.consumers = 5;
  p.scale = 0.001;
  const auto sim = aq::simulate(p);
  REQUIRE(sim.total_items() > 0);
  CHECK(counts[0] == static_cast<int>(sim.total_items()));
  CHECK(counts[1] == static_cast<int>(sim.total_items()));
  CHECK(counts[2] >= 5);
  CHECK(counts[3] == static_cast<int>(sim.total_items()));
  CHECK(r.out.find("Ideal completion in 0.02500 seconds") != std::string::npos);
}

TEST_CASE("bench.cli.same_seed_prints_the_same_schedule") {
  const std::vector<std::string> args = {"-p", "3", "-c", "4", "--seed", "7", "--scale", "0.002"};
  const auto a = bench(args);
  const auto b = bench(args);
  REQUIRE(a.exit_code == 0);
  REQUIRE(b.exit_code == 0);
  const auto sa = parse_schedule(a.out);
  const auto sb = parse_schedule(b.out);
  CHECK(sa.producers == sb.producers);
  // The schedule is the generator's, not an accident of this run.
  for (std::uint32_t i = 0; i < 3; ++i) {
    const auto plan = aq::make_producer_plan(7, i);
    std::vector<std::string> expected;
    for (std::size_t k = 0; k < plan.sleeps.size(); ++k) {
      expected.push_back(aq::producer_sleep_line(i, plan.sleeps[k]));
      expected.push_back(aq::put_line(i, plan.names[k]));
    }
    const auto it = sa.producers.find(static_cast<int>(i));
    CHECK((it == sa.producers.end() ? std::vector<std::string>{} : it->second) == expected);
  }
  // Each consumer's sleeps are a prefix of its own stream in both runs.
  for (int c = 0; c < 4; ++c) {
    aq::consumer_plan stream(7, static_cast<std::uint32_t>(c));
    const auto& va = sa.consumer_sleeps.at(c);
    const auto& vb = sb.consumer_sleeps.at(c);
    for (std::size_t k = 0; k < std::max(va.size(), vb.size()); ++k) {
      const int expected = stream.next_sleep();
      if (k < va.size()) {
        CHECK(va[k] == expected);
      }
      if (k < vb.size()) {
        CHECK(vb[k] == expected);
      }
    }
  }
  // The same items, each got exactly once.
  auto ga = sa.got_names, gb = sb.got_names;
  std::sort(ga.begin(), ga.end());
  std::sort(gb.begin(), gb.end());
  CHECK(ga == gb);
  CHECK(std::adjacent_find(ga.begin(), ga.end()) == ga.end());
}

TEST_CASE("bench.cli.consumers_are_cancelled_only_after_the_last_task_done") {
  // A schedule where, when the last item is got, at least two consumers are
  // in the middle of a sleep that would end at least 3 ticks later: those
  // must be cancelled (the run ends at join), not woken.
  const double scale = 0.05;
  std::uint64_t seed = 0;
  aq::simulation sim;
  for (std::uint64_t s = 1; s < 200 && seed == 0; ++s) {
    aq::params p;
    p.producers = 3;
    p.consumers = 4;
    p.seed = s;
    p.scale = scale;
    sim = aq::simulate(p);
    if (sim.total_items() == 0 || sim.completion_ticks > 40) {
      continue;
    }
    int long_sleepers = 0;
    std::map<std::uint32_t, double> wake;
    for (const auto& e : sim.events) {
      if (e.kind == aq::event_kind::consumer_sleep) {
        wake[e.who] = e.t + e.secs * scale;
      } else if (e.kind == aq::event_kind::wait) {
        wake.erase(e.who);
      }
    }
    for (const auto& [c, w] : wake) {
      long_sleepers += w >= sim.completion_s + 3 * scale ? 1 : 0;
    }
    if (long_sleepers >= 2) {
      seed = s;
    }
  }
  REQUIRE(seed != 0);
  sluice::test::temp_dir dir;
  const auto trace = dir / "trace.jsonl";
  const auto r = bench({"-p", "3", "-c", "4", "--seed", std::to_string(seed), "--scale", "0.05",
                        "--quiet", "--trace", trace.string()});
  REQUIRE(r.exit_code == 0);
  const auto events = read_trace(trace);
  REQUIRE(events.size() > 2);
  CHECK(events.back().at("kind").as_string() == "end");

  std::size_t last_got = 0, gots = 0;
  std::set<std::int64_t> items;
  for (std::size_t k = 0; k < events.size(); ++k) {
    if (events[k].at("kind").as_string() == "got") {
      last_got = k;
      ++gots;
      items.insert(events[k].at("item").as_int64());
    }
  }
  CHECK(gots == sim.total_items());
  CHECK(items.size() == sim.total_items());
  // No consumer is cancelled before the last item is got (and so before its
  // task_done, which follows the get).
  std::map<std::int64_t, std::string> last_kind;
  std::map<std::int64_t, double> sleep_end;
  int cancelled = 0;
  for (std::size_t k = 0; k + 1 < events.size(); ++k) {
    const auto kind = std::string(events[k].at("kind").as_string());
    const auto who = events[k].at("who").as_int64();
    if (kind == "cancelled") {
      CHECK(k > last_got);
      ++cancelled;
    }
    if (kind.rfind("consumer", 0) == 0 || kind == "wait" || kind == "got" || kind == "cancelled") {
      last_kind[who] = kind;
    }
    if (kind == "consumer_sleep") {
      sleep_end[who] =
          events[k].at("t").to_number<double>() + events[k].at("secs").to_number<double>() * scale;
    }
    // The run ends as soon as the queue is joined: after the last get no
    // consumer finishes a sleep that was due well after it.
    if (kind == "wait" && k > last_got) {
      CHECK(sleep_end[who] < events[last_got].at("t").to_number<double>() + 2 * scale);
    }
  }
  CHECK(cancelled >= 2);
  // Every consumer ended cancelled in its sleep or blocked in get.
  CHECK(last_kind.size() == 4);
  for (const auto& [who, kind] : last_kind) {
    CAPTURE(who);
    CHECK((kind == "cancelled" || kind == "wait"));
  }
}

TEST_CASE("bench.cli.timeline_rows_and_svg") {
  sluice::test::temp_dir dir;
  const auto svg = dir / "run.svg";
  ::setenv("COLUMNS", "70", 1);
  const auto r = bench({"-p", "2", "-c", "3", "--seed", "444", "--scale", "0.001", "--quiet",
                        "--timeline", "--timeline-svg", svg.string()});
  ::unsetenv("COLUMNS");
  REQUIRE(r.exit_code == 0);
  int rows = 0;
  for (const auto& line : lines_of(r.out)) {
    if (std::regex_match(line, std::regex(R"(^Consumer \d+: [ 0-9.\-]+$)"))) {
      ++rows;
      CHECK(line.size() <= 70);
    }
  }
  CHECK(rows == 3);
  const std::string text = sluice::test::read_file(svg);
  const auto elements = sluice::test_bench::svg_elements(text);
  REQUIRE(elements);
  int lanes = 0;
  for (const auto& e : *elements) {
    if (e.klass.rfind("lane ", 0) == 0) {
      ++lanes;
    }
  }
  CHECK(lanes == 5);
}

TEST_CASE("bench.cli.throughput_mode") {
  const auto r = bench(
      {"--no-sleep", "--items", "200000", "-p", "5", "-c", "100", "--capacity", "1000", "--json"});
  REQUIRE(r.exit_code == 0);
  const auto j = json::parse(r.out).as_object();
  CHECK(j.at("items").to_number<std::uint64_t>() == 200000);
  CHECK(j.at("queue_high_water").to_number<std::uint64_t>() <= 1000);
  CHECK(j.at("items_per_s").to_number<double>() > 0);

  const auto via = bench({"--no-sleep", "--pipeline", "--items", "20000", "-p", "3", "-c", "10",
                          "--capacity", "100", "--json"});
  REQUIRE(via.exit_code == 0);
  const auto jv = json::parse(via.out).as_object();
  CHECK(jv.at("items").to_number<std::uint64_t>() == 20000);
  CHECK(jv.at("queue_high_water").to_number<std::uint64_t>() <= 100);

  const auto human = bench({"--no-sleep", "--items", "10000", "-p", "2", "-c", "3"});
  REQUIRE(human.exit_code == 0);
  CHECK(human.out.find("Throughput: ") != std::string::npos);
  CHECK(human.out.find("Time in queue") != std::string::npos);
}
