#pragma once
// Pipe: a pair of descriptors for feeding a transport or a child process (the test closes each end).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

namespace weft_test {

struct Pipe {
    int read = -1;
    int write = -1;
};

/// A close-on-exec pipe (a child gets an end only through ChildOptions).
inline Pipe make_pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    return {fds[0], fds[1]};
}

}  // namespace weft_test
