"""mod_docsync between two real httpd instances on loopback: initial sync, then edits, additions,
deletions, renames, chmod and symlinks; a one-byte change in a large file moves only a few
blocks; the status page reports it."""
import os
import random
import time
import unittest

from suite_harness.docsync import (new_primary, new_secondary, request, status_json, temp_files,
                                   tree_state, wait_round_done)
from suite_harness.waiting import wait_until


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:  # a zombie is not alive
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def make_tree(root):
    os.makedirs(os.path.join(root, "sub/deeper"))
    for i in range(50):
        with open(os.path.join(root, f"sub/file{i}.html"), "w") as f:
            f.write(f"<p>file {i}</p>\n" * (i + 1))
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>hello from the primary</h1>\n")
    with open(os.path.join(root, "sub/deeper/private.txt"), "w") as f:
        f.write("mode 444\n")
    os.chmod(os.path.join(root, "sub/deeper/private.txt"), 0o444)
    os.symlink("index.html", os.path.join(root, "latest.html"))
    os.symlink("../index.html", os.path.join(root, "sub/up.html"))
    with open(os.path.join(root, "empty"), "w"):
        pass


class DocSyncBetweenTwoServers(unittest.TestCase):
    def setUp(self):
        self.primary, self.pdirs = new_primary(["docs"])
        self.src = self.pdirs["docs"]
        make_tree(self.src)
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondary, self.sdirs = new_secondary(
            self.primary.port, [("docs", "htdocs/synced", [])])
        self.dst = self.sdirs["docs"]
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def wait_identical(self, timeout=20, what="identical trees"):
        wait_until(lambda: tree_state(self.src) == tree_state(self.dst), timeout=timeout, what=what)

    def test_initial_sync_then_every_kind_of_change(self):
        self.wait_identical(what="initial sync")
        status, body, _ = request(self.secondary.port, "GET", "/synced/index.html")
        self.assertEqual((status, body), (200, b"<h1>hello from the primary</h1>\n"))

        # edit, add, delete, rename, chmod, retarget and add symlinks, replace a file by a dir
        with open(os.path.join(self.src, "index.html"), "w") as f:
            f.write("<h1>edited</h1>\n")
        with open(os.path.join(self.src, "sub/new.html"), "w") as f:
            f.write("new\n")
        os.unlink(os.path.join(self.src, "sub/file3.html"))
        os.rename(os.path.join(self.src, "sub/file4.html"), os.path.join(self.src, "moved.html"))
        os.chmod(os.path.join(self.src, "sub/file5.html"), 0o640)
        os.unlink(os.path.join(self.src, "latest.html"))
        os.symlink("moved.html", os.path.join(self.src, "latest.html"))
        os.unlink(os.path.join(self.src, "empty"))
        os.makedirs(os.path.join(self.src, "empty/now-a-dir"))
        t0 = time.monotonic()
        self.wait_identical(what="changes propagated")
        self.assertLess(time.monotonic() - t0, 5.0)
        status, body, _ = request(self.secondary.port, "GET", "/synced/index.html")
        self.assertEqual((status, body), (200, b"<h1>edited</h1>\n"))
        self.assertEqual(os.readlink(os.path.join(self.dst, "latest.html")), "moved.html")
        self.assertEqual(temp_files(self.dst), [])

        st = wait_until(lambda: (lambda s: s if s["sources"] and s["sources"][0]["rounds"] >= 2
                                 else None)(status_json(self.secondary)), what="status rounds")
        src = st["sources"][0]
        self.assertTrue(st["sync_child_running"])
        self.assertEqual(src["result"], "ok")
        self.assertGreater(src["files_transferred"], 50)
        status, html, _ = request(self.secondary.port, "GET", "/docsync-status")
        self.assertEqual(status, 200)
        self.assertIn(b"docsync", html)
        self.assertIn(b"result", html)

    def test_one_byte_change_in_a_large_file_moves_a_small_fraction(self):
        size = 16 << 20
        data = bytearray(random.Random(1).randbytes(size))
        path = os.path.join(self.src, "big.bin")
        with open(path, "wb") as f:
            f.write(data)
        self.wait_identical(timeout=30, what="big file synced")
        before = wait_round_done(self.secondary, self.primary, "docs")
        data[size // 2] ^= 0xFF
        with open(path, "r+b") as f:
            f.seek(size // 2)
            f.write(bytes([data[size // 2]]))
        self.wait_identical(timeout=30, what="one-byte change synced")
        after = wait_until(lambda: (lambda s: s if s["rounds"] > before["rounds"] else None)(
            status_json(self.secondary)["sources"][0]), what="round recorded")
        moved = (after["bytes_received"] - before["bytes_received"] +
                 after["bytes_sent"] - before["bytes_sent"])
        print(f"one-byte change in {size} bytes: {moved} bytes on the wire (both ways)")
        self.assertLess(moved, size // 50)
        self.assertGreater(after["bytes_saved_by_delta"], size - (1 << 20))

    @unittest.skipUnless(os.geteuid() == 0, "needs httpd children running as another user")
    def test_unreadable_files_are_left_out_and_reported(self):
        self.wait_identical(what="initial sync")
        path = os.path.join(self.src, "root-only.txt")
        with open(path, "w") as f:
            f.write("secret\n")
        os.chmod(path, 0o600)
        wait_until(lambda: "left out of the manifest" in self.primary.error_log_text(),
                   what="warning in the primary's log")
        self.assertIn("root-only.txt", self.primary.error_log_text())
        with open(os.path.join(self.src, "after.txt"), "w") as f:
            f.write("after\n")
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "after.txt")), what="after.txt")
        self.assertFalse(os.path.exists(os.path.join(self.dst, "root-only.txt")))

    def test_sync_process_survives_graceful_restart_and_is_restarted_if_killed(self):
        self.wait_identical(what="initial sync")
        pid = status_json(self.secondary)["sync_child_pid"]
        self.secondary.graceful()
        self.assertEqual(status_json(self.secondary)["sync_child_pid"], pid)
        os.kill(pid, 9)
        wait_until(lambda: status_json(self.secondary)["sync_child_pid"] not in (pid, 0),
                   what="sync process restarted")
        with open(os.path.join(self.src, "after-restart.txt"), "w") as f:
            f.write("still syncing\n")
        self.wait_identical(what="sync after the restart")

        # A hard restart replaces the sync process; a stop ends it.
        pid = status_json(self.secondary)["sync_child_pid"]
        self.secondary.httpd("-k", "restart")
        wait_until(lambda: (lambda p: p not in (pid, 0))(
            status_json(self.secondary)["sync_child_pid"]), what="new sync process")
        self.assertFalse(pid_alive(pid))
        pid = status_json(self.secondary)["sync_child_pid"]
        with open(os.path.join(self.src, "after-hard-restart.txt"), "w") as f:
            f.write("still syncing\n")
        self.wait_identical(what="sync after the hard restart")
        self.secondary.stop()
        wait_until(lambda: not pid_alive(pid), timeout=10, what="sync process gone after stop")


if __name__ == "__main__":
    unittest.main()
