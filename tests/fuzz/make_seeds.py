#!/usr/bin/env python3
"""Writes the hand-made seed corpus, tests/fuzz/corpus/<target>/<name>.

Every input is a 4-byte header (flags, limit, seed, chunk_max; see fuzz_common.hpp and
docs/fuzzing.md) followed by the stream. Run it after changing a seed here; the files are committed
so that the fuzzers do not need Python. New inputs the fuzzers find go to the build tree, not here.
"""
import pathlib
import struct

ROOT = pathlib.Path(__file__).resolve().parent / "corpus"


def header(flags=0, limit=255, seed=1, chunk_max=3):
    return bytes([flags, limit, seed, chunk_max])


def write(target, name, data):
    d = ROOT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


# LineReceiver. flags: bits 0-2 delimiter (0 \r\n, 1 \n, 2 \r\n\r\n, 3 aa, 4 aab, 5 abab, 6 \0, 7 xyzzy),
# bits 3-4 exceed policy (0 lose, 1 sink, 2 keep going), bit 5 copy the set_line_mode extra.
LR = "line_receiver"
write(LR, "typical", header() + b"hello\r\nworld\r\n\r\nlast line without end")
write(LR, "split-delimiters", header(chunk_max=0) + b"a\r\nb\r\r\nc\n\r\nd\r")
write(LR, "raw-mode", header() + b"!R5\r\n12345line\r\n!R0\r\nafter\r\n")
write(LR, "raw-mode-copy", header(flags=0x20, chunk_max=6) + b"!R3\r\nabcdef\r\n!R12\r\nxx\r\nyy\r\nzzz\r\n")
write(LR, "raw-mode-buffered", header(flags=0x21, seed=7, chunk_max=1) + b"partial\n!R2\nrrline\n!R1\nxy\n")
write(LR, "pause-resume", header(flags=1) + b"one\n!P\ntwo\nthree\n!P\nfour\n")
write(LR, "clear-line-buffer", header(flags=1, chunk_max=4) + b"!C4\nabcdrest\n!C0\ngone?\nkept\n")
write(LR, "clear-into-raw", header(flags=1, chunk_max=2) + b"!C20\nshort\nmore raw bytes...\nline\n")
write(LR, "stop-and-lose", header(flags=1) + b"a\n!Q\nnever\n")
write(LR, "stop-producing", header(flags=1) + b"a\n!S\nnever\n")
write(LR, "delimiter-change", header(flags=0) + b"x\r\n!D1\r\ny\nz\n!D4\nfoaabbaab!D0aab")
write(LR, "overlong-lose", header(limit=8) + b"short\r\nthis line is far too long\r\nnext\r\n")
write(LR, "overlong-sink", header(flags=0x08, limit=8, chunk_max=5) + b"ok\r\n0123456789abcdef\r\nafter\r\n")
write(LR, "overlong-keep-going", header(flags=0x10, limit=4, chunk_max=2) + b"abcd\r\nabcde\r\nab\r\nabcdefghij")
write(LR, "overlong-no-delimiter", header(flags=0x10, limit=3) + b"abcdefghijklmnop")
write(LR, "max-length-zero", header(flags=1, limit=0) + b"\n\n\nx\n\n")
write(LR, "overlapping-delimiter", header(flags=3, chunk_max=1) + b"baaab aaaa a aa")
write(LR, "overlapping-delimiter-2", header(flags=4, chunk_max=2) + b"xaaabyaabaaab aab")
write(LR, "nul-delimiter", header(flags=6) + b"one\0two\0\0three")
write(LR, "long-delimiter", header(flags=7, limit=6, chunk_max=2) + b"axyzzbxyzzycxyzzyxyzzyd")

# LineOnlyReceiver. flags: bits 0-2 delimiter, bit 3 keep going after an over-long line.
LO = "line_only_receiver"
write(LO, "typical", header() + b"hello\r\nworld\r\n\r\npartial")
write(LO, "split-delimiters", header(chunk_max=0) + b"a\r\nb\r\r\nc\n\r\nd\r")
write(LO, "lose", header(flags=1) + b"a\n!Q\nnever\n")
write(LO, "overlong", header(limit=5) + b"12345\r\n123456\r\nafter\r\n")
write(LO, "overlong-keep-going", header(flags=0x08 | 1, limit=3, chunk_max=1) + b"abc\nabcd\nab\nabcdefgh\nx\n")
write(LO, "overlapping-delimiter", header(flags=5, chunk_max=2) + b"ababab abab aabab")
write(LO, "max-length-zero", header(flags=1, limit=0) + b"\n\nx\n")

# Int8/16/32StringReceiver. flags bit 0: keep going after length_limit_exceeded. limit 255 default,
# 254 unlimited.
def frames(prefix, *strings):
    fmt = {1: ">B", 2: ">H", 4: ">I"}[prefix]
    return b"".join(struct.pack(fmt, len(s)) + s for s in strings)


for prefix, target in ((1, "int8_string_receiver"), (2, "int16_string_receiver"), (4, "int32_string_receiver")):
    fmt = {1: ">B", 2: ">H", 4: ">I"}[prefix]
    write(target, "typical", header() + frames(prefix, b"hello", b"", b"world"))
    write(target, "byte-chunks", header(chunk_max=0) + frames(prefix, b"ab", b"cde") + struct.pack(fmt, 3) + b"x")
    write(target, "pause-resume", header() + frames(prefix, b"one", b"!P", b"two", b"!P", b"three"))
    write(target, "stop", header() + frames(prefix, b"a", b"!S", b"never"))
    write(target, "lose", header() + frames(prefix, b"a", b"!Q", b"never"))
    write(target, "over-limit", header(limit=4) + frames(prefix, b"1234", b"12345", b"after"))
    write(target, "over-limit-keep-going", header(flags=1, limit=4, chunk_max=2) +
          frames(prefix, b"ok", b"toolong!!", b"ok2", b"x" * 20, b"end"))
    write(target, "max-prefix", header(flags=1, limit=254) + b"\xff" * prefix + b"partial")
    write(target, "limit-zero", header(flags=1, limit=0) + frames(prefix, b"", b"", b"x", b""))

# NetstringReceiver. limit 255 is the default (99999).
NS = "netstring_receiver"
write(NS, "typical", header() + b"5:hello,0:,5:world,")
write(NS, "byte-chunks", header(chunk_max=0) + b"3:abc,12:twelve bytes,1:")
write(NS, "lose", header() + b"1:a,2:!Q,5:never,")
write(NS, "leading-zero", header() + b"1:a,01:b,")
write(NS, "zero", header() + b"0:,0:,00:,")
write(NS, "no-comma", header() + b"3:abc;")
write(NS, "no-colon", header() + b"3;abc,")
write(NS, "no-length", header() + b":abc,")
write(NS, "garbage", header() + b"hello")
write(NS, "over-limit", header(limit=10) + b"10:0123456789,11:0123456789a,")
write(NS, "huge-length", header() + b"99999999999999999999999:")
write(NS, "partial-end", header(chunk_max=1) + b"4:abcd,4:ab")

# Chat: records separated by 0x1f: op, client digit, payload (s send, r read, c connect, e EOF, l lost,
# z reap closing connections, t advance the clock). flags bits 0-1: clients at start - 1, bit 2 idle
# timeout 10 s. limit: max_line.
CH = "chat"
S = b"\x1f"
write(CH, "conversation", header(flags=1) + S.join([
    b"s0/nick alice\n", b"s1/nick bob\r\n", b"s0hello bob\n", b"s1/me waves\n", b"s0/who\n",
    b"r0", b"r1", b"s1/quit\n", b"z"]))
write(CH, "commands", header(flags=0) + S.join([
    b"s0/nick\n", b"s0/nick bad name!\n", b"s0/nick ok_name-1\n", b"s0/nick ok_name-1\n", b"s0/me\n",
    b"s0/me   \n", b"s0/bogus arg\n", b"s0/\n", b"s0\n", b"s0\r\n", b"s0  \t\n"]))
write(CH, "name-taken", header(flags=2) + S.join([b"s0/nick x\n", b"s1/nick x\n", b"s2/nick y\n", b"s2/who\n"]))
write(CH, "split-lines", header(flags=1, chunk_max=0) + S.join([b"s0hel", b"s0lo\nwor", b"s0ld\n", b"s1/ni", b"s1ck z\n"]))
write(CH, "unicode", header(flags=1) + S.join([
    b"s0caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n", b"s0bad \xc3 \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf\n",
    b"s0esc \x1b[31m red \x07 \xc2\x9b c1 \x7f\n", b"s0/me \x1b]0;title\x07\n", b"s0/\x1b[2J\n"]))
write(CH, "line-too-long", header(flags=1, limit=16) + S.join([b"s0short\n", b"s0" + b"x" * 40 + b"\n", b"s1ok\n", b"z"]))
write(CH, "slow-reader", header(flags=1, seed=0) + S.join([b"s0" + b"spam spam spam spam\n" * 20, b"r0", b"s0more\n", b"z"]))
write(CH, "eof-and-lost", header(flags=2) + S.join([b"s0hi\n", b"e0", b"s0after eof\n", b"l1", b"s2still here\n", b"z"]))
write(CH, "server-full", header(flags=2) + S.join([b"c", b"c", b"s3hello?\n", b"l0", b"c", b"s4/who\n"]))
write(CH, "idle", header(flags=4 | 1) + S.join([b"s0hi\n", b"t5", b"s1x\n", b"t6", b"t20", b"z"]))
write(CH, "pipelined", header(flags=1, chunk_max=7) + S.join([b"s0/nick a\nhello\n/who\n/quit\nlost?\n", b"z", b"s1/who\n"]))

# Endpoint descriptions (fuzz_endpoint): no header, the input is the description.
EP = "endpoint"
for name, text in [
        ("tcp", b"tcp:8000:interface=127.0.0.1:backlog=50"), ("tcp-positional", b"tcp:8000:127.0.0.1:50"),
        ("tcp6", b"tcp6:port=80:interface=2001\\:0DB8\\:f00e\\:eb00\\:\\:1"), ("tcp6-positional", b"tcp6:80:5:\\:\\:1"),
        ("unix", b"unix:/var/run/finger:mode=660:backlog=5:lockfile=0"), ("unix-escaped", b"unix:address=/tmp/a\\:b\\\\c=d"),
        ("unix-abstract", b"unix:@weft"), ("fd", b"fd:fileno=3:domain=INET6"), ("systemd", b"systemd:domain=INET:index=0"),
        ("systemd-name", b"systemd:domain=UNIX:name=web"), ("client-tcp", b"tcp:host=example.org:port=80:timeout=2.5"),
        ("client-tcp-positional", b"tcp:example.org:80:bind_address=192.0.2.100"),
        ("client-unix", b"unix:path=/var/foo/bar:check_pid=1:timeout=9"), ("trailing-backslash", b"unix:/tmp/a\\"),
        ("udp", b"udp:9999:interface=\\:\\:1:max_packet_size=512"),
        ("duplicate", b"tcp:80:port=81:backlog=1:backlog=2"), ("huge", b"tcp:99999999999999999999:mode=17777")]:
    write(EP, name, text)

# TLS server layer (fuzz_tls). flags: bits 0-1 the server context (0 plain, 1 ALPN+SNI, 2 optional client
# certificates, 3 TLS 1.3 only + required client certificates), bit 2 write early, bit 3 lose on data,
# bit 4 EOF before the end, bit 5 fire the handshake timeout. The streams are real ClientHellos recorded
# from `openssl s_client` (they hold random bytes, so they are recorded only when missing: delete a file to
# record it again), and a few that are not TLS at all.
TLS = "tls"


def record_client_hello(*options):
    """The first TLS record `openssl s_client OPTIONS` sends to a listener on 127.0.0.1 (its ClientHello)."""
    import socket
    import subprocess
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(10)
        port = listener.getsockname()[1]
        client = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, *options],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                data = b""
                while len(data) < 5 or len(data) < 5 + int.from_bytes(data[3:5], "big"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                return data[:5 + int.from_bytes(data[3:5], "big")]
        finally:
            client.kill()
            client.wait()


def write_recorded(target, name, head, *options):
    path = ROOT / target / name
    if path.exists():
        return
    try:
        hello = record_client_hello(*options)
    except (OSError, ValueError) as e:  # no openssl: the committed seeds stay as they are
        print("make_seeds: cannot record %s/%s: %s" % (target, name, e))
        return
    write(target, name, head + hello)


write_recorded(TLS, "client-hello-tls13", header(flags=0, chunk_max=255))
write_recorded(TLS, "client-hello-sni-alpn", header(flags=1, seed=3, chunk_max=40), "-servername", "other.test",
               "-alpn", "h2,http/1.1")
write_recorded(TLS, "client-hello-tls12", header(flags=2, chunk_max=7), "-tls1_2")
write_recorded(TLS, "client-hello-tls12-to-tls13-only", header(flags=3, chunk_max=255), "-tls1_2")
write_recorded(TLS, "client-hello-write-early-timeout", header(flags=0x24, chunk_max=255), "-servername", "localhost")
write_recorded(TLS, "client-hello-eof", header(flags=0x18 | 1, seed=9, chunk_max=3), "-alpn", "spdy/1")
write(TLS, "plaintext-http", header(flags=0) + b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
write(TLS, "sslv2-hello", header(flags=0) + bytes.fromhex("80 2e 01 00 02 00 15 00 00 00 10 07 00 c0 03 00 80 01 00 80"
                                                          "06 00 40 04 00 80 02 00 80 00 00 39 00 00 38 00 00 35"
                                                          " 00 00 33 00 00 32 00 00 2f") + b"\x00" * 16)
write(TLS, "alert-then-garbage", header(flags=0x10) + bytes.fromhex("15 03 03 00 02 02 28") + b"\x16\x03\x03\xff\xff")
write(TLS, "empty-records", header(flags=0, chunk_max=1) + bytes.fromhex("16 03 01 00 00") * 8)


# weft::web's request path. flags: bits 0-1 max_requests_in_flight - 1, bit 2 small limits, bit 3 hold
# /late requests until the end.
HTTP = "http"
write(HTTP, "get", header() + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
write(HTTP, "pipelined", header(flags=0, chunk_max=7) + b"GET /a HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
      b"HEAD /late HTTP/1.1\r\n\r\nGET /nowhere HTTP/1.1\r\n\r\nDELETE / HTTP/1.1\r\n\r\n")
write(HTTP, "held-in-flight", header(flags=0x09, chunk_max=5) + b"GET /late HTTP/1.1\r\n\r\nGET /late?x=1 HTTP/1.1\r\n\r\n"
      b"GET /a/late HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
write(HTTP, "chunked", header(chunk_max=2) + b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"5;ext=v\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1\r\n\r\n")
write(HTTP, "expect-continue", header(chunk_max=3) + b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
write(HTTP, "http10", header() + b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n")
write(HTTP, "connection-close", header() + b"GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n")
write(HTTP, "smuggle-cl-te", header() + b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      b"GET / HTTP/1.1\r\n\r\n")
write(HTTP, "duplicate-cl", header() + b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na")
write(HTTP, "obs-fold", header(chunk_max=1) + b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n")
write(HTTP, "bad-chunk", header() + b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n")
write(HTTP, "small-limits", header(flags=0x04, chunk_max=9) + b"GET /" + b"a" * 70 + b" HTTP/1.1\r\n\r\n")
write(HTTP, "small-limits-body", header(flags=0x04) + b"POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n" + b"b" * 65)
write(HTTP, "many-fields", header(flags=0x04) + b"GET / HTTP/1.1\r\n" + b"".join(b"F%d: v\r\n" % i for i in range(9)) + b"\r\n")
write(HTTP, "targets", header() + b"GET /a%2Fb/%00?q=%zz HTTP/1.1\r\n\r\nGET http://h/a?b=c HTTP/1.1\r\n\r\n"
      b"OPTIONS * HTTP/1.1\r\n\r\nGET /../.. HTTP/1.1\r\n\r\n")
write(HTTP, "versions", header() + b"GET / HTTP/1.2\r\n\r\n")


# WebSocket frames (fuzz_websocket_frame). flags bit 0: the client side (unmasked frames expected);
# limit: max_message_size = (limit + 1) * 64.
WS = "websocket_frame"


def ws_frame(first, payload, mask=b"\x37\xfa\x21\x3d"):
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([first, m | n])
    elif n <= 0xFFFF:
        head = bytes([first, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([first, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


write(WS, "text-binary", header() + ws_frame(0x81, b"Hello") + ws_frame(0x82, bytes(range(200))))
write(WS, "fragments-ping", header(chunk_max=5) + ws_frame(0x01, b"frag1") + ws_frame(0x89, b"ping")
      + ws_frame(0x00, b"frag2") + ws_frame(0x80, "\u00b5\u00df".encode()))
write(WS, "utf8-split", header(chunk_max=1) + ws_frame(0x01, b"\xce") + ws_frame(0x80, b"\xba\xe1\xbd\xb9"))
write(WS, "utf8-invalid", header() + ws_frame(0x81, b"\xed\xa0\x80"))
write(WS, "close-reason", header() + ws_frame(0x88, b"\x03\xe8bye"))
write(WS, "close-bad-code", header() + ws_frame(0x88, b"\x03\xed"))
write(WS, "too-big", header(limit=0) + ws_frame(0x82, b"x" * 65))
write(WS, "len64", header(limit=255) + ws_frame(0x82, b"y" * 70000))
write(WS, "reserved", header() + ws_frame(0xC1, b"rsv") + ws_frame(0x83, b""))
write(WS, "client-side", header(flags=1) + ws_frame(0x81, b"server text", mask=None) + ws_frame(0x8A, b"", mask=None))
