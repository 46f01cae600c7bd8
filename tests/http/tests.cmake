# The http consumer: unit tests of its helpers and integration tests against
# real servers on 127.0.0.1 (an in-test Beast server, nginx, httpbin).
set(SLUICE_HTTP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

sluice_add_test(http_options_tests
  SOURCES ${SLUICE_HTTP_TEST_DIR}/http_options_test.cpp
  LABELS http unit TIMEOUT 30)
target_include_directories(http_options_tests PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)

sluice_add_test(http_consumer_tests
  SOURCES ${SLUICE_HTTP_TEST_DIR}/http_consumer_test.cpp ${SLUICE_HTTP_TEST_DIR}/test_server.cpp
  LABELS http integration TIMEOUT 120 LIBS ZLIB::ZLIB)

# nginx, httpbin (Debian packages), sluice's origin and the sluice program;
# the fixtures library (tests/fixtures) starts them on free ports.
sluice_add_test(http_servers_tests
  SOURCES ${SLUICE_HTTP_TEST_DIR}/http_servers_test.cpp ${SLUICE_HTTP_TEST_DIR}/test_server.cpp
  LABELS http integration TIMEOUT 180 LIBS sluice_test_fixtures ZLIB::ZLIB)
add_dependencies(http_servers_tests sluice)
