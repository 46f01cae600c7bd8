# dedup_set throughput and peak RSS on URL-like strings with repeats, against
# a std::unordered_set<std::string> doing the same.
add_executable(bench_dedup ${CMAKE_CURRENT_LIST_DIR}/bench_dedup.cpp)
target_include_directories(bench_dedup PRIVATE ${CMAKE_SOURCE_DIR}/framework/src)
target_link_libraries(bench_dedup PRIVATE sluice::framework fmt::fmt sluice_build_flags)
