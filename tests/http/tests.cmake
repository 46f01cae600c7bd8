# The http consumer: unit tests of its helpers and integration tests against
# real servers on 127.0.0.1 (the built-in origin, nginx, httpbin).
set(SLUICE_HTTP_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

sluice_add_test(http_config_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/config_test.cpp
  LABELS http unit TIMEOUT 30)
target_include_directories(http_config_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)

sluice_add_test(http_consumer_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/consumer_test.cpp
  LABELS http integration tsan asan TIMEOUT 120 LIBS ZLIB::ZLIB)

# nginx, httpbin (Debian packages), sluice's origin and the sluice program;
# the peers library (tests/peers) starts them on free ports.
sluice_add_test(http_servers_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/servers_test.cpp
  LABELS http integration TIMEOUT 180 LIBS sluice_test_peers ZLIB::ZLIB)
add_dependencies(http_servers_test sluice)

# Redirect chains across two built-in origins, credentials on cross-origin
# hops (compared with curl).
sluice_add_test(http_redirect_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/redirect_test.cpp
  LABELS http integration asan TIMEOUT 120)

# The timeout watchdog on its own (loopback sockets, fault injection).
sluice_add_test(http_watchdog_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/watchdog_test.cpp
  LABELS http unit tsan asan TIMEOUT 60)
target_include_directories(http_watchdog_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)

# The error-kind table: lookups, classes, retry classes, the docs tables.
sluice_add_test(http_fetch_error_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/fetch_error_test.cpp
  LABELS http unit TIMEOUT 30)
target_include_directories(http_fetch_error_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)


# One unit test per piece of the consumer (stages/http), none with a socket
# but the admission test's timers: each is what its file name says.
foreach(piece retry_policy redirect_policy speed_guard body_sink connection_pool admission
              response_reader inflater fetch origin_table robots)
  sluice_add_test(http_${piece}_test
    SOURCES ${SLUICE_HTTP_TEST_DIR}/${piece}_test.cpp
    LABELS http unit asan TIMEOUT 60 LIBS ZLIB::ZLIB brotlienc)
  target_include_directories(http_${piece}_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)
endforeach()

# The hostile matrix: every /hostile/<case> of the origin through `sluice run`,
# each followed by a canary request on the same pooled connection.
sluice_add_test(http_hostile_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/hostile_test.cpp
  LABELS http integration TIMEOUT 600)
target_include_directories(http_hostile_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/origin)
add_dependencies(http_hostile_test sluice)

# Signals during an http run (sluice run + the built-in origin): the first
# stops at once, the second cancels in-flight requests, SIGHUP and SIGPIPE;
# report counts equal the sink's lines in every case.
sluice_add_test(http_signals_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/signals_test.cpp
  LABELS http integration TIMEOUT 180)
add_dependencies(http_signals_test sluice)

# Exit codes and the failure policy (fail_status default, max_failed,
# stop_after_failed, -q), a test per row of the exit-code table of docs/cli.md.
sluice_add_test(http_exit_codes_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/exit_codes_test.cpp
  LABELS http integration TIMEOUT 180)
add_dependencies(http_exit_codes_test sluice)

# Differential test: about 1,200 URLs through one `sluice run` and through
# curl, against nginx, Apache, lighttpd (each also over TLS), python's
# http.server, httpbin (werkzeug and gunicorn) and the origin, plus the
# origin's non-hostile /hostile cases; status, final URL and body digest must
# agree or be listed with a reason in the script (docs/http.md, "Differential
# testing").
add_test(NAME http_differential_test
  COMMAND /usr/bin/python3 ${SLUICE_HTTP_TEST_DIR}/differential_test.py)
set_tests_properties(http_differential_test PROPERTIES TIMEOUT 150 LABELS "http;integration"
  ENVIRONMENT "SLUICE_BIN=$<TARGET_FILE:sluice>;SLUICE_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

# The run's temporary directory with the http consumer: streamed bodies
# unlinked when the sinks are done, dead runs' directories swept at start.
sluice_add_test(http_tempfiles_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/tempfiles_test.cpp
  LABELS http integration TIMEOUT 180)
add_dependencies(http_tempfiles_test sluice)

# Durable runs: SIGKILL / SIGINT at random moments, resumed until done;
# every URL exactly once in jsonl, csv, sqlite and files.
sluice_add_test(http_resume_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/resume_test.cpp
  LABELS http integration TIMEOUT 300 LIBS sluice_test_peers SQLite::SQLite3)
add_dependencies(http_resume_test sluice)
# The long form (50,000 URLs, 20 interruptions): scripts/resume-soak.sh.

# The Prometheus endpoint (`metrics:`, `--metrics`): a real Prometheus and
# promtool (Debian's prometheus package) against a run on the built-in origin.
sluice_add_test(http_metrics_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/metrics_test.cpp
  LABELS http integration TIMEOUT 240 LIBS sluice_test_peers)
add_dependencies(http_metrics_test sluice)

# Descriptor limits (ulimit -n via prlimit): the soft limit is raised to the
# hard one, and with too few for the workers items wait for a descriptor.
sluice_add_test(http_fdlimit_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/fdlimit_test.cpp
  LABELS http integration TIMEOUT 180)
add_dependencies(http_fdlimit_test sluice)

# Requests as data: the jsonl and csv producers against a `sluice serve`
# origin and httpbin (per-item method, headers, body, body_file, meta in
# every sink, bad records, kill -9 and resume, flat memory on a big input).
sluice_add_test(http_requests_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/requests_test.cpp
  LABELS http integration TIMEOUT 240 LIBS sluice_test_peers SQLite::SQLite3)
add_dependencies(http_requests_test sluice)

# The single-flight robots.txt cache on 4 threads (one fetch, takeover after
# a cancelled fetch, a throwing fetch).
sluice_add_test(http_robots_cache_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/robots_cache_test.cpp
  LABELS http unit tsan asan TIMEOUT 60)
target_include_directories(http_robots_cache_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)

# robots: obey end to end: the built-in origin (its robots and robots_path
# options: rules, Crawl-delay, hostile robots.txt answers, redirects across
# origins), nginx and httpbin; request counts prove what was not fetched.
sluice_add_test(http_robots_run_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/robots_run_test.cpp
  LABELS http integration TIMEOUT 240 LIBS sluice_test_peers)
add_dependencies(http_robots_run_test sluice)

# Per-site rules (`hosts:`): patterns, effective configs, rules that can never
# match (`sluice check`), the AIMD law and the resizable permit pool, and a
# run where a rule applies to its origin only.
sluice_add_test(http_hosts_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/hosts_test.cpp
  LABELS http integration TIMEOUT 120)
target_include_directories(http_hosts_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)
add_dependencies(http_hosts_test sluice)

# `per_host: auto` against the origin overloaded above 8 in flight: the limit
# settles near 8 with a quarter of the errors of a fixed `per_host: 64`.
sluice_add_test(http_adaptive_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/adaptive_test.cpp
  LABELS http integration TIMEOUT 300)
add_dependencies(http_adaptive_test sluice)
# Its bound is on latency: alone, so the suite's other tests (clang-tidy's
# layout pass on both cores) do not read to the AIMD as an overloaded origin.
set_tests_properties(http_adaptive_test PROPERTIES RUN_SERIAL TRUE)

# Proxies: curl's no_proxy rules and the option/environment precedence as
# tables, then `sluice run` through a real tinyproxy (plain http, CONNECT to
# the TLS origin, credentials, refusals, a dead proxy, the environment, curl
# -x) and a hostile fake proxy (python3).
sluice_add_test(http_proxy_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/proxy_test.cpp
  LABELS http integration TIMEOUT 240)
target_include_directories(http_proxy_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)
add_dependencies(http_proxy_test sluice)

# The cookie jar on its own: RFC 6265 (dates, domains, paths, host-only,
# public suffixes, Secure, replace, delete, order, limits, hostile values),
# the Netscape file (round trip, malformed lines), 4 threads at once.
sluice_add_test(http_cookie_jar_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/cookie_jar_test.cpp
  LABELS http unit tsan asan TIMEOUT 60)
target_include_directories(http_cookie_jar_test PRIVATE ${CMAKE_SOURCE_DIR}/stages/http)

# cookies: end to end with `sluice run`: httpbin's /cookies endpoints, a
# cookie file read and written by curl (the differential check), host A's
# cookies never sent to host B, hostile Set-Cookie floods, SIGINT.
sluice_add_test(http_cookies_test
  SOURCES ${SLUICE_HTTP_TEST_DIR}/cookies_test.cpp
  LABELS http integration TIMEOUT 240 LIBS sluice_test_peers)
add_dependencies(http_cookies_test sluice)
