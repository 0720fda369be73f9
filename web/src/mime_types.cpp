// The MIME types of file extensions served by StaticFiles: the common web types, text ones with their
// charset so that browsers do not guess.

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "weft/web/static_files.hpp"

namespace weft::web {

namespace {

struct MimeType {
    std::string_view extension;  // lower case, without the dot
    std::string_view type;
};

// Sorted by extension (checked by the test of mime_type_for).
constexpr std::array<MimeType, 44> mime_types{{
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"css", "text/css; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html; charset=utf-8"},
    {"html", "text/html; charset=utf-8"},
    {"ico", "image/vnd.microsoft.icon"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"md", "text/markdown; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"text", "text/plain; charset=utf-8"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain; charset=utf-8"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
}};

static_assert(std::is_sorted(mime_types.begin(), mime_types.end(),
                             [](const MimeType& a, const MimeType& b) { return a.extension < b.extension; }));

}  // namespace

std::string_view mime_type_for(std::string_view filename) noexcept {
    auto slash = filename.find_last_of('/');
    if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
    auto dot = filename.find_last_of('.');
    if (dot == std::string_view::npos || dot == 0 || dot + 1 == filename.size()) return {};
    std::string_view ext = filename.substr(dot + 1);
    if (ext.size() > 16) return {};
    char lower[16];
    for (std::size_t i = 0; i < ext.size(); ++i) lower[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(ext[i])));
    std::string_view key(lower, ext.size());
    auto it = std::lower_bound(mime_types.begin(), mime_types.end(), key,
                               [](const MimeType& m, std::string_view k) { return m.extension < k; });
    if (it == mime_types.end() || it->extension != key) return {};
    return it->type;
}

}  // namespace weft::web
