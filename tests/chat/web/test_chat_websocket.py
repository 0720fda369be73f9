"""weft-chat --http's /ws with a real WebSocket client (Debian's python3-websockets): a browser's connection
without the browser. The room's rules hold for it as for a TCP client: lines both ways, the line limit,
binary refused with 1003, a reader that stops is cut as too slow; with --threads 2, in the room of every
reactor. Run by ctest with WEFT_CHAT_BINARY."""

import asyncio
import http.client
import json
import os
import sys
import unittest

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from chat_server import DEADLINE, ChatServer, LineClient  # noqa: E402

BINARY = os.environ["WEFT_CHAT_BINARY"]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, DEADLINE * 2))


async def receive_until(socket, predicate, what):
    seen = []
    while True:
        try:
            message = await asyncio.wait_for(socket.recv(), DEADLINE)
        except asyncio.TimeoutError:
            raise AssertionError(f"no message {what}; saw {seen!r}") from None
        seen.append(message)
        if predicate(message):
            return message


def stats(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=DEADLINE)
    try:
        connection.request("GET", "/stats")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


class WebSocketMember(unittest.TestCase):
    def test_lines_go_both_ways_between_websocket_and_tcp(self):
        async def scenario(server):
            async with websockets.connect(f"ws://127.0.0.1:{server.http_port}/ws") as browser:
                welcome = await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming")
                self.assertNotIn("\r", welcome)
                await browser.send("/nick webby")
                await receive_until(browser, lambda m: m.endswith("is now known as webby"), "renaming")
                terminal = LineClient(server.tcp_port)
                terminal.wait_for(lambda line: line.startswith("Welcome"), "welcoming the terminal")
                await receive_until(browser, lambda m: m.endswith(" joined"), "the terminal joining")
                await browser.send("hello from a websocket")
                terminal.wait_for(lambda line: line == "webby: hello from a websocket", "the browser's line")
                terminal.send("/me replies")
                action = await receive_until(browser, lambda m: m.endswith(" * replies"), "the terminal's action")
                self.assertTrue(action.startswith("127.0.0.1:"), action)
                await browser.send("/who")
                who = await receive_until(browser, lambda m: m.startswith("* online (2): "), "the who list")
                self.assertIn("webby", who)
                await browser.send("/quit")
                await receive_until(browser, lambda m: m == "* bye", "the goodbye")
                terminal.wait_for(lambda line: line == "* webby left", "the browser leaving")
                terminal.close()
        with ChatServer(BINARY) as server:
            run(scenario(server))

    def test_with_threads_the_websocket_joins_the_room_of_every_reactor(self):
        # weft-chat --threads 2: the web face is reactor 0's, the TCP clients spread by SO_REUSEPORT. /stats
        # counts the whole room online but reactor 0's joins only: terminals are added until one is
        # elsewhere (all of 16 on one reactor: 1 in 65536).
        async def scenario(server):
            async with websockets.connect(f"ws://127.0.0.1:{server.http_port}/ws") as browser:
                await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming")
                await browser.send("/nick webby")
                await receive_until(browser, lambda m: m.endswith("is now known as webby"), "renaming")
                terminals = []
                while len(terminals) < 16:
                    terminal = LineClient(server.tcp_port)
                    terminal.wait_for(lambda line: line.startswith("Welcome"), "welcoming a terminal")
                    terminals.append(terminal)
                    numbers = stats(server)
                    self.assertEqual(numbers["clients_online"], len(terminals) + 1)
                    if numbers["joined"] < numbers["clients_online"]:
                        break
                self.assertLess(stats(server)["joined"], len(terminals) + 1, "every terminal on reactor 0")
                await browser.send("hello from a websocket")
                for terminal in terminals:
                    terminal.wait_for(lambda line: line == "webby: hello from a websocket", "the browser's line")
                for i, terminal in enumerate(terminals):
                    terminal.send(f"line {i}")
                # Lines from two reactors may come in either order: each terminal's must come.
                wanted = {f"line {i}" for i in range(len(terminals))}
                await receive_until(browser, lambda m: not wanted.discard(m.split(": ", 1)[-1]) and not wanted,
                                    f"every terminal's line ({wanted})")
                await browser.send("/who")
                await receive_until(browser, lambda m: m.startswith(f"* online ({len(terminals) + 1}): "), "/who")
                # Reactor 0's shard sent the browser's line to the other reactor: bytes were in flight.
                numbers = stats(server)
                self.assertGreater(numbers["peak_in_flight"], 0)
                self.assertIn("forward_holds", numbers)
                for terminal in terminals:
                    terminal.close()
        with ChatServer(BINARY, "--threads", "2", "--flood-limit", "0") as server:
            run(scenario(server))

    def test_a_page_of_another_site_is_refused_its_own_is_let_in(self):
        # Cross-site WebSocket hijacking: a browser always sends Origin; only the chat's own page may join.
        async def scenario(server):
            url = f"ws://127.0.0.1:{server.http_port}/ws"
            with self.assertRaises(websockets.InvalidStatusCode) as refused:
                await websockets.connect(url, origin="http://evil.example")
            self.assertEqual(refused.exception.status_code, 403)
            async with websockets.connect(url, origin=f"http://127.0.0.1:{server.http_port}") as browser:
                await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming the page's own socket")
        with ChatServer(BINARY) as server:
            run(scenario(server))

    def test_a_binary_message_is_refused_with_1003(self):
        async def scenario(server):
            async with websockets.connect(f"ws://127.0.0.1:{server.http_port}/ws") as browser:
                await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming")
                await browser.send(b"\x00\x01")
                with self.assertRaises(websockets.ConnectionClosed):
                    await receive_until(browser, lambda m: False, "anything")
                self.assertEqual(browser.close_code, 1003)
        with ChatServer(BINARY) as server:
            run(scenario(server))

    def test_an_over_long_line_gets_the_rooms_answer(self):
        async def scenario(server):
            async with websockets.connect(f"ws://127.0.0.1:{server.http_port}/ws") as browser:
                await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming")
                await browser.send("x" * 200)  # over --max-line 100, under the WebSocket's own limit
                await receive_until(browser, lambda m: m == "! line too long (max 100 bytes)", "the refusal")
                with self.assertRaises(websockets.ConnectionClosed):
                    await receive_until(browser, lambda m: False, "anything")
                self.assertEqual(browser.close_code, 1000)
        with ChatServer(BINARY, "--max-line", "100") as server:
            run(scenario(server))

    def test_a_browser_that_stops_reading_is_cut_as_too_slow(self):
        async def scenario(server):
            # max_queue=1 and a small read_limit: the client stops reading its socket almost at once.
            browser = await websockets.connect(f"ws://127.0.0.1:{server.http_port}/ws", max_queue=1, read_limit=1024)
            try:
                await receive_until(browser, lambda m: m.startswith("Welcome"), "welcoming")
                await browser.send("/nick sleepy")
                await receive_until(browser, lambda m: m.endswith("is now known as sleepy"), "renaming")
                terminal = LineClient(server.tcp_port)
                terminal.wait_for(lambda line: line.startswith("Welcome"), "welcoming the terminal")
                # The terminal reads its own echoes as it goes (or it would be the slow one); the kernel's
                # socket buffers on both sides take a few MB before the server holds anything for sleepy.
                line = "y" * 1000
                cut = False
                for _ in range(400):  # 20 MB at most
                    for _ in range(50):
                        terminal.send(line)
                    echoes = 0
                    while echoes < 50:
                        got = terminal.read_line()
                        if got == "* sleepy left (too slow)":
                            cut = True
                        elif got.endswith(": " + line):
                            echoes += 1
                    if cut:
                        break
                self.assertTrue(cut, "sleepy was never cut")
                terminal.close()
            finally:
                browser.transport.abort()  # the server dropped it without a close handshake, as it should
            self.assertEqual(stats(server)["cut"]["slow"], 1)
        with ChatServer(BINARY, "--send-buffer-limit", "65536", "--flood-limit", "0") as server:
            run(scenario(server))


if __name__ == "__main__":
    unittest.main(verbosity=2)
