#include "sluice/stages/builtin.hpp"

#include "sluice/stages/asyncq.hpp"
#include "sluice/stages/core.hpp"
#include "sluice/stages/http.hpp"
#include "sluice/stages/origin.hpp"

namespace sluice {

void register_builtin_stages(registry& reg) {
  register_core_stages(reg);
  register_http_stages(reg);
  register_origin_stages(reg);
  register_asyncq_stages(reg);
}

}  // namespace sluice
