// Drives the stderr progress reporter with a synthetic run of N items, so a
// test can watch it in a real pseudo-terminal (script(1)) or a pipe.
// Usage: sinks_progress_demo [total] [steps] [--unknown-total]
#include <cstdlib>
#include <cstring>

#include "sluice/runtime/progress.hpp"

int main(int argc, char** argv) {
  std::uint64_t total = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000;
  int steps = argc > 2 ? std::atoi(argv[2]) : 50;
  bool unknown = argc > 3 && std::strcmp(argv[3], "--unknown-total") == 0;
  auto bar = sluice::make_stderr_progress(1.0);
  sluice::progress_snapshot s;
  if (!unknown) {
    s.total = total;
  }
  for (int i = 1; i <= steps; ++i) {
    s.elapsed_s = 0.05 * i;  // updates every 50 ms of run time: half are drawn
    s.done = total * i / steps;
    s.produced = total;
    s.failed = s.done / 100;
    s.in_flight = i == steps ? 0 : 7;
    s.bytes = s.done * 1024;
    bar->update(s);
  }
  bar->finish(s);
  return 0;
}
