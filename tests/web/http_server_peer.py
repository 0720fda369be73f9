"""A real HTTP server for weft::web::Agent's tests (test_agent_peers.cpp): Python's http.server on
127.0.0.1, port 0. Prints "port N" once listening. With --tls CERT KEY it speaks TLS (ALPN http/1.1).
Each answer says which connection it came on (X-Connection), so the test can tell reuse."""
import http.server
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections = 0

    def setup(self):
        super().setup()
        Handler.connections += 1
        self.number = Handler.connections

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/close":
            # No Content-Length: the body ends with the connection.
            self.send_response(200)
            self.send_header("X-Connection", str(self.number))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"until the end")
            self.close_connection = True
            return
        body = ("hello from python, path " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Connection", str(self.number))
        alpn = getattr(self.connection, "selected_alpn_protocol", lambda: None)()
        self.send_header("X-Alpn", str(alpn))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Connection", str(self.number))
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 4 and sys.argv[1] == "--tls":
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    context.set_alpn_protocols(["http/1.1"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("port", server.server_address[1], flush=True)
server.serve_forever()
