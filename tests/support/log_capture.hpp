#pragma once
// LogCapture: every Boost.Log record's message while it lives (a synchronous sink next to weft's), for
// tests that check what was logged.

#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/log/core.hpp>
#include <boost/log/expressions.hpp>
#include <boost/log/sinks/basic_sink_backend.hpp>
#include <boost/log/sinks/sync_frontend.hpp>
#include <boost/smart_ptr/make_shared_object.hpp>

namespace weft_test {

/// Every record's message while it lives (a synchronous Boost.Log sink next to weft's).
class LogCapture {
public:
    LogCapture() : sink_(boost::make_shared<Sink>(boost::make_shared<Backend>())) {
        boost::log::core::get()->add_sink(sink_);
    }
    ~LogCapture() { boost::log::core::get()->remove_sink(sink_); }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;

    std::vector<std::string> messages() const { return sink_->locked_backend()->messages; }
    bool any_contains(std::string_view text) const {
        for (const auto& m : messages()) {
            if (m.find(text) != std::string::npos) return true;
        }
        return false;
    }

private:
    struct Backend : boost::log::sinks::basic_sink_backend<boost::log::sinks::synchronized_feeding> {
        std::vector<std::string> messages;
        void consume(const boost::log::record_view& rec) {
            if (auto m = rec[boost::log::expressions::smessage]) messages.emplace_back(*m);
        }
    };
    using Sink = boost::log::sinks::synchronous_sink<Backend>;
    boost::shared_ptr<Sink> sink_;
};

}  // namespace weft_test
