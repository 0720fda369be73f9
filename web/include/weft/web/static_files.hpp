#pragma once
// StaticFiles: serves the files under a directory (Twisted: twisted.web.static.File).

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "weft/web/resource.hpp"

namespace weft::web {

/// How StaticFiles serves its tree.
struct StaticFilesOptions {
    /// Served for a directory; empty: directories get 403.
    std::string index = "index.html";
    /// The type of files whose extension is not in the table.
    std::string default_type = "application/octet-stream";
    /// Bytes read from the file per write.
    std::size_t chunk_size = 64 * 1024;
};

/// Serves a directory tree, read-only, as a leaf resource: put it under a path segment
/// (`root->put_child("static", std::make_shared<StaticFiles>("/srv/www"))`) and /static/a/b.css is the
/// file a/b.css under the directory.
///
/// Contract: GET and HEAD only (405 with Allow otherwise). Content-Type from the extension
/// (mime_type_for; text types with charset=utf-8), Last-Modified and a strong ETag made of the file's size
/// and modification time; If-None-Match (before If-Modified-Since, as RFC 9110 says) answers 304. A
/// single byte range ("bytes=a-b", "a-", "-n") gets 206 with Content-Range, an unsatisfiable one 416 with
/// "Content-Range: bytes */size", If-Range that does not match the ETag or date gets the whole file; several
/// ranges in one request get the whole file (200), which RFC 9110 allows. A directory is served by its
/// index file (a path without its final slash is redirected to it, 301), else 403; there is no listing.
/// Nothing outside the root is ever served: a path with a "." or ".." segment (however encoded), an
/// encoded slash or backslash, a NUL byte, an empty segment, or one whose real path (symlinks resolved)
/// leaves the root gets 404; so do files that are not regular (devices, FIFOs, sockets). Symlinks that stay
/// inside the root are followed; the Content-Type comes from the name in the request (as nginx and
/// twisted.web do), not from a link's target. The root is the directory `root` named when the resource
/// was made (it is held open): renaming it away later does not move the tree served. Files are never
/// read whole: a pull producer sends more each time the connection's write buffer is empty, by
/// sendfile(2) on a plain TCP or UNIX socket, else (TLS) one `chunk_size` chunk read with pread; a client
/// that reads slowly holds at most one chunk in memory.
class StaticFiles : public Resource {
public:
    /// Its settings (StaticFilesOptions).
    using Options = StaticFilesOptions;

    /// Throws std::invalid_argument if `root` is not a directory.
    explicit StaticFiles(const std::filesystem::path& root, Options options = {});
    /// Closes the root's descriptor.
    ~StaticFiles() override;

    void render(Request& request) override;
    [[nodiscard]] bool is_leaf() const noexcept override { return true; }
    /// The root's real path (symlinks resolved).
    [[nodiscard]] const std::filesystem::path& root() const noexcept { return root_; }

private:
    [[nodiscard]] int open_inside(const std::string& relative) const;

    std::filesystem::path root_;
    int root_fd_ = -1;  // O_PATH: the base the kernel keeps every lookup beneath
    bool beneath_works_ = false;  // the kernel has openat2(2) and lets us use it
    Options options_;
};

/// The MIME type for a file name by its extension, case-insensitively ("a.HTML" gives
/// "text/html; charset=utf-8"), or an empty view when the extension is not in weft's table.
[[nodiscard]] std::string_view mime_type_for(std::string_view filename) noexcept;

}  // namespace weft::web
