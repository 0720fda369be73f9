"""Benchmark peer: UDP echo server on Twisted, as in Twisted's UDP howto.

A DatagramProtocol whose datagramReceived writes each datagram back to its sender, on
reactor.listenUDP. Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on
SIGINT/SIGTERM (the reactor's own handlers). Run with Debian's /usr/bin/python3 (python3-twisted).
"""

import argparse
import sys

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol


class Echo(DatagramProtocol):
    def datagramReceived(self, data, addr):
        self.transport.write(data, addr)


def main():
    parser = argparse.ArgumentParser(description="Twisted UDP echo server (benchmark peer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    args = parser.parse_args()

    port = reactor.listenUDP(args.port, Echo(), interface=args.host)
    print(f"listening on {args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
