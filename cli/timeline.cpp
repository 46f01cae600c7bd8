// `sluice run --timeline`: the recorded items of a run as a Gantt chart, one
// lane per consumer worker, written as SVG or printed as text on stderr.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "commands.hpp"
#include "sluice/runtime/gantt.hpp"

namespace sluice::cli {

namespace {

constexpr std::uint16_t ok_style = 0;
constexpr std::uint16_t failed_style = 1;

/// The label of an item: its 1-based ordinal among its producer's items,
/// prefixed by the producer's index when the pipeline has several.
std::string item_label(const timeline_item& t, bool several_producers) {
  return several_producers ? fmt::format("{}:{}", t.producer, t.seq + 1)
                           : fmt::format("{}", t.seq + 1);
}

gantt::chart make_chart(const run_report& r) {
  gantt::chart c;
  c.styles = {{"item (label: its number)", "item ok", "#8ecae6", '-'},
              {"failed item", "item failed", "#e63946", 'x'}};
  c.text_legend = "N = item N starts, - running, x failed, blank idle";
  bool several = false;
  for (const auto& t : r.timeline) {
    several = several || t.producer != r.timeline.front().producer;
    c.duration = std::max(c.duration, t.end_s);
  }
  for (std::uint32_t w = 0; w < r.workers; ++w) {
    c.lanes.push_back({fmt::format("Worker {}", w + 1), "worker", {}, {}});
  }
  for (const auto& t : r.timeline) {
    if (t.worker >= c.lanes.size()) {
      continue;
    }
    auto label = item_label(t, several);
    auto tip = fmt::format("item {}{}: {:.6f}..{:.6f} s", label, t.failed ? " failed" : "",
                           t.start_s, t.end_s);
    c.lanes[t.worker].bars.push_back({t.start_s, std::max(t.start_s, t.end_s),
                                      t.failed ? failed_style : ok_style, std::move(label),
                                      std::move(tip)});
  }
  const auto shown = r.timeline.size();
  c.title =
      fmt::format("sluice run {}: {} {} of {} item{} on {} worker{}, {:.3f} s", r.name,
                  shown < r.consumed ? "the first" : "all", shown, r.consumed,
                  r.consumed == 1 ? "" : "s", r.workers, r.workers == 1 ? "" : "s", c.duration);
  return c;
}

}  // namespace

bool write_run_timeline(const run_report& r, const std::string& path) {
  const auto c = make_chart(r);
  if (path == "-") {
    std::string out = c.title + "\n";
    for (const auto& row : gantt::render_text(c, gantt::terminal_width(STDERR_FILENO))) {
      out += row;
      out += '\n';
    }
    std::fputs(out.c_str(), stderr);
    return true;
  }
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << gantt::render_svg(c);
  if (!f.flush()) {
    fmt::print(stderr, "sluice: cannot write the timeline to {}\n", path);
    return false;
  }
  return true;
}

}  // namespace sluice::cli
