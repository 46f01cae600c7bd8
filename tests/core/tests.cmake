# Core tests: queue, config, runtime, CLI.
# Labels tsan and asan: also run in .ci/run's sanitizer builds.
sluice_add_test(core_queue_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/queue_test.cpp
                LABELS "core;tsan;asan" TIMEOUT 180)
sluice_add_test(core_config_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/config_test.cpp
                LABELS "core;asan" TIMEOUT 60)
sluice_add_test(core_runtime_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/runtime_test.cpp
                LABELS "core;tsan;asan" TIMEOUT 300)
sluice_add_test(core_util_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/util_test.cpp
                LABELS "core;tsan;asan" TIMEOUT 60)
sluice_add_test(core_dedup_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dedup_test.cpp
                LABELS "core;asan" TIMEOUT 300)
# The dedup set is internal to the framework: its header is in framework/src.
target_include_directories(core_dedup_test PRIVATE ${CMAKE_SOURCE_DIR}/framework/src)
sluice_add_test(core_cli_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_test.cpp
                LABELS "core" TIMEOUT 300)
add_test(NAME core_docs_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_docs.py)
# pipelines/plugin-sitemap.yaml loads the example plugin from
# $SLUICE_EXAMPLE_PLUGIN (default: ../build/...): point it at this build's
# in-tree copy (tests/plugin/tests.cmake) so any build directory passes.
set_tests_properties(core_docs_test PROPERTIES TIMEOUT 120 LABELS "core;docs"
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR};SLUICE_EXAMPLE_PLUGIN=${CMAKE_BINARY_DIR}/tests/plugin/libsluice_example.so")

# Layout rules: file sizes in stages/http, error kinds only from the table,
# function sizes by clang-tidy over this build's compile_commands.json.
add_test(NAME core_layout_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_layout.py)
set_tests_properties(core_layout_test PROPERTIES TIMEOUT 600 LABELS "core;layout"
  ENVIRONMENT "SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR};SLUICE_BINARY_DIR=${CMAKE_BINARY_DIR}")
# The run state (framework/src/run_state.hpp, internal): unit tests.
sluice_add_test(core_run_state_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/run_state_test.cpp
                LABELS "core;asan" TIMEOUT 60)
target_include_directories(core_run_state_test PRIVATE ${CMAKE_SOURCE_DIR}/framework/src)
# `dedup: url` end to end (10,000,000 URLs, exactness, kill -9 + resume).
sluice_add_test(core_dedup_run_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/dedup_run_test.cpp
                LABELS "core" TIMEOUT 400)
add_dependencies(core_dedup_run_test sluice)
# A sink's disk full mid-run (a tmpfs in a private mount namespace).
sluice_add_test(core_full_disk_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/full_disk_test.cpp
                LABELS "core" TIMEOUT 120)
add_dependencies(core_full_disk_test sluice)
# `sluice plan`: origins, the bounded counter, drain_producers, the forecast,
# and 1,000,000 URLs end to end (exact counts, peak RSS <= 32 MiB).
sluice_add_test(core_plan_test
                SOURCES ${CMAKE_CURRENT_LIST_DIR}/plan_test.cpp ${CMAKE_SOURCE_DIR}/cli/plan_origins.cpp
                LABELS "core" TIMEOUT 300)
target_include_directories(core_plan_test PRIVATE ${CMAKE_SOURCE_DIR}/cli ${CMAKE_SOURCE_DIR}/stages)
add_dependencies(core_plan_test sluice)

# `sluice run --timeline` as a subprocess: SVG (parsed with libxml2, rendered
# by headless Chromium and measured with Pillow) and text.
find_package(LibXml2 REQUIRED)
sluice_add_test(core_timeline_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/timeline_test.cpp
                LABELS "core" TIMEOUT 240 LIBS LibXml2::LibXml2)
target_include_directories(core_timeline_test PRIVATE ${CMAKE_SOURCE_DIR}/tests/bench)
add_dependencies(core_timeline_test sluice)
# `sluice check` on the broken pipelines of check_corpus/: exact stderr, exit 2.
add_test(NAME core_check_corpus_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_corpus_test.py)
set_tests_properties(core_check_corpus_test PROPERTIES TIMEOUT 120 LABELS "core;docs"
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>")
# `sluice schema` is a valid JSON Schema that accepts pipelines/ and rejects broken files.
add_test(NAME core_schema_test COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_schema_test.py)
set_tests_properties(core_schema_test PROPERTIES TIMEOUT 120 LABELS "core;docs"
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR};SLUICE_EXAMPLE_PLUGIN=${CMAKE_BINARY_DIR}/tests/plugin/libsluice_example.so")
# The consumer metrics per thread (framework/src/run_metrics.hpp, internal),
# and a 10,000-worker run's peak RSS.
sluice_add_test(core_run_metrics_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/run_metrics_test.cpp
                LABELS "core;tsan;asan" TIMEOUT 120)
target_include_directories(core_run_metrics_test PRIVATE ${CMAKE_SOURCE_DIR}/framework/src)
add_dependencies(core_run_metrics_test sluice)
