# Warnings and sanitizers applied to every sluice target.
add_library(sluice_build_flags INTERFACE)
target_compile_options(sluice_build_flags INTERFACE -Wall -Wextra -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12 false positives from inlined Boost code, not from ours:
  # Beast's basic_parser returns boost::none (-Wmaybe-uninitialized), and Asio's
  # awaitable frames use a class-specific operator delete
  # (-Wmismatched-new-delete, seen with sanitizers).
  target_compile_options(sluice_build_flags INTERFACE -Wno-maybe-uninitialized
                         -Wno-mismatched-new-delete)
endif()
if(SLUICE_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan)
  add_link_options(-fsanitize=thread)
elseif(SLUICE_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(SLUICE_SANITIZE STREQUAL "fuzzer")
  # libFuzzer's coverage instrumentation on every object, ASan+UBSan with it;
  # only the harnesses (tests/fuzz) link libFuzzer itself. clang 14's
  # -fsanitize=function cannot compile coroutines ("Cannot represent a
  # difference across sections"): every other UBSan check stays on.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                      -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(NOT SLUICE_SANITIZE STREQUAL "")
  message(FATAL_ERROR "SLUICE_SANITIZE must be '', 'thread', 'address' or 'fuzzer'")
endif()
