# weft's version comes from project(weft VERSION ...) alone; the versioning policy is in README.md,
# "Versioning". This sets where the generated weft/version.hpp goes and gives the shared libraries their
# SONAME.
set(WEFT_GENERATED_INCLUDE_DIR "${PROJECT_BINARY_DIR}/generated/include")

# SOVERSION: while the major version is 0, every minor release may break the ABI (semantic versioning
# promises nothing before 1.0), so the SONAME carries "0.MINOR" (libweft.so.0.1); from 1.0 on an ABI
# break needs a new major version and the SONAME carries MAJOR alone (libweft.so.1). A patch release never
# changes the ABI, so it keeps the SONAME.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(WEFT_SOVERSION "0.${PROJECT_VERSION_MINOR}")
else()
  set(WEFT_SOVERSION "${PROJECT_VERSION_MAJOR}")
endif()

# Gives a library target the file version (libweft.so.0.1.0) and the SONAME (libweft.so.0.1) above. For a
# static library (BUILD_SHARED_LIBS off) these properties do nothing.
function(weft_library_version target)
  set_target_properties(${target} PROPERTIES VERSION "${PROJECT_VERSION}" SOVERSION "${WEFT_SOVERSION}")
endfunction()
