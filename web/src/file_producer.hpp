#pragma once
// FileProducer: sends a byte range of an open file as a request's body, one bounded chunk at a time.
// Private to weft::web.

#include <cstdint>
#include <memory>
#include <string>

#include "weft/producer.hpp"
#include "weft/web/request.hpp"

namespace weft::web::detail {

/// A pull producer registered with the request: each resume_producing() (the connection's write buffer
/// is empty) reads one chunk with pread and writes it; the last one finishes the request. It owns the
/// file descriptor, and keeps itself alive while registered (nobody else holds it); stop_producing() or
/// the end releases both. A file that shrinks underneath ends the body short, which closes the connection.
class FileProducer final : public Producer {
public:
    /// Starts sending [offset, offset + length) of `fd` (taken over) as `request`'s body; the request's
    /// status and headers (Content-Length = length) must be set.
    static void start(const std::shared_ptr<Request>& request, int fd, std::uint64_t offset, std::uint64_t length,
                      std::size_t chunk_size);

    FileProducer(int fd, std::uint64_t offset, std::uint64_t length, std::size_t chunk_size);
    ~FileProducer() override;
    FileProducer(const FileProducer&) = delete;
    FileProducer& operator=(const FileProducer&) = delete;

    void resume_producing() override;
    void stop_producing() override;

private:
    void end();

    std::shared_ptr<FileProducer> self_;
    std::shared_ptr<Request> request_;
    int fd_;
    std::uint64_t offset_;
    std::uint64_t left_;
    std::size_t chunk_size_;
    std::string buffer_;  // for pread when sendfile cannot be used; made on first use
};

}  // namespace weft::web::detail
