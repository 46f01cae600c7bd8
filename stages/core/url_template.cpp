#include "url_template.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace sluice::stages::core {

url_template::url_template(const std::string& text) {
  std::string lit;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '{' && i + 1 < text.size() && text[i + 1] == '{') {
      lit += '{';
      ++i;
    } else if (c == '}' && i + 1 < text.size() && text[i + 1] == '}') {
      lit += '}';
      ++i;
    } else if (c == '{') {
      auto close = text.find('}', i);
      if (close == std::string::npos) {
        throw std::invalid_argument("unterminated '{' at column " + std::to_string(i + 1) +
                                    " of the URL template (write '{{' for a literal brace)");
      }
      std::string spec = text.substr(i + 1, close - i - 1);
      part p;
      p.index = true;
      if (spec == "i") {
        p.width = 0;
      } else if (spec.size() > 3 && spec.compare(0, 3, "i:0") == 0 &&
                 spec.find_first_not_of("0123456789", 3) == std::string::npos && spec.size() <= 5) {
        p.width = std::stoi(spec.substr(3));
      } else {
        throw std::invalid_argument("unknown placeholder '{" + spec +
                                    "}' in the URL template (use {i} or {i:06})");
      }
      if (!lit.empty()) {
        parts_.push_back({std::move(lit)});
        lit.clear();
      }
      parts_.push_back(std::move(p));
      i = close;
    } else if (c == '}') {
      throw std::invalid_argument("stray '}' at column " + std::to_string(i + 1) +
                                  " of the URL template (write '}}' for a literal brace)");
    } else {
      lit += c;
    }
  }
  if (!lit.empty()) {
    parts_.push_back({std::move(lit)});
  }
}

void url_template::expand(std::int64_t i, std::string& out) const {
  for (const auto& p : parts_) {
    if (!p.index) {
      out += p.literal;
      continue;
    }
    fmt::format_int f(i);
    bool neg = i < 0;
    auto digits = f.size() - (neg ? 1 : 0);
    if (neg) {
      out += '-';
    }
    if (static_cast<int>(digits) < p.width) {
      out.append(static_cast<std::size_t>(p.width) - digits, '0');
    }
    out.append(f.data() + (neg ? 1 : 0), digits);
  }
}

}  // namespace sluice::stages::core
