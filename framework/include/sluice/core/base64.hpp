// Base64 (RFC 4648, with padding), for Basic credentials and binary bodies.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

/// `in` encoded as standard base64 with `=` padding and no line breaks.
/// Cost: one allocation of 4 * ceil(n / 3) bytes.
/// Thread safety: a pure function.
std::string base64_encode(std::string_view in);

}  // namespace sluice
