#include "weft/web/json_body.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace weft::web {

void finish_json(Request& request, const boost::json::value& value, int status) {
    request.set_status(status);
    request.set_header("Content-Type", "application/json");
    request.finish(boost::json::serialize(value));
}

std::optional<boost::json::value> parse_json_body(const Request& request) {
    boost::system::error_code ec;
    auto value = boost::json::parse(request.body(), ec);
    if (ec) return std::nullopt;
    return value;
}

}  // namespace weft::web
