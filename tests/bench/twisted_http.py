"""Benchmark peer: HTTP "Hello, World!" server on twisted.web, as Twisted's documentation writes one.

GET (any path) answers 200 text/plain "Hello, World!" (twisted.web.server.Site: keep-alive, pipelining as
Twisted does them); the access log is off, as nginx's and weft's are in the benchmark. Binds 127.0.0.1 (or
--host), prints "listening on HOST:PORT" once bound, exits on SIGINT/SIGTERM (the reactor's own
handlers). Run with Debian's /usr/bin/python3 (python3-twisted).
"""

import argparse
import sys

from twisted.internet import reactor
from twisted.web import resource, server


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/plain")
        return b"Hello, World!"


class QuietSite(server.Site):
    noisy = False

    def log(self, request):
        pass  # no access log


def main():
    parser = argparse.ArgumentParser(description="twisted.web hello server (benchmark peer)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = pick a free one)")
    args = parser.parse_args()

    port = reactor.listenTCP(args.port, QuietSite(Hello()), backlog=1024, interface=args.host)
    print(f"listening on {args.host}:{port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
