#include "weft/web/site.hpp"

#include <stdexcept>

#include "http_channel.hpp"

namespace weft::web {

Site::Site(ReactorTime& time, std::shared_ptr<Resource> root, ServerOptions options)
    : time_(&time), root_(std::move(root)), options_(std::move(options)) {
    if (!root_) throw std::invalid_argument("weft::web::Site needs a root resource");
}

std::unique_ptr<Protocol> Site::build_protocol(const Address&) { return std::make_unique<detail::HttpChannel>(*this); }

std::shared_ptr<Resource> Site::resource_for(Request& request) {
    std::shared_ptr<Resource> resource = root_;
    while (!request.postpath().empty() && !resource->is_leaf()) {
        std::string segment = request.consume_segment();
        resource = resource->get_child(segment, request);
    }
    return resource;
}

}  // namespace weft::web
