"""A web worker on loopback that answers after a delay set at run time, for the bylatency tests
and bench: a threaded HTTP/1.1 server (keep-alive) in its own process.

    backend = DelayBackend(delay_ms=5).start()
    backend.set_delay(50)            # from now on every answer waits 50 ms
    backend.served()                 # [time.time() of every answer sent]
    backend.cleanup()

GET /_delay?ms=N sets the delay, GET /_served returns the answer times as JSON; any other path
gets a 512-byte body after the delay. Both control paths answer at once.
"""
import http.client
import http.server
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

LOOPBACK = "127.0.0.1"
BODY = b"x" * 512


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # no per-request logging
        pass

    def _send(self, body, content_type="application/octet-stream"):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        server = self.server
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_delay":
            ms = float(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
            server.delay = max(0.0, min(ms, 60_000.0)) / 1000.0
            return self._send(b"ok\n", "text/plain")
        if url.path == "/_served":
            with server.lock:
                times = list(server.times)
            return self._send(json.dumps(times).encode(), "application/json")
        if server.delay:
            time.sleep(server.delay)
        self._send(BODY)
        with server.lock:
            server.times.append(time.time())


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True


def serve(port, delay_ms):
    server = _Server((LOOPBACK, port), _Handler)
    server.delay = delay_ms / 1000.0
    server.lock = threading.Lock()
    server.times = []
    print("ready", flush=True)
    server.serve_forever()


class DelayBackend:
    def __init__(self, delay_ms=0.0, port=None):
        self.delay_ms = delay_ms
        if port is None:
            with socket.socket() as s:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
        self.port = port
        self.proc = None

    def start(self, timeout=10):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(self.port),
                                      str(self.delay_ms)], stdout=subprocess.PIPE, text=True)
        ready = []
        reader = threading.Thread(target=lambda: ready.append(self.proc.stdout.readline()),
                                  daemon=True)
        reader.start()
        reader.join(timeout)
        if not ready or ready[0].strip() != "ready":
            self.cleanup()
            raise RuntimeError(f"delay backend on port {self.port} did not start")
        return self

    def _get(self, path):
        conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.read()
        finally:
            conn.close()

    def set_delay(self, ms):
        self.delay_ms = ms
        self._get(f"/_delay?ms={ms}")

    def served(self):
        return json.loads(self._get("/_served"))

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


if __name__ == "__main__":
    serve(int(sys.argv[1]), float(sys.argv[2]))
