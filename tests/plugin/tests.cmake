# Plugin tests: the loader against small test plugins built here, the CLI
# (`plugins:`, `--plugin`, `sluice stages`) and, labelled slow, the installed
# SDK with the out-of-tree example built against it.
include(${CMAKE_SOURCE_DIR}/cmake/sluicePluginHelpers.cmake)
set(SLUICE_PLUGIN_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

set(SLUICE_TEST_PLUGINS good no_entry bad_api bad_abi clash throws undefined_symbol doc_example)
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

# The example plugin's sources, built in-tree as well, so its stages are
# tested on every build (the slow test builds them against the installed SDK).
# pipelines/plugin-sitemap.yaml loads it from build/tests/plugin.
find_package(LibXml2 QUIET)
if(LibXml2_FOUND)
  sluice_add_plugin(sluice_example_intree
    SOURCES ${CMAKE_SOURCE_DIR}/examples/plugin/src/plugin.cpp
            ${CMAKE_SOURCE_DIR}/examples/plugin/src/sitemap_producer.cpp
            ${CMAKE_SOURCE_DIR}/examples/plugin/src/host_counts_sink.cpp
    LIBS LibXml2::LibXml2 OUTPUT_NAME sluice_example)
  set_target_properties(sluice_example_intree PROPERTIES
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugin)
  sluice_add_test(plugin_example_test SOURCES ${SLUICE_PLUGIN_TEST_DIR}/example_test.cpp
    LABELS plugin TIMEOUT 60)
  target_compile_definitions(plugin_example_test PRIVATE
    SLUICE_PLUGIN_TEST_SOURCE_DIR="${SLUICE_PLUGIN_TEST_DIR}"
    SLUICE_PLUGIN_EXAMPLE="$<TARGET_FILE:sluice_example_intree>")
  add_dependencies(plugin_example_test sluice_example_intree)
else()
  message(STATUS "libxml2 not found (Debian: libxml2-dev): the example plugin's tests are skipped")
endif()

# The installed SDK end to end (a few minutes on 2 cores: it builds sluice in
# its own build directory, reusing ccache).
add_test(NAME plugin_install_test
  COMMAND bash ${SLUICE_PLUGIN_TEST_DIR}/install_test.sh ${CMAKE_SOURCE_DIR}
          ${CMAKE_BINARY_DIR}/plugin_install_test ${CMAKE_BUILD_TYPE} "${SLUICE_SANITIZE}"
          ${CMAKE_CXX_COMPILER})
set_tests_properties(plugin_install_test PROPERTIES TIMEOUT 900 LABELS "slow;plugin")

sluice_add_test(plugin_cli_test SOURCES ${SLUICE_PLUGIN_TEST_DIR}/cli_test.cpp
  LABELS plugin TIMEOUT 120)
target_compile_definitions(plugin_cli_test PRIVATE ${SLUICE_TEST_PLUGIN_DEFS})
add_dependencies(plugin_cli_test sluice)
foreach(p ${SLUICE_TEST_PLUGINS})
  add_dependencies(plugin_cli_test sluice_test_plugin_${p})
endforeach()

# Signals against a consumer that ignores cancellation (the stubborn plugin)
# and against the http consumer on the built-in origin.
sluice_add_plugin(sluice_test_plugin_stubborn SOURCES ${SLUICE_PLUGIN_TEST_DIR}/plugins/stubborn.cpp)
set_target_properties(sluice_test_plugin_stubborn PROPERTIES
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/plugin)
sluice_add_test(plugin_shutdown_test SOURCES ${SLUICE_PLUGIN_TEST_DIR}/shutdown_test.cpp
  LABELS plugin TIMEOUT 180)
target_compile_definitions(plugin_shutdown_test PRIVATE
  SLUICE_PLUGIN_STUBBORN="$<TARGET_FILE:sluice_test_plugin_stubborn>")
add_dependencies(plugin_shutdown_test sluice sluice_test_plugin_stubborn)
