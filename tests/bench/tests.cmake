# `sluice bench` and the asyncq demo: schedule, simulation, lines, timelines
# (the SVG is parsed with libxml2), and the command run as a subprocess.
find_package(LibXml2 REQUIRED)
sluice_add_test(test_bench_asyncq SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_asyncq.cpp
                LABELS "bench" TIMEOUT 60 LIBS LibXml2::LibXml2)
sluice_add_test(test_bench_cli SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bench_cli.cpp
                LABELS "bench" TIMEOUT 240 LIBS LibXml2::LibXml2)
add_dependencies(test_bench_cli sluice)
