# `sluice bench` and the asyncq demo: schedule, simulation, lines, timelines
# (the SVG is parsed with libxml2), and the command run as a subprocess.
find_package(LibXml2 REQUIRED)
sluice_add_test(bench_asyncq_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/asyncq_test.cpp
                LABELS "bench" TIMEOUT 60 LIBS LibXml2::LibXml2)
sluice_add_test(bench_cli_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/cli_test.cpp
                LABELS "bench" TIMEOUT 240 LIBS LibXml2::LibXml2)
add_dependencies(bench_cli_test sluice)
