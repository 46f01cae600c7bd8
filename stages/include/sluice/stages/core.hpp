// The core built-in stages: producers range, list, file; consumer sleep;
// sink null.
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers the core stages. Throws std::invalid_argument on a name clash.
void register_core_stages(registry& reg);

}  // namespace sluice
