#include "sluice/core/json_text.hpp"

#include <cmath>
#include <cstdlib>

#include <fmt/core.h>

#include <boost/json/serialize.hpp>

namespace sluice {

std::string plain_decimal(double d) {
  if (!std::isfinite(d)) {
    return "null";
  }
  // fmt's `{}` is the shortest text that round-trips, switching to an
  // exponent for very small or very large magnitudes; the exponent then
  // tells how many fixed decimals keep every significant digit.
  std::string s = fmt::format("{}", d);
  auto e = s.find('e');
  if (e == std::string::npos) {
    if (s.find('.') == std::string::npos) {
      s += ".0";
    }
    return s;
  }
  auto dot = s.find('.');
  int mantissa_decimals = dot == std::string::npos || dot > e ? 0 : static_cast<int>(e - dot - 1);
  int exp = std::atoi(s.c_str() + e + 1);
  int decimals = std::max(mantissa_decimals - exp, 1);
  return fmt::format("{:.{}f}", d, decimals);
}

void append_json_text(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::double_:
      out += plain_decimal(v.get_double());
      return;
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) {
          out += ',';
        }
        first = false;
        out += boost::json::serialize(kv.key());
        out += ':';
        append_json_text(out, kv.value());
      }
      out += '}';
      return;
    }
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) {
          out += ',';
        }
        first = false;
        append_json_text(out, e);
      }
      out += ']';
      return;
    }
    default:
      out += boost::json::serialize(v);
  }
}

std::string to_json_text(const boost::json::value& v) {
  std::string out;
  append_json_text(out, v);
  return out;
}

}  // namespace sluice
