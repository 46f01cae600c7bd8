// Placeholder until `sluice bench` lands (replaced by cli/bench.cpp of the bench work).
#include "commands.hpp"

namespace sluice::cli {
void add_bench_command(CLI::App&, app_state&) {}
}  // namespace sluice::cli
