// `--plugin PATH` and the `plugins:` key: both load through the framework's
// plugin loader into the CLI's registry.
#include <string>

#include "commands.hpp"
#include "sluice/plugin/plugin.hpp"

namespace sluice::cli {

std::string load_plugin_into(registry& reg, const std::string& path) {
  return load_plugin(reg, path).error;
}

}  // namespace sluice::cli
