#pragma once
// JSON bodies with Boost.JSON.

#include <optional>

#include <boost/json/value.hpp>

#include "weft/web/request.hpp"

namespace weft::web {

/// Finishes `request` with `value` serialised as its body, Content-Type application/json and `status`.
void finish_json(Request& request, const boost::json::value& value, int status = 200);

/// The request's body parsed as JSON, or nullopt if it is not valid JSON (answer 400 then).
[[nodiscard]] std::optional<boost::json::value> parse_json_body(const Request& request);

}  // namespace weft::web
