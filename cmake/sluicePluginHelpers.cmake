# sluice_add_plugin(NAME SOURCES src... [LIBS lib...] [OUTPUT_NAME name])
#
# Builds a sluice plugin: a MODULE library (a shared object meant for dlopen,
# named lib<NAME>.so) linked against sluice::framework, with the C++20 the
# stage API needs. LIBS are extra libraries the plugin links privately.
#
# Symbols keep default visibility on purpose: Asio keeps per-thread state in
# template static members (the call stack behind strands and the recycling
# allocator), and a plugin must share the host's copies, which the dynamic
# linker arranges only for symbols that are not hidden.
include_guard(GLOBAL)

function(sluice_add_plugin name)
  cmake_parse_arguments(P "" "OUTPUT_NAME" "SOURCES;LIBS" ${ARGN})
  if(NOT P_SOURCES)
    message(FATAL_ERROR "sluice_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${P_SOURCES})
  target_link_libraries(${name} PRIVATE sluice::framework ${P_LIBS})
  target_compile_features(${name} PRIVATE cxx_std_20)
  set_target_properties(${name} PROPERTIES PREFIX "lib" POSITION_INDEPENDENT_CODE ON)
  if(P_OUTPUT_NAME)
    set_target_properties(${name} PROPERTIES OUTPUT_NAME ${P_OUTPUT_NAME})
  endif()
endfunction()
