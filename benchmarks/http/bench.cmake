# HTTP fetch benchmark: a script, not a program. `ninja bench_http` runs it
# with the built sluice (nginx, wrk, curl, aria2c and python3-aiohttp from
# Debian). Pass options by running the script directly:
#   benchmarks/http/bench_http.py --sluice build/cli/sluice --runs 5
add_custom_target(bench_http
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/bench_http.py --sluice $<TARGET_FILE:sluice>
  DEPENDS sluice
  USES_TERMINAL
  COMMENT "HTTP fetch benchmark: sluice vs wrk, curl, aiohttp, aria2c against a private nginx")
