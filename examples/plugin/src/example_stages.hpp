// The two stages of the example plugin.
#pragma once

#include <sluice/stage/registry.hpp>

namespace sluice_example {

/// Registers the `sitemap` producer.
void register_sitemap(sluice::registry& reg);

/// Registers the `host_counts` sink.
void register_host_counts(sluice::registry& reg);

}  // namespace sluice_example
