"""weft-chat --http, the HTTP side: the page, /stats, /healthz, errors, and bad --http values.
Run by ctest (tests/chat/CMakeLists.txt) with WEFT_CHAT_BINARY and WEFT_CHAT_WEB_DIR set."""

import http.client
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_server import DEADLINE, ChatServer, LineClient  # noqa: E402

BINARY = os.environ["WEFT_CHAT_BINARY"]
WEB_DIR = os.environ["WEFT_CHAT_WEB_DIR"]


def get(port, path, method="GET", body=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=DEADLINE)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


class Page(unittest.TestCase):
    def test_the_page_and_its_files_are_served_as_kept_in_the_repository(self):
        with ChatServer(BINARY) as server:
            for path, name, content_type in [("/", "index.html", "text/html; charset=utf-8"),
                                             ("/index.html", "index.html", "text/html; charset=utf-8"),
                                             ("/chat.js", "chat.js", "text/javascript; charset=utf-8"),
                                             ("/chat.css", "chat.css", "text/css; charset=utf-8")]:
                with self.subTest(path=path):
                    status, headers, body = get(server.http_port, path)
                    self.assertEqual(status, 200)
                    self.assertEqual(headers["Content-Type"], content_type)
                    self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
                    with open(os.path.join(WEB_DIR, name), "rb") as f:
                        self.assertEqual(body, f.read())

    def test_the_page_loads_nothing_from_elsewhere(self):
        # Offline: no CDN, no absolute URL in what the browser loads.
        for name in ["index.html", "chat.js", "chat.css"]:
            with open(os.path.join(WEB_DIR, name), encoding="utf-8") as f:
                text = f.read()
            self.assertNotRegex(text, r"(src|href)=\"(https?:)?//", name)
            # And no way to turn a chat line into markup: text goes through textContent only.
            sink = re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", text)
            self.assertIsNone(sink, f"{name} writes markup: {sink and sink.group(0)}")

    def test_head_has_the_headers_and_no_body(self):
        with ChatServer(BINARY) as server:
            status, headers, body = get(server.http_port, "/", method="HEAD")
            self.assertEqual(status, 200)
            self.assertEqual(body, b"")
            self.assertEqual(int(headers["Content-Length"]),
                             os.path.getsize(os.path.join(WEB_DIR, "index.html")))


class Endpoints(unittest.TestCase):
    def test_healthz(self):
        with ChatServer(BINARY) as server:
            self.assertEqual(get(server.http_port, "/healthz")[::2], (200, b"ok\n"))

    def test_stats_count_what_the_room_did(self):
        with ChatServer(BINARY) as server:
            status, headers, body = get(server.http_port, "/stats")
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], "application/json")
            stats = json.loads(body)
            self.assertEqual(stats["clients_online"], 0)
            self.assertEqual(stats["lines_relayed"], 0)
            # One reactor: no other to lag behind nor to have bytes in flight to (--threads counts them).
            self.assertEqual(stats["forward_holds"], 0)
            self.assertEqual(stats["peak_in_flight"], 0)
            alice = LineClient(server.tcp_port)
            alice.wait_for(lambda line: line.startswith("Welcome"), "welcoming alice")
            alice.send("hello from the terminal")
            alice.wait_for(lambda line: line.endswith(": hello from the terminal"), "echoing alice's line")
            stats = json.loads(get(server.http_port, "/stats")[2])
            self.assertEqual(stats["clients_online"], 1)
            self.assertEqual(stats["joined"], 1)
            self.assertEqual(stats["lines_relayed"], 1)
            self.assertEqual(set(stats["cut"]), {"slow", "idle", "flood"})
            self.assertEqual(set(stats["refused"]), {"full", "per_address"})
            alice.close()

    def test_unknown_paths_and_methods(self):
        with ChatServer(BINARY) as server:
            self.assertEqual(get(server.http_port, "/nope")[0], 404)
            self.assertEqual(get(server.http_port, "/../etc/passwd")[0], 404)
            status, headers, _ = get(server.http_port, "/stats", method="POST", body=b"x")
            self.assertEqual(status, 405)
            self.assertEqual(headers["Allow"], "GET, HEAD")


class Options(unittest.TestCase):
    def test_bad_http_values_are_usage_errors_naming_the_option(self):
        for value in ["udp:0", "bogus:1", "tcp:99999", ""]:
            with self.subTest(value=value):
                result = subprocess.run([BINARY, "--port", "0", "--http", value], capture_output=True, text=True,
                                        timeout=DEADLINE)
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn("--http", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
