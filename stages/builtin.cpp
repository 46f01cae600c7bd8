#include "sluice/stages/builtin.hpp"

#include "sluice/stages/core.hpp"
#include "sluice/stages/http.hpp"

namespace sluice {

void register_builtin_stages(registry& reg) {
  register_core_stages(reg);
  register_http_stages(reg);
}

}  // namespace sluice
