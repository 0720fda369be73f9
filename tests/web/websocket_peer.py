#!/usr/bin/python3
"""Debian's python3-websockets as a peer of weft's WebSocket code (tests/web/test_websocket_peers.cpp).

client PORT: talks to weft's echo server at ws://127.0.0.1:PORT/ws and prints what it sees.
server:      serves one echo connection on 127.0.0.1, port 0; prints "port N", then what it saw.
"""
import asyncio
import sys

import websockets


async def client(port):
    uri = f"ws://127.0.0.1:{port}/ws"
    async with websockets.connect(uri, subprotocols=["weft.test"], max_size=2**22) as ws:
        print("subprotocol", ws.subprotocol)
        await ws.send("hello")
        print("text", await ws.recv())
        await ws.send(b"\x00\x01\xff")
        print("binary", (await ws.recv()).hex())
        await ws.send(["frag1-", "frag2-", "\u00b5\u00df"])  # a fragmented text message
        print("fragmented", await ws.recv())
        big = "x" * 300000
        await ws.send(big)
        print("big", len(await ws.recv()) == len(big))
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
        print("pong ok")
        await ws.close(4001, "client done")
        print("closed", ws.close_code, ws.close_reason)
    # The server closes this one.
    async with websockets.connect(uri) as ws:
        await ws.send("close")
        try:
            await ws.recv()
        except websockets.ConnectionClosedOK as e:
            print("server closed", e.rcvd.code, e.rcvd.reason)


async def server():
    done = asyncio.get_running_loop().create_future()

    async def echo(ws):
        try:
            async for message in ws:
                if message == "close-me":
                    await ws.close(4000, "server says bye")
                    break
                await ws.send(message)
        finally:
            print("server saw close", ws.close_code, ws.close_reason, flush=True)
            if not done.done():
                done.set_result(None)

    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["weft.test"]) as srv:
        print("port", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done, 20)


async def main():
    if sys.argv[1] == "client":
        await asyncio.wait_for(client(int(sys.argv[2])), 20)
    else:
        await server()


asyncio.run(main())
