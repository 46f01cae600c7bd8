// The SVG timeline tests' reader: the elements of a document, parsed with
// libxml2, so that each test only counts what it looks for.
#pragma once

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sluice::test_bench {

/// One element of an SVG document: its name, its `class` attribute (empty
/// when none), its text content and its depth (0 for the root).
/// Thread safety: a plain value.
struct svg_element {
  std::string name;
  std::string klass;
  std::string text;
  int depth = 0;
};

/// Every element of `svg`, the root first, then depth-first; nullopt when
/// `svg` is not well-formed XML.
/// Thread safety: a pure function.
inline std::optional<std::vector<svg_element>> svg_elements(const std::string& svg) {
  xmlDocPtr doc = xmlReadMemory(svg.data(), static_cast<int>(svg.size()), "timeline.svg", nullptr,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (doc == nullptr) {
    return std::nullopt;
  }
  auto text_of = [](xmlChar* s) {
    std::string out = s ? reinterpret_cast<const char*>(s) : "";
    xmlFree(s);
    return out;
  };
  std::vector<svg_element> out;
  std::vector<std::pair<xmlNodePtr, int>> stack;
  if (xmlNodePtr root = xmlDocGetRootElement(doc)) {
    stack.emplace_back(root, 0);
  }
  while (!stack.empty()) {
    auto [n, depth] = stack.back();
    stack.pop_back();
    out.push_back({reinterpret_cast<const char*>(n->name), text_of(xmlGetProp(n, BAD_CAST "class")),
                   text_of(xmlNodeGetContent(n)), depth});
    for (xmlNodePtr c = n->children; c; c = c->next) {
      if (c->type == XML_ELEMENT_NODE) {
        stack.emplace_back(c, depth + 1);
      }
    }
  }
  xmlFreeDoc(doc);
  return out;
}

}  // namespace sluice::test_bench
