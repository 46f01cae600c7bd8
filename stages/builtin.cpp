#include "sluice/stages/builtin.hpp"

#include "sluice/stages/core.hpp"

namespace sluice {

void register_builtin_stages(registry& reg) {
  register_core_stages(reg);
}

}  // namespace sluice
