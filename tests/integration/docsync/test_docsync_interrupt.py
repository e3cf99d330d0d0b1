"""A primary killed in the middle of a transfer leaves no partial or corrupt file on the
secondary; the next round after the primary is back completes the sync."""
import os
import random
import time
import unittest

from suite_harness.docsync import (new_primary, new_secondary, request, status_json, temp_files,
                                   tree_state)
from suite_harness.relay import TcpRelay
from suite_harness.waiting import wait_until


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
        # Slows the primary's answers down so a kill reliably lands in the middle of a transfer.
        proxy = TcpRelay.to_port(primary.port, downstream_rate=2 << 20)
        self.addCleanup(proxy.close)
        secondary, sdirs = new_secondary(proxy.port, [("docs", "htdocs/synced", [])])
        dst = sdirs["docs"]
        self.addCleanup(secondary.cleanup)
        secondary.start()
        wait_until(lambda: tree_state(src) == tree_state(dst), timeout=30, what="initial sync")

        # A new large file and a rewritten existing one: both take seconds through the proxy.
        new = rng.randbytes(12 << 20)
        with open(os.path.join(src, "new.bin"), "wb") as f:
            f.write(new)
        rewritten = rng.randbytes(4 << 20)
        with open(os.path.join(src, "existing.bin"), "wb") as f:
            f.write(rewritten)
        wait_until(lambda: temp_files(dst), timeout=20, step=0.01, what="transfer under way")
        time.sleep(0.5)
        primary.kill()

        def settled():
            st = status_json(secondary)["sources"][0]
            return st if st["result"] == "error" and not temp_files(dst) else None
        wait_until(settled, timeout=30, what="failed round cleaned up")
        self.assertFalse(os.path.exists(os.path.join(dst, "new.bin")))
        with open(os.path.join(dst, "existing.bin"), "rb") as f:
            content = f.read()
        self.assertIn(content, (old, rewritten))  # never a mixture or a truncated copy
        status, body, _ = request(secondary.port, "GET", "/synced/existing.bin")
        self.assertEqual(status, 200)
        self.assertIn(body, (old, rewritten))

        primary.start()
        wait_until(lambda: tree_state(src) == tree_state(dst), timeout=60, what="sync resumed")
        self.assertEqual(temp_files(dst), [])


if __name__ == "__main__":
    unittest.main()
