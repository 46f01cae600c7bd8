# bounded_queue throughput against raw moodycamel threads and Asio's concurrent_channel.
add_executable(bench_queue ${CMAKE_CURRENT_LIST_DIR}/bench_queue.cpp)
target_link_libraries(bench_queue PRIVATE sluice::framework fmt::fmt sluice_build_flags)
