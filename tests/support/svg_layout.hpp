// The SVG timeline checks shared by the bench and run tests: every <text>
// element's box, estimated from its font size as the renderer does
// (gantt::char_width() per character, one font size above the baseline, 0.3
// below), and the checks that no two boxes overlap and all are inside the
// viewBox. Parsed with libxml2 (link LibXml2::LibXml2).
#pragma once

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "sluice/runtime/gantt.hpp"

namespace sluice::test {

/// One <text> element: its estimated box and its content.
/// Thread safety: a plain value.
struct text_box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  std::string text;
};

/// What svg_texts found: the viewBox and every text's box.
/// Thread safety: a plain value.
struct svg_layout {
  double width = 0, height = 0;  ///< of the viewBox (0 when it has none)
  std::vector<text_box> texts;
};

/// The layout of `svg`; nullopt when it is not well-formed XML.
/// Thread safety: a pure function.
inline std::optional<svg_layout> svg_texts(const std::string& svg) {
  xmlDocPtr doc = xmlReadMemory(svg.data(), static_cast<int>(svg.size()), "timeline.svg", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) {
    return std::nullopt;
  }
  auto prop = [](xmlNodePtr n, const char* name) {
    xmlChar* v = xmlGetProp(n, BAD_CAST name);
    std::string out = v ? reinterpret_cast<const char*>(v) : "";
    xmlFree(v);
    return out;
  };
  svg_layout out;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  std::istringstream vb(prop(root, "viewBox"));
  double vx = 0, vy = 0;
  vb >> vx >> vy >> out.width >> out.height;
  std::vector<xmlNodePtr> stack{root};
  while (!stack.empty()) {
    xmlNodePtr n = stack.back();
    stack.pop_back();
    if (std::string(reinterpret_cast<const char*>(n->name)) == "text") {
      xmlChar* c = xmlNodeGetContent(n);
      std::string text = c ? reinterpret_cast<const char*>(c) : "";
      xmlFree(c);
      const std::string fs_attr = prop(n, "font-size");
      const double fs = fs_attr.empty() ? 12 : std::atof(fs_attr.c_str());
      const double x = std::atof(prop(n, "x").c_str()), y = std::atof(prop(n, "y").c_str());
      const auto chars = static_cast<double>(
          std::count_if(text.begin(), text.end(), [](char ch) { return (ch & 0xC0) != 0x80; }));
      const double w = chars * fs * gantt::char_width();
      const std::string anchor = prop(n, "text-anchor");
      const double x0 = anchor == "middle" ? x - w / 2 : anchor == "end" ? x - w : x;
      out.texts.push_back({x0, y - fs, x0 + w, y + 0.3 * fs, text});
    }
    for (xmlNodePtr k = n->children; k; k = k->next) {
      if (k->type == XML_ELEMENT_NODE) {
        stack.push_back(k);
      }
    }
  }
  xmlFreeDoc(doc);
  return out;
}

/// One line per pair of overlapping text boxes and per box outside the
/// viewBox (empty: the layout is clean).
/// Thread safety: a pure function.
inline std::vector<std::string> layout_problems(const svg_layout& l) {
  std::vector<std::string> out;
  auto box = [](const text_box& b) {
    std::ostringstream s;
    s << "'" << b.text << "' [" << b.x0 << "," << b.y0 << " " << b.x1 << "," << b.y1 << "]";
    return s.str();
  };
  for (const auto& b : l.texts) {
    if (b.x0 < 0 || b.y0 < 0 || b.x1 > l.width || b.y1 > l.height) {
      out.push_back("outside the viewBox: " + box(b));
    }
  }
  // Sorted by x0, a box can only overlap the ones that start before it ends.
  std::vector<text_box> by_x = l.texts;
  std::sort(by_x.begin(), by_x.end(),
            [](const text_box& a, const text_box& b) { return a.x0 < b.x0; });
  for (std::size_t i = 0; i < by_x.size(); ++i) {
    for (std::size_t j = i + 1; j < by_x.size() && by_x[j].x0 < by_x[i].x1; ++j) {
      if (by_x[j].y0 < by_x[i].y1 && by_x[i].y0 < by_x[j].y1 && by_x[j].x0 < by_x[i].x1) {
        out.push_back("overlap: " + box(by_x[i]) + " and " + box(by_x[j]));
      }
    }
  }
  return out;
}

}  // namespace sluice::test
