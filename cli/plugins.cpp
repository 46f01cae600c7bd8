// Placeholder until plugin loading lands (replaced by cli/plugins.cpp of the plugin work).
#include "commands.hpp"

namespace sluice::cli {
std::string load_plugin_into(registry&, const std::string& path) {
  return "cannot load '" + path + "': plugin support is not built in";
}
}  // namespace sluice::cli
