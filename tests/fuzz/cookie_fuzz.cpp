// libFuzzer harness: the cookie jar (RFC 6265 parsing and storing, the
// Cookie header, the Netscape file). The input is a flags byte (bit 0:
// https, bit 1: the host is an IP), a host and a request path separated by
// NUL bytes, then Set-Cookie values one per line, then after a NUL a
// Netscape cookie file. Nothing crashes; a Cookie header never holds CR,
// LF or NUL (it is sent in a request head); the jar stays within its
// limits; and a jar written as a Netscape file reads back to the same file
// (for the cookies set by the values and for those loaded from the file).
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "cookie_jar.hpp"

namespace hd = sluice::stages::http;

namespace {

std::string_view next_part(std::string_view& in, char sep) {
  auto at = in.find(sep);
  auto part = in.substr(0, at);
  in = at == std::string_view::npos ? std::string_view() : in.substr(at + 1);
  return part;
}

// A host as a URL parser leaves it and DNS answers for: letters, digits,
// dots and hyphens.
std::string host_of(std::string_view raw) {
  std::string h;
  for (char c : raw.substr(0, 64)) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-') {
      h += c;
    }
  }
  // No leading or trailing dot: a response never comes from such a name.
  auto first = h.find_first_not_of('.');
  auto last = h.find_last_not_of('.');
  h = first == std::string::npos ? std::string() : h.substr(first, last - first + 1);
  return h.empty() ? std::string("example.com") : h;
}

// A path as a URL parser leaves it: printable ASCII, starting with '/'.
std::string path_of(std::string_view raw) {
  std::string p = "/";
  for (char c : raw.substr(0, 256)) {
    if (c > 0x20 && c < 0x7F) {
      p += c;
    }
  }
  return p;
}

std::string saved(const hd::cookie_jar& jar, hd::cookie_jar::time_point now) {
  std::ostringstream out;
  jar.save_netscape(out, now);
  return out.str();
}

// Written, read back and written again: the same text.
void check_round_trip(const hd::cookie_jar& jar, hd::cookie_jar::time_point now) {
  const std::string text = saved(jar, now);
  hd::cookie_jar back;
  std::istringstream in(text);
  if (!back.load_netscape(in, "fuzz", now).empty() || saved(back, now) != text) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const auto flags = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string host = host_of(next_part(in, '\0'));
  const std::string path = path_of(next_part(in, '\0'));
  const std::string_view values = next_part(in, '\0');
  const std::string_view file = in;
  const auto now = hd::cookie_jar::time_point(std::chrono::seconds(1767225600));
  const hd::cookie_url u{host, (flags & 2) != 0, (flags & 1) != 0, path};

  hd::cookie_limits limits;
  limits.per_domain = 8;
  limits.total = 16;
  hd::cookie_jar jar(limits);
  std::string_view rest = values;
  for (int n = 0; !rest.empty() && n < 64; ++n) {
    jar.set_from(u, next_part(rest, '\n'), now);
  }
  if (jar.size() > limits.total) {
    std::abort();
  }
  auto header = jar.header_for(u, now);
  if (header.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    std::abort();
  }
  check_round_trip(jar, now);

  hd::cookie_jar loaded;
  std::istringstream fin{std::string(file)};
  loaded.load_netscape(fin, "fuzz", now);
  check_round_trip(loaded, now);
  return 0;
}
