// HTTP dates (web/src/http_date.hpp): IMF-fixdate written and read without the C library's locale, and the
// access log's time. This machine has only the C locale, so the locale's absence is in the code (no
// strftime, no strptime); what is tested here is every field at its edges and what is refused.
#include <catch2/catch.hpp>

#include <string>

#include "http_date.hpp"  // web/src

using weft::web::detail::imf_date;
using weft::web::detail::log_time;
using weft::web::detail::parse_imf_date;

TEST_CASE("http date: IMF-fixdate and the log time, written", "[web][http][date]") {
    CHECK(imf_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");  // RFC 9110's example
    CHECK(imf_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
    CHECK(imf_date(951782400) == "Tue, 29 Feb 2000 00:00:00 GMT");
    CHECK(imf_date(1924991999) == "Tue, 31 Dec 2030 23:59:59 GMT");
    CHECK(log_time(784111777) == "06/Nov/1994:08:49:37 +0000");
    CHECK(log_time(1924991999) == "31/Dec/2030:23:59:59 +0000");
    // Every weekday and month name, round trip.
    for (std::time_t t = 0; t < 400LL * 86400; t += 86400 + 3661) {
        INFO(imf_date(t));
        CHECK(parse_imf_date(imf_date(t)) == t);
    }
}

TEST_CASE("http date: IMF-fixdate read; other forms and bad fields are not dates", "[web][http][date]") {
    CHECK(parse_imf_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777);
    CHECK(parse_imf_date(" \tsun, 06 NOV 1994 08:49:37 GMT ") == 784111777);  // case, OWS
    for (const char* bad : {"", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
                            "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                            "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nox 1994 08:49:37 GMT",
                            "Sun, 00 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 24:00:00 GMT",
                            "Sun, 06 Nov 1994 08:60:00 GMT", "Sun, 06 Nov 19a4 08:49:37 GMT",
                            "Sun, 06 Nov 1994 08:49:37 GMTX", "Sun, 06 Nov 1994 08-49-37 GMT"}) {
        INFO(bad);
        CHECK_FALSE(parse_imf_date(bad));
    }
}
