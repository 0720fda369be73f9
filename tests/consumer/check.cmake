# ctest step: install this build to a fresh prefix, then build tests/consumer against it twice, as a user's
# project would: with CMake's find_package(weft), and with a plain compiler command line given
# `pkg-config --cflags --libs weft`; run both, and run the installed apps' --version.
# Inputs: -DBUILD_DIR=<weft build> -DSOURCE_DIR=<tests/consumer> -DWORK_DIR=<scratch>
#         -DCXX=<C++ compiler> -DVERSION=<weft's version>
#         -DAPPS=ON|OFF (whether the build has the apps, so that they must be installed)
#         -DCMAKE_ARGS=<;-list of extra -D arguments for the consumer's configure> (optional)
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}"
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()

# 1. find_package(weft).
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G Ninja
                        "-DCMAKE_PREFIX_PATH=${prefix}" ${CMAKE_ARGS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer against the installed weft failed: ${rc}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer failed: ${rc}")
endif()
execute_process(COMMAND "${WORK_DIR}/build/consumer" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the consumer ran but failed: ${rc}")
endif()
message(STATUS "find_package(weft) consumer: installed, built and ran")

# 2. pkg-config: weft.pc lies in <libdir>/pkgconfig, libdir being lib or lib/<triplet> (GNUInstallDirs).
file(GLOB_RECURSE pc_files "${prefix}/weft.pc")
list(LENGTH pc_files n)
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected one weft.pc under ${prefix}, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
get_filename_component(libdir "${pc_dir}" DIRECTORY)
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}" pkg-config --cflags --libs weft
                OUTPUT_VARIABLE flags OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs weft failed: ${rc}")
endif()
message(STATUS "pkg-config --cflags --libs weft: ${flags}")
if(NOT flags MATCHES "-I${prefix}/")
  # weft.pc must point into the prefix it was installed to, not where the build meant to install.
  message(FATAL_ERROR "weft.pc does not point into ${prefix}: ${flags}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
execute_process(COMMAND "${CXX}" -std=c++20 "${SOURCE_DIR}/main.cpp" ${flags} -o "${WORK_DIR}/consumer-pkgconfig"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the consumer with pkg-config's flags failed: ${rc}")
endif()
# pkg-config gives no run path: a shared libweft outside the loader's paths is found through LD_LIBRARY_PATH.
execute_process(COMMAND "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${libdir}" "${WORK_DIR}/consumer-pkgconfig"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the pkg-config consumer ran but failed: ${rc}")
endif()
message(STATUS "pkg-config consumer: built and ran")

# 3. The installed apps (found without LD_LIBRARY_PATH: a shared build gives them a run path).
if(APPS)
  foreach(app weft-chat weft-chat-client weft-echo)
    execute_process(COMMAND "${prefix}/bin/${app}" --version OUTPUT_VARIABLE out ERROR_VARIABLE err
                    RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0 OR NOT out STREQUAL "${app} ${VERSION}\n")
      message(FATAL_ERROR "installed bin/${app} --version: status ${rc}, output '${out}', errors '${err}'; "
                          "expected '${app} ${VERSION}'")
    endif()
  endforeach()
  message(STATUS "installed apps: --version gives ${VERSION}")
endif()
