# Installs headers, libraries and a CMake package so that another project can
#   find_package(weft REQUIRED) and link weft::framework / weft::protocols / weft::web.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Components (the Debian packages of cmake/WeftPackaging.cmake): dev (libraries, headers, CMake package,
# weft.pc) and apps (the programs, their man pages, the systemd units).
install(TARGETS weft_framework weft_protocols weft_web EXPORT weftTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev NAMELINK_COMPONENT dev
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY framework/include/ protocols/include/ web/include/ "${WEFT_GENERATED_INCLUDE_DIR}/"
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)
install(EXPORT weftTargets NAMESPACE weft:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft COMPONENT dev)

configure_package_config_file(cmake/weftConfig.cmake.in "${CMAKE_CURRENT_BINARY_DIR}/weftConfig.cmake"
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft)
# find_package(weft X.Y) follows the versioning policy (README, "Versioning"): before 1.0 each minor release
# may break the API, so only the same MAJOR.MINOR is accepted; from 1.0 on, any release of the same MAJOR.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_weft_compatibility SameMinorVersion)
else()
  set(_weft_compatibility SameMajorVersion)
endif()
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/weftConfigVersion.cmake"
                                 COMPATIBILITY ${_weft_compatibility})
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/weftConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/weftConfigVersion.cmake"
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/weft COMPONENT dev)

# pkg-config (weft.pc), for builds without CMake: g++ -std=c++20 app.cpp $(pkg-config --cflags --libs weft).
# Boost ships no .pc files on Debian, so Boost.Log cannot be a Requires: it is spelt out, with the libraries
# Boost 1.81's own CMake target Boost::log links (its headers call Boost.Thread, Filesystem, ... directly, and
# GNU ld wants every library a consumer's object references on the command line). They go in Libs, not
# Libs.private: weft/log.hpp (WEFT_LOG) is public, so a consumer's own objects call Boost.Log, and a static
# libweft needs them on the link line anyway. BOOST_LOG_DYN_LINK and BOOST_LOG_SETUP_DYN_LINK select the
# shared Boost.Log's symbols (Debian's; Boost::log adds them for CMake consumers). The headers need C++20:
# the consumer passes -std=c++20 (or later) itself, as a .pc file does not choose the language standard.
# The prefix is found from where weft.pc lies (${pcfiledir}, which pkg-config and pkgconf provide), so an
# install with `cmake --install --prefix P` gives a weft.pc that points into P.
file(RELATIVE_PATH WEFT_PC_TO_PREFIX "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" WEFT_PC_TO_PREFIX "${WEFT_PC_TO_PREFIX}")
configure_file(cmake/weft.pc.in "${CMAKE_CURRENT_BINARY_DIR}/weft.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/weft.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# The apps users run (the benchmark tools stay in the build tree).
if(WEFT_BUILD_APPS)
  set(_weft_apps weft-chat weft-chat-client weft-echo)
  if(BUILD_SHARED_LIBS)
    # Installed anywhere (a --prefix, not only /usr), they find the libweft installed beside them.
    set_target_properties(${_weft_apps} PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  endif()
  install(TARGETS ${_weft_apps} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT apps)
  # systemd units for weft-chat (packaging/systemd; ExecStart names the installed binary). Debian 12 reads
  # /usr/lib/systemd/system as well as /lib/systemd/system.
  configure_file(packaging/systemd/weft-chat.service.in "${PROJECT_BINARY_DIR}/systemd/weft-chat.service" @ONLY)
  configure_file(packaging/systemd/weft-chat.socket "${PROJECT_BINARY_DIR}/systemd/weft-chat.socket" COPYONLY)
  install(FILES "${PROJECT_BINARY_DIR}/systemd/weft-chat.service"
                "${PROJECT_BINARY_DIR}/systemd/weft-chat.socket"
          DESTINATION lib/systemd/system COMPONENT apps)
endif()
