// The Gantt chart's two renderers. Both place labels lane by lane, left to
// right, remembering where the last placed label ends: that is all it takes
// for labels never to overlap, since lanes do not share rows.
#include "sluice/runtime/gantt.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace sluice::gantt {

namespace {

/// A label waiting to be placed: where it wants to start, its text, and
/// whether it heads a bar (then a fill character of `fill` follows it).
struct text_label {
  double t = 0;
  int col = 0;
  std::string text;
  bool on_bar = false;
  char fill = '-';
};

int column_of(double t, double dt, int cols) {
  return std::clamp(static_cast<int>(std::floor(t / dt)), 0, cols - 1);
}

/// Paints the bars of `l` into `cells` and returns its labels in time order.
std::vector<text_label> paint_lane(const chart& c, const lane& l, std::string& cells, double dt) {
  const int cols = static_cast<int>(cells.size());
  std::vector<text_label> labels;
  for (const auto& b : l.bars) {
    const char ch = b.style < c.styles.size() ? c.styles[b.style].ascii : '-';
    if (b.label.empty()) {
      // An unlabelled span covers the columns whose middle it covers.
      for (int k = 0; k < cols; ++k) {
        const double mid = (k + 0.5) * dt;
        if (mid >= b.start && mid < b.end) {
          cells[static_cast<std::size_t>(k)] = ch;
        }
      }
      continue;
    }
    // A labelled bar starts at its start's column and covers at least it.
    const int c0 = column_of(b.start, dt, cols);
    const int c1 = std::clamp(static_cast<int>(std::ceil(b.end / dt)), c0 + 1, cols);
    std::fill(cells.begin() + c0, cells.begin() + c1, ch);
    labels.push_back({b.start, c0, b.label, true, ch});
  }
  for (const auto& m : l.marks) {
    labels.push_back({m.t, column_of(m.t, dt, cols), m.label, false, ' '});
  }
  std::stable_sort(labels.begin(), labels.end(),
                   [](const text_label& a, const text_label& b) { return a.t < b.t; });
  return labels;
}

/// Writes `labels` over `cells`: each at its column, or moved left to end
/// inside the row; skipped when it would touch the one before.
void place_text_labels(const std::vector<text_label>& labels, std::string& cells) {
  const int cols = static_cast<int>(cells.size());
  int next_free = 0;
  for (const auto& lb : labels) {
    const int w = static_cast<int>(lb.text.size()) + (lb.on_bar ? 1 : 0);
    if (w > cols) {
      continue;
    }
    const int at = std::min(lb.col, cols - w);
    if (at < next_free) {
      continue;
    }
    std::copy(lb.text.begin(), lb.text.end(), cells.begin() + at);
    if (lb.on_bar) {
      cells[static_cast<std::size_t>(at + w - 1)] = lb.fill;
    }
    // One free cell between labels keeps `9` and `11` from reading as `911`.
    next_free = at + w + (lb.on_bar ? 0 : 1);
  }
}

}  // namespace

std::vector<std::string> render_text(const chart& c, int width) {
  std::size_t label = 0;
  for (const auto& l : c.lanes) {
    label = std::max(label, l.label.size());
  }
  label += 2;  // ": "
  const int cols = std::max(10, width - static_cast<int>(label));
  const double dt = c.duration > 0 ? c.duration / cols : 1.0;
  std::vector<std::string> rows;
  for (const auto& l : c.lanes) {
    std::string cells(static_cast<std::size_t>(cols), ' ');
    place_text_labels(paint_lane(c, l, cells, dt), cells);
    std::string head = l.label + ":";
    head.resize(label, ' ');
    rows.push_back(head + cells);
  }
  rows.push_back(fmt::format("({}; one column = {:.5f} s)", c.text_legend, dt));
  return rows;
}

int terminal_width(int fd) {
  winsize ws{};
  if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    return ws.ws_col;
  }
  if (const char* c = std::getenv("COLUMNS")) {
    char* end = nullptr;
    const long v = std::strtol(c, &end, 10);
    if (end != c && *end == '\0' && v > 0 && v < 10000) {
      return static_cast<int>(v);
    }
  }
  return 80;
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(ch) < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') {
          out += '?';
        } else {
          out += ch;
        }
    }
  }
  return out;
}

}  // namespace sluice::gantt
