# Sink, filter and progress tests: real files, real SQLite, a real pseudo-terminal.
set(SINKS_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

sluice_add_test(sinks_filter_test SOURCES ${SINKS_TEST_DIR}/filter_test.cpp
  LABELS sinks TIMEOUT 60)

sluice_add_test(sinks_paths_test SOURCES ${SINKS_TEST_DIR}/paths_test.cpp
  LABELS sinks TIMEOUT 120)
target_include_directories(sinks_paths_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/sinks)

sluice_add_test(sinks_record_sinks_test SOURCES ${SINKS_TEST_DIR}/record_sinks_test.cpp
  LABELS sinks TIMEOUT 120)
target_include_directories(sinks_record_sinks_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/sinks)

sluice_add_test(sinks_sqlite_test SOURCES ${SINKS_TEST_DIR}/sqlite_test.cpp
  LABELS sinks TIMEOUT 120 LIBS SQLite::SQLite3)
target_include_directories(sinks_sqlite_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/sinks)

add_executable(sinks_progress_demo ${SINKS_TEST_DIR}/progress_demo.cpp)
target_link_libraries(sinks_progress_demo PRIVATE sluice::framework)
sluice_add_test(sinks_progress_test SOURCES ${SINKS_TEST_DIR}/progress_test.cpp
  LABELS sinks TIMEOUT 60)
target_compile_definitions(sinks_progress_test PRIVATE
  SINKS_PROGRESS_DEMO="$<TARGET_FILE:sinks_progress_demo>")
add_dependencies(sinks_progress_test sinks_progress_demo)

# End to end with the real program, the built-in origin and the http consumer.
sluice_add_test(sinks_acceptance_test SOURCES ${SINKS_TEST_DIR}/acceptance_test.cpp
  LABELS "sinks;acceptance" TIMEOUT 600 LIBS SQLite::SQLite3)
target_include_directories(sinks_acceptance_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/sinks)
add_dependencies(sinks_acceptance_test sluice)
