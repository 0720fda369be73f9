#include "file_producer.hpp"

#include <algorithm>
#include <cerrno>
#include <utility>

#include <unistd.h>

#include "weft/log.hpp"

namespace weft::web::detail {

namespace {
// Per sendfile(2) call: the kernel takes at most what fits the socket's buffer anyway.
constexpr std::uint64_t max_send_file = 4 * 1024 * 1024;
}  // namespace

void FileProducer::start(const std::shared_ptr<Request>& request, int fd, std::uint64_t offset, std::uint64_t length,
                         std::size_t chunk_size) {
    auto producer = std::make_shared<FileProducer>(fd, offset, length, chunk_size);
    if (length <= chunk_size) {
        // One chunk: read now and sent with the head in one write, without waiting a turn for the
        // transport to ask.
        producer->request_ = request;
        while (producer->request_) producer->resume_producing();  // a short read asks again
        return;
    }
    producer->self_ = producer;
    producer->request_ = request;
    request->register_producer(*producer, false);  // a closed connection stops it at once
}

FileProducer::FileProducer(int fd, std::uint64_t offset, std::uint64_t length, std::size_t chunk_size)
    : fd_(fd), offset_(offset), left_(length), chunk_size_(std::max<std::size_t>(chunk_size, 1)) {}

FileProducer::~FileProducer() {
    if (fd_ >= 0) ::close(fd_);
}

void FileProducer::resume_producing() {
    if (!request_) return;
    auto keep = self_;  // finishing the request unregisters us: stay alive to the end of this call
    if (left_ == 0) return end();
    // Plain TCP: the kernel copies from the page cache to the socket, up to what the socket takes now;
    // the transport asks again once it can take more.
    if (auto sent = request_->send_file(fd_, offset_, static_cast<std::size_t>(std::min<std::uint64_t>(left_, max_send_file)))) {
        offset_ += *sent;
        left_ -= *sent;
        if (left_ == 0) end();
        return;
    }
    // The buffer is made on first use: with sendfile (plain TCP) it never is, and a chunk's allocation and
    // zeroing (64 KiB by default) cost more than the rest of serving the file.
    if (buffer_.empty()) buffer_.resize(static_cast<std::size_t>(std::min<std::uint64_t>(left_, chunk_size_)));
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(left_, buffer_.size()));
    ssize_t n;
    do {
        n = ::pread(fd_, buffer_.data(), want, static_cast<off_t>(offset_));
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        // Shrunk or unreadable since it was opened: the body ends short (the connection closes).
        WEFT_LOG(warning) << "http: a static file ended " << left_ << " bytes early";
        return end();
    }
    offset_ += static_cast<std::uint64_t>(n);
    left_ -= static_cast<std::uint64_t>(n);
    request_->write(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
    if (left_ == 0) end();
}

void FileProducer::end() {
    auto keep = std::move(self_);
    auto request = std::move(request_);
    if (request && !request->finished()) {
        request->unregister_producer();
        request->finish();
    }
}

void FileProducer::stop_producing() {
    auto keep = std::move(self_);
    request_.reset();
}

}  // namespace weft::web::detail
