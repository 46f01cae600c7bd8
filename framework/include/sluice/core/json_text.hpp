// JSON text with numbers in plain decimal form.
#pragma once

#include <string>

#include <boost/json/value.hpp>

namespace sluice {

/// `v` as compact JSON text, like boost::json::serialize, except that a
/// double is written in plain decimal form with the shortest digits that read
/// back to the same value (`0.153417`, `401.200046`, `1.0`, `0.0000001`), where
/// Boost.JSON 1.81 writes `1.53417E-1`, `4.01200046E2`, `1E0`. Strings, keys,
/// integers and the structure are Boost.JSON's own output; a NaN or infinity
/// (which JSON cannot hold) is written as null.
/// Thread safety: a pure function.
std::string to_json_text(const boost::json::value& v);

/// Appends to_json_text(v) to `out`.
/// Thread safety: a pure function (touches only `out`).
void append_json_text(std::string& out, const boost::json::value& v);

/// A double in the plain decimal form to_json_text uses ("null" for NaN and
/// infinities).
/// Thread safety: a pure function.
std::string plain_decimal(double d);

}  // namespace sluice
