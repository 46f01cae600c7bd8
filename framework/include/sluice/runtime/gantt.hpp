// A Gantt chart of lanes over time, drawn as text rows (for a terminal) or as
// a standalone SVG document: `sluice run --timeline` and `sluice bench
// --timeline`/`--timeline-svg` share it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::gantt {

/// How one kind of bar or mark is drawn: its SVG fill and class, its text
/// character, and its legend entry (`name`; empty: not in the legend).
/// Thread safety: a plain value.
struct style {
  std::string name;   ///< legend text, `running`
  std::string klass;  ///< SVG class of its bars, `item ok`
  std::string fill;   ///< SVG colour, `#8ecae6`
  char ascii = '-';   ///< text character of its bars
};

/// A span of time on a lane. A labelled bar shows its label at its start;
/// in text, the label is followed by at least one `ascii` character.
/// Thread safety: a plain value.
struct bar {
  double start = 0;  ///< seconds from the chart's origin
  double end = 0;
  std::uint16_t style = 0;  ///< index into chart::styles
  std::string label;        ///< empty: none
  std::string tip;          ///< SVG tooltip; empty: none
};

/// An instant on a lane (a vertical line in SVG), with a label beside it.
/// Thread safety: a plain value.
struct mark {
  double t = 0;
  std::string label;
};

/// One row of the chart.
/// Thread safety: a plain value.
struct lane {
  std::string label;  ///< `Worker 3`
  std::string klass;  ///< SVG class of the lane's group, after `lane `
  std::vector<bar> bars;
  std::vector<mark> marks;
};

/// What render_text and render_svg draw.
/// Thread safety: a plain value.
struct chart {
  std::string title;    ///< SVG only (a heading and the document's <title>)
  double duration = 0;  ///< seconds shown, from 0
  std::vector<style> styles;
  std::vector<lane> lanes;
  std::string mark_name = "item";  ///< legend entry of the marks (SVG), when there are any
  /// The text legend, `N = item N starts, - running`; render_text adds the
  /// seconds per column.
  std::string text_legend;
};

/// One row per lane, `Worker 1: 1------7---9--`, then a legend row. Every row
/// fits in `width` characters (at least 10 columns of time are kept). A
/// label sits at the column of its start; one that would touch the previous
/// label of its lane is skipped, and one that would pass the right edge is
/// moved left to fit (so it is never cut).
/// Thread safety: a pure function.
std::vector<std::string> render_text(const chart& c, int width);

/// The chart as a standalone SVG document with a viewBox: the title and the
/// legend in their own rows above the lanes, a lane per row, a time axis in
/// seconds below. Labels are placed so that no two text boxes overlap and
/// none leaves the viewBox (width estimated as char_width() per character
/// of the font size): a bar's label is drawn inside it only when it fits,
/// a mark's beside it when there is room, else it is left out.
/// Thread safety: a pure function.
std::string render_svg(const chart& c);

/// The advance of one character of the SVG's monospace font, in units of
/// the font size, as the layout estimates it (DejaVu Sans Mono: 0.602).
/// Thread safety: a constant.
constexpr double char_width() noexcept {
  return 0.62;
}

/// Escapes `&`, `<`, `>`, `"` and `'` for XML text and attribute values;
/// control characters other than tab and newlines become `?`.
/// Thread safety: a pure function.
std::string xml_escape(std::string_view text);

/// The width of the terminal on `fd`: ioctl(TIOCGWINSZ), else $COLUMNS, else 80.
/// Thread safety: safe to call concurrently.
int terminal_width(int fd);

}  // namespace sluice::gantt
