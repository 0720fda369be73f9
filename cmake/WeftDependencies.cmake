# Every dependency is a Debian 12 package (see README). Boost's own CMake config (1.81) gives imported
# targets; Boost.Log as a shared library brings BOOST_LOG_DYN_LINK with it.
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED CONFIG COMPONENTS log log_setup program_options)
find_package(OpenSSL 3 REQUIRED)
if(WEFT_BUILD_TESTS)
  find_package(Catch2 2.13 REQUIRED)
endif()

# ccache makes CI re-runs and developer rebuilds cheap; it is optional.
find_program(WEFT_CCACHE ccache)
if(WEFT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${WEFT_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER "${WEFT_CCACHE}")
endif()
