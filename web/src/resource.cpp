#include "weft/web/resource.hpp"

#include <string>

namespace weft::web {

void Resource::put_child(std::string segment, std::shared_ptr<Resource> child) {
    children_[std::move(segment)] = std::move(child);
}

Resource& Resource::on(std::string method, Handler handler) {
    handlers_[std::move(method)] = std::move(handler);
    return *this;
}

std::shared_ptr<Resource> Resource::get_child(std::string_view segment, Request&) {
    if (auto it = children_.find(segment); it != children_.end()) return it->second;
    return std::make_shared<ErrorResource>(404, "No such resource");
}

void Resource::render(Request& request) {
    auto it = handlers_.find(request.method());
    if (it == handlers_.end() && request.method() == "HEAD") it = handlers_.find(std::string_view("GET"));
    if (it != handlers_.end()) return it->second(request);
    std::string allow;
    for (const auto& m : allowed_methods()) allow += (allow.empty() ? "" : ", ") + m;
    request.clear_response();
    request.set_header("Allow", allow);
    request.set_header("Content-Type", "text/plain; charset=utf-8");
    request.set_status(405);
    request.finish("Method Not Allowed\n");
}

std::vector<std::string> Resource::allowed_methods() const {
    std::vector<std::string> methods;
    for (const auto& [m, h] : handlers_) methods.push_back(m);
    if (handlers_.contains("GET") && !handlers_.contains("HEAD")) methods.emplace_back("HEAD");
    return methods;
}

void ErrorResource::render(Request& request) { send_error(request, status_, message_); }

void send_error(Request& request, int status, std::string_view message) {
    request.clear_response();
    request.set_status(status);
    request.set_header("Content-Type", "text/plain; charset=utf-8");
    std::string body(reason_phrase(status));
    if (!message.empty()) body.append(": ").append(message);
    body += '\n';
    request.finish(body);
}

}  // namespace weft::web
