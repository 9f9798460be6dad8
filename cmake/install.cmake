# What `cmake --install` and the .deb (ci/package) lay out, and the CMake package that lets
# another project register its scenarios as ctest tests (find_package(bpfault)):
#   bin/bpfault
#   libexec/bpfault/{kernels,go-toolchain,debian.sh}   what `bpfault setup` runs (also copied
#                                                       into the build tree, same layout)
#   share/bpfault/scenario-v1.schema.json             for "$schema" in editors (also copied
#                                                       into the build tree)
#   share/bpfault/run-record-v1.schema.json           what `bpfault run --json` writes (also
#                                                       copied into the build tree)
#   share/doc/bpfault/{README.md,ARCHITECTURE.md}
#   lib/cmake/bpfault/bpfault{Config,ConfigVersion}.cmake
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(fetch_scripts ${PROJECT_SOURCE_DIR}/ci/kernels ${PROJECT_SOURCE_DIR}/ci/go-toolchain ${PROJECT_SOURCE_DIR}/ci/debian.sh)
foreach(script IN LISTS fetch_scripts)
  get_filename_component(name ${script} NAME)
  configure_file(${script} ${PROJECT_BINARY_DIR}/libexec/bpfault/${name} COPYONLY)
endforeach()

# the schema where an installed bpfault finds it (share/bpfault), for `bpfault new`'s "$schema"
configure_file(${PROJECT_SOURCE_DIR}/harness/scenario/scenario-v1.schema.json ${PROJECT_BINARY_DIR}/share/bpfault/scenario-v1.schema.json COPYONLY)
# the run record's contract, for whoever reads `--json` in another tool
configure_file(${PROJECT_SOURCE_DIR}/harness/record/run-record-v1.schema.json ${PROJECT_BINARY_DIR}/share/bpfault/run-record-v1.schema.json COPYONLY)

install(TARGETS bpfault RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${fetch_scripts} DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/bpfault)
install(FILES ${PROJECT_SOURCE_DIR}/harness/scenario/scenario-v1.schema.json ${PROJECT_SOURCE_DIR}/harness/record/run-record-v1.schema.json
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bpfault)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/ARCHITECTURE.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(config_dir ${CMAKE_INSTALL_LIBDIR}/cmake/bpfault)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bpfaultConfig.cmake.in ${PROJECT_BINARY_DIR}/bpfaultConfig.cmake
  INSTALL_DESTINATION ${config_dir} PATH_VARS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_DATADIR)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bpfaultConfigVersion.cmake COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/bpfaultConfig.cmake ${PROJECT_BINARY_DIR}/bpfaultConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/bpfault_add_scenarios.cmake ${PROJECT_SOURCE_DIR}/cmake/bpfault_scenario_check.cmake
  DESTINATION ${config_dir})

# ci/package: a Debian package. Library dependencies come from dpkg-shlibdeps; the VM and the
# fixture builds need programs that are not linked, so they are named here.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME bpfault)
set(CPACK_PACKAGE_CONTACT "bpfault developers <bpfault@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "fault-injection tests for Go programs, with eBPF uprobes")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "golang-go | golang-1.19-go, bash, apt, dpkg")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qemu-system-x86, busybox-static, cpio, zstd, xz-utils")
set(CPACK_STRIP_FILES bin/bpfault)
include(CPack)
