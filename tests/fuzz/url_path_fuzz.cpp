// libFuzzer harness: URL -> file path in the files sink. Whatever the URL,
// both layouts give a safe relative path under the host's directory (never
// absolute, no `.`/`..`/empty component, no separator or NUL inside a name,
// every name at most 255 bytes), the same one every time; the readable layout
// may decline (empty) and the sink then uses the hash layout.
#include <cstdlib>
#include <string>

#include "body_store.hpp"

namespace sk = sluice::stages::sinks;

namespace {

void check(const std::filesystem::path& rel, const std::string& host) {
  if (!sk::is_safe_relative(rel)) {
    std::abort();  // a path that can leave the output directory
  }
  if (rel.begin()->string() != host) {
    std::abort();  // not under the host's directory
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string url(reinterpret_cast<const char*>(data), size);
  std::string host = sk::host_dir(url);
  if (host.empty() || host.find('/') != std::string::npos || host == "." || host == "..") {
    std::abort();
  }
  auto hashed = sk::hash_path(url);
  check(hashed, host);
  if (hashed != sk::hash_path(url)) {
    std::abort();
  }
  auto readable = sk::readable_path(url);
  if (!readable.empty()) {
    check(readable, host);
    if (readable != sk::readable_path(url)) {
      std::abort();
    }
  }
  return 0;
}
