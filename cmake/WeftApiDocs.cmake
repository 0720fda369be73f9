# The API reference (docs/api-reference.md): `cmake --build BUILD --target api-docs` runs Debian's doxygen
# over the public headers into BUILD/api-docs/html. Undocumented public symbols are errors, and the test
# `api_docs` (tests/CMakeLists.txt) keeps it that way.
find_program(WEFT_DOXYGEN doxygen)
if(NOT WEFT_DOXYGEN)
  message(STATUS "doxygen not found: no api-docs target (.ci/install-deps installs it)")
  return()
endif()
set(WEFT_API_DOCS_DIR "${PROJECT_BINARY_DIR}/api-docs")
configure_file("${PROJECT_SOURCE_DIR}/docs/api/Doxyfile.in" "${WEFT_API_DOCS_DIR}/Doxyfile" @ONLY)
add_custom_target(api-docs
  COMMAND "${WEFT_DOXYGEN}" "${WEFT_API_DOCS_DIR}/Doxyfile"
  COMMAND "${CMAKE_COMMAND}" -E echo "API reference: ${WEFT_API_DOCS_DIR}/html/index.html"
  WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
  COMMENT "doxygen: the API reference from the public headers"
  VERBATIM)
