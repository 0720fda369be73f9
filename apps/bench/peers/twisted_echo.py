"""Benchmark peer: echo server on Twisted, as in Twisted's own examples.

  --mode raw   Protocol.dataReceived writes the bytes back
  --mode line  LineOnlyReceiver (delimiter b"\\n") sends each line back

Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM
(the reactor's own handlers). Run with Debian's /usr/bin/python3 (python3-twisted).
"""

import argparse
import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineOnlyReceiver


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


class LineEcho(LineOnlyReceiver):
    delimiter = b"\n"

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def lineReceived(self, line):
        self.sendLine(line)


def main():
    parser = argparse.ArgumentParser(description="Twisted echo server (benchmark peer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    parser.add_argument("--mode", choices=["raw", "line"], default="raw")
    args = parser.parse_args()

    factory = protocol.Factory.forProtocol(LineEcho if args.mode == "line" else Echo)
    port = reactor.listenTCP(args.port, factory, backlog=1024, interface=args.host)
    print(f"listening on {args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
