"""A change in a large file is answered by the primary from the block digests it took of the
version the secondary has (issue 12): the secondary sends no librsync signature, only the hash
of its copy. Through a relay that records (and can tamper with) the answers:

- a 1-byte change goes as one `delta?...&basis=<sha256>` request with an empty body and a small
  answer, no signature request;
- a tampered answer to it is refused by its frame tags: the secondary falls back to sending its
  signature, and the copy ends up right;
- when every delta answer is tampered with, nothing is applied: the old copy stays, the status
  page says auth-failed."""
import os
import random
import unittest

from suite_harness.docsync import (new_primary, new_secondary, status_json, tree_state,
                                   wait_round_done)
from suite_harness.http_relay import HttpRelay
from suite_harness.waiting import wait_until
SIZE = 4 << 20


class RecordingRelay(HttpRelay):
    """Forwards requests unchanged to the primary; records (path, request body length, status,
    answer length); flips one byte in the answers to delta requests that `tamper` accepts."""

    def __init__(self, target_port):
        self.requests = []
        self.tamper = lambda path: False
        super().__init__(target_port)

    def handle(self, method, path, headers, body):
        status, answer_headers, data = self.forward(method, path, headers, body)
        if status == 200 and "/delta?" in path and self.tamper(path):
            data = bytearray(data)
            data[len(data) // 2] ^= 0x01
            data = bytes(data)
        self.requests.append((path, len(body), status, len(data)))
        return status, answer_headers, data

    def deltas_since(self, mark):
        return [r for r in self.requests[mark:] if "/delta?" in r[0]]


class BlockDelta(unittest.TestCase):
    def setUp(self):
        self.primary, dirs = new_primary(["docs"])
        self.addCleanup(self.primary.cleanup)
        self.src = dirs["docs"]
        self.data = bytearray(random.Random(12).randbytes(SIZE))
        self.path = os.path.join(self.src, "big.bin")
        with open(self.path, "wb") as f:
            f.write(self.data)
        self.primary.start()
        self.relay = RecordingRelay(self.primary.port)
        self.addCleanup(self.relay.close)
        self.secondary, sdirs = new_secondary(self.relay.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(self.secondary.cleanup)
        self.dst = sdirs["docs"]
        self.secondary.start()
        wait_until(lambda: tree_state(self.dst, False) == tree_state(self.src, False),
                 timeout=60, what="initial sync")
        self.before = wait_round_done(self.secondary, self.primary, "docs")
        self.mark = len(self.relay.requests)

    def flip(self, offset):
        self.data[offset] ^= 0xFF
        with open(self.path, "r+b") as f:
            f.seek(offset)
            f.write(bytes([self.data[offset]]))

    def copy(self):
        with open(os.path.join(self.dst, "big.bin"), "rb") as f:
            return f.read()

    def test_a_change_is_answered_from_the_block_index_without_a_signature(self):
        self.flip(SIZE // 2 + 7)
        wait_until(lambda: self.copy() == bytes(self.data), timeout=30, what="change synced")
        deltas = self.relay.deltas_since(self.mark)
        self.assertEqual(len(deltas), 1, deltas)
        path, sent, status, answer = deltas[0]
        self.assertIn("&basis=", path)
        self.assertEqual((sent, status), (0, 200))
        self.assertLess(answer, 32 * 1024)  # one 8 KiB literal block and the frame tags
        st = wait_round_done(self.secondary, self.primary, "docs")
        self.assertGreater(st["bytes_saved_by_delta"] - self.before["bytes_saved_by_delta"],
                           SIZE - (64 << 10))

    def test_a_tampered_block_delta_is_refused_and_the_signature_path_follows(self):
        self.relay.tamper = lambda path: "&basis=" in path
        self.flip(1234)
        wait_until(lambda: self.copy() == bytes(self.data), timeout=30, what="change synced")
        deltas = self.relay.deltas_since(self.mark)
        self.assertEqual([("&basis=" in p, s) for p, _, s, _ in deltas], [(True, 200), (False, 200)])
        self.assertGreater(deltas[1][1], 0)  # the fallback sent the signature

    def test_when_every_delta_is_tampered_with_the_old_copy_stays(self):
        old = self.copy()
        self.relay.tamper = lambda path: True
        self.flip(SIZE - 10)
        st = wait_until(lambda: (lambda s: s if s["result"] == "auth-failed" else None)(
            status_json(self.secondary)["sources"][0]), timeout=30, what="auth-failed")
        self.assertIn("answer authentication failed", st["last_error"])
        self.assertEqual(self.copy(), old)
        self.assertEqual([n for n in os.listdir(self.dst) if n.startswith(".docsync-tmp-")], [])


if __name__ == "__main__":
    unittest.main()
