// The Gantt chart as SVG. The page is cut in rows, top to bottom: the title,
// the legend (wrapped to the width), the lanes, the axis. Each text element
// gets a box estimated from its font size (char_width() per character, one
// font size above the baseline, 0.3 below); the layout keeps those boxes
// apart and inside the viewBox, and the tests check it with the same estimate.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sluice/runtime/gantt.hpp"

namespace sluice::gantt {

namespace {

constexpr double pad = 10;
constexpr double title_fs = 14;
constexpr double legend_fs = 12;
constexpr double lane_fs = 12;
constexpr double bar_fs = 10;
constexpr double axis_fs = 12;
constexpr double lane_h = 24;
constexpr double bar_h = 14;
constexpr double plot_w = 900;
constexpr const char* mark_colour = "#c1121f";

/// Characters of UTF-8 `s` (continuation bytes do not count).
std::size_t glyphs(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
}

double text_w(std::string_view s, double fs) {
  return static_cast<double>(glyphs(s)) * fs * char_width();
}

/// `s` cut (at a character boundary) with "..." so that it is at most `room` wide.
std::string fit(std::string_view s, double fs, double room) {
  if (text_w(s, fs) <= room) {
    return std::string(s);
  }
  const auto keep = static_cast<std::size_t>(std::max(0.0, room / (fs * char_width()) - 3));
  std::size_t bytes = 0, kept = 0;
  while (bytes < s.size() && kept < keep) {
    ++bytes;
    while (bytes < s.size() && (s[bytes] & 0xC0) == 0x80) {
      ++bytes;
    }
    ++kept;
  }
  return std::string(s.substr(0, bytes)) + "...";
}

/// A tick step of 1, 2 or 5 times a power of ten giving about `target` ticks.
double nice_step(double span, int target) {
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (raw <= m * mag) {
      return m * mag;
    }
  }
  return 10 * mag;
}

void text(std::string& s, double x, double y, double fs, std::string_view anchor,
          std::string_view content) {
  s += fmt::format("<text x=\"{:.2f}\" y=\"{:.1f}\" font-size=\"{:g}\"{}>{}</text>\n", x, y, fs,
                   anchor.empty() ? std::string() : fmt::format(" text-anchor=\"{}\"", anchor),
                   xml_escape(content));
}

struct layout {
  double left = 0;
  double width = 0;
  double duration = 1;
  double x_of(double t) const { return left + plot_w * std::clamp(t / duration, 0.0, 1.0); }
};

/// The legend's entries from `x0`, wrapped before `x1`; returns the bottom of its last row.
double draw_legend(std::string& s, const chart& c, double x0, double x1, double top) {
  bool marks = false;
  for (const auto& l : c.lanes) {
    marks = marks || !l.marks.empty();
  }
  s += "<g class=\"legend\">\n";
  double x = x0, y = top;
  auto entry = [&](const std::string& name, const std::string& swatch) {
    const double w = 16 + text_w(name, legend_fs);
    if (x > x0 && x + w > x1) {
      x = x0;
      y += legend_fs * 1.5;
    }
    s += fmt::format(fmt::runtime(swatch), fmt::arg("x", x), fmt::arg("y", y),
                     fmt::arg("mx", x + 6), fmt::arg("y2", y + 10));
    text(s, x + 16, y + legend_fs - 2, legend_fs, "", name);
    x += w + 16;
  };
  for (const auto& st : c.styles) {
    if (!st.name.empty()) {
      entry(st.name, "<rect x=\"{x:.1f}\" y=\"{y:.1f}\" width=\"12\" height=\"10\" fill=\"" +
                         xml_escape(st.fill) + "\"/>\n");
    }
  }
  if (marks) {
    entry(c.mark_name, std::string("<line x1=\"{mx:.1f}\" y1=\"{y:.1f}\" x2=\"{mx:.1f}\" "
                                   "y2=\"{y2:.1f}\" stroke=\"") +
                           mark_colour + "\" stroke-width=\"2\"/>\n");
  }
  s += "</g>\n";
  return y + legend_fs * 1.3;
}

void draw_lane(std::string& s, const chart& c, const lane& l, const layout& lo, double y) {
  s += fmt::format("<g class=\"lane {}\" data-label=\"{}\">\n", xml_escape(l.klass),
                   xml_escape(l.label));
  text(s, lo.left - 8, y + bar_h - 2, lane_fs, "end", l.label);
  s += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", lo.left,
      y + bar_h / 2, lo.left + plot_w, y + bar_h / 2);
  // Every label of the lane, bars' and marks', in time order, never left of
  // where the last one ended.
  struct pending {
    double t;
    const std::string* label;
    double x0, x1;  // a bar's extent; for a mark x0 == x1
    bool on_bar;
  };
  std::vector<pending> labels;
  for (const auto& b : l.bars) {
    const auto& st = b.style < c.styles.size() ? c.styles[b.style] : style{};
    const double x0 = lo.x_of(b.start), x1 = lo.x_of(b.end);
    s += fmt::format(
        "<rect class=\"{}\" x=\"{:.2f}\" y=\"{:.1f}\" width=\"{:.2f}\" height=\"{:.1f}\" "
        "fill=\"{}\">",
        xml_escape(st.klass), x0, y, std::max(0.5, x1 - x0), bar_h, xml_escape(st.fill));
    s += b.tip.empty() ? "" : fmt::format("<title>{}</title>", xml_escape(b.tip));
    s += "</rect>\n";
    if (!b.label.empty()) {
      labels.push_back({b.start, &b.label, x0, x1, true});
    }
  }
  for (const auto& m : l.marks) {
    const double x = lo.x_of(m.t);
    s += fmt::format(
        "<line class=\"item\" x1=\"{:.2f}\" y1=\"{:.1f}\" x2=\"{:.2f}\" y2=\"{:.1f}\" "
        "stroke=\"{}\" stroke-width=\"2\"><title>{} {} at {:.5f} s</title></line>\n",
        x, y - 2, x, y + bar_h + 2, mark_colour, xml_escape(c.mark_name), xml_escape(m.label), m.t);
    if (!m.label.empty()) {
      labels.push_back({m.t, &m.label, x, x, false});
    }
  }
  std::stable_sort(labels.begin(), labels.end(),
                   [](const pending& a, const pending& b) { return a.t < b.t; });
  double next_free = lo.left;
  const double right = lo.left + plot_w;
  for (const auto& p : labels) {
    const double w = text_w(*p.label, bar_fs);
    double at = -1;
    if (p.on_bar) {
      // Inside its bar, or not at all.
      if (p.x0 + 2 >= next_free && p.x0 + 2 + w + 2 <= p.x1) {
        at = p.x0 + 2;
      }
    } else if (p.x0 + 2 >= next_free && p.x0 + 2 + w <= right) {
      at = p.x0 + 2;  // right of the mark
    } else if (p.x0 - 2 - w >= next_free) {
      at = p.x0 - 2 - w;  // left of it
    }
    if (at < 0) {
      continue;
    }
    text(s, at, y + bar_h - 3, bar_fs, "", *p.label);
    next_free = at + w + 3;
  }
  s += "</g>\n";
}

void draw_axis(std::string& s, const layout& lo, double axis_y) {
  s += "<g class=\"axis\">\n";
  s += fmt::format(
      "<line x1=\"{:.1f}\" y1=\"{:.1f}\" x2=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", lo.left,
      axis_y, lo.left + plot_w, axis_y);
  const double step = nice_step(lo.duration, 10);
  double next_free = 0;
  for (int k = 0; k * step <= lo.duration * (1 + 1e-9); ++k) {
    const double t = k * step;
    const double x = lo.x_of(t);
    s += fmt::format(
        "<line x1=\"{:.2f}\" y1=\"{:.1f}\" x2=\"{:.2f}\" y2=\"{:.1f}\" stroke=\"black\"/>\n", x,
        axis_y, x, axis_y + 5);
    const std::string label = fmt::format("{:g}", t);
    const double w = text_w(label, axis_fs);
    if (x - w / 2 >= next_free && x + w / 2 <= lo.width - pad) {
      text(s, x, axis_y + 18, axis_fs, "middle", label);
      next_free = x + w / 2 + 6;
    }
  }
  text(s, lo.left + plot_w / 2, axis_y + 36, axis_fs, "middle", "time (s)");
  s += "</g>\n";
}

}  // namespace

std::string render_svg(const chart& c) {
  layout lo;
  lo.duration = c.duration > 0 ? c.duration : 1.0;
  double lane_w = 0;
  for (const auto& l : c.lanes) {
    lane_w = std::max(lane_w, text_w(l.label, lane_fs));
  }
  lo.left = pad + lane_w + 8;
  // Room on the right for half of the widest tick label.
  const double step = nice_step(lo.duration, 10);
  double tick_w = 0;
  for (int k = 0; k * step <= lo.duration * (1 + 1e-9); ++k) {
    tick_w = std::max(tick_w, text_w(fmt::format("{:g}", k * step), axis_fs));
  }
  lo.width = std::ceil(lo.left + plot_w + pad + tick_w / 2 + 1);

  std::string body;
  const double title_base = pad + title_fs;
  text(body, pad, title_base, title_fs, "", fit(c.title, title_fs, lo.width - 2 * pad));
  const double legend_bottom =
      draw_legend(body, c, pad, lo.width - pad, title_base + title_fs * 0.3 + 8);
  const double top = legend_bottom + 12;
  for (std::size_t i = 0; i < c.lanes.size(); ++i) {
    draw_lane(body, c, c.lanes[i], lo, top + lane_h * static_cast<double>(i));
  }
  const double axis_y = top + lane_h * static_cast<double>(c.lanes.size()) + 6;
  draw_axis(body, lo, axis_y);
  const double height = std::ceil(axis_y + 48);

  std::string s;
  s.reserve(body.size() + 512);
  s += "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" "
      "viewBox=\"0 0 {:.0f} {:.0f}\" font-family=\"monospace\" font-size=\"12\">\n",
      lo.width, height, lo.width, height);
  s += fmt::format("<title>{}</title>\n", xml_escape(c.title));
  s += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += body;
  s += "</svg>\n";
  return s;
}

}  // namespace sluice::gantt
