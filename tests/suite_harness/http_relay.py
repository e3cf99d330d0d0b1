"""An HTTP/1.1 relay on 127.0.0.1 in front of a server on another loopback port: each request
is forwarded on a fresh connection (hop-by-hop headers dropped) and its answer sent back. The
man in the middle of the docsync tests: a subclass overrides `handle` to re-sign, record,
replay or tamper with what passes."""
import http.client
import http.server
import socketserver
import threading

from suite_harness.constants import LOOPBACK

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}
UPSTREAM_TIMEOUT = 60


class HttpRelay:
    def __init__(self, target_port):
        self.target_port = target_port
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def relay(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length")}
                status, answer_headers, data = outer.handle(self.command, self.path, headers,
                                                            body)
                self.send_response(status)
                for k, v in answer_headers:
                    if k.lower() not in HOP_BY_HOP and k.lower() not in ("date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = relay

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # the secondary hangs up on answers it refuses; that is the point

        self.server = Server((LOOPBACK, 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        """The target's (status, [(header, value)], body) for this request."""
        conn = http.client.HTTPConnection(LOOPBACK, self.target_port, timeout=UPSTREAM_TIMEOUT)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def handle(self, method, path, headers, body):
        """What the client gets; by default the target's answer, unchanged."""
        return self.forward(method, path, headers, body)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
