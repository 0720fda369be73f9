"""A real HTTPS client against weft::web's server on an ssl: endpoint (test_agent_peers.cpp): Python's
http.client with ssl, verifying against the test CA and offering ALPN http/1.1. Prints the negotiated
protocol and each answer."""
import http.client
import ssl
import sys

context = ssl.create_default_context(cafile=sys.argv[2])
context.set_alpn_protocols(["http/1.1"])
conn = http.client.HTTPSConnection("localhost", int(sys.argv[1]), context=context, timeout=10)
for path in ("/hello", "/hello"):
    conn.request("GET", path)
    r = conn.getresponse()
    print(r.status, r.read().decode())
print("alpn", conn.sock.selected_alpn_protocol())
conn.close()
