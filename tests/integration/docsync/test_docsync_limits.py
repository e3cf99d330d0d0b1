"""A hostile or broken primary (a small python server on 127.0.0.1) against the real secondary,
for the limits of issue 9: a symlink chain that passes a lexical safe-links check (rsync's
CVE-2024-12088 class), an empty manifest that would wipe a configuration tree which
`IncludeOptional` keeps valid, and a primary that answers at 1 byte/s."""
import hashlib
import http.server
import os
import socketserver
import threading
import time
import unittest

from docsync_helpers import (SECRET, answer_message, batch_frames, frame_stream, hmac_tagger,
                             new_secondary, request, status_json, wait_for, whole_body)
from test_docsync_security import HostilePrimary, manifest


def source_status(secondary):
    return status_json(secondary)["sources"][0]


class SymlinkChain(unittest.TestCase):
    def setUp(self):
        self.evil = HostilePrimary()
        self.addCleanup(self.evil.close)
        self.secondary, dirs = new_secondary(self.evil.port, [("evil", "htdocs/synced", [])])
        self.dst = dirs["evil"]
        os.makedirs(self.dst)
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def test_chain_through_a_link_to_dot_is_not_created_and_etc_passwd_not_served(self):
        # Each link alone is "inside" when read lexically; together "etc" is /etc (enough
        # ".." to reach / from wherever the fixture's ServerRoot is).
        up = 12
        chain = "/".join(["b"] * up + [".."] * up + ["etc"])
        log_before = self.secondary.error_log_size()
        self.evil.manifest = manifest([("l", "b", b".", 0), ("l", "etc", chain.encode(), 0),
                                       ("f", "index.html", b"home\n", 0o644)])
        self.evil.files = lambda paths: [("F", b"home\n") for _ in paths]
        wait_for(lambda: os.path.lexists(os.path.join(self.dst, "b")), timeout=30,
                 what="the safe link b")
        wait_for(lambda: source_status(self.secondary)["rounds"] >= 1, timeout=30,
                 what="the round")
        self.assertEqual(os.readlink(os.path.join(self.dst, "b")), ".")
        self.assertFalse(os.path.lexists(os.path.join(self.dst, "etc")))
        status, body, _ = request(self.secondary.port, "GET", "/synced/etc/passwd")
        self.assertNotEqual(status, 200)
        self.assertNotIn(b"root:", body)
        status, body, _ = request(self.secondary.port, "GET", "/synced/b/b/index.html")
        self.assertEqual((status, body), (200, b"home\n"))  # the safe link itself works
        wait_for(lambda: "unsafe symlink" in self.secondary.error_log_text(log_before),
                 what="the refusal logged")


class EmptyManifestOfAConfigTree(unittest.TestCase):
    def setUp(self):
        self.evil = HostilePrimary()
        self.addCleanup(self.evil.close)
        self.secondary, dirs = new_secondary(self.evil.port,
                                             [("conf", "conf/common", ["restart=graceful"])])
        self.dst = dirs["conf"]
        os.makedirs(self.dst)
        with open(self.secondary.conf_path, "a") as f:
            f.write(f'IncludeOptional "{self.dst}/*.conf"\n')
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def test_an_empty_manifest_does_not_wipe_the_synced_configuration(self):
        files = {"a.conf": b"# a\n", "b.conf": b"# b\n"}
        self.evil.manifest = manifest([("f", p, d, 0o644) for p, d in sorted(files.items())])
        self.evil.files = lambda paths: [("F", files[p]) for p in paths]
        wait_for(lambda: all(os.path.exists(os.path.join(self.dst, p)) for p in files),
                 timeout=30, what="the configuration synced")
        log_before = self.secondary.error_log_size()
        self.evil.manifest = manifest([])  # valid for the configtest: IncludeOptional
        st = wait_for(lambda: (lambda s: s if s["result"] == "refused" else None)(
            source_status(self.secondary)), timeout=30, what="the round refused")
        self.assertIn("empty manifest", st["last_error"])
        for p, d in files.items():
            with open(os.path.join(self.dst, p), "rb") as f:
                self.assertEqual(f.read(), d)
        refusals = [line for line in self.secondary.error_log_text(log_before).splitlines()
                    if "refused, nothing applied" in line]
        self.assertEqual(len(refusals), 1, refusals)
        # The same manifest asked for again is not logged again.
        fetches = len(self.evil.requests)
        wait_for(lambda: len(self.evil.requests) >= fetches + 2, timeout=30, what="more polls")
        self.assertEqual(self.secondary.error_log_text(log_before).count(
            "refused, nothing applied"), 1)


class DripPrimary:
    """A manifest with one file, then its content at `rate` bytes per second (bounded). It holds
    the secret and signs its answers like a real primary: what is slow is the link, not the
    authentication."""

    def __init__(self, size, rate):
        self.content = b"x" * size
        self.manifest = manifest([("f", "slow.bin", self.content, 0o644)])
        self.file_requests = []
        self.stop = threading.Event()
        self.scanned = time.time_ns()  # the manifest version
        self.tagger = hmac_tagger(SECRET)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, status, body=b"", headers=(), ctype="", body_kind=None, drip=False):
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
                if not drip:
                    self.wfile.write(body)
                    return
                chunk = max(1, rate // 10)
                try:
                    for i in range(0, min(len(body), rate * 120), chunk):
                        if outer.stop.is_set():
                            break
                        self.wfile.write(body[i:i + chunk])
                        self.wfile.flush()
                        time.sleep(chunk / rate)
                except OSError:
                    pass  # the secondary hung up: what it should do
                self.close_connection = True

            def do_GET(self):
                etag = hashlib.sha256(outer.manifest).hexdigest()
                headers = [("ETag", f'"{etag}"'), ("X-DocSync-Scanned", str(outer.scanned))]
                if self.headers.get("If-None-Match", "").strip('"') == etag:
                    time.sleep(0.5)
                    return self.answer(304, headers=headers)
                self.answer(200, outer.manifest, headers + [("X-DocSync-Manifest", "full")],
                            "text/plain")

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.file_requests.append(time.monotonic())
                frames = batch_frames([("F", outer.content)])
                self.answer(200, lambda nonce, tag: frame_stream(outer.tagger, nonce, tag, frames),
                            (), "application/octet-stream", "frames", drip=True)

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


class SlowPrimary(unittest.TestCase):
    def start(self, size, rate, options):
        self.drip = DripPrimary(size, rate)
        self.addCleanup(self.drip.close)
        self.secondary, dirs = new_secondary(self.drip.port, [("slow", "htdocs/synced", options)])
        self.dst = dirs["slow"]
        os.makedirs(self.dst)
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def wait_abandoned(self, what, limit):
        first = wait_for(lambda: self.drip.file_requests[:1], timeout=30, what="a file request")
        st = wait_for(lambda: (lambda s: s if s["result"] == "error" and s["rounds"] >= 1
                               else None)(source_status(self.secondary)),
                      timeout=limit + 30, what=what)
        # The round ended when its status was written; the request started at first[0].
        elapsed = time.monotonic() - first[0]
        self.assertLess(elapsed, limit + 15, st)
        self.assertFalse(os.path.exists(os.path.join(self.dst, "slow.bin")))
        return st

    def test_a_1_byte_per_second_drip_is_abandoned_after_the_stall_timeout(self):
        self.start(4096, 1, ["stall-timeout=3s"])
        st = self.wait_abandoned("the stalled round", 3)
        self.assertIn("batch", st["last_error"])

    def test_a_drip_above_the_stall_rate_is_ended_by_the_round_timeout(self):
        # 4 KiB/s is above the stall rate; 8 MiB at that rate would take over half an hour.
        self.start(8 << 20, 4096, ["stall-timeout=3s", "round-timeout=6s"])
        self.wait_abandoned("the round past its deadline", 6)


if __name__ == "__main__":
    unittest.main()
