# Debian packages (issue 16): `cmake -B BUILD -DWEFT_PACKAGE=ON && cmake --build BUILD --target package` makes
#   libweft-dev_VERSION_ARCH.deb  headers, libweft.a + libweft.so.SOVERSION (and libweft_protocols, libweft_web), the
#                                 CMake package (static targets) and weft.pc (-lweft: the shared library)
#   weft-chat_VERSION_ARCH.deb    weft-chat, weft-chat-client, weft-echo (linked with the static libraries,
#                                 so they need no libweft package), their man pages, the systemd units
# Package dependencies are Debian's package names: dpkg-shlibdeps finds the apps' (Boost, OpenSSL, libc),
# the -dev package names the -dev packages its headers and pkg-config file need. docs/packaging.md.
#
# A packaging build is a static build (BUILD_SHARED_LIBS off) that also builds a shared twin of each library
# from the same sources, so one tree gives both kinds; only WEFT_PACKAGE builds pay for the twins.

if(BUILD_SHARED_LIBS)
  message(FATAL_ERROR "WEFT_PACKAGE builds the shared libraries itself: configure it without BUILD_SHARED_LIBS")
endif()
if(NOT WEFT_BUILD_APPS)
  message(FATAL_ERROR "WEFT_PACKAGE needs WEFT_BUILD_APPS (the weft-chat package holds the apps)")
endif()

# A shared library built from `target`'s sources with its settings, named as it is (libweft.so beside
# libweft.a), with the SONAME of the versioning policy. Not exported to the CMake package: find_package
# gives the static targets; pkg-config's -lweft finds the shared one first. A linked weft library maps to
# its twin (weft::framework -> weft_framework_shared, weft::protocols -> weft_protocols_shared).
function(weft_shared_twin target)
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(absolute)
  foreach(s IN LISTS sources)
    if(IS_ABSOLUTE "${s}")
      list(APPEND absolute "${s}")
    else()
      list(APPEND absolute "${source_dir}/${s}")
    endif()
  endforeach()
  set(twin ${target}_shared)
  add_library(${twin} SHARED ${absolute})
  get_target_property(output ${target} OUTPUT_NAME)
  set_target_properties(${twin} PROPERTIES OUTPUT_NAME ${output})
  weft_library_version(${twin})
  foreach(property INCLUDE_DIRECTORIES COMPILE_OPTIONS COMPILE_DEFINITIONS COMPILE_FEATURES
                   INTERFACE_INCLUDE_DIRECTORIES INTERFACE_COMPILE_FEATURES INTERFACE_COMPILE_DEFINITIONS)
    get_target_property(value ${target} ${property})
    if(value)
      set_property(TARGET ${twin} PROPERTY ${property} "${value}")
    endif()
  endforeach()
  get_target_property(libraries ${target} LINK_LIBRARIES)
  if(libraries)
    list(TRANSFORM libraries REPLACE "^weft::(framework|protocols)$" "weft_\\1_shared")
    target_link_libraries(${twin} PRIVATE ${libraries})
  endif()
  get_target_property(interface ${target} INTERFACE_LINK_LIBRARIES)
  if(interface)
    list(TRANSFORM interface REPLACE "^weft::(framework|protocols)$" "weft_\\1_shared")
    set_property(TARGET ${twin} PROPERTY INTERFACE_LINK_LIBRARIES "${interface}")
  endif()
  install(TARGETS ${twin} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev NAMELINK_COMPONENT dev)
endfunction()

weft_shared_twin(weft_framework)
weft_shared_twin(weft_protocols)
weft_shared_twin(weft_web)

# Man pages from each app's --help and --version (Debian's help2man), for the weft-chat package.
find_program(WEFT_HELP2MAN help2man REQUIRED)
set(_weft_man_dir "${PROJECT_BINARY_DIR}/man")
set(_weft_man_pages)
foreach(app weft-chat weft-chat-client weft-echo)
  set(page "${_weft_man_dir}/${app}.1")
  # Compressed, as Debian's policy has man pages (gzip -n: no time stamp, so the package is reproducible).
  add_custom_command(OUTPUT "${page}.gz"
    COMMAND ${CMAKE_COMMAND} -E make_directory "${_weft_man_dir}"
    COMMAND "${WEFT_HELP2MAN}" --no-info --section=1 --source=weft "--version-string=${PROJECT_VERSION}"
            --output=${page} $<TARGET_FILE:${app}>
    COMMAND gzip -9nf "${page}"
    DEPENDS ${app}
    COMMENT "help2man ${app}"
    VERBATIM)
  list(APPEND _weft_man_pages "${page}.gz")
endforeach()
add_custom_target(weft_man_pages ALL DEPENDS ${_weft_man_pages})
install(FILES ${_weft_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT apps)

# Debian strips debugging information from static libraries as well (dh_strip --strip-debug); CPack's
# CPACK_STRIP_FILES strips only executables and shared libraries, which left libweft.a at 100 MB of DWARF
# in libweft-dev. Symbols stay: a static library is linked by name.
install(CODE "
  file(GLOB _weft_archives \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libweft*.a\")
  foreach(_weft_archive IN LISTS _weft_archives)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug --enable-deterministic-archives \"\${_weft_archive}\"
                    COMMAND_ERROR_IS_FATAL ANY)
  endforeach()" COMPONENT dev)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME weft)
set(CPACK_PACKAGE_VENDOR "weft")
set(CPACK_PACKAGE_CONTACT "weft developers <weft@localhost>")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL dev apps)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/weft")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libweft-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
# What weft's public headers and weft.pc need to compile and link a consumer.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libboost1.81-dev, libboost-log1.81-dev, libssl-dev (>= 3), libc6-dev, pkg-config | pkgconf")
# The shared libraries' own dependencies (libboost-log1.81.0, libssl3, libc6, ...), from dpkg-shlibdeps.
set(CPACK_DEBIAN_DEV_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_DEV_DESCRIPTION
    "weft: a Twisted-style networking framework on Boost.Asio (development files)\n"
    "Headers, static and shared libraries, the CMake package (find_package(weft)) and weft.pc.")

set(CPACK_DEBIAN_APPS_PACKAGE_NAME weft-chat)
set(CPACK_DEBIAN_APPS_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_APPS_DESCRIPTION
    "weft's chat server, its terminal client and an echo server\n"
    "weft-chat (a multi-client line chat server with systemd units), weft-chat-client and weft-echo.")

include(CPack)
