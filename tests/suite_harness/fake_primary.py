"""Small python primaries on 127.0.0.1 for the mod_docsync tests against the real secondary.

They hold the shared secret and sign their answers as a real primary does (answer_auth.h):
what they get wrong is on purpose — a hostile primary lies about the tree, a slow one drips.
A subclass says what to answer in answer_get / answer_post; FakePrimary does the HTTP, the
answer tags and the server's lifecycle."""
import hashlib
import http.server
import socketserver
import threading
import time
import urllib.parse

from suite_harness.constants import LOOPBACK
from suite_harness.docsync import (SECRET, answer_message, batch_frames, data_frames, frame_stream,
                                   hmac_tagger, whole_body)

OCTETS = "application/octet-stream"


def enc(path):
    out = ""
    for b in (path if isinstance(path, bytes) else path.encode()):
        out += f"%{b:02X}" if b <= 0x20 or b >= 0x7F or b == 0x25 else chr(b)
    return out


def manifest(entries):
    """entries: [(type, path, content-or-target, mode)] already sorted."""
    lines = [f"DSM1 {len(entries)}\n"]
    for typ, path, data, mode in entries:
        if typ == "f":
            lines.append(f"f {mode:o} {len(data)} 1000000000 {hashlib.sha256(data).hexdigest()} "
                         f"{enc(path)}\n")
        elif typ == "d":
            lines.append(f"d {mode:o} 0 1000000000 - {enc(path)}\n")
        else:
            lines.append(f"l 777 {len(data)} 1000000000 - {enc(path)} {enc(data)}\n")
    return "".join(lines).encode()


class FakePrimary:
    def __init__(self, manifest_bytes):
        self.manifest = manifest_bytes
        self.scanned = time.time_ns()  # X-DocSync-Scanned to send (the manifest version)
        self.tagger = hmac_tagger(SECRET)
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def reply(self, status, body=b"", headers=(), ctype="", body_kind=None,
                      write=None):
                """Sends a signed answer. body may be a callable (nonce, tag) -> bytes for
                a frame stream; write(handler, body) replaces the plain write of the body."""
                nonce = self.headers.get("X-DocSync-Nonce", "")
                h = dict(headers)
                tag = outer.tagger(answer_message(
                    nonce, self.command, self.path, status, h.get("ETag", "").strip('"'),
                    h.get("X-DocSync-Scanned", ""), h.get("X-DocSync-Manifest", ""),
                    ctype if status == 200 else "",
                    body_kind or (whole_body(body) if status == 200 else "none")))
                if callable(body):
                    body = body(nonce, tag)
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if ctype:
                    self.send_header("Content-Type", ctype)
                self.send_header("X-DocSync-Answer-Auth", tag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if write:
                    write(self, body)
                else:
                    self.wfile.write(body)

            def frames(self, frames, write=None):
                self.reply(200, lambda nonce, tag: frame_stream(outer.tagger, nonce, tag, frames),
                           (), OCTETS, "frames", write)

            def do_GET(self):
                outer.answer_get(self)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.answer_post(self, body)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass  # the secondary hangs up on bad answers; that is the point

        self.server = Server((LOOPBACK, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def current_etag(self):
        return hashlib.sha256(self.manifest).hexdigest()

    def answer_manifest(self, handler, unchanged_delay):
        """The manifest, or 304 after `unchanged_delay` seconds (a long poll) when unchanged."""
        etag = self.current_etag()
        version = [("X-DocSync-Scanned", str(self.scanned))] if self.scanned else []
        if handler.headers.get("If-None-Match", "").strip('"') == etag:
            time.sleep(unchanged_delay)
            return handler.reply(304, headers=[("ETag", f'"{etag}"')] + version)
        headers = [("ETag", f'"{etag}"'), ("X-DocSync-Manifest", "full")] + version
        return handler.reply(200, self.manifest, headers, "text/plain")

    def answer_get(self, handler):
        handler.reply(404)

    def answer_post(self, handler, body):
        handler.reply(404)

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


class HostilePrimary(FakePrimary):
    """Answers /x/<export>/manifest, /files and /delta with whatever the test put in
    `manifest`, `files(paths)` and `delta(path, signature)`."""

    MANIFEST_POLL_DELAY = 0.2

    def __init__(self):
        self.files = lambda paths: b""
        self.delta = lambda path, sig: b""
        self.requests = []
        self.etag = None  # overrides the real ETag when set
        super().__init__(manifest([]))

    def current_etag(self):
        return self.etag or super().current_etag()

    def answer_get(self, handler):
        self.requests.append(handler.path)
        if "/manifest" in handler.path:
            return self.answer_manifest(handler, self.MANIFEST_POLL_DELAY)
        handler.reply(404)

    def answer_post(self, handler, body):
        self.requests.append(handler.path)
        if handler.path.endswith("/files"):
            paths = [urllib.parse.unquote(p) for p in body.decode().split("\n") if p]
            return handler.frames(batch_frames(self.files(paths)))
        if "/delta" in handler.path:
            return handler.frames(data_frames(self.delta(handler.path, body)))
        handler.reply(404)


class DripPrimary(FakePrimary):
    """A manifest with one file, then its content at `rate` bytes per second (bounded). What is
    slow is the link, not the authentication."""

    MANIFEST_POLL_DELAY = 0.5
    MAX_DRIP_SECONDS = 120

    def __init__(self, size, rate):
        self.content = b"x" * size
        self.rate = rate
        self.file_requests = []
        super().__init__(manifest([("f", "slow.bin", self.content, 0o644)]))

    def answer_get(self, handler):
        self.answer_manifest(handler, self.MANIFEST_POLL_DELAY)

    def answer_post(self, handler, body):
        self.file_requests.append(time.monotonic())
        handler.frames(batch_frames([("F", self.content)]), write=self.drip)

    def drip(self, handler, body):
        chunk = max(1, self.rate // 10)
        try:
            for i in range(0, min(len(body), self.rate * self.MAX_DRIP_SECONDS), chunk):
                if self.stop.is_set():
                    break
                handler.wfile.write(body[i:i + chunk])
                handler.wfile.flush()
                time.sleep(chunk / self.rate)
        except OSError:
            pass  # the secondary hung up: what it should do
        handler.close_connection = True
