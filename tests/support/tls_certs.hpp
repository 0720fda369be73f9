#pragma once
// A throw-away PKI for the TLS tests, made at test time with the `openssl` command (Debian's openssl
// package) in a fresh temp directory, once per test process; and run_command(), which runs such a command
// with its output captured and its time bounded. EC P-256 keys: the whole set takes well under a second.

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/child_process.hpp"

namespace weft_test {

/// The openssl command. Tests use the system's, as a user would.
inline const std::string& openssl_binary() {
    static const std::string path = "/usr/bin/openssl";
    return path;
}

/// The Python interpreter the TLS peer scripts run under (Debian's, with its ssl module).
inline const std::string& python_binary() {
    static const std::string path = "/usr/bin/python3";
    return path;
}

/// A file's whole content ("" if it cannot be read).
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

inline void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
}

/// A fresh directory under $TMPDIR (or /tmp), removed with this object.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "weft-tls") {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + prefix + "-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

struct CommandResult {
    std::optional<int> status;  ///< as from waitpid; nullopt if it did not end in time (it was killed)
    std::string output;         ///< stdout and stderr, interleaved as written
    [[nodiscard]] bool ok() const { return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0; }
};

/// Runs argv[0] (a full path: no shell, no PATH lookup, arguments passed as they are) with stdin from
/// /dev/null and stdout+stderr into a file of `scratch`, waiting at most `limit`.
inline CommandResult run_command(const std::vector<std::string>& argv, const TempDir& scratch,
                                 std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    const std::string out_path = scratch.file(".command-output");
    const int out = ::open(out_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || in < 0) throw std::runtime_error("run_command: cannot open " + out_path + " or /dev/null");
    CommandResult result;
    {
        ChildOptions options;
        options.stdin_fd = in;
        options.stdout_fd = out;
        options.stderr_fd = out;
        ChildProcess child(argv, options);
        result.status = child.wait(limit);  // the destructor kills it if it is still running
    }
    ::close(in);
    ::close(out);
    result.output = read_file(out_path);
    return result;
}

/// The certificates and keys (PEM files) of the throw-away PKI. Every certificate is valid from now for
/// two days unless said otherwise; every key is EC P-256.
struct TlsCerts {
    std::string dir;
    std::string ca;          ///< the test CA's certificate ("CN=weft test CA"): the trust anchor
    std::string server;      ///< CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1; signed by ca
    std::string server_key;
    std::string other;       ///< CN=other.test, SAN DNS:other.test (the second name for SNI); signed by ca
    std::string other_key;
    std::string client;      ///< subject "CN=alice,O=weft tests" (RFC 2253), clientAuth; signed by ca
    std::string client_key;
    std::string untrusted_ca;   ///< another CA ("CN=weft untrusted CA"), which no test trusts
    std::string untrusted;      ///< CN=localhost with the same SANs as `server`, signed by untrusted_ca
    std::string untrusted_key;
    std::string intermediate;   ///< an intermediate CA ("CN=weft intermediate CA") signed by ca
    std::string chained;        ///< CN=localhost with server's SANs, signed by intermediate (send intermediate too)
    std::string chained_key;
    std::string expired;        ///< CN=localhost with server's SANs, signed by ca, valid only on 1 Jan 2020
    std::string expired_key;
};

namespace detail {

inline void openssl_or_throw(const std::vector<std::string>& args, const TempDir& dir) {
    std::vector<std::string> argv{openssl_binary()};
    argv.insert(argv.end(), args.begin(), args.end());
    const CommandResult r = run_command(argv, dir);
    if (!r.ok()) {
        std::string line;
        for (const auto& a : argv) line += a + " ";
        throw std::runtime_error("making the test PKI failed: " + line + "\n" + r.output);
    }
}

// Our own configuration, so /etc/ssl/openssl.cnf's defaults do not shape the certificates.
inline std::string pki_config(const std::string& dir) {
    return "[req]\n"
           "distinguished_name = dn\n"
           "prompt = no\n"
           "[dn]\n"
           "CN = unused\n"
           "[ca]\n"
           "default_ca = test_ca\n"
           "[test_ca]\n"
           "database = " + dir + "/index.txt\n"
           "new_certs_dir = " + dir + "\n"
           "serial = " + dir + "/serial\n"
           "default_md = sha256\n"
           "policy = policy_any\n"
           "unique_subject = no\n"
           "[policy_any]\n"
           "commonName = supplied\n"
           "[ca_ext]\n"
           "basicConstraints = critical,CA:TRUE\n"
           "keyUsage = critical,keyCertSign,cRLSign\n"
           "subjectKeyIdentifier = hash\n"
           "[intermediate_ext]\n"
           "basicConstraints = critical,CA:TRUE,pathlen:0\n"
           "keyUsage = critical,keyCertSign,cRLSign\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid\n"
           "[localhost_ext]\n"
           "basicConstraints = critical,CA:FALSE\n"
           "keyUsage = critical,digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid\n"
           "[other_ext]\n"
           "basicConstraints = critical,CA:FALSE\n"
           "keyUsage = critical,digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = DNS:other.test\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid\n"
           "[client_ext]\n"
           "basicConstraints = critical,CA:FALSE\n"
           "keyUsage = critical,digitalSignature\n"
           "extendedKeyUsage = clientAuth\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid\n";
}

class PkiMaker {
public:
    explicit PkiMaker(const TempDir& dir) : dir_(dir), config_(dir.file("pki.cnf")) {
        write_file(config_, pki_config(dir.path()));
    }

    /// A self-signed CA: NAME.pem, NAME.key.
    void ca(const std::string& name, const std::string& subject) {
        openssl_or_throw({"req", "-x509", "-config", config_, "-extensions", "ca_ext", "-newkey", "ec", "-pkeyopt",
                          "ec_paramgen_curve:P-256", "-nodes", "-keyout", key(name), "-out", pem(name), "-subj", subject,
                          "-days", "2"},
                         dir_);
    }

    /// A certificate NAME.pem (key NAME.key) signed by the CA `issuer`, with the config's `extensions`.
    void leaf(const std::string& name, const std::string& subject, const std::string& issuer,
              const std::string& extensions) {
        request(name, subject);
        openssl_or_throw({"x509", "-req", "-in", csr(name), "-CA", pem(issuer), "-CAkey", key(issuer), "-set_serial",
                          std::to_string(++serial_), "-days", "2", "-extfile", config_, "-extensions", extensions,
                          "-out", pem(name)},
                         dir_);
    }

    /// A certificate signed by `issuer` and valid only in the past: `openssl x509 -req` takes no negative
    /// -days in OpenSSL 3.0, `openssl ca` takes explicit dates.
    void expired(const std::string& name, const std::string& subject, const std::string& issuer,
                 const std::string& extensions) {
        request(name, subject);
        write_file(dir_.file("index.txt"), "");
        write_file(dir_.file("serial"), "1000\n");
        openssl_or_throw({"ca", "-batch", "-config", config_, "-cert", pem(issuer), "-keyfile", key(issuer), "-in",
                          csr(name), "-out", pem(name), "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                          "-extensions", extensions, "-notext"},
                         dir_);
    }

    [[nodiscard]] std::string pem(const std::string& name) const { return dir_.file(name + ".pem"); }
    [[nodiscard]] std::string key(const std::string& name) const { return dir_.file(name + ".key"); }

private:
    [[nodiscard]] std::string csr(const std::string& name) const { return dir_.file(name + ".csr"); }
    void request(const std::string& name, const std::string& subject) {
        openssl_or_throw({"req", "-new", "-config", config_, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                          "-nodes", "-keyout", key(name), "-out", csr(name), "-subj", subject},
                         dir_);
    }

    const TempDir& dir_;
    std::string config_;
    int serial_ = 1;
};

struct PkiHolder {
    TempDir dir{"weft-pki"};
    TlsCerts certs;

    PkiHolder() {
        PkiMaker make(dir);
        make.ca("ca", "/CN=weft test CA");
        make.leaf("server", "/CN=localhost", "ca", "localhost_ext");
        make.leaf("other", "/CN=other.test", "ca", "other_ext");
        make.leaf("client", "/O=weft tests/CN=alice", "ca", "client_ext");
        make.ca("untrusted_ca", "/CN=weft untrusted CA");
        make.leaf("untrusted", "/CN=localhost", "untrusted_ca", "localhost_ext");
        make.leaf("intermediate", "/CN=weft intermediate CA", "ca", "intermediate_ext");
        make.leaf("chained", "/CN=localhost", "intermediate", "localhost_ext");
        make.expired("expired", "/CN=localhost", "ca", "localhost_ext");
        certs.dir = dir.path();
        certs.ca = make.pem("ca");
        certs.server = make.pem("server");
        certs.server_key = make.key("server");
        certs.other = make.pem("other");
        certs.other_key = make.key("other");
        certs.client = make.pem("client");
        certs.client_key = make.key("client");
        certs.untrusted_ca = make.pem("untrusted_ca");
        certs.untrusted = make.pem("untrusted");
        certs.untrusted_key = make.key("untrusted");
        certs.intermediate = make.pem("intermediate");
        certs.chained = make.pem("chained");
        certs.chained_key = make.key("chained");
        certs.expired = make.pem("expired");
        certs.expired_key = make.key("expired");
    }
};

}  // namespace detail

/// The PKI, made on first use and removed when the test process exits. Throws std::runtime_error with
/// openssl's own output if a command fails (e.g. openssl is not installed: .ci/install-deps installs it).
inline const TlsCerts& tls_certs() {
    static const detail::PkiHolder holder;
    return holder.certs;
}

}  // namespace weft_test
