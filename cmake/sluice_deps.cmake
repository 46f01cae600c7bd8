# Third-party dependencies, all from Debian bookworm packages
# (scripts/install-deps.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json url)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)
find_package(SQLite3 REQUIRED)
# prometheus-cpp-dev: only its core library (the data model and the text
# serializer) for `metrics:`; the endpoint is our own Beast listener.
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(CLI11 CONFIG QUIET)

# The `sluice` program allocates with mimalloc (libmimalloc-dev): per request
# the HTTP path frees coroutine frames and strings larger than glibc's
# thread cache, and mimalloc serves those several times faster. Sanitizer
# builds keep the system allocator, which the sanitizers replace.
option(SLUICE_MIMALLOC "Link the sluice program with mimalloc" ON)
if(SLUICE_MIMALLOC AND SLUICE_SANITIZE STREQUAL "")
  find_package(mimalloc CONFIG REQUIRED)
endif()

# moodycamel::ConcurrentQueue ships headers only and no CMake config.
find_path(SLUICE_CONCURRENTQUEUE_INCLUDE concurrentqueue/concurrentqueue.h REQUIRED)
add_library(sluice_concurrentqueue INTERFACE)
target_include_directories(sluice_concurrentqueue SYSTEM INTERFACE ${SLUICE_CONCURRENTQUEUE_INCLUDE})

find_path(SLUICE_DOCTEST_INCLUDE doctest/doctest.h)
