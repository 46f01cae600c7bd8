// The plugin's entry point: one SLUICE_PLUGIN line naming the plugin, its
// version and the function that registers its stages.
#include <sluice/plugin/plugin.hpp>

#include "example_stages.hpp"

#ifndef SLUICE_EXAMPLE_VERSION
#define SLUICE_EXAMPLE_VERSION "0.0.0"
#endif

namespace {

void register_example_stages(sluice::registry& reg) {
  sluice_example::register_sitemap(reg);
  sluice_example::register_host_counts(reg);
}

}  // namespace

SLUICE_PLUGIN("sluice_example", SLUICE_EXAMPLE_VERSION, register_example_stages)
