#include "sluice/stages/builtin.hpp"

#include "sluice/stages/asyncq.hpp"
#include "sluice/stages/core.hpp"
#include "sluice/stages/http.hpp"
#include "sluice/stages/origin.hpp"
#include "sluice/stages/sinks.hpp"

namespace sluice {

void register_builtin_stages(registry& reg) {
  // The sinks area's jsonl and stdout replace the interim core ones; until
  // register_core_stages drops them, they are filtered out here.
  registry core;
  register_core_stages(core);
  for (const stage_info* info : core.all()) {
    if (info->kind == stage_kind::sink && (info->name == "jsonl" || info->name == "stdout")) {
      continue;
    }
    reg.add(*info);
  }
  register_jsonl_sink(reg);
  register_stdout_sink(reg);
  register_sink_stages(reg);
  register_http_stages(reg);
  register_origin_stages(reg);
  register_asyncq_stages(reg);
}

}  // namespace sluice
