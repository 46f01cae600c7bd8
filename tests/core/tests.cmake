# Core tests: queue, config, runtime, CLI.
sluice_add_test(test_queue SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_queue.cpp LABELS "core;tsan" TIMEOUT 180)
sluice_add_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.cpp LABELS "core" TIMEOUT 60)
sluice_add_test(test_runtime SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_runtime.cpp LABELS "core;tsan" TIMEOUT 300)
sluice_add_test(test_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.cpp LABELS "core" TIMEOUT 300)
add_test(NAME docs_and_pipelines COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/check_docs.py)
set_tests_properties(docs_and_pipelines PROPERTIES TIMEOUT 120 LABELS "core;docs"
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
