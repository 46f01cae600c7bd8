// Registration of every built-in stage.
#pragma once

#include "sluice/stage/registry.hpp"

namespace sluice {

/// Registers every built-in stage and service into `reg` (an explicit call;
/// nothing registers itself at static-initialisation time).
void register_builtin_stages(registry& reg);

}  // namespace sluice
