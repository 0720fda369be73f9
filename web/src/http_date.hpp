#pragma once
// HTTP's dates (RFC 9110 5.6.7's IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT") and the common log format's
// time, written and read without the C library's locale: strftime's %a and %b follow LC_TIME, so a program
// that called setlocale would have sent "Date: So, 06 Nov ..." otherwise. Private.

#include <cstddef>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace weft::web::detail {

/// Characters of an IMF-fixdate.
inline constexpr std::size_t imf_date_length = 29;

/// Writes the IMF-fixdate of `t` (UTC) to `out`, which has room for imf_date_length characters (no NUL).
void format_imf_date(std::time_t t, char* out) noexcept;
/// The IMF-fixdate of `t`.
[[nodiscard]] std::string imf_date(std::time_t t);
/// "06/Nov/1994:08:49:37 +0000", the common log format's time of `t`.
[[nodiscard]] std::string log_time(std::time_t t);
/// The time an IMF-fixdate names (names of days and months in any case, surrounding spaces and tabs
/// allowed); nullopt for anything else, including the obsolete RFC 850 and asctime forms.
[[nodiscard]] std::optional<std::time_t> parse_imf_date(std::string_view text) noexcept;

}  // namespace weft::web::detail
