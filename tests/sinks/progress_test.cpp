// The progress reporter: the in-place bar (rendered into a pipe, and in a
// real pseudo-terminal through script(1)), the plain log lines, NO_COLOR.
#include "sluice/runtime/progress.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "test_support.hpp"

namespace sluice::detail {
std::unique_ptr<progress_reporter> make_progress(int fd, bool terminal, int width,
                                                 double log_interval_s);
}

namespace {

// Runs `fn(fd)` with fd a pipe and returns what was written to it.
template <class F>
std::string capture(F fn) {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  fn(p[1]);
  ::close(p[1]);
  std::string out;
  std::array<char, 4096> buf{};
  ssize_t n;
  while ((n = ::read(p[0], buf.data(), buf.size())) > 0) {
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(p[0]);
  return out;
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

void feed(sluice::progress_reporter& r, int steps, double dt, std::uint64_t total, bool known) {
  sluice::progress_snapshot s;
  if (known) {
    s.total = total;
  }
  for (int i = 1; i <= steps; ++i) {
    s.elapsed_s = dt * i;
    s.done = total * i / steps;
    s.failed = i >= steps / 2 ? 3 : 0;
    s.in_flight = 5;
    r.update(s);
  }
  s.in_flight = 0;
  r.finish(s);
}

// Runs argv (with the given environment changes) and returns its stdout; it
// must exit 0.
std::string output_of(const std::vector<std::string>& argv,
                      const sluice::test::process_options& o = {}) {
  auto r = sluice::test::run_process(argv, o);
  CHECK_MESSAGE(r.exit_code == 0, r.err);
  return r.out;
}

}  // namespace

TEST_CASE("progress.bar.renders_in_place_and_ends_with_final_counts") {
  ::setenv("NO_COLOR", "1", 1);
  ::setenv("LANG", "C", 1);
  std::string out = capture([](int fd) {
    auto r = sluice::detail::make_progress(fd, true, 100, 10);
    feed(*r, 40, 0.05, 1000, true);  // 2 s of updates every 50 ms
  });
  // At most 10 draws a second: 2 s -> about 20 redraws, plus the final one.
  std::size_t draws = count(out, "\r");
  CHECK(draws >= 10);
  CHECK(draws <= 22);
  CHECK(out.find(" 47%|") != std::string::npos);  // drawn steps: 25 items each, every other
  CHECK(out.find("| 475/1000 [") != std::string::npos);
  CHECK(out.find("in flight 5") != std::string::npos);
  CHECK(out.find("errors 3") != std::string::npos);
  CHECK(out.find("/s") != std::string::npos);
  CHECK(out.find('<') != std::string::npos);       // an ETA
  CHECK(out.find('\x1b') != std::string::npos);    // only the clear-to-end-of-line
  CHECK(out.find("\x1b[3") == std::string::npos);  // NO_COLOR: no colour
  // The last line is the final state, then a newline.
  auto last = out.substr(out.rfind('\r'));
  CHECK(last.find("100%|") != std::string::npos);
  CHECK(last.find("1000/1000") != std::string::npos);
  CHECK(last.back() == '\n');
  // Every line fits the width.
  std::size_t start = 0;
  while ((start = out.find('\r', start)) != std::string::npos) {
    auto end = out.find_first_of("\r\x1b", start + 1);
    CHECK(end - start - 1 <= 100);
    start = end;
  }
  ::unsetenv("NO_COLOR");
}

TEST_CASE("progress.bar.unknown_total_and_colour") {
  ::unsetenv("NO_COLOR");
  ::setenv("TERM", "xterm", 1);
  std::string out = capture([](int fd) {
    auto r = sluice::detail::make_progress(fd, true, 80, 10);
    feed(*r, 10, 0.2, 300, false);
  });
  CHECK(out.find("300 done") != std::string::npos);
  CHECK(out.find('%') == std::string::npos);
  CHECK(out.find("\x1b[31merrors 3") != std::string::npos);  // errors in red
}

TEST_CASE("progress.plain.periodic_lines_when_not_a_terminal") {
  std::string out = capture([](int fd) {
    auto r = sluice::detail::make_progress(fd, false, 0, 1.0);
    feed(*r, 50, 0.1, 5000, true);  // 5 s of updates, a line every second
  });
  CHECK(out.find('\r') == std::string::npos);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(count(out, "\n") == 6);  // 5 periodic lines and the final one
  CHECK(out.find("progress: 1000/5000 (20.0%)") != std::string::npos);
  CHECK(out.find("eta ") != std::string::npos);
  CHECK(out.find("progress: finished 5000/5000 (100.0%)") != std::string::npos);
}

TEST_CASE("progress.pty.script_renders_the_bar") {
  std::string demo = SINKS_PROGRESS_DEMO;
  SUBCASE("in a pseudo-terminal: a bar redrawn in place, with colour") {
    std::string out =
        output_of({"script", "-qfec", demo + " 2000 50", "/dev/null"},
                  {.env = {{"TERM", "xterm"}, {"COLUMNS", "100"}}, .unset_env = {"NO_COLOR"}});
    CHECK(count(out, "\r") >= 10);
    CHECK(out.find("2000/2000") != std::string::npos);
    CHECK(out.find("\x1b[3") != std::string::npos);  // coloured
    auto last = out.substr(out.rfind("\r", out.find("2000/2000")));
    CHECK(last.find("100%|") != std::string::npos);
    CHECK(last.find("errors 20") != std::string::npos);
  }
  SUBCASE("in a pseudo-terminal with NO_COLOR") {
    std::string out = output_of({"script", "-qfec", demo + " 2000 50", "/dev/null"},
                                {.env = {{"NO_COLOR", "1"}, {"TERM", "xterm"}}});
    CHECK(out.find("2000/2000") != std::string::npos);
    CHECK(out.find("\x1b[3") == std::string::npos);
  }
  SUBCASE("stderr to a pipe: plain lines") {
    std::string out = output_of({"sh", "-c", demo + " 2000 50 2>&1 | cat"});
    CHECK(out.find('\r') == std::string::npos);
    CHECK(out.find("progress: 800/2000 (40.0%)") != std::string::npos);
    CHECK(out.find("progress: finished 2000/2000") != std::string::npos);
  }
}

TEST_CASE("progress.pty.sluice_run_shows_the_bar_and_final_counts") {
  sluice::test::temp_dir dir("sluice-progress");
  std::string yaml = (dir / "p.yaml").string();
  sluice::test::write_file(yaml,
                           "name: progress\n"
                           "producers:\n"
                           "  - type: range\n"
                           "    url: \"http://127.0.0.1:1/{i}\"\n"
                           "    from: 0\n"
                           "    to: 3000\n"
                           "consumers:\n"
                           "  type: sleep\n"
                           "  workers: 20\n"
                           "  delay: 5ms..15ms\n"
                           "sinks:\n"
                           "  - type: null\n");
  // About 1.5 s of run time in a real pseudo-terminal: several redraws.
  std::string out =
      output_of({"script", "-qfec", sluice::test::sluice_bin() + " run " + yaml, "/dev/null"},
                {.env = {{"TERM", "xterm"}, {"COLUMNS", "120"}}, .unset_env = {"NO_COLOR"}});
  CHECK(count(out, "%|") >= 3);
  CHECK(out.find("in flight") != std::string::npos);
  auto final_at = out.find("3000/3000");
  REQUIRE(final_at != std::string::npos);
  auto line_start = out.rfind('\r', final_at);
  auto line_end = out.find('\n', final_at);
  std::string last = out.substr(line_start, line_end - line_start);
  CHECK(last.find("100%|") != std::string::npos);
  CHECK(last.find("errors 0") != std::string::npos);
  // The report follows the finished bar, on its own lines.
  CHECK(out.find("consumed 3000", line_end) != std::string::npos);
}

namespace {

// What a terminal shows for `raw`: lines after carriage returns, erase-line
// (ESC [ K) and newlines are applied; colour escapes take no room.
std::vector<std::string> screen_lines(const std::string& raw) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t col = 0;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r') {
      col = 0;
    } else if (c == '\n') {
      lines.push_back(line);
      line.clear();
      col = 0;
    } else if (c == '\x1b' && i + 1 < raw.size() && raw[i + 1] == '[') {
      std::size_t j = i + 2;
      while (j < raw.size() && !std::isalpha(static_cast<unsigned char>(raw[j]))) {
        ++j;
      }
      if (j < raw.size() && raw[j] == 'K') {
        line.resize(std::min(line.size(), col));
      }
      i = j;
    } else {
      if (col < line.size()) {
        line[col] = c;
      } else {
        line.push_back(c);
      }
      ++col;
    }
  }
  if (!line.empty()) {
    lines.push_back(line);
  }
  return lines;
}

}  // namespace

TEST_CASE("progress.pty.stdout_sink_lines_stay_whole_beside_the_bar") {
  // The bar (stderr) and the stdout sink share one terminal: every result
  // line must start at the left margin, whole, and no bar may be left in the
  // middle of one.
  sluice::test::temp_dir dir("sluice-progress-stdout");
  std::string yaml = (dir / "p.yaml").string();
  sluice::test::write_file(yaml,
                           "name: progress\n"
                           "producers: [{type: range, url: \"http://127.0.0.1:1/item/{i}\", "
                           "to: 400}]\n"
                           "consumers: {type: sleep, workers: 8, delay: 5ms..15ms}\n"
                           "sinks: [{type: stdout}]\n");
  std::string out = output_of(
      {"script", "-qfec", sluice::test::sluice_bin() + " run --no-state " + yaml, "/dev/null"},
      {.env = {{"TERM", "xterm"}, {"COLUMNS", "120"}, {"NO_COLOR", "1"}}});
  CHECK(count(out, "%|") >= 3);  // the bar was drawn several times
  std::size_t results = 0;
  for (const auto& l : screen_lines(out)) {
    if (l.find("http://127.0.0.1:1/item/") == std::string::npos) {
      continue;
    }
    CAPTURE(l);
    ++results;
    CHECK(l.find("%|") == std::string::npos);
    CHECK(l.find("in flight") == std::string::npos);
    CHECK(l.find_first_not_of(" ") <= 1);  // at the left margin
  }
  CHECK(results == 400);
}

TEST_CASE("progress.plain.rate_over_a_window_and_elapsed_not_rounded_up") {
  // Items finish in bursts: 20 every 5 s (workers that each take 5 s), a
  // real rate of 4/s. Samples every 100 ms, a log line every 10 s.
  auto out = capture([](int fd) {
    auto r = sluice::detail::make_progress(fd, false, 0, 10.0);
    sluice::progress_snapshot s;
    s.total = 100000;
    for (int i = 1; i <= 600; ++i) {
      s.elapsed_s = 0.1 * i - 0.04;  // 59.56 s at the end: elapsed 00:59
      s.done = static_cast<std::uint64_t>(s.elapsed_s / 5.0) * 20;
      r->update(s);
    }
    r->finish(s);
  });
  CAPTURE(out);
  int lines = 0;
  for (std::size_t at = out.find("progress:"); at != std::string::npos;
       at = out.find("progress:", at + 1)) {
    auto end = out.find('\n', at);
    std::string line = out.substr(at, end - at);
    CAPTURE(line);
    auto comma = line.find("/s,");
    REQUIRE(comma != std::string::npos);
    auto start = line.rfind(' ', comma) + 1;
    double rate = std::atof(line.substr(start, comma - start).c_str());
    // The first line (at 10 s) has only 10 s of history; every line counts.
    CHECK(rate >= 3.6);
    CHECK(rate <= 4.4);
    ++lines;
  }
  CHECK(lines >= 5);
  CHECK(out.find("elapsed 01:00") == std::string::npos);
  CHECK(out.find("elapsed 00:59") != std::string::npos);
}
