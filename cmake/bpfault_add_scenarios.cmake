# bpfault_add_scenarios(DIR [NAME prefix] [LABELS label...] [VM auto|always|never]
#                       [TIMEOUT seconds] [ARGS bpfault-run-arg...])
#
# Registers every scenario of DIR (its *.json files that have a "version" key; other JSON files
# are data, not scenarios) as one ctest test each, named NAME/<file stem> (NAME defaults to
# DIR's folder name), labelled bpfault plus LABELS.
#
# One boot for the folder: the scenarios are run together by one test, NAME/run (a ctest
# fixture, FIXTURES_SETUP), so that those needing the VM share one boot instead of ~8 s each;
# each scenario's test then reads its own verdict from that run's JSON record: pass, fail
# (printing the failed checks) or skip (SKIP_REGULAR_EXPRESSION, as `cmake -P` cannot exit 77). `ctest -R NAME/x` still runs
# NAME/run first. VM is passed to `bpfault run --vm` (auto: natively when this kernel can, in
# the VM otherwise). ARGS go to `bpfault run` (e.g. --go newest, --variants amd64,386).
set(_bpfault_add_scenarios_dir "${CMAKE_CURRENT_LIST_DIR}")

function(bpfault_add_scenarios dir)
  cmake_parse_arguments(S "" "NAME;VM;TIMEOUT" "LABELS;ARGS" ${ARGN})
  if(S_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "bpfault_add_scenarios: unexpected arguments: ${S_UNPARSED_ARGUMENTS}")
  endif()
  get_filename_component(dir "${dir}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  if(NOT IS_DIRECTORY "${dir}")
    message(FATAL_ERROR "bpfault_add_scenarios: ${dir} is not a folder")
  endif()
  get_filename_component(default_name "${dir}" NAME)
  if(NOT S_NAME)
    set(S_NAME "${default_name}")
  endif()
  if(NOT S_VM)
    set(S_VM auto)
  endif()
  if(NOT S_VM MATCHES "^(auto|always|never)$")
    message(FATAL_ERROR "bpfault_add_scenarios: VM must be auto, always or never, not '${S_VM}'")
  endif()
  if(NOT S_TIMEOUT)
    set(S_TIMEOUT 1800)
  endif()
  if(TARGET bpfault::bpfault)
    set(bpfault_exe $<TARGET_FILE:bpfault::bpfault>)
  elseif(TARGET bpfault)
    set(bpfault_exe $<TARGET_FILE:bpfault>)
  else()
    message(FATAL_ERROR "bpfault_add_scenarios: no bpfault executable (call find_package(bpfault) first)")
  endif()

  file(GLOB candidates CONFIGURE_DEPENDS "${dir}/*.json")
  set(scenarios "")
  foreach(file IN LISTS candidates)
    file(READ "${file}" text)
    string(JSON version ERROR_VARIABLE not_json GET "${text}" version)
    if(not_json)
      continue()  # a data file beside the scenarios
    endif()
    list(APPEND scenarios "${file}")
  endforeach()
  if(NOT scenarios)
    message(WARNING "bpfault_add_scenarios: no scenario (a JSON file with \"version\") in ${dir}")
    return()
  endif()

  set(record "${CMAKE_CURRENT_BINARY_DIR}/bpfault-${S_NAME}.json")
  set(junit "${CMAKE_CURRENT_BINARY_DIR}/bpfault-${S_NAME}.xml")
  add_test(NAME ${S_NAME}/run
           COMMAND ${CMAKE_COMMAND} -DBPFAULT=${bpfault_exe} -DRECORD=${record}
                   "-DRUN_ARGS=run;--vm=${S_VM};--json;${record};--junit;${junit};${S_ARGS};${scenarios}"
                   -P "${_bpfault_add_scenarios_dir}/bpfault_scenario_check.cmake")
  set_tests_properties(${S_NAME}/run PROPERTIES FIXTURES_SETUP bpfault-${S_NAME} TIMEOUT ${S_TIMEOUT}
                       LABELS "bpfault;${S_LABELS}" RESOURCE_LOCK bpfault-vm)
  foreach(file IN LISTS scenarios)
    get_filename_component(stem "${file}" NAME_WE)
    add_test(NAME ${S_NAME}/${stem}
             COMMAND ${CMAKE_COMMAND} -DRECORD=${record} -DSCENARIO=${file}
                     -P "${_bpfault_add_scenarios_dir}/bpfault_scenario_check.cmake")
    set_tests_properties(${S_NAME}/${stem} PROPERTIES FIXTURES_REQUIRED bpfault-${S_NAME}
                         SKIP_REGULAR_EXPRESSION "bpfault-skip:" LABELS "bpfault;${S_LABELS}")
  endforeach()
endfunction()
