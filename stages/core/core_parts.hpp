// Registration functions of the core stage files (private to stages/core).
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {
void register_core_producers(registry& reg);
void register_core_consumers(registry& reg);
void register_core_sinks(registry& reg);
}  // namespace sluice
