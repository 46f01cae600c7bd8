// Placeholder until the built-in origin lands (replaced by cli/serve.cpp of the origin work).
#include "commands.hpp"

namespace sluice::cli {
void add_serve_command(CLI::App&, app_state&) {}
}  // namespace sluice::cli
