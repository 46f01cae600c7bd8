# Installation: the `sluice` program, the framework shared library, the
# public headers, and the CMake package (sluiceConfig.cmake, its version file,
# the exported targets and the plugin helper) that plugins build against:
#
#   cmake --install build --prefix /opt/sluice
#   cmake -S my-plugin -B my-plugin/build -DCMAKE_PREFIX_PATH=/opt/sluice
include(CMakePackageConfigHelpers)

include(${CMAKE_CURRENT_LIST_DIR}/sluicePluginHelpers.cmake)

set(SLUICE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice CACHE STRING
    "Where the sluice CMake package is installed, relative to the prefix")

# The exported names: sluice::framework and sluice::concurrentqueue (the
# header-only queue the public headers include).
set_target_properties(sluice_framework PROPERTIES EXPORT_NAME framework)
set_target_properties(sluice_concurrentqueue PROPERTIES EXPORT_NAME concurrentqueue)

install(TARGETS sluice_framework sluice_concurrentqueue EXPORT sluiceTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT development
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/framework/include/sluice
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT sluiceTargets NAMESPACE sluice:: FILE sluiceTargets.cmake
  DESTINATION ${SLUICE_INSTALL_CMAKEDIR} COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sluiceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/sluiceConfig.cmake
  INSTALL_DESTINATION ${SLUICE_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
# The plugin ABI tag carries the full sluice version, so a package only
# satisfies requests for its own major.minor.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sluiceConfig.cmake
              ${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/sluicePluginHelpers.cmake
  DESTINATION ${SLUICE_INSTALL_CMAKEDIR} COMPONENT development)
