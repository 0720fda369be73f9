# ctest step (install_and_consume_shared): BUILD_SHARED_LIBS=ON works. Configures and builds weft from
# SOURCE (libraries and apps only) as shared libraries, checks their SONAME against the versioning policy
# (README, "Versioning"), and then runs check.cmake on that build: install, find_package and pkg-config
# consumers, the installed apps' --version (which must find the installed libweft through their run path).
# Inputs: those of check.cmake, and -DWEFT_SOURCE_DIR=<weft's source> -DBUILD_TYPE=<CMAKE_BUILD_TYPE>
set(BUILD_DIR "${WORK_DIR}-weft")
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${WEFT_SOURCE_DIR}" -B "${BUILD_DIR}" -G Ninja
                        "-DCMAKE_CXX_COMPILER=${CXX}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" -DBUILD_SHARED_LIBS=ON
                        -DWEFT_BUILD_TESTS=OFF -DWEFT_BUILD_APPS=ON -DWEFT_BUILD_BENCH=OFF
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring weft with BUILD_SHARED_LIBS=ON failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building weft with BUILD_SHARED_LIBS=ON failed: ${rc}")
endif()

# The policy: SOVERSION is 0.MINOR while the major version is 0, then MAJOR.
string(REPLACE "." ";" parts "${VERSION}")
list(GET parts 0 major)
list(GET parts 1 minor)
if(major EQUAL 0)
  set(soversion "0.${minor}")
else()
  set(soversion "${major}")
endif()
foreach(lib framework/libweft protocols/libweft_protocols web/libweft_web)
  execute_process(COMMAND readelf -d "${BUILD_DIR}/${lib}.so" OUTPUT_VARIABLE dynamic RESULT_VARIABLE rc)
  get_filename_component(name "${lib}" NAME)
  if(NOT rc EQUAL 0 OR NOT dynamic MATCHES "Library soname: \\[${name}\\.so\\.${soversion}\\]")
    message(FATAL_ERROR "${lib}.so: expected the SONAME ${name}.so.${soversion}; readelf -d says:\n${dynamic}")
  endif()
endforeach()
message(STATUS "shared weft: SONAMEs libweft.so.${soversion}, libweft_protocols.so.${soversion}, libweft_web.so.${soversion}")

include("${CMAKE_CURRENT_LIST_DIR}/check.cmake")

# The consumers link the shared library, not a static copy.
foreach(exe build/consumer consumer-pkgconfig)
  execute_process(COMMAND readelf -d "${WORK_DIR}/${exe}" OUTPUT_VARIABLE dynamic)
  if(NOT dynamic MATCHES "Shared library: \\[libweft\\.so\\.${soversion}\\]")
    message(FATAL_ERROR "${exe} does not need libweft.so.${soversion}:\n${dynamic}")
  endif()
endforeach()
message(STATUS "shared weft: both consumers load libweft.so.${soversion}")
