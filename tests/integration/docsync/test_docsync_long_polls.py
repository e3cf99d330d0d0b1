"""Long polls never starve a primary (issue 15): a primary with few workers (MaxRequestWorkers
20) gets many signed long polls whose clients close right after sending (secondaries restarting,
a network glitch) and some that stay open, while a prober fetches an ordinary page; every probe
must succeed. A closed client ends its wait at once; long polls beyond DocSyncExportMaxLongPolls
are answered at once with the signed "not modified", which the status page counts, and a real
secondary answered so does not turn it into a busy loop."""
import os
import signal
import socket
import threading
import time
import unittest

from suite_harness.constants import LOOPBACK
from suite_harness.docsync import (answer_message, hmac_tagger, new_primary, new_secondary,
                                   request, signed_headers, signed_request, status_json)
from suite_harness.waiting import wait_until

THREADS_PER_CHILD = 5  # with the harness's ServerLimit 4: MaxRequestWorkers 20
MAX_REQUEST_WORKERS = THREADS_PER_CHILD * 4
PRIMARY_LONG_POLL = "DocSyncLongPoll 20s"
WAIT = 20  # seconds each long poll asks for: far longer than any test phase below
PAGE = b"<h1>an ordinary page</h1>\n"


def small_primary(extra=""):
    primary, dirs = new_primary(["docs"], extra=PRIMARY_LONG_POLL + "\n" + extra)
    primary.threads = THREADS_PER_CHILD
    primary.write_config(primary.body)
    with open(os.path.join(dirs["docs"], "index.html"), "w") as f:
        f.write("<h1>exported</h1>\n")
    with open(os.path.join(primary.root, "htdocs", "page.html"), "wb") as f:
        f.write(PAGE)
    return primary


def current_etag(primary):
    status, _, headers = signed_request(primary.port, "GET", "/.docsync/docs/manifest")
    assert status == 200, status
    return headers["ETag"].strip('"')


def send_long_poll(port, etag):
    """A signed long poll on a raw connection, the request sent, the answer not read."""
    path = f"/.docsync/docs/manifest?wait={WAIT}"
    headers = signed_headers("GET", path)
    headers["If-None-Match"] = f'"{etag}"'
    lines = [f"GET {path} HTTP/1.1", f"Host: {LOOPBACK}"]
    lines += [f"{k}: {v}" for k, v in headers.items()] + ["", ""]
    sock = socket.create_connection((LOOPBACK, port), timeout=5)
    sock.sendall("\r\n".join(lines).encode())
    return sock, headers["X-DocSync-Nonce"], path


def read_answer(sock, timeout):
    """The status line and headers of the answer on `sock`, or None if none came in time."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return None
    if b"\r\n\r\n" not in data:
        return None
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    return status, {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}


def long_polls(primary):
    return status_json(primary)["long_polls"]


class Prober:
    """GET /page.html on a fresh connection every `period` s, at most `limit` probes or
    `max_seconds`, each with a `timeout`: an ordinary visitor of the primary."""

    def __init__(self, port, period=0.1, timeout=3.0, limit=400, max_seconds=60.0):
        self.port, self.period, self.timeout = port, period, timeout
        self.limit, self.max_seconds = limit, max_seconds
        self.results = []  # (ok, detail)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while (not self._stop.is_set() and len(self.results) < self.limit
               and time.monotonic() < deadline):
            try:
                status, body, _ = request(self.port, "GET", "/page.html", timeout=self.timeout)
                self.results.append((status == 200 and body == PAGE, status))
            except OSError as e:
                self.results.append((False, repr(e)))
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.max_seconds + self.timeout)

    def failures(self):
        return [detail for ok, detail in self.results if not ok]


class ClosedClientsAndTheCap(unittest.TestCase):
    def start(self, primary):
        primary.start()
        self.addCleanup(primary.cleanup)
        self.primary = primary
        self.etag = current_etag(primary)
        self.open_sockets = []
        self.addCleanup(lambda: [s[0].close() for s in self.open_sockets])

    def fill(self, count, what):
        """`count` long polls that stay open, waiting (none held before)."""
        for _ in range(count):
            self.open_sockets.append(send_long_poll(self.primary.port, self.etag))
        wait_until(lambda: long_polls(self.primary)["waiting"] == count, timeout=10, what=what)

    def start_over(self):
        """Forgets the long polls held so far (answered or cut), with the current ETag."""
        for sock, _, _ in self.open_sockets:
            sock.close()
        self.open_sockets = []
        self.etag = current_etag(self.primary)

    def assert_answered_at_once(self):
        sock, _, _ = send_long_poll(self.primary.port, self.etag)
        try:
            answer = read_answer(sock, timeout=5)
        finally:
            sock.close()
        self.assertIsNotNone(answer, "no immediate answer beyond the cap")
        self.assertEqual(answer[0], 304)

    def test_closed_clients_and_open_long_polls_leave_ordinary_pages_their_workers(self):
        # What was measured: 200 signed long polls whose clients close right after sending.
        self.start(small_primary())
        self.fill(3, "the three open long polls (secondaries that behave) waiting")
        closed = 200
        with Prober(self.primary.port) as prober:
            deadline = time.monotonic() + 30
            for i in range(closed):
                if time.monotonic() > deadline:
                    break
                sock, _, _ = send_long_poll(self.primary.port, self.etag)
                sock.close()
                time.sleep(0.03)  # ~6 s of restarting secondaries
            time.sleep(1.0)
        self.assertEqual(i, closed - 1, "the closed long polls were not all sent in time")
        self.assertGreaterEqual(len(prober.results), 30)  # a stalled primary manages a handful
        self.assertEqual(prober.failures(), [], f"{len(prober.failures())} of "
                                                f"{len(prober.results)} probes failed")
        # The closed ones did not stay: only the open ones wait, all of them answered later.
        lp = wait_until(lambda: (lambda s: s if s["waiting"] == 3 else None)(
            long_polls(self.primary)), timeout=5, what="only the open long polls waiting")
        cap = MAX_REQUEST_WORKERS // 4
        self.assertEqual(lp["cap"], cap)
        self.assertLessEqual(lp["peak"], cap)
        # Every closed one either waited and was noticed gone, or was refused at the cap.
        self.assertGreaterEqual(lp["client_gone"] + lp["refused"], closed)
        self.assertGreater(lp["client_gone"], 0)

    def test_seven_secondaries_restarting_in_a_loop_leave_ordinary_pages_their_workers(self):
        self.start(small_primary())
        secondaries, seconds, most_polls = 7, 6.0, 200  # each: poll, die after 0-200 ms, again
        sent = [0] * secondaries

        def restarting(index):
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and sent[index] < most_polls:
                sock, _, _ = send_long_poll(self.primary.port, self.etag)
                sent[index] += 1
                time.sleep(0.2 * ((index + sent[index]) % 5) / 4)
                sock.close()

        with Prober(self.primary.port) as prober:
            threads = [threading.Thread(target=restarting, args=(i,)) for i in range(secondaries)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(seconds + 10)
            time.sleep(0.5)
        self.assertGreater(sum(sent), 7 * 10)
        self.assertGreaterEqual(len(prober.results), 30)
        self.assertEqual(prober.failures(), [])
        wait_until(lambda: long_polls(self.primary)["waiting"] == 0, timeout=5,
                   what="no long poll left waiting for a dead secondary")
        lp = long_polls(self.primary)
        self.assertEqual(lp["admitted"] + lp["refused"], sum(sent))
        self.assertEqual(lp["client_gone"], lp["admitted"])

    def test_a_closed_client_is_noticed_within_a_second_even_far_below_the_cap(self):
        self.start(small_primary(f"DocSyncExportMaxLongPolls {MAX_REQUEST_WORKERS - 1}"))
        sockets = [send_long_poll(self.primary.port, self.etag)[0] for _ in range(10)]
        wait_until(lambda: long_polls(self.primary)["waiting"] == 10, timeout=10,
                   what="ten long polls waiting")
        closed_at = time.monotonic()
        for s in sockets:
            s.close()
        wait_until(lambda: long_polls(self.primary)["waiting"] == 0, timeout=5,
                   what="the closed long polls gone")
        self.assertLess(time.monotonic() - closed_at, 2.0)
        lp = long_polls(self.primary)
        self.assertEqual(lp["client_gone"], 10)
        self.assertEqual(lp["refused"], 0)

    def test_beyond_the_cap_a_long_poll_is_answered_at_once_with_a_signed_not_modified(self):
        self.start(small_primary("DocSyncExportMaxLongPolls 4"))
        self.fill(4, "four long polls waiting")
        tag = hmac_tagger()
        refused = 6
        with Prober(self.primary.port) as prober:
            for _ in range(refused):
                sock, nonce, path = send_long_poll(self.primary.port, self.etag)
                asked = time.monotonic()
                answer = read_answer(sock, timeout=5)
                sock.close()
                self.assertIsNotNone(answer, "no immediate answer beyond the cap")
                self.assertLess(time.monotonic() - asked, 2.0)
                status, headers = answer
                self.assertEqual(status, 304)
                self.assertEqual(headers["etag"].strip('"'), self.etag)
                expected = tag(answer_message(nonce, "GET", path, 304, self.etag,
                                              headers["x-docsync-scanned"]))
                self.assertEqual(headers["x-docsync-answer-auth"], expected)
            time.sleep(0.5)
        self.assertEqual(prober.failures(), [])
        lp = long_polls(self.primary)
        self.assertEqual((lp["waiting"], lp["cap"], lp["peak"]), (4, 4, 4))
        self.assertEqual(lp["refused"], refused)
        # The page and the metrics show it too.
        _, html, _ = request(self.primary.port, "GET", "/docsync-status")
        self.assertIn(f"refused at the cap (answered at once)</th><td>{refused}<".encode(), html)
        _, page, _ = request(self.primary.port, "GET", "/docsync-status?metrics")
        self.assertIn(f"\nhttpd_docsync_long_polls_refused_total {refused}\n".encode(), page)
        self.assertIn(b"\nhttpd_docsync_long_polls_waiting 4\n", page)
        # The open ones still get their answer when the export changes.
        with open(os.path.join(self.primary.root, "export", "docs", "new.html"), "w") as f:
            f.write("new\n")
        for sock, _, _ in self.open_sockets:
            answer = read_answer(sock, timeout=10)
            self.assertIsNotNone(answer)
            self.assertEqual(answer[0], 200)
        wait_until(lambda: long_polls(self.primary)["waiting"] == 0, timeout=5,
                   what="the answered long polls gone")

    def test_a_crashed_child_does_not_keep_its_places_under_the_cap(self):
        self.start(small_primary("DocSyncExportMaxLongPolls 4"))
        self.fill(4, "four long polls waiting")
        parent = self.primary.pid()
        for pid in self.primary.generation_pids()[1:]:
            # Only the httpd children; the sync process, if any, is not one of them here.
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: long_polls(self.primary)["waiting"] == 0, timeout=15, step=0.2,
                   what="the dead children's long polls released", ignore=(OSError,))
        self.assertEqual(self.primary.pid(), parent)
        # All four places are free again: four new long polls wait, a fifth is refused.
        refused_before = long_polls(self.primary)["refused"]
        self.start_over()
        self.fill(4, "four new long polls waiting")
        self.assert_answered_at_once()
        self.assertEqual(long_polls(self.primary)["refused"], refused_before + 1)

    def test_the_cap_holds_across_a_graceful_restart_without_leaking_places(self):
        self.start(small_primary("DocSyncExportMaxLongPolls 4"))
        self.fill(4, "four long polls waiting")
        peak_before = long_polls(self.primary)["peak"]
        self.primary.graceful()
        # The old children answer their long polls as they stop; the new ones count from the
        # same shared table (the peak is kept), with all four places free.
        for sock, _, _ in self.open_sockets:
            self.assertIsNotNone(read_answer(sock, timeout=10))
        wait_until(lambda: long_polls(self.primary)["waiting"] == 0, timeout=10,
                   what="the old generation's long polls gone", ignore=(OSError,))
        self.assertEqual(long_polls(self.primary)["peak"], peak_before)
        self.start_over()
        self.fill(4, "four long polls waiting after the restart")
        self.assert_answered_at_once()

    def test_a_secondary_refused_at_the_cap_polls_again_after_a_pause_not_in_a_loop(self):
        self.start(small_primary("DocSyncExportMaxLongPolls 1"))
        self.fill(1, "the one place taken")
        secondary, dirs = new_secondary(self.primary.port, [("docs", "htdocs/synced", [])])
        secondary.start()
        self.addCleanup(secondary.cleanup)
        wait_until(lambda: status_json(secondary)["sources"][0]["result"] == "ok", timeout=30,
                   what="the secondary synced")
        wait_until(lambda: long_polls(self.primary)["refused"] >= 1, timeout=10,
                   what="the secondary's long poll refused")
        start_refused = long_polls(self.primary)["refused"]
        start = time.monotonic()
        time.sleep(5)
        rate = (long_polls(self.primary)["refused"] - start_refused) / (time.monotonic() - start)
        # It waits at least a second between two polls answered at once.
        self.assertGreater(rate, 0.3)
        self.assertLessEqual(rate, 1.2)
        source = status_json(secondary)["sources"][0]
        self.assertEqual(source["result"], "ok")
        # Each "not modified" tells it that it is still in sync.
        self.assertEqual(source["behind_since"], 0)
        self.assertGreaterEqual(source["in_sync"], int(time.time()) - 3)


class ConfigErrors(unittest.TestCase):
    def refusal(self, value):
        primary = small_primary(f"DocSyncExportMaxLongPolls {value}")
        self.addCleanup(primary.cleanup)
        proc = primary.configtest()
        return proc.returncode, proc.stdout + proc.stderr

    def test_a_malformed_share_stops_httpd_with_the_directive_named(self):
        for value, reason in [("0", "at least 1"), ("100%", "1% to 99%"), ("many", "many")]:
            rc, out = self.refusal(value)
            self.assertNotEqual(rc, 0, out)
            self.assertIn("DocSyncExportMaxLongPolls", out)
            self.assertIn(reason, out)

    def test_a_cap_that_leaves_no_worker_stops_httpd(self):
        rc, out = self.refusal(str(MAX_REQUEST_WORKERS))
        self.assertIn("DocSyncExportMaxLongPolls", out)
        self.assertIn("MaxRequestWorkers", out)
        self.assertNotEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
