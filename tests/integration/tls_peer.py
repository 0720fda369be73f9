#!/usr/bin/python3
"""A TLS client built on Python's ssl module, the real peer of tests/integration/test_tls_peers.cpp.

  tls_peer.py echo HOST PORT CA [ALPN,ALPN...]
      connects, verifies the server against CA for HOST, sends one line and reads it back; prints
      "version V", "alpn P" ("alpn -" for none), "echo LINE".
  tls_peer.py half-close HOST PORT CA
      on memory BIOs (ssl.SSLObject): handshake, send "ping\\n", then close_notify (unwrap) while the
      socket stays open; reads whatever comes until the server's own close_notify; prints "got REPR" and
      "closed clean" (the server's close_notify came) or "closed dirty" (TCP EOF without it).

Every wait is bounded (10 s); any failure prints "error: ..." and exits 1.
"""
import socket
import ssl
import sys

TIMEOUT = 10


def context(ca, alpn):
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca)
    if alpn:
        ctx.set_alpn_protocols(alpn.split(","))
    return ctx


def echo(host, port, ca, alpn=""):
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        with context(ca, alpn).wrap_socket(raw, server_hostname=host) as s:
            print("version", s.version(), flush=True)
            print("alpn", s.selected_alpn_protocol() or "-", flush=True)
            s.sendall(b"hello from python\n")
            got = b""
            while not got.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
            print("echo", got.decode().rstrip("\n"), flush=True)


def half_close(host, port, ca):
    raw = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context(ca, "").wrap_bio(incoming, outgoing, server_hostname=host)

    def flush():
        data = outgoing.read()
        if data:
            raw.sendall(data)

    def pump():
        data = raw.recv(65536)
        if data:
            incoming.write(data)
        else:
            incoming.write_eof()
        return bool(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if not pump():
                raise RuntimeError("EOF during the handshake")
    flush()
    print("version", tls.version(), flush=True)
    tls.write(b"ping\n")
    flush()
    # Our close_notify; the server's has not come yet, so unwrap() wants to read: we read data instead.
    try:
        tls.unwrap()
    except ssl.SSLWantReadError:
        pass
    flush()
    got = b""
    clean = False
    while True:
        try:
            chunk = tls.read(65536)
            if not chunk:  # the server's close_notify
                clean = True
                break
            got += chunk
        except ssl.SSLZeroReturnError:
            clean = True
            break
        except ssl.SSLWantReadError:
            if not pump():
                break
        except ssl.SSLEOFError:
            break
    print("got", repr(got.decode()), flush=True)
    print("closed", "clean" if clean else "dirty", flush=True)
    raw.close()


def main():
    try:
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "echo":
            echo(*args)
        elif mode == "half-close":
            half_close(*args)
        else:
            raise RuntimeError("unknown mode " + mode)
    except Exception as e:  # the test reads this line
        print("error:", type(e).__name__, e, flush=True)
        sys.exit(1)


main()
