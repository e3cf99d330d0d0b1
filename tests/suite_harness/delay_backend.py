"""A web worker on loopback that answers after a delay set at run time, for the bylatency tests
and bench: a minimal asyncio HTTP/1.1 server (keep-alive, GET only) in its own process.

    backend = DelayBackend(delay_ms=5).start()
    backend.set_delay(50)            # from now on every answer waits 50 ms
    backend.served()                 # [time.time() of every answer sent]
    backend.spans()                  # [(arrival, sent, delay s)] of every answer
    backend.cleanup()

GET /_delay?ms=N sets the delay, GET /_served returns the answer times as JSON, GET /_spans
the arrival and answer times and the delay of every answer (the event loop's own lag is what
is left of answer - arrival after the delay); any other path gets a 512-byte body after the
delay. The control paths answer at once.
"""
import asyncio
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

from suite_harness.constants import LOOPBACK
from suite_harness.httpd import free_port

BODY = b"x" * 512


MAX_HEADER_BYTES = 16 * 1024


def _response(body, content_type=b"application/octet-stream"):
    return (b"HTTP/1.1 200 OK\r\nContent-Type: " + content_type +
            b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class _State:
    def __init__(self, delay_ms):
        self.delay = delay_ms / 1000.0
        self.times = []
        self.spans = []


async def _connection(state, reader, writer):
    """One kept-alive connection: GET requests without bodies, answered in order."""
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            target = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
            url = urllib.parse.urlsplit(target)
            if url.path == "/_delay":
                ms = float(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
                state.delay = max(0.0, min(ms, 60_000.0)) / 1000.0
                writer.write(_response(b"ok\n", b"text/plain"))
            elif url.path == "/_served":
                writer.write(_response(json.dumps(state.times).encode(), b"application/json"))
            elif url.path == "/_spans":
                writer.write(_response(json.dumps(state.spans).encode(), b"application/json"))
            else:
                arrival, delay = time.time(), state.delay
                if delay:
                    await asyncio.sleep(delay)
                writer.write(_response(BODY))
                sent = time.time()
                state.times.append(sent)
                state.spans.append((arrival, sent, delay))
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def serve(port, delay_ms):
    """asyncio rather than a thread per connection: on a busy machine the backend itself must
    not be what queues requests, or every member's latency is the Python server's."""
    state = _State(delay_ms)

    async def main():
        server = await asyncio.start_server(
            lambda r, w: _connection(state, r, w), LOOPBACK, port, backlog=512,
            limit=MAX_HEADER_BYTES, reuse_address=True)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class DelayBackend:
    def __init__(self, delay_ms=0.0, port=None):
        self.delay_ms = delay_ms
        self.port = port or free_port()
        self.proc = None

    def start(self, timeout=10):
        # Its own process, started as this package's module: the harness's directory on its
        # path whatever the caller's PYTHONPATH was.
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [package_root, os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", "suite_harness.delay_backend",
                                      str(self.port), str(self.delay_ms)],
                                     stdout=subprocess.PIPE, text=True, env=env)
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

    def spans(self):
        return [tuple(s) for s in json.loads(self._get("/_spans"))]

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
