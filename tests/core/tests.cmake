# Core tests: queue, config, runtime, CLI.
sluice_add_test(test_queue SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_queue.cpp LABELS "core;tsan" TIMEOUT 180)
sluice_add_test(test_config SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_config.cpp LABELS "core" TIMEOUT 60)
sluice_add_test(test_runtime SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_runtime.cpp LABELS "core;tsan" TIMEOUT 300)
sluice_add_test(test_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_cli.cpp LABELS "core" TIMEOUT 300)
