#pragma once
// A throw-away PKI for TLS unit tests, made once per test process with the openssl command in a fresh
// temporary directory: a CA, a server certificate for localhost/127.0.0.1/::1, one for another name (SNI),
// a client certificate, and a self-signed certificate nobody trusts.

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace weft_test {

struct TestPki {
    std::string dir;
    std::string ca;              // ca.pem
    std::string server_cert;     // CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
    std::string server_key;
    std::string other_cert;      // CN=other.test, SAN DNS:other.test
    std::string other_key;
    std::string client_cert;     // CN=alice
    std::string client_key;
    std::string untrusted_cert;  // self-signed CN=localhost
    std::string untrusted_key;
};

inline const TestPki& test_pki() {
    static const TestPki pki = [] {
        TestPki p;
        std::string templ = (std::filesystem::temp_directory_path() / "weft-pki-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) FAIL("mkdtemp failed");
        p.dir = templ;
        auto path = [&](const char* name) { return p.dir + "/" + name; };
        p.ca = path("ca.pem");
        p.server_cert = path("server.pem");
        p.server_key = path("server.key");
        p.other_cert = path("other.pem");
        p.other_key = path("other.key");
        p.client_cert = path("client.pem");
        p.client_key = path("client.key");
        p.untrusted_cert = path("untrusted.pem");
        p.untrusted_key = path("untrusted.key");
        // The directory is ours (mkdtemp) and its name has no shell metacharacters.
        const std::string script =
            "set -e; cd '" + p.dir + "'; "
            "key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out \"$1\"; }; "
            "key ca.key; openssl req -x509 -new -key ca.key -subj /CN=weft-test-ca -days 2 -out ca.pem; "
            "leaf() { key \"$1.key\"; openssl req -x509 -new -key \"$1.key\" -CA ca.pem -CAkey ca.key -subj \"/CN=$2\" "
            "-days 2 -addext \"$3\" -out \"$1.pem\"; }; "
            "leaf server localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'; "
            "leaf other other.test 'subjectAltName=DNS:other.test'; "
            "leaf client alice 'extendedKeyUsage=clientAuth'; "
            "key untrusted.key; openssl req -x509 -new -key untrusted.key -subj /CN=localhost -days 2 "
            "-addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' -out untrusted.pem";
        const std::string command = "sh -c \"" + [&] {
            std::string escaped;
            for (char c : script) {
                if (c == '"' || c == '\\' || c == '$' || c == '`') escaped.push_back('\\');
                escaped.push_back(c);
            }
            return escaped;
        }() + "\" >'" + p.dir + "/openssl.log' 2>&1";
        if (std::system(command.c_str()) != 0) FAIL("making the test PKI with openssl failed; see " + p.dir + "/openssl.log");
        return p;
    }();
    return pki;
}

}  // namespace weft_test
