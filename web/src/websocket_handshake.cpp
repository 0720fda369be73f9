// The opening handshake's key, accept value and header tokens. SHA-1, base64 and the random key come from
// OpenSSL: no hand-written crypto.

#include "websocket_handshake.hpp"
#include "http_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace weft::web::detail {

namespace {
constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

}  // namespace

std::string websocket_accept(std::string_view key) {
    std::string input(key);
    input.append(guid);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &length, EVP_sha1(), nullptr) != 1) {
        throw std::runtime_error("WebSocket: SHA-1 failed (EVP_Digest)");
    }
    return base64(digest.data(), length);
}

bool valid_websocket_key(std::string_view key) {
    // 16 bytes are 22 base64 characters and "==".
    if (key.size() != 24 || !key.ends_with("==")) return false;
    for (char c : key.substr(0, 22)) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
    }
    // The last character before the padding carries 2 bits: the 4 unused ones must be zero.
    static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    return (alphabet.find(key[21]) & 0x0F) == 0;
}

std::string make_websocket_key() {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        throw std::runtime_error("WebSocket: no random bytes for a key (RAND_bytes failed)");
    }
    return base64(bytes.data(), bytes.size());
}

std::vector<std::string_view> header_tokens(std::string_view value) {
    std::vector<std::string_view> out;
    while (!value.empty()) {
        auto comma = value.find(',');
        auto token = value.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
        if (!token.empty()) out.push_back(token);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return out;
}

bool has_token(std::string_view value, std::string_view token) {
    auto tokens = header_tokens(value);
    return std::any_of(tokens.begin(), tokens.end(), [&](std::string_view t) { return iequals(t, token); });
}

}  // namespace weft::web::detail
