#!/usr/bin/python3
"""A TLS client built on Python's ssl module, the real peer of tests/integration/test_tls_peers.cpp.

  tls_peer.py echo HOST PORT CA [ALPN,ALPN...]
      connects, verifies the server against CA for HOST, sends one line and reads it back; prints
      "version V", "alpn P" ("alpn -" for none), "echo LINE".
  tls_peer.py half-close HOST PORT CA
      on memory BIOs (ssl.SSLObject): handshake, send "ping\\n", then close_notify (unwrap) while the
      socket stays open; reads whatever comes until the server's own close_notify; prints "got REPR" and
      "closed clean" (the server's close_notify came) or "closed dirty" (TCP EOF without it).

  tls_peer.py records HOST PORT CA N
      over TLS 1.2 (where application data records are the only 0x17 records), sends "burst N\n" and
      reads until N lines came back; prints "lines N" and "records R": the application data records
      they came in.
  tls_peer.py stall HOST PORT CA
      handshakes, prints "ready", then reads nothing until a line comes on stdin; then reads everything
      until the server closes and prints "total BYTES".

  tls_peer.py starttls-pipelined HOST PORT CA
      SMTP-like STARTTLS with nothing waited for: reads the greeting, then sends "STARTTLS\r\n" and its
      ClientHello in one write; prints "greeting LINE", "switch LINE" (the plaintext answer to STARTTLS),
      "version V" and "echo LINE" (the answer to "pipelined\n" sent over TLS).

Every wait is bounded (10 s; stall waits 30 s for its stdin); any failure prints "error: ..." and exits 1.
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


def records(host, port, ca, n):
    n = int(n)
    raw = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    ctx = context(ca, "")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    pending = b""  # raw bytes not yet split into whole records
    counted = 0

    def pump():
        nonlocal pending, counted
        data = raw.recv(65536)
        if not data:
            raise RuntimeError("EOF")
        pending += data
        while len(pending) >= 5 and len(pending) >= 5 + int.from_bytes(pending[3:5], "big"):
            size = 5 + int.from_bytes(pending[3:5], "big")
            if pending[0] == 0x17:
                counted += 1
            incoming.write(pending[:size])
            pending = pending[size:]

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            pump()
    raw.sendall(outgoing.read())
    counted = 0  # from here on every application data record is the server's answer
    tls.write(b"burst %d\n" % n)
    raw.sendall(outgoing.read())
    got = b""
    while got.count(b"\n") < n:
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            pump()
    print("lines", got.count(b"\n"), flush=True)
    print("records", counted, flush=True)
    raw.close()


def stall(host, port, ca):
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        with context(ca, "").wrap_socket(raw, server_hostname=host) as s:
            print("ready", flush=True)
            import select
            if not select.select([sys.stdin], [], [], 30)[0]:
                raise RuntimeError("no go-ahead on stdin")
            sys.stdin.readline()
            total = 0
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
            print("total", total, flush=True)


def starttls_pipelined(host, port, ca):
    raw = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    buffered = b""

    def plain_line():
        nonlocal buffered
        while b"\r\n" not in buffered:
            data = raw.recv(65536)
            if not data:
                raise RuntimeError("EOF in plaintext")
            buffered += data
        line, buffered = buffered.split(b"\r\n", 1)
        return line.decode()

    print("greeting", plain_line(), flush=True)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context(ca, "").wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    raw.sendall(b"STARTTLS\r\n" + outgoing.read())  # the server reads the ClientHello with the command
    print("switch", plain_line(), flush=True)
    incoming.write(buffered)  # whatever came after the plaintext answer is TLS

    def pump():
        data = raw.recv(65536)
        if not data:
            raise RuntimeError("EOF in TLS")
        incoming.write(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            pump()
    raw.sendall(outgoing.read())
    print("version", tls.version(), flush=True)
    tls.write(b"pipelined\n")
    raw.sendall(outgoing.read())
    got = b""
    while b"\n" not in got:
        try:
            got += tls.read(65536)
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            pump()
    print("echo", got.decode().rstrip("\r\n"), flush=True)
    raw.close()


def main():
    try:
        mode, args = sys.argv[1], sys.argv[2:]
        if mode == "echo":
            echo(*args)
        elif mode == "half-close":
            half_close(*args)
        elif mode == "records":
            records(*args)
        elif mode == "stall":
            stall(*args)
        elif mode == "starttls-pipelined":
            starttls_pipelined(*args)
        else:
            raise RuntimeError("unknown mode " + mode)
    except Exception as e:  # the test reads this line
        print("error:", type(e).__name__, e, flush=True)
        sys.exit(1)


main()
