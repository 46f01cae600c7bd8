// The subcommands of the `sluice` program. Each lives in its own file and
// registers itself on the CLI11 app through one of these functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sluice/config/config.hpp"
#include "sluice/runtime/runtime.hpp"
#include "sluice/stage/registry.hpp"

namespace sluice::cli {

/// State shared by all subcommands: the registry and the exit code the
/// selected subcommand's callback sets.
struct app_state {
  registry* reg = nullptr;
  int exit_code = 0;
  std::vector<std::string> plugin_paths;  ///< from global --plugin flags
};

/// Loads and validates a pipeline file for a command (`run`, `check`, `plan`),
/// printing its diagnostics compiler-style on stderr; nullopt when any.
std::optional<pipeline_config> load_for_command(app_state& state, const std::string& file,
                                                const std::vector<std::string>& overrides);

void add_run_commands(CLI::App& app, app_state& state);   // run, check, stages (cli/run.cpp)
void add_serve_command(CLI::App& app, app_state& state);  // serve (cli/serve.cpp)
void add_bench_command(CLI::App& app, app_state& state);  // bench (cli/bench.cpp)
void add_plan_command(CLI::App& app, app_state& state);   // plan (cli/plan.cpp)

/// Writes the run's recorded timeline (run_options::timeline_items) as SVG
/// to `path`, or as text rows on stderr when `path` is "-"; false (after
/// saying so on stderr) when the file cannot be written. (cli/timeline.cpp)
bool write_run_timeline(const run_report& r, const std::string& path);

/// Loads one plugin into the registry; returns an error message or "".
/// (cli/plugins.cpp)
std::string load_plugin_into(registry& reg, const std::string& path);

}  // namespace sluice::cli
