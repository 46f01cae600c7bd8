// `sluice run --timeline`: the SVG of a 2,000-URL run against the built-in
// origin (20 lanes, sampled to --timeline-items' default, text boxes apart
// and inside the viewBox, rendered by headless Chromium), the text form of a
// 9-item run on 3 workers, and failed items marked in both forms.
#include <algorithm>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "chromium.hpp"
#include "svg_layout.hpp"
#include "svg_test_util.hpp"
#include "test_support.hpp"

using sluice::test::read_file;
using sluice::test::run_process;
using sluice::test::sluice_bin;
using sluice::test::temp_dir;
using sluice::test::write_file;

namespace {

sluice::test::process_result run(const temp_dir& d, std::vector<std::string> extra,
                                 std::map<std::string, std::string> env = {}) {
  std::vector<std::string> argv{sluice_bin(), "run", (d / "p.yaml").string(), "--no-progress",
                                "--no-state"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  sluice::test::process_options po;
  po.env = std::move(env);
  po.timeout = std::chrono::seconds(120);
  return run_process(argv, po);
}

/// The `Worker N: ...` rows of a text timeline, by lane label.
std::map<std::string, std::string> worker_rows(const std::string& err) {
  std::map<std::string, std::string> rows;
  std::istringstream in(err);
  const std::regex row(R"(^(Worker \d+): (.*)$)");
  std::smatch m;
  for (std::string line; std::getline(in, line);) {
    if (std::regex_match(line, m, row)) {
      rows[m[1]] = m[2];
    }
  }
  return rows;
}

/// The labels of a row in order, each with the character after it.
std::vector<std::pair<int, char>> labels_of(const std::string& cells) {
  std::vector<std::pair<int, char>> out;
  const std::regex digits("[0-9]+");
  for (auto it = std::sregex_iterator(cells.begin(), cells.end(), digits);
       it != std::sregex_iterator(); ++it) {
    const auto end = static_cast<std::size_t>(it->position() + it->length());
    out.emplace_back(std::stoi(it->str()), end < cells.size() ? cells[end] : '\0');
  }
  return out;
}

}  // namespace

TEST_CASE("run.timeline.svg_of_2000_urls_on_20_workers") {
  temp_dir d("sluice-timeline");
  write_file(d / "p.yaml",
             "name: tl\norigin: {port: 0}\n"
             "producers: [{type: range, url: \"${origin}/delay/2?i={i}\", to: 2000}]\n"
             "consumers: {type: http, workers: 20, per_host: 100, keep_body: false}\n"
             "sinks: [{type: jsonl, path: out.jsonl}]\n");
  const auto svg_path = d / "out.svg";
  const auto r = run(d, {"--timeline", svg_path.string()});
  REQUIRE(r.exit_code == 0);
  const std::string svg = read_file(svg_path);
  // 1,000 bars of about 300 bytes each, and the frame.
  CHECK(svg.size() < 600'000);
  const auto elements = sluice::test_bench::svg_elements(svg);
  REQUIRE(elements);
  int lanes = 0, bars = 0, failed = 0;
  for (const auto& e : *elements) {
    lanes += e.name == "g" && e.klass == "lane worker";
    bars += e.name == "rect" && e.klass.rfind("item ", 0) == 0;
    failed += e.name == "rect" && e.klass == "item failed";
  }
  CHECK(lanes == 20);
  CHECK(bars == 1000);  // --timeline-items' default, of 2,000
  CHECK(failed == 0);
  CHECK(svg.find("the first 1000 of 2000 items on 20 workers") != std::string::npos);

  const auto layout = sluice::test::svg_texts(svg);
  REQUIRE(layout);
  CHECK(layout->width > 0);
  CHECK(layout->height > 20 * 24);
  // Lane labels, the title, the legend, the axis and some item labels.
  CHECK(layout->texts.size() > 40);
  const auto problems = sluice::test::layout_problems(*layout);
  for (const auto& p : problems) {
    CAPTURE(p);
    CHECK(false);
  }

  std::string log;
  const auto png = d / "shot.png";
  const auto shot = sluice::test::screenshot_svg(svg_path, png, static_cast<int>(layout->width),
                                                 static_cast<int>(layout->height), log);
  CAPTURE(log);
  REQUIRE(shot);
  if (const char* keep = std::getenv("SLUICE_TIMELINE_SHOT")) {
    std::filesystem::copy_file(png, keep, std::filesystem::copy_options::overwrite_existing);
  }
  CHECK(shot->width == static_cast<int>(layout->width));
  // The bars cover much of the plot; text, axis and legend add colours.
  CHECK(shot->non_white > 0.25);
  CHECK(shot->colours >= 8);
}

TEST_CASE("run.timeline.text_of_9_items_on_3_workers") {
  temp_dir d("sluice-timeline");
  write_file(d / "p.yaml",
             "name: nine\n"
             "producers: [{type: range, url: \"http://127.0.0.1:9/{i}\", to: 9}]\n"
             "consumers: {type: sleep, workers: 3, delay: 150ms}\n"
             "sinks: [{type: jsonl, path: out.jsonl}]\n");
  const auto r = run(d, {"--timeline", "-"}, {{"COLUMNS", "80"}});
  REQUIRE(r.exit_code == 0);
  CAPTURE(r.err);
  const auto rows = worker_rows(r.err);
  REQUIRE(rows.size() == 3);
  std::multiset<int> seen;
  for (const auto& [lane, cells] : rows) {
    CAPTURE(cells);
    CHECK(lane.size() + 2 + cells.size() <= 80);
    CHECK(cells.find_first_not_of("0123456789- ") == std::string::npos);
    const auto labels = labels_of(cells);
    CHECK(labels.size() == 3);  // 9 items of equal length over 3 workers
    for (std::size_t i = 0; i < labels.size(); ++i) {
      seen.insert(labels[i].first);
      CHECK(labels[i].second == '-');
      if (i > 0) {
        // Started in order: a worker takes the queue's next item.
        CHECK(labels[i].first > labels[i - 1].first);
      }
    }
    CHECK(std::isdigit(static_cast<unsigned char>(cells[0])));  // busy from the start
  }
  CHECK(seen == std::multiset<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(r.err.find("one column = ") != std::string::npos);
  CHECK(r.err.find("x failed") != std::string::npos);
}

TEST_CASE("run.timeline.failures_are_marked") {
  temp_dir d("sluice-timeline");
  // /status/400 .. /status/405: only 404 fails.
  write_file(d / "p.yaml",
             "name: fails\norigin: {port: 0}\n"
             "producers: [{type: range, url: \"${origin}/status/40{i}\", to: 6}]\n"
             "consumers: {type: http, workers: 2, fail_status: [404], retry: {attempts: 1}}\n"
             "sinks: [{type: jsonl, path: out.jsonl}]\n"
             "max_failed: 10\n");
  const auto text = run(d, {"--timeline", "-"}, {{"COLUMNS", "200"}});
  REQUIRE(text.exit_code == 0);
  CAPTURE(text.err);
  int failed = 0, ok = 0;
  for (const auto& [lane, cells] : worker_rows(text.err)) {
    for (const auto& [n, after] : labels_of(cells)) {
      CHECK(after == (n == 5 ? 'x' : '-'));
      (n == 5 ? failed : ok) += 1;
    }
  }
  CHECK(failed == 1);
  CHECK(ok == 5);

  const auto svg_path = d / "fails.svg";
  const auto r = run(d, {"--timeline", svg_path.string()});
  REQUIRE(r.exit_code == 0);
  const std::string svg = read_file(svg_path);
  const auto elements = sluice::test_bench::svg_elements(svg);
  REQUIRE(elements);
  int failed_bars = 0, ok_bars = 0;
  for (const auto& e : *elements) {
    failed_bars += e.name == "rect" && e.klass == "item failed";
    ok_bars += e.name == "rect" && e.klass == "item ok";
  }
  CHECK(failed_bars == 1);
  CHECK(ok_bars == 5);
  CHECK(svg.find(">failed item</text>") != std::string::npos);  // in the legend
  CHECK(svg.find("item 5 failed") != std::string::npos);        // its tooltip
  const auto layout = sluice::test::svg_texts(svg);
  REQUIRE(layout);
  CHECK(sluice::test::layout_problems(*layout).empty());
}

TEST_CASE("run.timeline.unwritable_file_fails_the_run") {
  temp_dir d("sluice-timeline");
  write_file(d / "p.yaml",
             "name: one\n"
             "producers: [{type: range, url: \"http://127.0.0.1:9/{i}\", to: 3}]\n"
             "consumers: {type: sleep, workers: 1}\n"
             "sinks: [{type: jsonl, path: out.jsonl}]\n");
  const auto r = run(d, {"--timeline", (d / "no-such-dir" / "x.svg").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("cannot write the timeline") != std::string::npos);
  const auto zero = run(d, {"--timeline", "-", "--timeline-items", "0"});
  CHECK(zero.exit_code != 0);  // at least 1
}
