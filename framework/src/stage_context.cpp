#include <cstdio>
#include <mutex>

#include <fmt/core.h>

#include "sluice/stage/stage.hpp"

namespace sluice {

void stage_context::log(log_level level, std::string_view message) const {
  if (log_sink) {
    log_sink(level, message);
    return;
  }
  static std::mutex mutex;
  static const char* names[] = {"debug", "info", "warn", "error"};
  std::lock_guard lock(mutex);
  fmt::print(stderr, "[{}] {}: {}\n", names[static_cast<int>(level)], name, message);
}

std::filesystem::path stage_context::resolve(const std::string& p) const {
  std::filesystem::path path(p);
  if (p == "-" || path.is_absolute() || base_dir.empty()) {
    return path;
  }
  return base_dir / path;
}

}  // namespace sluice
