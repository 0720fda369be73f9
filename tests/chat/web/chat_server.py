"""Runs weft-chat for the web chat's tests: started on port 0, its ports read from its "listening on"
lines, stopped with SIGTERM. Every wait has a deadline, so a test never hangs."""

import os
import re
import select
import signal
import socket
import subprocess
import time

DEADLINE = 20.0  # seconds for anything the server should do at once


class ChatServer:
    """weft-chat with a TCP listener and an HTTP one on 127.0.0.1, ports picked by the kernel."""

    def __init__(self, binary, *extra):
        self.binary = binary
        self.args = [binary, "--host", "127.0.0.1", "--port", "0", "--http", "tcp:0:interface=127.0.0.1",
                     "--log-level", "warning", *extra]
        self.process = None
        self.tcp_port = None
        self.http_port = None

    def start(self, http_port=0, tcp_port=0):
        args = list(self.args)
        args[args.index("tcp:0:interface=127.0.0.1")] = f"tcp:{http_port}:interface=127.0.0.1"
        args[args.index("--port") + 1] = str(tcp_port)
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=None)
        lines = []
        deadline = time.monotonic() + DEADLINE
        buffer = b""
        while len(lines) < 2:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                raise AssertionError(f"weft-chat did not say where it listens: {lines!r}")
            chunk = os.read(self.process.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"weft-chat exited: {self.process.wait(DEADLINE)}, said {lines!r}")
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                lines.append(line.decode())
        for line in lines:
            match = re.fullmatch(r"listening on (http:)?127\.0\.0\.1:(\d+)", line)
            assert match, f"unexpected line from weft-chat: {line!r}"
            if match.group(1):
                self.http_port = int(match.group(2))
            else:
                self.tcp_port = int(match.group(2))
        assert self.tcp_port and self.http_port, lines
        return self

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(DEADLINE)
        if self.process:
            self.process.stdout.close()
        status = self.process.returncode if self.process else None
        self.process = None
        return status

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class LineClient:
    """A raw TCP chat client (what nc does): lines out, lines in, each read bounded by DEADLINE."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.buffer = b""

    def send(self, line):
        self.sock.sendall(line.encode() + b"\n")

    def read_line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError(f"the server closed the connection; unread: {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line.decode()

    def wait_for(self, predicate, what):
        """Reads lines until one satisfies predicate; returns it. Fails after DEADLINE or on EOF."""
        seen = []
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            line = self.read_line()
            seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"no line {what}; saw {seen!r}")

    def close(self):
        self.sock.close()
