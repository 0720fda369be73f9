#!/usr/bin/python3
"""Debian's python3-websockets as a wss:// server for weft's connect_websocket (tests/web/test_websocket_tls.cpp).

server CERT KEY: serves one echo connection over TLS (ALPN http/1.1 offered) on 127.0.0.1, port 0; prints
"port N", then the Host header, path and ALPN protocol the connection came with, and its close code.
"""
import asyncio
import ssl
import sys

import websockets


async def server(cert, key):
    done = asyncio.get_running_loop().create_future()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])

    async def echo(ws):
        print("host", ws.request_headers.get("Host"), flush=True)
        print("path", ws.path, flush=True)
        print("alpn", ws.transport.get_extra_info("ssl_object").selected_alpn_protocol(), flush=True)
        try:
            async for message in ws:
                await ws.send(message)
        finally:
            print("closed", ws.close_code, flush=True)
            if not done.done():
                done.set_result(None)

    async with websockets.serve(echo, "127.0.0.1", 0, ssl=context) as srv:
        print("port", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.wait_for(done, 20)


asyncio.run(server(sys.argv[2], sys.argv[3]))
