# The built-in origin: endpoints and counters through real sockets.
sluice_add_test(origin_server_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/server_test.cpp
  LIBS sluice_test_peers ZLIB::ZLIB
  LABELS origin integration
  TIMEOUT 120)

# `sluice serve` and the `origin:` pipeline section, through the built program.
sluice_add_test(origin_cli_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_test.cpp
  LIBS sluice_test_peers
  LABELS origin integration
  TIMEOUT 120)

# The hostile case table: names, lookups, the docs table generated from it.
sluice_add_test(origin_hostile_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/hostile_test.cpp
  LABELS origin unit TIMEOUT 60)
target_include_directories(origin_hostile_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/origin)
