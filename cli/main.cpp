// sluice: run declared producer/consumer pipelines.
#include <csignal>
#include <cstdio>

#include <fmt/core.h>
#include <CLI/CLI.hpp>

#if SLUICE_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include "commands.hpp"
#include "sluice/stages/builtin.hpp"

int main(int argc, char** argv) {
  // A closed pipe is an error a writer handles (EPIPE), not a reason to die:
  // `sluice run ... | head` must still commit the other sinks.
  std::signal(SIGPIPE, SIG_IGN);
  sluice::registry reg;
  sluice::register_builtin_stages(reg);
  sluice::cli::app_state state;
  state.reg = &reg;

  CLI::App app{
      "sluice: fetch many URLs through a declared pipeline of producers, a bounded "
      "queue, M consumer workers and sinks.",
      "sluice"};
  std::string version = std::string("sluice ") + SLUICE_VERSION;
#if SLUICE_WITH_MIMALLOC
  version += fmt::format(" (allocator: mimalloc {}.{}.{})", mi_version() / 100,
                         mi_version() / 10 % 10, mi_version() % 10);
#endif
  app.set_version_flag("--version", version);
  app.require_subcommand(1);
  app.fallthrough();
  // Option callbacks run before subcommand callbacks, so plugin stages exist
  // by the time a command validates a pipeline or lists stages.
  app.add_option("--plugin", state.plugin_paths,
                 "load a plugin shared library (repeatable) before running the command")
      ->type_name("PATH")
      ->each([&](const std::string& p) {
        if (auto err = sluice::cli::load_plugin_into(reg, p); !err.empty()) {
          fmt::print(stderr, "sluice: --plugin {}: {}\n", p, err);
          std::exit(2);
        }
      });
  sluice::cli::add_run_commands(app, state);
  sluice::cli::add_serve_command(app, state);
  sluice::cli::add_bench_command(app, state);
  sluice::cli::add_plan_command(app, state);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }
  return state.exit_code;
}
