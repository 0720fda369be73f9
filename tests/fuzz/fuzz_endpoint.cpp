// libFuzzer target: endpoint description strings (weft/endpoint.hpp). The input is the description itself,
// no header. Both parsers run on it; see docs/fuzzing.md for the invariants.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_common.hpp"
#include "weft/endpoint.hpp"

namespace {

using namespace std::chrono_literals;

// A message quotes the input with control bytes escaped and cuts it: printable ASCII of bounded size.
void check_message(const weft::EndpointError& e) {
    const std::string_view m = e.what();
    WEFT_FUZZ_CHECK(!m.empty() && m.size() < 1024, "message empty or unbounded: " + weft::fuzz::escape(m));
    for (const char c : m) {
        const auto u = static_cast<unsigned char>(c);
        WEFT_FUZZ_CHECK(u >= 0x20 && u < 0x7f, "unescaped byte in the message: " + weft::fuzz::escape(m));
    }
    WEFT_FUZZ_CHECK(m.find("endpoint \"") != std::string_view::npos, "message does not quote the description");
}

bool good_path(const std::string& p) {
    if (p.empty() || p.find('\0') != std::string::npos) return false;
    return p.size() <= weft::max_unix_path_length;
}

bool good_domain(const std::string& d) { return d == "INET" || d == "INET6" || d == "UNIX"; }

bool good_timeout(weft::Duration t) { return t > 0ns && t <= std::chrono::seconds(365LL * 24 * 3600); }

// Every value a parse returns is in its documented range.
struct Valid {
    bool operator()(const weft::TcpServerEndpoint& e) const {
        return e.backlog >= 1 && e.backlog <= 65535 && e.interface.find('\0') == std::string::npos &&
               (!e.ipv6 || !e.interface.empty());
    }
    bool operator()(const weft::UnixServerEndpoint& e) const {
        return good_path(e.path) && e.mode >= 0 && e.mode <= 07777 && e.backlog >= 1 && e.backlog <= 65535;
    }
    bool operator()(const weft::FdServerEndpoint& e) const { return e.fd >= 0 && good_domain(e.domain); }
    bool operator()(const weft::SystemdServerEndpoint& e) const {
        return e.index >= 0 && good_domain(e.domain) && (e.name.empty() || e.index == 0) &&
               e.name.find_first_of(std::string_view(":\0", 2)) == std::string::npos;
    }
    bool operator()(const weft::UdpServerEndpoint& e) const {
        return e.max_packet_size >= 1 && e.max_packet_size <= 65536 && e.interface.find('\0') == std::string::npos;
    }
    bool operator()(const weft::TcpClientEndpoint& e) const {
        return !e.host.empty() && e.host.find('\0') == std::string::npos && e.port >= 1 && good_timeout(e.timeout) &&
               e.bind_address.find('\0') == std::string::npos;
    }
    bool operator()(const weft::UnixClientEndpoint& e) const { return good_path(e.path) && good_timeout(e.timeout); }
    bool operator()(const weft::SslServerEndpoint& e) const {
        const bool verify = e.verify_client == "none" || (!e.client_ca.empty() && (e.verify_client == "optional" ||
                                                                                     e.verify_client == "required"));
        return (*this)(e.tcp) && !e.tcp.ipv6 && !e.private_key.empty() && verify && good_alpn(e.alpn) &&
               good_timeout(e.handshake_timeout);
    }
    bool operator()(const weft::TlsClientEndpoint& e) const {
        return (*this)(e.tcp) && !e.tcp.ipv6 && (e.private_key.empty() || !e.certificate.empty()) && good_alpn(e.alpn);
    }
    static bool good_alpn(const std::vector<std::string>& names) {
        for (const auto& n : names) {
            if (n.empty() || n.size() > 255) return false;
        }
        return true;
    }
};

template <class Endpoint, class Parse>
void run(std::string_view description, Parse parse) {
    Endpoint e;
    try {
        e = parse(description);
    } catch (const weft::EndpointError& error) {
        check_message(error);
        return;
    } catch (const std::exception& other) {
        weft::fuzz::fail("an exception other than EndpointError", __FILE__, __LINE__, other.what());
    }
    WEFT_FUZZ_CHECK(std::visit(Valid{}, e), "a parsed value out of range, from " + weft::fuzz::escape(description));
    const std::string text = weft::to_string(e);
    Endpoint again;
    try {
        again = parse(text);
    } catch (const weft::EndpointError& error) {
        weft::fuzz::fail("to_string gave a description that does not parse", __FILE__, __LINE__,
                         weft::fuzz::escape(text) + " -> " + error.what());
    }
    WEFT_FUZZ_CHECK(again == e, "the round trip changed the value: " + weft::fuzz::escape(description) + " -> " +
                                    weft::fuzz::escape(text) + " -> " + weft::fuzz::escape(weft::to_string(again)));
    WEFT_FUZZ_CHECK(weft::to_string(again) == text, "to_string is not canonical: " + weft::fuzz::escape(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view description(reinterpret_cast<const char*>(data), size);
    run<weft::ServerEndpoint>(description, [](std::string_view s) { return weft::parse_server_endpoint(s); });
    run<weft::ClientEndpoint>(description, [](std::string_view s) { return weft::parse_client_endpoint(s); });
    return 0;
}
