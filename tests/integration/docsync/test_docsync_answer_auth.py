"""Answers are authenticated and bound to their request (issue 9, findings 1 and 2):

- a man in the middle without the secret, relaying the secondary's requests (re-signed with a
  key of its own) to a primary of its own, gets nothing written on the secondary, and the
  status page names the refusal;
- a relay that records a real answer and replays it later (the scan header stripped, as an old
  answer would lack it) cannot roll the secondary back;
- the Ed25519 mode syncs with the primary's public key, and writes nothing with another one;
- a bad key file is a configuration error naming the directive."""
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from suite_harness.docsync import (new_primary, new_secondary, signed_headers, status_json,
                                   tree_state)
from suite_harness.http_relay import HttpRelay
from suite_harness.waiting import wait_until

RELAY_SECRET = "the-relays-own-secret-not-the-real-one-42"


class Relay(HttpRelay):
    """An HTTP relay on loopback in front of `target_port`. mode "resign": requests re-signed
    with RELAY_SECRET; "pass": requests forwarded as they are, every answer recorded; "replay":
    manifest and batch requests answered with the first recorded answer for that operation."""

    def __init__(self, target_port, mode):
        self.mode = mode
        self.recorded = {}
        self.forwarded = []
        super().__init__(target_port)

    def handle(self, method, path, headers, body):
        op = path.split("?")[0].rsplit("/", 1)[-1]
        if self.mode == "replay" and op in self.recorded:
            return self.recorded[op]
        if self.mode == "resign":
            headers.update(signed_headers(method, path, secret=RELAY_SECRET))
        status, answer_headers, data = self.forward(method, path, headers, body)
        self.forwarded.append((op, status))
        if self.mode == "pass" and status == 200:
            # What an old recording looks like: no scan time to compare.
            kept = [(k, v) for k, v in answer_headers if k.lower() != "x-docsync-scanned"]
            self.recorded.setdefault(op, (status, kept, data))
        return status, answer_headers, data

    def manifests_forwarded(self):
        return sum(1 for op, _ in list(self.forwarded) if op == "manifest")


def files_in(root):
    return sorted(k for k, v in tree_state(root).items() if v[0] == "f")


def wait_result(secondary, result, timeout=30):
    return wait_until(lambda: (lambda s: s if s["result"] == result else None)(
        status_json(secondary)["sources"][0]), timeout=timeout, what=f"result {result}")


class RelayWithoutTheSecret(unittest.TestCase):
    def test_relay_to_a_primary_of_its_own_writes_nothing(self):
        # The attacker's primary, keyed with the attacker's secret, exporting pages and a .conf.
        foreign, fdirs = new_primary(["docs"], secret_text=RELAY_SECRET)
        self.addCleanup(foreign.cleanup)
        for i in range(20):
            with open(os.path.join(fdirs["docs"], f"page{i}.html"), "w") as f:
                f.write(f"foreign page {i}\n")
        with open(os.path.join(fdirs["docs"], "evil.conf"), "w") as f:
            f.write('ErrorLog "|/bin/sh -c id"\n')
        foreign.start()
        relay = Relay(foreign.port, "resign")
        self.addCleanup(relay.close)
        secondary, sdirs = new_secondary(relay.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(secondary.cleanup)
        dst = sdirs["docs"]
        os.makedirs(dst)
        secondary.start()
        # The relay's re-signed requests are accepted by its primary and answered...
        wait_until(lambda: relay.manifests_forwarded() >= 3, timeout=40, what="relayed polls")
        self.assertIn(("manifest", 200), relay.forwarded)
        # ...but the secondary refuses every answer: nothing written, the refusal named.
        st = wait_result(secondary, "auth-failed")
        self.assertIn("answer authentication failed", st["last_error"])
        self.assertEqual(files_in(dst), [])
        self.assertFalse(any(name.endswith(".conf") for name in os.listdir(dst)))
        self.assertEqual(st["files_transferred"], 0)
        log = secondary.error_log_text()
        self.assertEqual(log.count("answer authentication failed"), 1, log[-3000:])


class RecordedAnswerReplayed(unittest.TestCase):
    def test_a_recorded_answer_replayed_later_cannot_roll_back(self):
        primary, pdirs = new_primary(["docs"])
        self.addCleanup(primary.cleanup)
        src = pdirs["docs"]
        with open(os.path.join(src, "page.html"), "w") as f:
            f.write("version one\n")
        with open(os.path.join(src, "deleted.html"), "w") as f:
            f.write("removed in version two\n")
        primary.start()
        relay = Relay(primary.port, "pass")
        self.addCleanup(relay.close)
        secondary, sdirs = new_secondary(relay.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(secondary.cleanup)
        dst = sdirs["docs"]
        secondary.start()
        wait_until(lambda: files_in(dst) == ["deleted.html", "page.html"], what="version one")
        self.assertIn("manifest", relay.recorded)
        self.assertIn("files", relay.recorded)
        # Version two on the primary; the secondary follows through the relay.
        with open(os.path.join(src, "page.html"), "w") as f:
            f.write("version two, longer\n")
        os.unlink(os.path.join(src, "deleted.html"))
        wait_until(lambda: files_in(dst) == ["page.html"], what="version two")
        wait_result(secondary, "ok")
        # Now the relay answers with its recording of version one.
        relay.mode = "replay"
        st = wait_result(secondary, "auth-failed")
        self.assertIn("answer authentication failed", st["last_error"])
        time.sleep(2)
        self.assertEqual(files_in(dst), ["page.html"])
        with open(os.path.join(dst, "page.html")) as f:
            self.assertEqual(f.read(), "version two, longer\n")


def ed25519_keys(directory, name):
    priv = os.path.join(directory, f"{name}.key")
    pub = os.path.join(directory, f"{name}.pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", priv], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    os.chmod(priv, 0o600)
    os.chmod(pub, 0o644)
    return priv, pub


class Ed25519Mode(unittest.TestCase):
    def test_public_key_syncs_and_another_public_key_writes_nothing(self):
        keys = tempfile.mkdtemp(prefix="docsync-keys-")
        self.addCleanup(shutil.rmtree, keys, True)
        os.chmod(keys, 0o755)
        priv, pub = ed25519_keys(keys, "primary")
        _, other_pub = ed25519_keys(keys, "other")
        primary, pdirs = new_primary(["docs"], extra=f'DocSyncSigningKeyFile "{priv}"')
        self.addCleanup(primary.cleanup)
        src = pdirs["docs"]
        for i in range(5):
            with open(os.path.join(src, f"p{i}.html"), "w") as f:
                f.write(f"signed page {i}\n" * (i * 5000 + 1))
        primary.start()
        good, gdirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])],
                                    extra=f'DocSyncVerifyKeyFile "{pub}"')
        self.addCleanup(good.cleanup)
        bad, bdirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])],
                                   extra=f'DocSyncVerifyKeyFile "{other_pub}"')
        self.addCleanup(bad.cleanup)
        hmac_only, hdirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(hmac_only.cleanup)
        os.makedirs(bdirs["docs"])
        os.makedirs(hdirs["docs"])
        for inst in (good, bad, hmac_only):
            inst.start()
        wait_until(lambda: tree_state(src) == tree_state(gdirs["docs"]), what="signed sync")
        # A change is followed too (delta manifest, delta of a large file).
        with open(os.path.join(src, "p4.html"), "a") as f:
            f.write("appended\n")
        wait_until(lambda: tree_state(src) == tree_state(gdirs["docs"]), what="signed change")
        for inst, d in ((bad, bdirs["docs"]), (hmac_only, hdirs["docs"])):
            st = wait_result(inst, "auth-failed")
            self.assertIn("answer authentication failed", st["last_error"])
            self.assertEqual(files_in(d), [])

    def test_key_files_are_checked_at_configuration_time(self):
        keys = tempfile.mkdtemp(prefix="docsync-keys-")
        self.addCleanup(shutil.rmtree, keys, True)
        priv, pub = ed25519_keys(keys, "k")
        os.chmod(priv, 0o644)
        primary, _ = new_primary(["docs"], extra=f'DocSyncSigningKeyFile "{priv}"')
        self.addCleanup(primary.cleanup)
        proc = primary.configtest()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("DocSyncSigningKeyFile", proc.stdout + proc.stderr)
        self.assertIn("group or others", proc.stdout + proc.stderr)
        secondary, _ = new_secondary(1, [("docs", "htdocs/synced", [])],
                                     extra=f'DocSyncVerifyKeyFile "{priv}"')
        self.addCleanup(secondary.cleanup)
        os.chmod(priv, 0o600)
        proc = secondary.configtest()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("DocSyncVerifyKeyFile", proc.stdout + proc.stderr)
        self.assertIn("not a PEM Ed25519 public key", proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
