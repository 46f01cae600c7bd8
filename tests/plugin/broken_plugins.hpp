// The test plugins that each break one rule of the plugin contract, with the
// message the loader gives for each: the loader test loads them directly,
// the CLI test through a pipeline file, and both expect the same words.
// Needs the SLUICE_PLUGIN_<NAME> paths that tests/plugin/tests.cmake defines.
#pragma once

#include <string>
#include <vector>

#include "sluice/plugin/plugin.hpp"

namespace sluice::test {

/// One broken test plugin: what it breaks, its path and a part of the
/// loader's message for it. The `clash` plugin registers a consumer `sleep`,
/// so it fails only where the registry already holds one.
/// Thread safety: a plain value.
struct broken_plugin {
  std::string breaks;
  std::string path;
  std::string message;
};

/// Every broken test plugin.
/// Thread safety: a pure function.
inline std::vector<broken_plugin> broken_plugins() {
  return {
      {"undefined symbol", SLUICE_PLUGIN_UNDEFINED_SYMBOL,
       "undefined symbol: sluice_test_symbol_nobody_defines"},
      {"no entry point", SLUICE_PLUGIN_NO_ENTRY,
       "is a shared library but not a sluice plugin: it does not export `sluice_plugin_entry`"},
      {"API version mismatch", SLUICE_PLUGIN_BAD_API,
       "uses plugin API version 99, but this sluice (" SLUICE_VERSION
       ") supports version 1; rebuild the plugin against this sluice"},
      {"ABI tag mismatch", SLUICE_PLUGIN_BAD_ABI,
       std::string("was built for ABI 'gcc-4.8;libstdc++-4-cxx98;boost-105300;sluice-0.0.1', "
                   "but this sluice is '") +
           SLUICE_PLUGIN_ABI_TAG + "'"},
      {"stage name clash", SLUICE_PLUGIN_CLASH,
       "registers consumer 'sleep', which already exists (from builtin)"},
      {"register function throws", SLUICE_PLUGIN_THROWS,
       "failed to register its stages: the database driver is missing"},
  };
}

}  // namespace sluice::test
