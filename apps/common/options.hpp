#pragma once
// Range-checked numeric options for the apps' command lines (Boost.Program_options). Boost parses an
// unsigned option with lexical_cast, which takes "-1" as SIZE_MAX, and a double option takes "nan", "inf"
// and 1e300; every numeric option of every app goes through number() instead, so a bad value is refused
// with a message naming the option and the program exits with status 2.

#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <system_error>

#include <boost/program_options.hpp>

namespace weft::apps {

namespace po = boost::program_options;

/// Parses `text` as a T within [min, max] for the option `name` ("--max-line"). Integers: decimal digits
/// only (no sign for unsigned types, no spaces, no fraction). Floating point: a finite decimal number.
/// Throws po::error naming the option, the range and the text otherwise.
template <class T>
    requires std::integral<T> || std::floating_point<T>
T parse_number(const std::string& name, const std::string& text, T min, T max) {
    T value{};
    const char* first = text.data();
    const char* last = text.data() + text.size();
    // from_chars takes no leading '+' and, for unsigned types, no '-': "-1" is an error, not SIZE_MAX.
    const auto [end, ec] = std::from_chars(first, last, value);
    bool ok = !text.empty() && ec == std::errc{} && end == last;
    if constexpr (std::floating_point<T>) ok = ok && std::isfinite(value);
    if (!ok || value < min || value > max) {
        std::ostringstream message;
        message.precision(15);  // "31536000", not "3.1536e+07"
        message << "the argument ('" << text << "') for option '" << name << "' is invalid: it must be "
                << (std::integral<T> ? "an integer" : "a number") << " from " << min << " to " << max;
        throw po::error(message.str());
    }
    return value;
}

/// A value semantic for `--name` that stores a T within [min, max] in `target` when po::notify() runs;
/// the default shown in --help (and used when the option is absent) is target's value on entry.
/// Usage: ("max-line", weft::apps::number("--max-line", options.max_line, 2, 1 << 24), "help text").
template <class T>
    requires std::integral<T> || std::floating_point<T>
po::typed_value<std::string>* number(std::string name, T& target, T min, T max) {
    std::ostringstream shown;
    shown.precision(15);
    shown << target;
    return po::value<std::string>()
        ->default_value(shown.str())
        ->notifier([name = std::move(name), &target, min, max](const std::string& text) {
            target = parse_number<T>(name, text, min, max);
        });
}

/// Same, for an option without a default (absent: target is left as it is).
template <class T>
    requires std::integral<T> || std::floating_point<T>
po::typed_value<std::string>* optional_number(std::string name, T& target, T min, T max) {
    return po::value<std::string>()->notifier([name = std::move(name), &target, min, max](const std::string& text) {
        target = parse_number<T>(name, text, min, max);
    });
}

}  // namespace weft::apps
