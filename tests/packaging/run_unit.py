#!/usr/bin/python3
"""Runs an installed weft-chat.service as systemd would, without systemd as PID 1 (issue 16):

  run_unit.py SERVICE_UNIT SOCKET_UNIT

systemd-socket-activate (systemd's own tool) listens on a free loopback port, named as the socket unit's
FileDescriptorName=, and starts the service unit's ExecStart= on the first connection, passing the socket
(LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES); NOTIFY_SOCKET and WATCHDOG_USEC point at a datagram socket made
here. Checks: READY=1 with STATUS=, the client is served through the passed socket, WATCHDOG=1 pings, and
on SIGTERM (systemctl stop) STOPPING=1 and exit status 0. Every wait is bounded.
"""
import os
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time


def unit_value(path, key):
    with open(path) as f:
        for line in f:
            if line.startswith(key + "="):
                return line[len(key) + 1:].strip()
    return ""


def free_port():
    # systemd-socket-activate takes no port 0: pick one the kernel says is free (loopback only).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def datagram(sock, timeout):
    ready, _, _ = select.select([sock], [], [], timeout)
    return sock.recv(4096).decode() if ready else None


def main():
    service, socket_unit = sys.argv[1], sys.argv[2]
    argv = shlex.split(unit_value(service, "ExecStart"))
    name = unit_value(socket_unit, "FileDescriptorName")
    assert unit_value(service, "Type") == "notify", "the service is not Type=notify"
    with tempfile.TemporaryDirectory() as tmp:
        notify_path = os.path.join(tmp, "notify")
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(notify_path)
        port = free_port()
        proc = subprocess.Popen(
            ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", f"--fdname={name}",
             "-E", f"NOTIFY_SOCKET={notify_path}", "-E", "WATCHDOG_USEC=200000"] + argv,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # It says "Listening on 127.0.0.1:PORT as 3." once bound; a connection then starts the service.
            said = b""
            deadline = time.monotonic() + 10
            while b"Listening on" not in said and time.monotonic() < deadline:
                ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    break
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                said += chunk
            assert b"Listening on" in said, f"systemd-socket-activate did not listen: {said!r}"
            client = socket.create_connection(("127.0.0.1", port), timeout=10)
            client.settimeout(10)
            welcome = client.recv(4096).decode()
            assert welcome.startswith("Welcome to the chat server, 127.0.0.1:"), welcome
            ready = datagram(notify, 10)
            assert ready == f"READY=1\nSTATUS=listening on 127.0.0.1:{port}", ready
            for _ in range(3):
                ping = datagram(notify, 10)
                assert ping == "WATCHDOG=1", ping
            proc.send_signal(signal.SIGTERM)
            message = datagram(notify, 10)
            while message == "WATCHDOG=1":
                message = datagram(notify, 10)
            assert message == "STOPPING=1", message
            status = proc.wait(20)
            assert status == 0, f"exit status {status}"
            client.close()
            print(f"run_unit: {' '.join(argv)} served 127.0.0.1:{port}: READY=1, WATCHDOG=1, STOPPING=1, exit 0")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
