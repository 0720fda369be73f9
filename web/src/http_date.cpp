// HTTP dates without the locale (http_date.hpp).

#include "http_date.hpp"

#include "http_text.hpp"

namespace weft::web::detail {

namespace {

constexpr const char* day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

char* put_digits(char* out, int value, int digits) noexcept {
    for (int i = digits - 1; i >= 0; --i) {
        out[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return out + digits;
}

char* put_name(char* out, const char* name) noexcept {
    for (int i = 0; i < 3; ++i) *out++ = name[i];
    return out;
}

// "08:49:37"
char* put_time_of_day(char* out, const std::tm& tm) noexcept {
    out = put_digits(out, tm.tm_hour, 2);
    *out++ = ':';
    out = put_digits(out, tm.tm_min, 2);
    *out++ = ':';
    return put_digits(out, tm.tm_sec, 2);
}

std::optional<int> digits_at(std::string_view s, std::size_t at, std::size_t count) noexcept {
    int value = 0;
    for (std::size_t i = at; i < at + count; ++i) {
        if (s[i] < '0' || s[i] > '9') return std::nullopt;
        value = value * 10 + (s[i] - '0');
    }
    return value;
}

}  // namespace

void format_imf_date(std::time_t t, char* out) noexcept {
    std::tm tm{};
    gmtime_r(&t, &tm);
    out = put_name(out, day_names[tm.tm_wday]);
    *out++ = ',';
    *out++ = ' ';
    out = put_digits(out, tm.tm_mday, 2);
    *out++ = ' ';
    out = put_name(out, month_names[tm.tm_mon]);
    *out++ = ' ';
    out = put_digits(out, (tm.tm_year + 1900) % 10000, 4);
    *out++ = ' ';
    out = put_time_of_day(out, tm);
    for (char c : std::string_view(" GMT")) *out++ = c;
}

std::string imf_date(std::time_t t) {
    std::string out(imf_date_length, ' ');
    format_imf_date(t, out.data());
    return out;
}

std::string log_time(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[26];  // "06/Nov/1994:08:49:37 +0000"
    char* out = put_digits(buf, tm.tm_mday, 2);
    *out++ = '/';
    out = put_name(out, month_names[tm.tm_mon]);
    *out++ = '/';
    out = put_digits(out, (tm.tm_year + 1900) % 10000, 4);
    *out++ = ':';
    out = put_time_of_day(out, tm);
    for (char c : std::string_view(" +0000")) *out++ = c;
    return {buf, static_cast<std::size_t>(out - buf)};
}

std::optional<std::time_t> parse_imf_date(std::string_view text) noexcept {
    const std::string_view s = trim(text);
    // "Sun, 06 Nov 1994 08:49:37 GMT"
    //  0    5  8   12   17 20 23 26
    if (s.size() != imf_date_length || s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
        return std::nullopt;
    }
    bool day_known = false;
    for (const char* name : day_names) day_known = day_known || iequals(s.substr(0, 3), name);
    int month = -1;
    for (int m = 0; m < 12; ++m) {
        if (iequals(s.substr(8, 3), month_names[m])) month = m;
    }
    const auto day = digits_at(s, 5, 2);
    const auto year = digits_at(s, 12, 4);
    const auto hour = digits_at(s, 17, 2);
    const auto minute = digits_at(s, 20, 2);
    const auto second = digits_at(s, 23, 2);
    if (!day_known || month < 0 || !day || !year || !hour || !minute || !second || *day < 1 || *day > 31 ||
        *hour > 23 || *minute > 59 || *second > 60) {
        return std::nullopt;
    }
    std::tm tm{};
    tm.tm_mday = *day;
    tm.tm_mon = month;
    tm.tm_year = *year - 1900;
    tm.tm_hour = *hour;
    tm.tm_min = *minute;
    tm.tm_sec = *second;
    return timegm(&tm);
}

}  // namespace weft::web::detail
