"""A real HTTP client against weft::web (test_python_peer.cpp): Python's http.client on one keep-alive
connection. Prints one line per answer; the test compares them."""
import http.client
import json
import sys

conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)


def ask(method, path, body=None, headers=None, **kw):
    conn.request(method, path, body=body, headers=headers or {}, **kw)
    r = conn.getresponse()
    data = r.read()
    print(r.status, r.getheader("Content-Length"), r.getheader("Content-Type"), data.decode())


ask("GET", "/hello?name=py%20thon")
ask("POST", "/sum", json.dumps([1, 2, 3]), {"Content-Type": "application/json"})
ask("POST", "/sum", iter([b"[4,", b" 5]"]), {"Content-Type": "application/json"}, encode_chunked=True)
ask("HEAD", "/hello")
ask("GET", "/missing")
ask("PUT", "/hello", b"x")
print("sock reused:", conn.sock is not None)
conn.close()
