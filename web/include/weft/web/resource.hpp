#pragma once
// Resource: a node of the URL tree (Twisted: twisted.web.resource.Resource).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "weft/web/request.hpp"

namespace weft::web {

/// One node of a site's URL tree: children by path segment and a handler per method.
///
/// Contract: the Site walks from the root, one path segment at a time, through get_child() until a leaf
/// or the end of the path, then calls render() on what it reached. The default get_child() answers with
/// the child put under that segment, or a 404 resource. The default render() calls the handler registered
/// for the request's method with on(); HEAD uses GET's handler when it has none of its own (the body is
/// dropped, the headers kept); a method without a handler gets 405 with an Allow header. A handler that
/// returns without finishing the request answers later (Twisted: NOT_DONE_YET). A handler that throws
/// before finishing gets a 500.
class Resource : public std::enable_shared_from_this<Resource> {
public:
    /// Answers one request of its method: finishes it now, or keeps request.shared_from_this() and finishes
    /// it later. Called on the reactor's thread.
    using Handler = std::function<void(Request&)>;

    Resource() = default;
    virtual ~Resource() = default;
    Resource(const Resource&) = delete;
    Resource& operator=(const Resource&) = delete;

    /// Puts `child` under the path segment `segment` (Twisted: putChild).
    void put_child(std::string segment, std::shared_ptr<Resource> child);
    /// Handles `method` ("GET", "POST", ...) with `handler` (Twisted: render_GET ...). Returns *this.
    Resource& on(std::string method, Handler handler);

    /// The child for `segment` (Twisted: getChildWithDefault/getChild).
    virtual std::shared_ptr<Resource> get_child(std::string_view segment, Request& request);
    /// Answers the request (Twisted: render).
    virtual void render(Request& request);
    /// A leaf takes the rest of the path itself (request.postpath()) instead of having children
    /// (Twisted: isLeaf).
    [[nodiscard]] virtual bool is_leaf() const noexcept { return false; }

    /// The methods with a handler, HEAD included when GET has one: the Allow header of a 405.
    [[nodiscard]] std::vector<std::string> allowed_methods() const;

private:
    std::map<std::string, std::shared_ptr<Resource>, std::less<>> children_;
    std::map<std::string, Handler, std::less<>> handlers_;
};

/// Answers every request with a fixed status and a short text body (Twisted: ErrorPage, NoResource).
class ErrorResource : public Resource {
public:
    /// Answers `status` with the body "<reason phrase>: <message>\n" (send_error), whatever the method and
    /// whatever the path below it (it is a leaf).
    ErrorResource(int status, std::string message) : status_(status), message_(std::move(message)) {}
    void render(Request& request) override;
    [[nodiscard]] bool is_leaf() const noexcept override { return true; }

private:
    int status_;
    std::string message_;
};

/// Answers `status` with a text/plain body of `message` and finishes the request.
void send_error(Request& request, int status, std::string_view message = {});

}  // namespace weft::web
