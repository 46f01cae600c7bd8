# Plugin tests: the loader against small test plugins built here, the CLI
# (`plugins:`, `--plugin`, `sluice stages`) and, labelled slow, the installed
# SDK with the out-of-tree example built against it.
include(${CMAKE_SOURCE_DIR}/cmake/sluicePluginHelpers.cmake)
set(SLUICE_PLUGIN_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

set(SLUICE_TEST_PLUGINS good no_entry bad_api bad_abi clash throws undefined_symbol)
set(SLUICE_TEST_PLUGIN_DEFS SLUICE_PLUGIN_TEST_SOURCE_DIR="${SLUICE_PLUGIN_TEST_DIR}")
foreach(p ${SLUICE_TEST_PLUGINS})
  sluice_add_plugin(sluice_test_plugin_${p} SOURCES ${SLUICE_PLUGIN_TEST_DIR}/plugins/${p}.cpp)
  set_target_properties(sluice_test_plugin_${p} PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugin)
  string(TOUPPER ${p} p_upper)
  list(APPEND SLUICE_TEST_PLUGIN_DEFS
    SLUICE_PLUGIN_${p_upper}="$<TARGET_FILE:sluice_test_plugin_${p}>")
endforeach()

sluice_add_test(plugin_loader_test SOURCES ${SLUICE_PLUGIN_TEST_DIR}/loader_test.cpp
  LABELS plugin TIMEOUT 60)
target_compile_definitions(plugin_loader_test PRIVATE ${SLUICE_TEST_PLUGIN_DEFS})
foreach(p ${SLUICE_TEST_PLUGINS})
  add_dependencies(plugin_loader_test sluice_test_plugin_${p})
endforeach()
