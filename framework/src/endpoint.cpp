#include "weft/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <climits>
#include <cstdio>
#include <optional>
#include <vector>

namespace weft {
namespace {

// Twisted's defaults where weft keeps them; backlog is weft's (ListenOptions), not Twisted's 50.
constexpr int default_backlog = 511;
constexpr int default_mode = 0666;
constexpr std::size_t default_max_packet_size = 8192;  // Twisted's listenUDP maxPacketSize; 8 x 8192 = 65536
constexpr Duration default_timeout = std::chrono::seconds(30);
// Far beyond any sensible connect timeout, and small enough that now() + timeout cannot overflow.
constexpr long long max_timeout_seconds = 365LL * 24 * 3600;

// A description or a value as it appears in a message: printable ASCII as is, the rest as \xNN, cut after
// `limit` characters so a megabyte of input makes a short message.
std::string shown(std::string_view s, std::size_t limit = 120) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (i == limit) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '"') {
            out.push_back(static_cast<char>(c));
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

std::string quoted(std::string_view s, std::size_t limit = 40) { return "\"" + shown(s, limit) + "\""; }

// The parse's state for messages: which string, and which type once known.
struct Context {
    std::string_view description;
    std::string_view type;

    [[noreturn]] void fail(std::string field, const std::string& detail) const {
        std::string message = type.empty() ? "endpoint " : std::string(type) + " endpoint ";
        message += quoted(description, 120) + ": " + detail;
        throw EndpointError(message, std::move(field));
    }
};

// One ':'-separated field: `value` alone (positional) or `key=value`.
struct Field {
    bool keyword = false;
    std::string key;
    std::string value;
};

// Twisted's _tokenize + _parse: ':' ends a field, the first '=' of a field separates key and value (later
// ones are literal), a backslash makes the next character literal wherever it is.
std::vector<Field> split_fields(const Context& ctx) {
    std::vector<Field> fields(1);
    const std::string_view s = ctx.description;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        Field& f = fields.back();
        if (c == '\\') {
            if (i + 1 == s.size()) {
                ctx.fail("", "trailing backslash (a backslash escapes the next character; write \\\\ for one "
                             "backslash)");
            }
            (f.keyword ? f.value : f.key).push_back(s[++i]);
        } else if (c == ':') {
            fields.emplace_back();
        } else if (c == '=' && !f.keyword) {
            f.keyword = true;
        } else {
            (f.keyword ? f.value : f.key).push_back(c);
        }
    }
    // The text of a positional field was collected in `key`.
    for (Field& f : fields) {
        if (!f.keyword) f.value = std::move(f.key), f.key.clear();
    }
    return fields;
}

std::string join(const std::vector<std::string_view>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ", ";
        out += names[i];
    }
    return out;
}

// The arguments of one endpoint, each bound to one of its keys, positional ones in `positional` order
// (Twisted's parameter order). A key given twice in any way is an error (Python would raise TypeError for
// a positional one given again, and keep the last keyword silently; weft refuses both).
class Arguments {
public:
    Arguments(const Context& ctx, const std::vector<Field>& fields, std::vector<std::string_view> keys,
              const std::vector<std::string_view>& positional)
        : ctx_(ctx), keys_(std::move(keys)), values_(keys_.size()) {
        std::size_t next = 0;
        for (std::size_t i = 1; i < fields.size(); ++i) {
            const Field& f = fields[i];
            if (!f.keyword) {
                if (next == positional.size()) {
                    ctx_.fail("", "too many positional arguments at " + quoted(f.value) + " (" +
                                      (positional.empty() ? std::string("it takes only key=value arguments")
                                                          : "at most " + std::to_string(positional.size()) + ": " +
                                                                join(positional)) +
                                      ")");
                }
                set(find(positional[next]), f.value, "argument " + std::to_string(next + 1));
                ++next;
                continue;
            }
            const std::size_t k = find(f.key);
            if (k == keys_.size()) {
                ctx_.fail(f.key, "unknown key " + quoted(f.key) + " (expected " + join(keys_) + ")");
            }
            set(k, f.value, std::string(keys_[k]) + "=");
        }
    }

    [[nodiscard]] const std::optional<std::string>& get(std::string_view key) const { return values_[find(key)].value; }
    [[nodiscard]] bool has(std::string_view key) const { return get(key).has_value(); }

    const std::string& require(std::string_view key) const {
        const auto& v = get(key);
        if (!v) ctx_.fail(std::string(key), "missing " + std::string(key));
        return *v;
    }

private:
    struct Slot {
        std::optional<std::string> value;
        std::string source;
    };

    [[nodiscard]] std::size_t find(std::string_view key) const {
        std::size_t k = 0;
        while (k < keys_.size() && keys_[k] != key) ++k;
        return k;
    }

    void set(std::size_t k, const std::string& value, std::string source) {
        Slot& slot = values_[k];
        const std::string key(keys_[k]);
        if (slot.value) {
            if (slot.source == source) ctx_.fail(key, "duplicate key " + quoted(key));
            ctx_.fail(key, key + " given twice (as " + slot.source + " and as " + source + ")");
        }
        slot.value = value;
        slot.source = std::move(source);
    }

    const Context& ctx_;
    std::vector<std::string_view> keys_;
    std::vector<Slot> values_;
};

// A decimal integer in [lo, hi]; a sign only as '-' so that "-1" reads as out of range, not as garbage.
long long parse_integer(const Context& ctx, std::string_view key, std::string_view text, long long lo, long long hi) {
    const std::string k(key);
    std::size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (negative) i = 1;
    if (i == text.size()) ctx.fail(k, k + " " + quoted(text) + " is not a number");
    long long value = 0;
    bool huge = false;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c < '0' || c > '9') ctx.fail(k, k + " " + quoted(text) + " is not a number");
        if (!huge) {
            value = value * 10 + (c - '0');
            huge = value > 1'000'000'000'000LL;  // far above any range here, far below overflow
        }
    }
    if (negative) value = -value;
    if (huge || value < lo || value > hi) {
        ctx.fail(k, k + " " + shown(text, 40) + " is out of range (" + std::to_string(lo) + "-" + std::to_string(hi) + ")");
    }
    return value;
}

// Twisted reads the mode with int(mode, 8), which also takes a 0o prefix.
int parse_mode(const Context& ctx, std::string_view text) {
    std::string_view digits = text;
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'o' || digits[1] == 'O')) digits.remove_prefix(2);
    const bool negative = !digits.empty() && digits[0] == '-';
    if (negative) digits.remove_prefix(1);
    if (digits.empty()) ctx.fail("mode", "mode " + quoted(text) + " is not an octal number (e.g. 660)");
    long long value = 0;
    for (const char c : digits) {
        if (c < '0' || c > '7') ctx.fail("mode", "mode " + quoted(text) + " is not an octal number (e.g. 660)");
        if (value <= 07777) value = value * 8 + (c - '0');
    }
    if (negative || value > 07777) ctx.fail("mode", "mode " + shown(text, 40) + " is out of range (0-7777 octal)");
    return static_cast<int>(value);
}

bool parse_flag(const Context& ctx, std::string_view key, std::string_view text) {
    if (text == "0") return false;
    if (text == "1") return true;
    ctx.fail(std::string(key), std::string(key) + " " + quoted(text) + " is not 0 or 1");
}

// Seconds as a decimal number ("30", "2.5"); digits after the ninth decimal are dropped (nanoseconds).
Duration parse_timeout(const Context& ctx, std::string_view text, const std::string& key = "timeout") {
    const auto bad = [&] { ctx.fail(key, key + " " + quoted(text) + " is not a number of seconds (e.g. 30 or 2.5)"); };
    const std::size_t dot = text.find('.');
    const std::string_view whole = text.substr(0, dot);
    const std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (whole.empty() || (dot != std::string_view::npos && fraction.empty())) bad();
    long long seconds = 0;
    bool huge = false;
    for (const char c : whole) {
        if (c < '0' || c > '9') bad();
        if (!huge) {
            seconds = seconds * 10 + (c - '0');
            huge = seconds > max_timeout_seconds;
        }
    }
    long long nanos = 0;
    long long scale = 100'000'000;
    for (const char c : fraction) {
        if (c < '0' || c > '9') bad();
        nanos += (c - '0') * scale;
        scale /= 10;
    }
    if (huge || (seconds == 0 && nanos == 0) || seconds > max_timeout_seconds ||
        (seconds == max_timeout_seconds && nanos > 0)) {
        ctx.fail(key, key + " " + shown(text, 40) + " is out of range (more than 0, at most " +
                                std::to_string(max_timeout_seconds) + " seconds)");
    }
    return std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos);
}

bool is_ipv4(const std::string& s) {
    in_addr a{};
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}

// An IPv6 literal, optionally with a zone ("fe80::1%eth0") as Asio's make_address accepts.
bool is_ipv6(const std::string& s) {
    const std::size_t percent = s.find('%');
    if (percent != std::string::npos && percent + 1 == s.size()) return false;
    in6_addr a{};
    return inet_pton(AF_INET6, s.substr(0, percent).c_str(), &a) == 1;
}

// A numeric address (weft's listen and bind take no names): IPv6 only when `v6_only`.
void check_address(const Context& ctx, std::string_view key, const std::string& value, bool v6_only) {
    const std::string k(key);
    const bool nul = value.find('\0') != std::string::npos;
    if (v6_only) {
        if (nul || !is_ipv6(value)) ctx.fail(k, k + " " + quoted(value) + " is not a numeric IPv6 address");
    } else if (nul || !(is_ipv4(value) || is_ipv6(value))) {
        ctx.fail(k, k + " " + quoted(value) + " is not a numeric IPv4 or IPv6 address");
    }
}

void check_path(const Context& ctx, std::string_view key, const std::string& path) {
    const std::string k(key);
    if (path.empty()) ctx.fail(k, k + " is empty");
    if (path.find('\0') != std::string::npos) ctx.fail(k, k + " contains a NUL byte");
    if (path[0] == '@') {
        // Boost.Asio's endpoint refuses 108 bytes even without a terminator: 107, as for a file path.
        if (path.size() > max_unix_path_length) {
            ctx.fail(k, k + " is an abstract name of " + std::to_string(path.size()) +
                            " bytes counting the '@', longer than a UNIX socket address holds (" +
                            std::to_string(max_unix_path_length) + ")");
        }
    } else if (path.size() > max_unix_path_length) {
        ctx.fail(k, k + " is " + std::to_string(path.size()) + " bytes, longer than a UNIX socket address holds (" +
                        std::to_string(max_unix_path_length) + " bytes; sun_path is " +
                        std::to_string(max_unix_path_length + 1) + " with the terminating NUL)");
    }
}

void check_host(const Context& ctx, const std::string& host) {
    if (host.empty()) ctx.fail("host", "host is empty");
    if (host.find('\0') != std::string::npos) ctx.fail("host", "host contains a NUL byte");
}

std::string parse_domain(const Context& ctx, const std::string& value) {
    if (value == "INET" || value == "INET6" || value == "UNIX") return value;
    ctx.fail("domain", "domain " + quoted(value) + " is not INET, INET6 or UNIX");
}

int parse_backlog(const Context& ctx, const Arguments& args) {
    const auto& v = args.get("backlog");
    return v ? static_cast<int>(parse_integer(ctx, "backlog", *v, 1, 65535)) : default_backlog;
}

// Splits off the type; the rest of the fields are its arguments.
std::vector<Field> start(Context& ctx) {
    if (ctx.description.empty()) ctx.fail("type", "empty description (expected TYPE:ARGUMENTS, e.g. tcp:8000)");
    std::vector<Field> fields = split_fields(ctx);
    if (fields[0].keyword) {
        ctx.fail("type", "expected the endpoint type first, found " + quoted(fields[0].key + "=" + fields[0].value));
    }
    if (fields[0].value.empty()) ctx.fail("type", "missing endpoint type before the first ':'");
    return fields;
}

TcpServerEndpoint tcp_server_from(const Context& ctx, const Arguments& args, bool ipv6) {
    TcpServerEndpoint e;
    e.ipv6 = ipv6;
    e.port = static_cast<std::uint16_t>(parse_integer(ctx, "port", args.require("port"), 0, 65535));
    e.interface = ipv6 ? "::" : "";
    if (const auto& v = args.get("interface")) {
        // An empty interface is every IPv4 interface, as ListenOptions has it; tcp6 wants an IPv6 address.
        if (ipv6 || !v->empty()) check_address(ctx, "interface", *v, ipv6);
        e.interface = *v;
    }
    e.backlog = parse_backlog(ctx, args);
    return e;
}

TcpServerEndpoint tcp_server(const Context& ctx, const std::vector<Field>& fields, bool ipv6) {
    // Twisted's parameter orders: _parseTCP(port, interface, backlog), tcp6 (port, backlog, interface).
    const Arguments args(ctx, fields, {"port", "interface", "backlog"},
                         ipv6 ? std::vector<std::string_view>{"port", "backlog", "interface"}
                              : std::vector<std::string_view>{"port", "interface", "backlog"});
    return tcp_server_from(ctx, args, ipv6);
}

std::string parse_file(const Context& ctx, std::string_view key, const std::string& value) {
    const std::string k(key);
    if (value.empty()) ctx.fail(k, k + " is empty (a PEM file's path)");
    if (value.find('\0') != std::string::npos) ctx.fail(k, k + " contains a NUL byte");
    return value;
}

// "h2,http/1.1": each name 1-255 bytes, as ALPN's wire form holds them.
std::vector<std::string> parse_alpn(const Context& ctx, const std::string& value) {
    std::vector<std::string> names;
    std::size_t begin = 0;
    for (;;) {
        const std::size_t comma = value.find(',', begin);
        std::string name = value.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
        if (name.empty() || name.size() > 255 || name.find('\0') != std::string::npos) {
            ctx.fail("alpn", "alpn " + quoted(value) + " must be a comma-separated list of names of 1 to 255 bytes");
        }
        names.push_back(std::move(name));
        if (comma == std::string::npos) return names;
        begin = comma + 1;
    }
}

SslServerEndpoint ssl_server(const Context& ctx, const std::vector<Field>& fields) {
    // Twisted's _parseSSL(port, privateKey, certKey, ...), in weft's snake_case.
    const Arguments args(ctx, fields,
                         {"port", "private_key", "cert_key", "extra_cert_chain", "interface", "backlog", "client_ca",
                          "verify_client", "alpn", "handshake_timeout"},
                         {"port", "private_key", "cert_key"});
    SslServerEndpoint e;
    e.tcp = tcp_server_from(ctx, args, false);
    e.private_key = parse_file(ctx, "private_key", args.require("private_key"));
    if (const auto& v = args.get("cert_key")) e.cert_key = parse_file(ctx, "cert_key", *v);
    if (const auto& v = args.get("extra_cert_chain")) e.extra_cert_chain = parse_file(ctx, "extra_cert_chain", *v);
    if (const auto& v = args.get("client_ca")) {
        e.client_ca = parse_file(ctx, "client_ca", *v);
        e.verify_client = "optional";
    }
    if (const auto& v = args.get("verify_client")) {
        if (*v != "none" && *v != "optional" && *v != "required") {
            ctx.fail("verify_client", "verify_client " + quoted(*v) + " is not none, optional or required");
        }
        if (*v != "none" && e.client_ca.empty()) {
            ctx.fail("verify_client", "verify_client=" + *v + " needs client_ca (the CAs client certificates chain to)");
        }
        e.verify_client = *v;
    }
    if (const auto& v = args.get("alpn")) e.alpn = parse_alpn(ctx, *v);
    if (const auto& v = args.get("handshake_timeout")) e.handshake_timeout = parse_timeout(ctx, *v, "handshake_timeout");
    return e;
}

UnixServerEndpoint unix_server(const Context& ctx, const std::vector<Field>& fields) {
    const Arguments args(ctx, fields, {"address", "mode", "backlog", "lockfile"},
                         {"address", "mode", "backlog", "lockfile"});
    UnixServerEndpoint e;
    e.path = args.require("address");
    check_path(ctx, "address", e.path);
    if (const auto& v = args.get("mode")) e.mode = parse_mode(ctx, *v);
    e.backlog = parse_backlog(ctx, args);
    if (const auto& v = args.get("lockfile")) e.lockfile = parse_flag(ctx, "lockfile", *v);
    return e;
}

FdServerEndpoint fd_server(const Context& ctx, const std::vector<Field>& fields) {
    const Arguments args(ctx, fields, {"fileno", "domain"}, {"fileno", "domain"});
    FdServerEndpoint e;
    e.fd = static_cast<int>(parse_integer(ctx, "fileno", args.require("fileno"), 0, INT_MAX));
    if (const auto& v = args.get("domain")) e.domain = parse_domain(ctx, *v);
    return e;
}

SystemdServerEndpoint systemd_server(const Context& ctx, const std::vector<Field>& fields) {
    // Twisted's _SystemdParser(domain, index=None, name=None).
    const Arguments args(ctx, fields, {"domain", "index", "name"}, {"domain", "index", "name"});
    SystemdServerEndpoint e;
    if (const auto& v = args.get("domain")) e.domain = parse_domain(ctx, *v);
    if (args.has("index") && args.has("name")) ctx.fail("name", "give index or name, not both");
    if (const auto& v = args.get("index")) e.index = static_cast<int>(parse_integer(ctx, "index", *v, 0, INT_MAX));
    if (const auto& v = args.get("name")) {
        if (v->empty()) ctx.fail("name", "name is empty");
        // LISTEN_FDNAMES separates names with ':', so no name contains one; nor a NUL.
        if (v->find_first_of(std::string_view(":\0", 2)) != std::string::npos) {
            ctx.fail("name", "name " + quoted(*v) + " contains ':' or a NUL byte, which no descriptor name has");
        }
        e.name = *v;
    }
    return e;
}

UdpServerEndpoint udp_server(const Context& ctx, const std::vector<Field>& fields) {
    const Arguments args(ctx, fields, {"port", "interface", "max_packet_size"}, {"port", "interface", "max_packet_size"});
    UdpServerEndpoint e;
    e.port = static_cast<std::uint16_t>(parse_integer(ctx, "port", args.require("port"), 0, 65535));
    if (const auto& v = args.get("interface")) {
        if (!v->empty()) check_address(ctx, "interface", *v, false);
        e.interface = *v;
    }
    if (const auto& v = args.get("max_packet_size")) {
        e.max_packet_size = static_cast<std::size_t>(parse_integer(ctx, "max_packet_size", *v, 1, default_max_packet_size * 8));
    }
    return e;
}

// Twisted's _parseClientTCP: two positional arguments are host and port; a single one is the port when
// host= is given, else the host.
std::vector<std::string_view> client_positional(const std::vector<Field>& fields) {
    std::size_t positional = 0;
    bool host_keyword = false;
    for (std::size_t i = 1; i < fields.size(); ++i) {
        if (!fields[i].keyword) ++positional;
        if (fields[i].keyword && fields[i].key == "host") host_keyword = true;
    }
    return positional == 1 && host_keyword ? std::vector<std::string_view>{"port"}
                                           : std::vector<std::string_view>{"host", "port"};
}

TcpClientEndpoint tcp_client_from(const Context& ctx, const Arguments& args, bool ipv6) {
    TcpClientEndpoint e;
    e.ipv6 = ipv6;
    e.host = args.require("host");
    check_host(ctx, e.host);
    e.port = static_cast<std::uint16_t>(parse_integer(ctx, "port", args.require("port"), 1, 65535));
    if (const auto& v = args.get("timeout")) e.timeout = parse_timeout(ctx, *v);
    if (const auto& v = args.get("bind_address")) {
        if (!v->empty()) check_address(ctx, "bind_address", *v, ipv6);
        e.bind_address = *v;
    }
    return e;
}

TcpClientEndpoint tcp_client(const Context& ctx, const std::vector<Field>& fields, bool ipv6) {
    const Arguments args(ctx, fields, {"host", "port", "timeout", "bind_address"}, client_positional(fields));
    return tcp_client_from(ctx, args, ipv6);
}

TlsClientEndpoint tls_client(const Context& ctx, const std::vector<Field>& fields) {
    const Arguments args(ctx, fields,
                         {"host", "port", "timeout", "bind_address", "ca", "server_name", "certificate", "private_key",
                          "alpn", "insecure_skip_certificate_verification"},
                         client_positional(fields));
    TlsClientEndpoint e;
    e.tcp = tcp_client_from(ctx, args, false);
    if (const auto& v = args.get("ca")) e.ca = parse_file(ctx, "ca", *v);
    if (const auto& v = args.get("server_name")) {
        check_host(ctx, *v);
        e.server_name = *v;
    }
    if (const auto& v = args.get("certificate")) e.certificate = parse_file(ctx, "certificate", *v);
    if (const auto& v = args.get("private_key")) {
        if (e.certificate.empty()) ctx.fail("private_key", "private_key needs certificate (the client certificate)");
        e.private_key = parse_file(ctx, "private_key", *v);
    }
    if (const auto& v = args.get("alpn")) e.alpn = parse_alpn(ctx, *v);
    if (const auto& v = args.get("insecure_skip_certificate_verification")) {
        e.insecure_skip_certificate_verification = parse_flag(ctx, "insecure_skip_certificate_verification", *v);
    }
    return e;
}

UnixClientEndpoint unix_client(const Context& ctx, const std::vector<Field>& fields) {
    const Arguments args(ctx, fields, {"path", "timeout", "check_pid"}, {"path"});
    UnixClientEndpoint e;
    e.path = args.require("path");
    check_path(ctx, "path", e.path);
    if (const auto& v = args.get("timeout")) e.timeout = parse_timeout(ctx, *v);
    if (const auto& v = args.get("check_pid")) e.check_pid = parse_flag(ctx, "check_pid", *v);
    return e;
}

std::string format_timeout(Duration d) {
    const long long ns = d.count();
    std::string out = std::to_string(ns / 1'000'000'000);
    long long fraction = ns % 1'000'000'000;
    if (fraction < 0) fraction = -fraction;
    if (fraction != 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%09lld", fraction);
        std::string digits(buf);
        while (digits.back() == '0') digits.pop_back();
        out += "." + digits;
    }
    return out;
}

std::string join_alpn(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ",") + n;
    return out;
}

std::string format_octal(int mode) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%o", static_cast<unsigned>(mode));
    return buf;
}

}  // namespace

std::string quote_endpoint_argument(std::string_view argument) {
    std::string out;
    out.reserve(argument.size());
    for (const char c : argument) {
        if (c == '\\' || c == ':' || c == '=') out.push_back('\\');
        out.push_back(c);
    }
    return out;
}

ServerEndpoint parse_server_endpoint(std::string_view description) {
    Context ctx{description, {}};
    const std::vector<Field> fields = start(ctx);
    const std::string& type = fields[0].value;
    ctx.type = type;
    if (type == "tcp") return tcp_server(ctx, fields, false);
    if (type == "tcp6") return tcp_server(ctx, fields, true);
    if (type == "unix") return unix_server(ctx, fields);
    if (type == "fd") return fd_server(ctx, fields);
    if (type == "systemd") return systemd_server(ctx, fields);
    if (type == "ssl") return ssl_server(ctx, fields);
    if (type == "udp") return udp_server(ctx, fields);
    ctx.type = {};
    if (type == "tls") ctx.fail("type", "\"tls\" is a client endpoint type; a TLS server is ssl:PORT:private_key=...");
    ctx.fail("type", "unknown endpoint type " + quoted(type) + " (expected tcp, tcp6, unix, fd, systemd, ssl, udp)");
}

ClientEndpoint parse_client_endpoint(std::string_view description) {
    Context ctx{description, {}};
    const std::vector<Field> fields = start(ctx);
    const std::string& type = fields[0].value;
    ctx.type = type;
    if (type == "tcp") return tcp_client(ctx, fields, false);
    if (type == "tcp6") return tcp_client(ctx, fields, true);
    if (type == "unix") return unix_client(ctx, fields);
    if (type == "tls") return tls_client(ctx, fields);
    ctx.type = {};
    if (type == "fd" || type == "systemd" || type == "ssl" || type == "udp") {
        ctx.fail("type", quoted(type) + " is a server endpoint type; a client takes tcp, tcp6, unix, tls");
    }
    ctx.fail("type", "unknown endpoint type " + quoted(type) + " (expected tcp, tcp6, unix, tls)");
}

std::string to_string(const ServerEndpoint& endpoint) {
    struct Visitor {
        std::string operator()(const TcpServerEndpoint& e) const {
            std::string out = (e.ipv6 ? "tcp6:" : "tcp:") + std::to_string(e.port);
            if (e.interface != (e.ipv6 ? "::" : "")) out += ":interface=" + quote_endpoint_argument(e.interface);
            if (e.backlog != default_backlog) out += ":backlog=" + std::to_string(e.backlog);
            return out;
        }
        std::string operator()(const UnixServerEndpoint& e) const {
            std::string out = "unix:" + quote_endpoint_argument(e.path);
            if (e.mode != default_mode) out += ":mode=" + format_octal(e.mode);
            if (e.backlog != default_backlog) out += ":backlog=" + std::to_string(e.backlog);
            if (!e.lockfile) out += ":lockfile=0";
            return out;
        }
        std::string operator()(const FdServerEndpoint& e) const {
            std::string out = "fd:" + std::to_string(e.fd);
            if (e.domain != "INET") out += ":domain=" + quote_endpoint_argument(e.domain);
            return out;
        }
        std::string operator()(const SystemdServerEndpoint& e) const {
            std::string out = "systemd:domain=" + quote_endpoint_argument(e.domain);
            if (e.name.empty()) return out + ":index=" + std::to_string(e.index);
            return out + ":name=" + quote_endpoint_argument(e.name);
        }
        std::string operator()(const SslServerEndpoint& e) const {
            std::string out = "ssl" + (*this)(e.tcp).substr(3);
            out += ":private_key=" + quote_endpoint_argument(e.private_key);
            if (!e.cert_key.empty()) out += ":cert_key=" + quote_endpoint_argument(e.cert_key);
            if (!e.extra_cert_chain.empty()) out += ":extra_cert_chain=" + quote_endpoint_argument(e.extra_cert_chain);
            if (!e.client_ca.empty()) out += ":client_ca=" + quote_endpoint_argument(e.client_ca);
            if (e.verify_client != (e.client_ca.empty() ? "none" : "optional")) out += ":verify_client=" + e.verify_client;
            if (!e.alpn.empty()) out += ":alpn=" + quote_endpoint_argument(join_alpn(e.alpn));
            if (e.handshake_timeout != std::chrono::seconds(10)) {
                out += ":handshake_timeout=" + format_timeout(e.handshake_timeout);
            }
            return out;
        }
        std::string operator()(const UdpServerEndpoint& e) const {
            std::string out = "udp:" + std::to_string(e.port);
            if (!e.interface.empty()) out += ":interface=" + quote_endpoint_argument(e.interface);
            if (e.max_packet_size != default_max_packet_size) out += ":max_packet_size=" + std::to_string(e.max_packet_size);
            return out;
        }
    };
    return std::visit(Visitor{}, endpoint);
}

std::string to_string(const ClientEndpoint& endpoint) {
    struct Visitor {
        std::string operator()(const TcpClientEndpoint& e) const {
            std::string out = (e.ipv6 ? "tcp6:host=" : "tcp:host=") + quote_endpoint_argument(e.host) +
                              ":port=" + std::to_string(e.port);
            if (e.timeout != default_timeout) out += ":timeout=" + format_timeout(e.timeout);
            if (!e.bind_address.empty()) out += ":bind_address=" + quote_endpoint_argument(e.bind_address);
            return out;
        }
        std::string operator()(const UnixClientEndpoint& e) const {
            std::string out = "unix:path=" + quote_endpoint_argument(e.path);
            if (e.timeout != default_timeout) out += ":timeout=" + format_timeout(e.timeout);
            if (e.check_pid) out += ":check_pid=1";
            return out;
        }
        std::string operator()(const TlsClientEndpoint& e) const {
            std::string out = "tls" + (*this)(e.tcp).substr(3);
            if (!e.ca.empty()) out += ":ca=" + quote_endpoint_argument(e.ca);
            if (!e.server_name.empty()) out += ":server_name=" + quote_endpoint_argument(e.server_name);
            if (!e.certificate.empty()) out += ":certificate=" + quote_endpoint_argument(e.certificate);
            if (!e.private_key.empty()) out += ":private_key=" + quote_endpoint_argument(e.private_key);
            if (!e.alpn.empty()) out += ":alpn=" + quote_endpoint_argument(join_alpn(e.alpn));
            if (e.insecure_skip_certificate_verification) out += ":insecure_skip_certificate_verification=1";
            return out;
        }
    };
    return std::visit(Visitor{}, endpoint);
}

}  // namespace weft
