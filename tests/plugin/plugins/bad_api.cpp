// A plugin from a future plugin API: the host must refuse it after reading
// only `api_version`.
#include "sluice/plugin/plugin.hpp"

namespace {
void register_nothing(sluice::registry&) {}
}  // namespace

extern "C" SLUICE_PLUGIN_EXPORT const sluice::plugin_info* sluice_plugin_entry() {
  static const sluice::plugin_info info{SLUICE_PLUGIN_API_VERSION + 98, SLUICE_PLUGIN_ABI_TAG,
                                        "bad_api", "1.0", &register_nothing};
  return &info;
}
