"""Attacks on both sides of mod_docsync, modelled on rsync's 2024 advisories
(CVE-2024-12084 .. 12088, CVE-2024-12747):

hostile secondary → real primary: unsigned/forged/stale/replayed requests, reads outside the
export or through symlinks (12086), bad checksum lengths (12084), short strong sums (12085),
a file swapped for a symlink while being served (12747);

hostile primary (a small python server on 127.0.0.1) → real secondary: traversal and absolute
paths (12087), symlinks leaving the tree and "safe-links" bypasses (12088), a planted symlink
redirecting a later write (12747), oversized or corrupt content and deltas (12084/12085)."""
import hashlib
import os
import pwd
import shutil
import signal
import stat
import struct
import tempfile
import threading
import time
import unittest
import urllib.parse

from suite_harness.docsync import (new_primary, new_secondary, read_frames, request, signed_headers,
                                   signed_request, status_json, temp_files)
from suite_harness.fake_primary import HostilePrimary, manifest
from suite_harness.waiting import wait_until


def sig_header(magic, block, strong):
    return struct.pack(">III", magic, block, strong)


RS_RK_BLAKE2_SIG_MAGIC = 0x72730147


class HostileSecondary(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.primary, dirs = new_primary(["docs"])
        cls.src = dirs["docs"]
        with open(os.path.join(cls.src, "page.html"), "w") as f:
            f.write("public page\n" * 3000)
        os.symlink("/etc/passwd", os.path.join(cls.src, "passwd-link"))
        os.symlink("/etc", os.path.join(cls.src, "etc-dir"))
        cls.primary.start()

    @classmethod
    def tearDownClass(cls):
        cls.primary.cleanup()

    def get(self, path, **kw):
        return signed_request(self.primary.port, "GET", path, **kw)

    def test_unsigned_forged_stale_and_replayed_requests_get_403(self):
        path = "/.docsync/docs/manifest"
        status, body, _ = request(self.primary.port, "GET", path)
        self.assertEqual(status, 403)
        self.assertNotIn(b"page.html", body)
        self.assertEqual(self.get(path, secret="wrong-secret-of-sufficient-length")[0], 403)
        self.assertEqual(self.get(path, timestamp=int(time.time()) - 3600)[0], 403)
        self.assertEqual(self.get(path, timestamp=int(time.time()) + 3600)[0], 403)
        headers = signed_headers("GET", "/.docsync/docs/manifest?wait=0")
        self.assertEqual(request(self.primary.port, "GET", path, headers=headers)[0], 403)
        headers = signed_headers("GET", path)
        self.assertEqual(request(self.primary.port, "GET", path, headers=headers)[0], 200)
        self.assertEqual(request(self.primary.port, "GET", path, headers=headers)[0], 403)
        status, body, hdrs = self.get(path)
        self.assertEqual(status, 200)
        self.assertIn(b"page.html", body)
        self.assertNotIn(b"root:", body)
        # Long poll: the same ETag and a 1 s wait give 304 after about a second. (Each httpd
        # child scans on its own; right after another test changed the export, two children
        # may briefly disagree, so take the ETag again if the answer was a newer manifest.)
        for _ in range(10):
            etag = hdrs["ETag"]
            t0 = time.monotonic()
            status, _, hdrs = self.get(path + "?wait=1", extra={"If-None-Match": etag})
            if status == 304:
                break
            time.sleep(0.3)
        self.assertEqual(status, 304)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_cve_2024_12086_no_reads_outside_the_export_or_through_symlinks(self):
        for p in ["../../../../etc/passwd", "/etc/passwd", "passwd-link", "etc-dir/passwd",
                  "%2e%2e/%2e%2e/etc/passwd", "page.html%00", "."]:
            q = urllib.parse.quote(p, safe="%/")
            for path in (f"/.docsync/docs/file?p={q}", f"/.docsync/docs/delta?p={q}"):
                method = "POST" if "delta" in path else "GET"
                body = sig_header(RS_RK_BLAKE2_SIG_MAGIC, 2048, 8) if method == "POST" else None
                status, data, _ = signed_request(self.primary.port, method, path, body=body)
                self.assertIn(status, (400, 404), f"{method} {path}")
                self.assertNotIn(b"root:", data)
        status, data, _ = signed_request(self.primary.port, "POST", "/.docsync/docs/files",
                                         body=b"passwd-link\netc-dir/passwd\npage.html\n")
        self.assertEqual(status, 200)
        self.assertNotIn(b"root:", data)
        (kind, headers, _, raw), = read_frames(data)
        self.assertEqual(kind, "Z")
        self.assertTrue(headers.startswith(b"E "), headers[:100])
        sha = hashlib.sha256(b"public page\n" * 3000).hexdigest()
        self.assertIn(f"F 36000 {sha}\n".encode(), headers)
        self.assertEqual(raw, b"public page\n" * 3000)
        status, _, _ = signed_request(self.primary.port, "POST", "/.docsync/docs/files",
                                      body=b"../../etc/passwd\n")
        self.assertEqual(status, 400)
        status, data, _ = self.get("/.docsync/docs/file?p=page.html&offset=12&length=12")
        self.assertEqual(status, 200)
        self.assertEqual([(k, a) for k, a, _, _ in read_frames(data)], [("Z", b"public page\n")])

    def test_cve_2024_12084_bad_checksum_lengths_are_refused(self):
        path = "/.docsync/docs/delta?p=page.html"
        for magic, block, strong, extra in [
                (RS_RK_BLAKE2_SIG_MAGIC, 2048, 1000, b"\0" * 1004),   # strong sum > max
                (RS_RK_BLAKE2_SIG_MAGIC, 2048, 0, b""),
                (RS_RK_BLAKE2_SIG_MAGIC, 0, 8, b""),
                (RS_RK_BLAKE2_SIG_MAGIC, 1 << 31, 8, b""),
                (RS_RK_BLAKE2_SIG_MAGIC, 2048, 8, b"\1\2\3"),          # partial block
                (0x72730136, 2048, 8, b""),                            # MD4 refused
                (0xdeadbeef, 2048, 8, b"")]:
            status, _, _ = signed_request(self.primary.port, "POST", path,
                                          body=sig_header(magic, block, strong) + extra)
            self.assertEqual(status, 400, (hex(magic), block, strong))
        status, _, _ = signed_request(self.primary.port, "POST", path,
                                      body=b"\0" * (65 << 20))
        self.assertEqual(status, 413)
        self.assertEqual(self.get("/.docsync/docs/manifest")[0], 200)  # still serving

    def test_cve_2024_12085_short_strong_sums_give_deterministic_answers(self):
        # A signature whose strong sums are 1 byte long, for blocks that do match: if any
        # comparison read past the bytes sent, answers would vary with memory contents.
        content = ("public page\n" * 3000).encode()
        block = 1024
        sums = b""
        for i in range(0, len(content), block):
            chunk = content[i:i + block]
            h = 1
            for byte in chunk:
                h = (h * 0x08104225 + byte) & 0xFFFFFFFF
            sums += struct.pack(">I", h) + hashlib.blake2b(chunk, digest_size=32).digest()[:1]
        sig = sig_header(RS_RK_BLAKE2_SIG_MAGIC, block, 1) + sums
        answers = set()
        for _ in range(5):
            status, data, _ = signed_request(self.primary.port, "POST",
                                             "/.docsync/docs/delta?p=page.html", body=sig)
            self.assertEqual(status, 200)
            answers.add(b"".join(auth for _, auth, _, _ in read_frames(data)))
        self.assertEqual(len(answers), 1)
        self.assertTrue(next(iter(answers)).startswith(b"rs\x026"))
        # All blocks matched: the delta is copy commands, far smaller than the file.
        self.assertLess(len(next(iter(answers))), len(content) // 10)

    def test_cve_2024_12747_file_swapped_for_a_symlink_is_never_followed(self):
        target = os.path.join(self.src, "race.txt")
        stop = threading.Event()

        def swapper():
            n = 0
            while not stop.is_set() and n < 5000:
                tmp = target + ".new"
                if n % 2:
                    with open(tmp, "w") as f:
                        f.write("harmless\n")
                else:
                    os.symlink("/etc/passwd", tmp)
                os.replace(tmp, target)
                n += 1

        t = threading.Thread(target=swapper, daemon=True)
        t.start()
        try:
            deadline = time.monotonic() + 3
            served = 0
            while time.monotonic() < deadline:
                for path in ("/.docsync/docs/file?p=race.txt",):
                    status, data, _ = self.get(path)
                    self.assertNotIn(b"root:", data)
                    served += status == 200
                status, data, _ = signed_request(self.primary.port, "POST",
                                                 "/.docsync/docs/files", body=b"race.txt\n")
                self.assertNotIn(b"root:", data)
        finally:
            stop.set()
            t.join(10)
        self.assertGreater(served, 0)


# ---- hostile primary -------------------------------------------------------------------------

class HostilePrimaryAgainstRealSecondary(unittest.TestCase):
    def setUp(self):
        self.evil = HostilePrimary()
        self.addCleanup(self.evil.close)
        self.outside = tempfile.mkdtemp(prefix="docsync-outside-")
        self.addCleanup(shutil.rmtree, self.outside, True)
        self.secondary, dirs = new_secondary(self.evil.port, [("evil", "htdocs/synced", [])])
        self.dst = dirs["evil"]
        os.makedirs(self.dst)
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def manifest_fetches(self):
        return sum(1 for r in list(self.evil.requests) if "/manifest" in r)

    def serve(self, entries, files=None):
        # Two more manifest requests after the change: the first got the new manifest and the
        # round that followed it is over.
        self.after = self.manifest_fetches() + 2
        contents = {p: d for t, p, d, m in entries if t == "f"}
        self.evil.manifest = manifest(entries)
        self.evil.files = files or (lambda paths: [
            ("F", contents[p]) if p in contents else ("E", "no") for p in paths])

    def wait_rounds(self, n, what):
        return wait_until(lambda: (lambda s: s if s["rounds"] >= n else None)(
            status_json(self.secondary)["sources"][0]), what=what)

    def wait_error(self, text):
        wait_until(lambda: self.manifest_fetches() >= self.after, what="manifest fetched")
        return wait_until(lambda: (lambda s: s if text in s["last_error"] else None)(
            status_json(self.secondary)["sources"][0]), what=f"error {text!r}")

    def assert_nothing_outside(self):
        self.assertEqual(os.listdir(self.outside), [])
        self.assertFalse(os.path.exists("/etc/docsync-pwned"))
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(self.dst), "escape")))
        self.assertEqual(temp_files(self.dst), [])

    def test_cve_2024_12087_traversal_and_absolute_paths_are_rejected(self):
        for bad in ["../escape", "a/../../escape", "/etc/docsync-pwned",
                    self.outside + "/x"]:
            self.serve([("f", bad, b"pwned\n", 0o644)])
            self.wait_error("rejected manifest")
        self.assert_nothing_outside()
        self.assertEqual(os.listdir(self.dst), [])

    def test_cve_2024_12088_symlinks_out_of_the_tree_are_not_created(self):
        self.serve([("d", "d", b"", 0o755),
                    ("l", "d/rel-escape", b"../../escape", 0),
                    ("l", "d/safe", b"../ok.txt", 0),
                    ("l", "evil", self.outside.encode(), 0),
                    ("l", "evil2", b"x/../../../etc", 0),
                    ("f", "ok.txt", b"fine\n", 0o644)])
        self.wait_rounds(1, "a round")
        # Symlinks are made after the files they may point to: wait for the link itself.
        wait_until(lambda: os.path.lexists(os.path.join(self.dst, "d/safe")), what="d/safe")
        self.assertEqual(os.readlink(os.path.join(self.dst, "d/safe")), "../ok.txt")
        for name in ("evil", "evil2", "d/rel-escape"):
            self.assertFalse(os.path.lexists(os.path.join(self.dst, name)), name)
        # Next round the primary says "evil" is a directory with a file in it: a real
        # directory is created, nothing lands in the outside directory.
        self.serve([("d", "evil", b"", 0o755), ("f", "evil/pwned", b"pwned\n", 0o644)])
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "evil/pwned")), what="evil/pwned")
        self.assertFalse(os.path.islink(os.path.join(self.dst, "evil")))
        # A symlink and a file below it in the same manifest is malformed as a whole.
        self.serve([("l", "link", self.outside.encode(), 0),
                    ("f", "link/pwned", b"pwned\n", 0o644)])
        self.wait_error("rejected manifest")
        self.assert_nothing_outside()

    def test_cve_2024_12747_planted_symlink_never_redirects_a_write(self):
        os.symlink(self.outside, os.path.join(self.dst, "d"))
        self.serve([("d", "d", b"", 0o755), ("f", "d/f", b"inside\n", 0o644)])
        wait_until(lambda: os.path.isfile(os.path.join(self.dst, "d/f"))
                   and not os.path.islink(os.path.join(self.dst, "d")), what="real dir d")
        self.assert_nothing_outside()

    def test_oversized_or_corrupt_content_never_becomes_a_file(self):
        # a frame bigger than the manifest announced
        sha = hashlib.sha256(b"x" * 100).hexdigest()
        self.serve([("f", "big", b"x" * 100, 0o644)],
                   files=lambda paths: [("F", b"y" * 1000000, 1000000, sha)])
        self.wait_error("batch")
        self.assertFalse(os.path.exists(os.path.join(self.dst, "big")))
        # right size, wrong content
        sha = hashlib.sha256(b"a" * 100).hexdigest()
        self.serve([("f", "wrong", b"a" * 100, 0o644)],
                   files=lambda paths: [("F", b"b" * 100, 100, sha)])
        self.wait_error("hash")
        self.assertFalse(os.path.exists(os.path.join(self.dst, "wrong")))
        self.assert_nothing_outside()

    def test_hostile_deltas_leave_the_old_file_untouched(self):
        old = os.urandom(40000)
        self.serve([("f", "data.bin", old, 0o644)])
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "data.bin")), what="data.bin")
        new = old[:20000] + b"CHANGED" + old[20007:]
        deltas = [
            b"rs\x026" + bytes([0x4f]) + struct.pack(">II", 0x7fffffff, 100) + b"\0",  # COPY out
            b"rs\x026" + bytes([0x43]) + struct.pack(">I", 10000000) + b"z" * 100000,  # huge literal
            b"rs\x026\xff\xff\xff",                                                     # garbage
            b"rs\x026" + bytes([0x45, 0, 10]),                                          # truncated
        ]
        for i, d in enumerate(deltas):
            self.evil.delta = lambda path, sig, d=d: d
            entries = [("f", "data.bin", new[:-i - 1] if i else new, 0o644)]
            self.serve(entries)
            self.wait_error("delta")
            with open(os.path.join(self.dst, "data.bin"), "rb") as f:
                self.assertEqual(f.read(), old)
            self.assert_nothing_outside()

    def test_an_answer_older_than_the_manifest_held_is_not_applied(self):
        # What a primary child that has not caught up yet looks like: an older scan time.
        now = time.time_ns()
        self.evil.scanned = now
        self.serve([("f", "a", b"a", 0o644), ("f", "b", b"b", 0o644)])
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "b")), what="b")
        self.evil.scanned = now - 5_000_000_000
        self.serve([("f", "a", b"a", 0o644)])
        target = self.manifest_fetches() + 5
        wait_until(lambda: self.manifest_fetches() >= target, what="answers refused")
        self.assertTrue(os.path.exists(os.path.join(self.dst, "b")))
        self.evil.scanned = now + 1_000_000_000  # a genuinely newer state is applied
        wait_until(lambda: not os.path.exists(os.path.join(self.dst, "b")), what="b deleted")

    def test_an_older_answer_is_refused_after_the_sync_process_restarts_too(self):
        now = time.time_ns()
        self.evil.scanned = now
        self.serve([("f", "a", b"a", 0o644), ("f", "b", b"b", 0o644)])
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "b")), what="b")
        # The version lives in the source's state directory beside the tree (the parent is
        # root's; the helper gave the directory to the sync user), not in the tree and not on
        # the runtime tmpfs.
        state_dir = os.path.join(os.path.dirname(self.dst), ".docsync-state." +
                                 os.path.basename(self.dst))
        state = os.path.join(state_dir, "version")
        self.assertTrue(os.path.isfile(state))
        st = os.lstat(state_dir)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        if os.geteuid() == 0:
            worker_uid = pwd.getpwnam("docsync").pw_uid
            self.assertEqual(st.st_uid, worker_uid)
            self.assertEqual(os.lstat(state).st_uid, worker_uid)  # written by the worker
            self.assertNotEqual(os.lstat(os.path.dirname(self.dst)).st_uid, worker_uid)
        self.assertNotIn(".docsync-state", "".join(os.listdir(self.dst)))
        # The sync process dies and is restarted by httpd: it forgets everything in memory.
        old_pid = status_json(self.secondary)["sync_child_pid"]
        os.kill(old_pid, signal.SIGKILL)
        wait_until(lambda: status_json(self.secondary)["sync_child_pid"] not in (old_pid, 0),
                   what="sync process restarted")
        self.evil.scanned = now - 5_000_000_000  # an older state: b deleted
        self.serve([("f", "a", b"a", 0o644)])
        target = self.manifest_fetches() + 5
        wait_until(lambda: self.manifest_fetches() >= target, what="answers refused")
        self.assertTrue(os.path.exists(os.path.join(self.dst, "b")))
        # Without a version at all, no better.
        self.evil.scanned = None
        target = self.manifest_fetches() + 3
        wait_until(lambda: self.manifest_fetches() >= target, what="answers without version")
        self.assertTrue(os.path.exists(os.path.join(self.dst, "b")))
        self.assertIn("version", status_json(self.secondary)["sources"][0]["last_error"])

    def test_manifest_not_matching_its_etag_is_rejected(self):
        self.evil.etag = "0" * 64
        self.serve([("f", "a", b"a", 0o644)])
        self.wait_error("ETag")
        self.assertFalse(os.path.exists(os.path.join(self.dst, "a")))
        self.evil.etag = None
        wait_until(lambda: os.path.exists(os.path.join(self.dst, "a")), what="a after a good ETag")


if __name__ == "__main__":
    unittest.main()
