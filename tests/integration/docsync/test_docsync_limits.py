"""A hostile or broken primary (a small python server on 127.0.0.1) against the real secondary,
for the limits of issue 9: a symlink chain that passes a lexical safe-links check (rsync's
CVE-2024-12088 class), an empty manifest that would wipe a configuration tree which
`IncludeOptional` keeps valid, and a primary that answers at 1 byte/s."""
import os
import time
import unittest

from suite_harness.docsync import config_secondary, new_secondary, request, status_json
from suite_harness.fake_primary import DripPrimary, HostilePrimary, manifest
from suite_harness.waiting import wait_until


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
        wait_until(lambda: os.path.lexists(os.path.join(self.dst, "b")), timeout=30,
                   what="the safe link b")
        wait_until(lambda: source_status(self.secondary)["rounds"] >= 1, timeout=30,
                   what="the round")
        self.assertEqual(os.readlink(os.path.join(self.dst, "b")), ".")
        self.assertFalse(os.path.lexists(os.path.join(self.dst, "etc")))
        status, body, _ = request(self.secondary.port, "GET", "/synced/etc/passwd")
        self.assertNotEqual(status, 200)
        self.assertNotIn(b"root:", body)
        status, body, _ = request(self.secondary.port, "GET", "/synced/b/b/index.html")
        self.assertEqual((status, body), (200, b"home\n"))  # the safe link itself works
        wait_until(lambda: "unsafe symlink" in self.secondary.error_log_text(log_before),
                   what="the refusal logged")


class EmptyManifestOfAConfigTree(unittest.TestCase):
    def setUp(self):
        self.evil = HostilePrimary()
        self.addCleanup(self.evil.close)
        self.secondary, self.dst = config_secondary(self.evil.port)
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def test_an_empty_manifest_does_not_wipe_the_synced_configuration(self):
        files = {"a.conf": b"# a\n", "b.conf": b"# b\n"}
        self.evil.manifest = manifest([("f", p, d, 0o644) for p, d in sorted(files.items())])
        self.evil.files = lambda paths: [("F", files[p]) for p in paths]
        wait_until(lambda: all(os.path.exists(os.path.join(self.dst, p)) for p in files),
                   timeout=30, what="the configuration synced")
        log_before = self.secondary.error_log_size()
        self.evil.manifest = manifest([])  # valid for the configtest: IncludeOptional
        st = wait_until(lambda: (lambda s: s if s["result"] == "refused" else None)(
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
        wait_until(lambda: len(self.evil.requests) >= fetches + 2, timeout=30, what="more polls")
        self.assertEqual(self.secondary.error_log_text(log_before).count(
            "refused, nothing applied"), 1)


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
        first = wait_until(lambda: self.drip.file_requests[:1], timeout=30, what="a file request")
        st = wait_until(lambda: (lambda s: s if s["result"] == "error" and s["rounds"] >= 1
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
