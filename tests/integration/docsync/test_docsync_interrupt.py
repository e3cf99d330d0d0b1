"""A primary killed in the middle of a transfer leaves no partial or corrupt file on the
secondary; the next round after the primary is back completes the sync."""
import os
import random
import socket
import threading
import time
import unittest

from docsync_helpers import (new_primary, new_secondary, request, status_json, temp_files,
                             tree_state, wait_for)


class ThrottlingProxy:
    """127.0.0.1 TCP proxy that slows the primary's answers down to `rate` bytes/s, so a kill
    reliably lands in the middle of a transfer."""

    def __init__(self, upstream_port, rate):
        self.upstream_port = upstream_port
        self.rate = rate
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.sockets = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), 5)
            except OSError:
                client.close()
                continue
            self.sockets += [client, upstream]
            threading.Thread(target=self.pump, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, self.rate),
                             daemon=True).start()

    def pump(self, src, dst, rate):
        chunk = 16384
        src.settimeout(60)
        try:
            while not self.stop.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if rate:
                    time.sleep(len(data) / rate)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.stop.set()
        self.listener.close()
        for s in self.sockets:
            try:
                s.close()
            except OSError:
                pass


class PrimaryKilledMidTransfer(unittest.TestCase):
    def test_no_partial_file_and_the_sync_resumes(self):
        primary, pdirs = new_primary(["docs"])
        src = pdirs["docs"]
        self.addCleanup(primary.cleanup)
        rng = random.Random(7)
        old = rng.randbytes(4 << 20)
        with open(os.path.join(src, "existing.bin"), "wb") as f:
            f.write(old)
        primary.start()
        proxy = ThrottlingProxy(primary.port, rate=2 << 20)
        self.addCleanup(proxy.close)
        secondary, sdirs = new_secondary(proxy.port, [("docs", "htdocs/synced", [])])
        dst = sdirs["docs"]
        self.addCleanup(secondary.cleanup)
        secondary.start()
        wait_for(lambda: tree_state(src) == tree_state(dst), timeout=30, what="initial sync")

        # A new large file and a rewritten existing one: both take seconds through the proxy.
        new = rng.randbytes(12 << 20)
        with open(os.path.join(src, "new.bin"), "wb") as f:
            f.write(new)
        rewritten = rng.randbytes(4 << 20)
        with open(os.path.join(src, "existing.bin"), "wb") as f:
            f.write(rewritten)
        wait_for(lambda: temp_files(dst), timeout=20, interval=0.01, what="transfer under way")
        time.sleep(0.5)
        primary.kill()

        def settled():
            st = status_json(secondary)["sources"][0]
            return st if st["result"] == "error" and not temp_files(dst) else None
        wait_for(settled, timeout=30, what="failed round cleaned up")
        self.assertFalse(os.path.exists(os.path.join(dst, "new.bin")))
        with open(os.path.join(dst, "existing.bin"), "rb") as f:
            content = f.read()
        self.assertIn(content, (old, rewritten))  # never a mixture or a truncated copy
        status, body, _ = request(secondary.port, "GET", "/synced/existing.bin")
        self.assertEqual(status, 200)
        self.assertIn(body, (old, rewritten))

        primary.start()
        wait_for(lambda: tree_state(src) == tree_state(dst), timeout=60, what="sync resumed")
        self.assertEqual(temp_files(dst), [])


if __name__ == "__main__":
    unittest.main()
