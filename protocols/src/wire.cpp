#include "weft/protocols/wire.hpp"

#include <array>
#include <cstdio>
#include <ctime>
#include <memory>

namespace weft::protocols {

namespace {

std::shared_ptr<const std::string> make_block() {
    // RFC 864: the 95 printable ASCII characters, 72 to a line, each line starting one character later.
    constexpr char first = ' ';
    constexpr std::size_t printable = 95;
    auto block = std::make_shared<std::string>();
    block->reserve(Chargen::lines_per_cycle * (Chargen::line_length + 2));
    for (std::size_t line = 0; line < Chargen::lines_per_cycle; ++line) {
        for (std::size_t i = 0; i < Chargen::line_length; ++i) {
            block->push_back(static_cast<char>(first + (line + i) % printable));
        }
        block->append("\r\n");
    }
    return block;
}

const std::shared_ptr<const std::string>& shared_block() {
    static const std::shared_ptr<const std::string> block = make_block();
    return block;
}

}  // namespace

const std::string& Chargen::block() { return *shared_block(); }

void Chargen::connection_made() { transport().register_producer(*this, false); }

void Chargen::connection_lost(const Reason& reason) {
    (void)reason;
    stopped_ = true;
    transport().unregister_producer();  // it is borrowed: the transport must not keep it past us
}

void Chargen::resume_producing() {
    if (stopped_) return;
    transport().write_shared(shared_block());
}

void QOTD::connection_made() {
    transport().write(get_quote());
    transport().lose_connection();
}

void Who::connection_made() {
    transport().write(get_users());
    transport().lose_connection();
}

std::string Daytime::format(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    static constexpr std::array<const char*, 7> days{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::array<char, 64> text{};
    const int n = std::snprintf(text.data(), text.size(), "%s %s %2d %02d:%02d:%02d %d\r\n",
                                days.at(static_cast<std::size_t>(utc.tm_wday)),
                                months.at(static_cast<std::size_t>(utc.tm_mon)), utc.tm_mday, utc.tm_hour,
                                utc.tm_min, utc.tm_sec, utc.tm_year + 1900);
    return {text.data(), n > 0 ? static_cast<std::size_t>(n) : 0};
}

void Daytime::connection_made() {
    transport().write(format(now_()));
    transport().lose_connection();
}

std::uint32_t Time::rfc868_seconds(std::chrono::system_clock::time_point t) {
    constexpr std::int64_t seconds_1900_to_1970 = 2208988800;
    const auto unix_seconds = std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(unix_seconds + seconds_1900_to_1970));
}

void Time::connection_made() {
    const std::uint32_t s = rfc868_seconds(now_());
    const std::array<char, 4> bytes{static_cast<char>(s >> 24), static_cast<char>((s >> 16) & 0xff),
                                    static_cast<char>((s >> 8) & 0xff), static_cast<char>(s & 0xff)};
    transport().write({bytes.data(), bytes.size()});
    transport().lose_connection();
}

}  // namespace weft::protocols
