# `ninja bench_asyncq`: sluice's queue throughput (`sluice bench --no-sleep`)
# side by side with Python's asyncio.Queue (../shared/bench/asyncq_bench.py,
# or $ASYNCQ_BENCH_PY), medians of several runs and the ratio.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_custom_target(bench_asyncq
    COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/compare.py --sluice $<TARGET_FILE:sluice>
    DEPENDS sluice
    USES_TERMINAL
    COMMENT "sluice bench --no-sleep vs asyncio.Queue")
endif()
