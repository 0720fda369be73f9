"""Benchmark peer: line chat server on Twisted, as in Twisted's docs (a LineOnlyReceiver per client,
a factory that keeps the clients and broadcasts to all of them).

Wire protocol (identical to weft-chat's basic subset): client lines end with "\\n" (a "\\r" before it
is dropped); server lines end with "\\r\\n". On connect: "Welcome to the chat server, NAME" to the
newcomer and "* NAME joined" to everyone else; a line goes to everyone, sender included, as
"NAME: text"; on disconnect the others get "* NAME left". NAME is the client's ip:port.

Binds 127.0.0.1 (or --host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM.
Run with Debian's /usr/bin/python3 (python3-twisted).
"""

import argparse
import sys

from twisted.internet import protocol, reactor
from twisted.protocols.basic import LineOnlyReceiver


class Chat(LineOnlyReceiver):
    delimiter = b"\n"

    def connectionMade(self):
        self.transport.setTcpNoDelay(True)
        peer = self.transport.getPeer()
        self.name = f"{peer.host}:{peer.port}".encode()
        self.send(b"Welcome to the chat server, " + self.name)
        self.factory.broadcast(b"* " + self.name + b" joined")
        self.factory.clients.add(self)

    def connectionLost(self, reason):
        if self in self.factory.clients and not self.factory.stopping:
            self.factory.clients.discard(self)
            self.factory.broadcast(b"* " + self.name + b" left")

    def lineReceived(self, line):
        if line.endswith(b"\r"):
            line = line[:-1]
        self.factory.broadcast(self.name + b": " + line)

    def send(self, line):
        self.transport.write(line + b"\r\n")


class ChatFactory(protocol.Factory):
    protocol = Chat

    def __init__(self):
        self.clients = set()
        self.stopping = False

    def shutting_down(self):
        # The reactor is about to close every connection: nobody is left to tell who left.
        self.stopping = True

    def broadcast(self, line):
        data = line + b"\r\n"
        for client in self.clients:
            client.transport.write(data)


def main():
    parser = argparse.ArgumentParser(description="Twisted line chat server (benchmark peer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    args = parser.parse_args()

    factory = ChatFactory()
    reactor.addSystemEventTrigger("before", "shutdown", factory.shutting_down)
    port = reactor.listenTCP(args.port, factory, backlog=1024, interface=args.host)
    print(f"listening on {args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
