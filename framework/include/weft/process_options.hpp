#pragma once
// ProcessOptions: how Reactor::spawn_process sets up a child (Twisted: spawnProcess's env, path, childFDs).

#include <map>
#include <optional>
#include <string>

namespace weft {

/// What one of the child's descriptors is (Twisted: a value of spawnProcess's childFDs).
class ChildFd {
public:
    /// Which of the three an entry is.
    enum class Kind {
        to_child,    ///< a new pipe the parent writes and the child reads (Twisted: "w"; stdin)
        from_child,  ///< a new pipe the child writes and the parent reads (Twisted: "r"; stdout, stderr)
        inherit,     ///< a descriptor of the parent, passed through as it is (Twisted: an int)
    };

    /// A new pipe the parent writes and the child reads (Twisted: "w").
    static ChildFd to_child() noexcept { return ChildFd(Kind::to_child, -1); }
    /// A new pipe the child writes and the parent reads (Twisted: "r").
    static ChildFd from_child() noexcept { return ChildFd(Kind::from_child, -1); }
    /// The parent's descriptor `parent_fd`, shared with the child (the parent keeps its own).
    static ChildFd inherit(int parent_fd) noexcept { return ChildFd(Kind::inherit, parent_fd); }

    /// Which kind of entry this is.
    [[nodiscard]] Kind kind() const noexcept { return kind_; }
    /// The parent's descriptor of an `inherit` entry, -1 otherwise.
    [[nodiscard]] int parent_fd() const noexcept { return parent_fd_; }

    /// The same kind and, for `inherit`, the same parent descriptor.
    friend bool operator==(const ChildFd&, const ChildFd&) = default;

private:
    ChildFd(Kind kind, int fd) noexcept : kind_(kind), parent_fd_(fd) {}
    Kind kind_;
    int parent_fd_;
};

/// Options of Reactor::spawn_process.
///
/// Contract: the child gets exactly the descriptors of `child_fds` (numbered as their keys, below
/// max_child_fd) and no other, every signal at its default action and none blocked (weft ignores SIGPIPE
/// in the parent; the child does not inherit that), `env` (or the parent's environment) and
/// `working_directory` (or the parent's).
struct ProcessOptions {
    /// The child's descriptors are numbered below this.
    static constexpr int max_child_fd = 1024;

    /// The child's whole environment; nullopt: the parent's. (Twisted's spawnProcess passes an empty
    /// environment when env is not given; weft inherits, as env=None does there.)
    std::optional<std::map<std::string, std::string>> env;
    /// The directory the child starts in; empty: the parent's (Twisted: path). A relative executable
    /// is found from there.
    std::string working_directory;
    /// The child's descriptors (Twisted: childFDs). Default, as Twisted's: 0 a pipe the parent writes
    /// (stdin), 1 and 2 pipes the parent reads (stdout, stderr).
    std::map<int, ChildFd> child_fds{{0, ChildFd::to_child()}, {1, ChildFd::from_child()}, {2, ChildFd::from_child()}};
};

}  // namespace weft
