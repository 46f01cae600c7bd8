# Sink throughput: results/s into jsonl, csv, sqlite and files (real files).
add_executable(bench_sinks ${CMAKE_CURRENT_LIST_DIR}/bench_sinks.cpp)
target_include_directories(bench_sinks PRIVATE ${CMAKE_SOURCE_DIR}/stages/sinks)
target_link_libraries(bench_sinks PRIVATE sluice_stages sluice::framework fmt::fmt sluice_build_flags)
