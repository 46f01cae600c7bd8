// A plugin that claims to be built by another compiler.
#include "sluice/plugin/plugin.hpp"

namespace {
void register_nothing(sluice::registry&) {}
}  // namespace

extern "C" SLUICE_PLUGIN_EXPORT const sluice::plugin_info* sluice_plugin_entry() {
  static const sluice::plugin_info info{SLUICE_PLUGIN_API_VERSION,
                                        "gcc-4.8;libstdc++-4-cxx98;boost-105300;sluice-0.0.1",
                                        "bad_abi", "1.0", &register_nothing};
  return &info;
}
