# WEFT_SANITIZE=address,undefined or WEFT_SANITIZE=thread: instruments every target of the build.
# Reports abort the program (no recovery), so any report fails the test that caused it.
set(WEFT_SANITIZE "" CACHE STRING "Sanitizers to build with: address,undefined | thread | empty")
if(WEFT_SANITIZE)
  set(_weft_san_flags -fsanitize=${WEFT_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_compile_options(${_weft_san_flags})
  if(WEFT_SANITIZE MATCHES "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's fenced blocks use atomic_thread_fence, which GCC flags under TSan (-Wtsan). Asio's handler
    # queues are mutex-protected, which TSan does see; keep the note, not the error.
    add_compile_options(-Wno-error=tsan)
  endif()
  add_link_options(${_weft_san_flags})
  message(STATUS "weft: building with -fsanitize=${WEFT_SANITIZE}")
endif()
