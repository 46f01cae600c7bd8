# `ninja bench_runtime`: the zero-work pipeline (range -> sleep 0 -> null and
# jsonl sinks, 1,000,000 items, 100 workers, 2 threads) side by side with the
# Python asyncio equivalent, medians of 3 rounds, load average and ratios.
# Pass options by running the script directly:
#   benchmarks/runtime/bench_runtime.py --sluice build/cli/sluice --baseline OTHER/sluice --runs 5
add_custom_target(bench_runtime
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/bench_runtime.py --sluice $<TARGET_FILE:sluice>
  DEPENDS sluice
  USES_TERMINAL
  COMMENT "zero-work pipeline: sluice (null, jsonl) vs Python asyncio")
