// Registration functions of the core stage files (private to stages/core).
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice::stages::core {
void register_producers(registry& reg);
void register_request_producers(registry& reg);
void register_consumers(registry& reg);
void register_sinks(registry& reg);
}  // namespace sluice::stages::core
