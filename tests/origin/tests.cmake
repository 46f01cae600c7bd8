# The built-in origin: endpoints and counters through real sockets.
sluice_add_test(origin_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/origin_test.cpp
  LIBS sluice_test_fixtures ZLIB::ZLIB
  LABELS origin integration
  TIMEOUT 120)

# `sluice serve` and the `origin:` pipeline section, through the built program.
sluice_add_test(origin_cli_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/origin_cli_test.cpp
  LIBS sluice_test_fixtures
  LABELS origin integration
  TIMEOUT 120)
