// StaticFiles: the path rules that keep requests inside the root, conditional requests and ranges.

#include "weft/web/static_files.hpp"
#include "http_date.hpp"
#include "http_text.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "file_producer.hpp"

namespace weft::web {

namespace {

using detail::iequals;
using detail::trim;

std::optional<std::uint64_t> parse_number(std::string_view s) {
    if (s.empty() || s.size() > 19) return std::nullopt;
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return n;
}

// A path segment that could name something other than an entry of the directory it is looked up in.
bool unsafe_segment(std::string_view segment) {
    return segment == "." || segment == ".." || segment.find_first_of(std::string_view("/\\\0", 3)) != std::string_view::npos;
}

bool inside(const std::filesystem::path& root, const std::filesystem::path& p) {
    const std::string& r = root.native();
    const std::string& c = p.native();
    if (r == "/") return true;
    return c.compare(0, r.size(), r) == 0 && (c.size() == r.size() || c[r.size()] == '/');
}

void answer(Request& request, int status, std::string_view message) { send_error(request, status, message); }

struct ByteRange {
    std::uint64_t first;
    std::uint64_t last;  // inclusive
};

enum class RangeAnswer { whole, partial, unsatisfiable };

// One "bytes=" range-spec of a file of `size` bytes. Anything not understood is ignored (the whole file),
// as RFC 9110 allows; so are several ranges, which would need multipart/byteranges.
RangeAnswer parse_range(std::string_view header, std::uint64_t size, ByteRange& range) {
    header = trim(header);
    auto eq = header.find('=');
    if (eq == std::string_view::npos || !iequals(trim(header.substr(0, eq)), "bytes")) return RangeAnswer::whole;
    std::string_view spec = trim(header.substr(eq + 1));
    if (spec.find(',') != std::string_view::npos) return RangeAnswer::whole;
    auto dash = spec.find('-');
    if (dash == std::string_view::npos) return RangeAnswer::whole;
    std::string_view a = spec.substr(0, dash);
    std::string_view b = spec.substr(dash + 1);
    if (a.empty()) {  // "-n": the last n bytes
        auto n = parse_number(b);
        if (!n) return RangeAnswer::whole;
        if (*n == 0 || size == 0) return RangeAnswer::unsatisfiable;
        range = {size - std::min(*n, size), size - 1};
        return RangeAnswer::partial;
    }
    auto first = parse_number(a);
    if (!first) return RangeAnswer::whole;
    std::uint64_t last = size == 0 ? 0 : size - 1;
    if (!b.empty()) {
        auto l = parse_number(b);
        if (!l || *l < *first) return RangeAnswer::whole;
        last = std::min(*l, last);
    }
    if (*first >= size) return RangeAnswer::unsatisfiable;
    range = {*first, last};
    return RangeAnswer::partial;
}

bool etag_listed(std::string_view list, std::string_view etag) {
    // If-None-Match compares weakly: W/"x" matches "x".
    while (!list.empty()) {
        auto comma = list.find(',');
        std::string_view item = trim(list.substr(0, comma));
        if (item == "*") return true;
        if (item.starts_with("W/")) item.remove_prefix(2);
        if (item == etag) return true;
        if (comma == std::string_view::npos) break;
        list.remove_prefix(comma + 1);
    }
    return false;
}

// Answers with the regular file `fd` (taken over), `st` its status, `name` the requested name.
void serve_file(Request& request, int fd, std::string_view name, const struct stat& st, const StaticFilesOptions& options) {
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    char etag_buf[64];
    int etag_len = std::snprintf(etag_buf, sizeof etag_buf, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                                 static_cast<unsigned long long>(mtime_ns));
    const std::string etag(etag_buf, static_cast<std::size_t>(etag_len));
    const std::string last_modified = detail::imf_date(st.st_mtim.tv_sec);

    request.set_header("ETag", etag);
    request.set_header("Last-Modified", last_modified);
    request.set_header("Accept-Ranges", "bytes");

    // RFC 9110 13.2.2: If-None-Match first; If-Modified-Since only without it.
    bool not_modified = false;
    if (auto inm = request.header("If-None-Match")) {
        not_modified = etag_listed(*inm, etag);
    } else if (auto ims = request.header("If-Modified-Since")) {
        auto since = detail::parse_imf_date(*ims);
        not_modified = since && st.st_mtim.tv_sec <= *since;
    }
    if (not_modified) {
        ::close(fd);
        request.set_status(304);
        return request.finish();
    }

    auto type = mime_type_for(name);
    request.set_header("Content-Type", type.empty() ? std::string_view(options.default_type) : type);

    std::uint64_t offset = 0;
    std::uint64_t length = size;
    if (auto range_header = request.header("Range"); range_header && request.method() == "GET") {
        bool use_range = true;
        if (auto if_range = request.header("If-Range")) {
            std::string_view v = trim(*if_range);
            if (v.starts_with('"')) {
                use_range = v == etag;
            } else {
                auto date = detail::parse_imf_date(v);
                use_range = date && *date == st.st_mtim.tv_sec;
            }
        }
        ByteRange range{};
        switch (use_range ? parse_range(*range_header, size, range) : RangeAnswer::whole) {
            case RangeAnswer::whole:
                break;
            case RangeAnswer::unsatisfiable:
                ::close(fd);
                request.set_status(416);
                request.set_header("Content-Range", "bytes */" + std::to_string(size));
                request.set_header("Content-Type", "text/plain; charset=utf-8");
                return request.finish("Range Not Satisfiable\n");
            case RangeAnswer::partial:
                request.set_status(206);
                request.set_header("Content-Range", "bytes " + std::to_string(range.first) + "-" +
                                                        std::to_string(range.last) + "/" + std::to_string(size));
                offset = range.first;
                length = range.last - range.first + 1;
                break;
        }
    }
    request.set_header("Content-Length", std::to_string(length));
    if (request.method() == "HEAD") {
        ::close(fd);
        return request.finish();  // the channel keeps the declared Content-Length for HEAD
    }
    detail::FileProducer::start(request.shared_from_this(), fd, offset, length, options.chunk_size);
}

}  // namespace

namespace {

long open_beneath(int dir, const char* path, int flags, std::uint64_t resolve) {
    ::open_how how{};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = resolve;
    long fd;
    do {
        fd = ::syscall(SYS_openat2, dir, path, &how, sizeof how);
    } while (fd < 0 && errno == EINTR);
    return fd;
}

// Opens `relative` (made of plain names: no ".", "..", or symlink expected) beneath `dir` one component at
// a time, following no symlink: a directory swapped for a symlink meanwhile fails the open (ELOOP or
// ENOTDIR) instead of leading elsewhere. Any kernel; errno as the failing call left it.
int open_walk(int dir, const std::filesystem::path& relative, int flags) {
    std::vector<std::string> parts;
    for (const auto& part : relative) parts.push_back(part.string());
    if (parts.empty()) parts.emplace_back(".");
    int at = dir;
    int owned = -1;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
        const int next = ::openat(at, parts[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        const int saved = errno;
        if (owned >= 0) ::close(owned);
        errno = saved;
        if (next < 0) return -1;
        at = owned = next;
    }
    const int fd = ::openat(at, parts.back().c_str(), flags | O_NOFOLLOW);
    const int saved = errno;
    if (owned >= 0) ::close(owned);
    errno = saved;
    return fd;
}

}  // namespace

StaticFiles::StaticFiles(const std::filesystem::path& root, Options options) : options_(std::move(options)) {
    std::error_code ec;
    root_ = std::filesystem::canonical(root, ec);
    if (ec || !std::filesystem::is_directory(root_, ec)) {
        throw std::invalid_argument("StaticFiles: not a directory: " + root.string());
    }
    root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd_ < 0) throw std::invalid_argument("StaticFiles: cannot open " + root.string());
    // Asked once: a kernel before 5.6 (ENOSYS) or a seccomp filter (EPERM) refuses openat2 for good; a
    // failure on one request later is that request's answer.
    const long probe = open_beneath(root_fd_, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC, RESOLVE_BENEATH);
    beneath_works_ = probe >= 0;
    if (probe >= 0) ::close(static_cast<int>(probe));
}

StaticFiles::~StaticFiles() {
    if (root_fd_ >= 0) ::close(root_fd_);
}

// The kernel resolves the path beneath the root's descriptor in one call: no symlink can lead out, even
// one swapped in while we look, and no readlink(2) per component as canonical() needs. It refuses
// absolute symlinks as well (EXDEV), even those that point back inside: only then (or after a concurrent
// rename, EAGAIN), or without openat2, is the path resolved in user space, checked against the root's real
// path, and the symlink-free result opened again from the root's descriptor one component at a time with
// O_NOFOLLOW, so that a symlink swapped in between the check and the open is refused, not followed.
int StaticFiles::open_inside(const std::string& relative) const {
    // O_NONBLOCK: a FIFO must not block open(); O_NOCTTY: a terminal in the tree must not become ours.
    constexpr int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    if (beneath_works_) {
        const long fd = open_beneath(root_fd_, relative.empty() ? "." : relative.c_str(), flags,
                                     RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS);
        if (fd >= 0) return static_cast<int>(fd);
        if (errno != EXDEV && errno != EAGAIN) return -1;  // ENOENT, ENOTDIR, ELOOP, EACCES...: the answer
    }
    // The root where it is now (it is held open, and may have been renamed), else where it was.
    std::error_code ec;
    std::filesystem::path root = std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(root_fd_), ec);
    if (ec || root.is_relative()) root = root_;
    const std::filesystem::path real = std::filesystem::canonical(root / relative, ec);
    if (ec || !inside(root, real)) {
        errno = ENOENT;
        return -1;
    }
    return open_walk(root_fd_, real.lexically_relative(root), flags);
}

void StaticFiles::render(Request& request) {
    if (request.method() != "GET" && request.method() != "HEAD") {
        request.set_status(405);
        request.set_header("Allow", "GET, HEAD");
        request.set_header("Content-Type", "text/plain; charset=utf-8");
        return request.finish("Method Not Allowed\n");
    }
    const auto& segments = request.postpath();
    std::string relative;
    std::string_view name;
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const std::string& segment = segments[i];
        if (segment.empty() && i + 1 == segments.size()) break;  // a trailing slash: a directory
        if (segment.empty() || unsafe_segment(segment)) return answer(request, 404, "No such file");
        if (!relative.empty()) relative += '/';
        relative += segment;
        name = segment;
    }
    int fd = open_inside(relative);
    if (fd < 0) return errno == EACCES ? answer(request, 403, "Forbidden") : answer(request, 404, "No such file");
    struct stat st {};
    bool known = ::fstat(fd, &st) == 0;
    if (known && S_ISDIR(st.st_mode)) {
        ::close(fd);
        if (segments.empty() || !segments.back().empty()) {
            // Relative links in the index resolve against the directory only with the final slash.
            const std::string& target = request.target();
            auto q = target.find('?');
            std::string location = target.substr(0, q) + "/" + (q == std::string::npos ? "" : target.substr(q));
            request.set_status(301);
            request.set_header("Location", location);
            request.set_header("Content-Type", "text/plain; charset=utf-8");
            return request.finish("Moved Permanently\n");
        }
        if (options_.index.empty()) return answer(request, 403, "Directory listing is not allowed");
        fd = open_inside(relative.empty() ? options_.index : relative + "/" + options_.index);
        if (fd < 0) return answer(request, 403, "Directory listing is not allowed");
        name = options_.index;
        known = ::fstat(fd, &st) == 0;
    }
    if (!known || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return answer(request, 404, "No such file");
    }
    serve_file(request, fd, name, st, options_);
}

}  // namespace weft::web
