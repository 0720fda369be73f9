"""Benchmark peer: TLS echo server on Twisted, as in Twisted's documentation.

Protocol.dataReceived writes the bytes back, over Twisted's TLS (TLSMemoryBIOProtocol, pyOpenSSL) set
up from the server endpoint string `ssl:PORT:privateKey=KEY:certKey=CERT` (CertificateOptions with
its defaults). Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on
SIGINT/SIGTERM (the reactor's own handlers). Run with Debian's /usr/bin/python3 (python3-twisted,
python3-openssl).
"""

import argparse
import sys

from twisted.internet import endpoints, protocol, reactor


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


def quote(path):
    """Escapes a path for an endpoint string (':' and '\\' are special there)."""
    return path.replace("\\", "\\\\").replace(":", "\\:")


def main():
    parser = argparse.ArgumentParser(description="Twisted TLS echo server (benchmark peer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--cert", required=True, help="certificate, PEM")
    parser.add_argument("--key", required=True, help="private key, PEM")
    args = parser.parse_args()

    description = (f"ssl:{args.port}:interface={quote(args.host)}:backlog=1024"
                   f":privateKey={quote(args.key)}:certKey={quote(args.cert)}")
    endpoint = endpoints.serverFromString(reactor, description)

    def listening(port):
        print(f"listening on {args.host}:{port.getHost().port}", flush=True)

    def failed(failure):
        print(f"twisted_tls_echo: cannot listen: {failure.getErrorMessage()}", file=sys.stderr, flush=True)
        reactor.stop()

    endpoint.listen(protocol.Factory.forProtocol(Echo)).addCallbacks(listening, failed)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
