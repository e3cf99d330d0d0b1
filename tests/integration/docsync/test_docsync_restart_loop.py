"""Secondaries restarting in a loop never starve a primary (issue 15, the literal scenario): real
secondaries, each stopped and started over and over (its httpd and sync process), against a
primary with so few workers (MaxRequestWorkers 2, one child) that their long polls alone would
hold every one of them without DocSyncExportMaxLongPolls. An ordinary page fetched every 100 ms
must always be served within 3 s, and a page edited during the loop must reach every secondary.
bench/docsync_fanout.py --restart-loop measures the same with 7 secondaries."""
import os
import time
import unittest

from suite_harness import docsync as h
from suite_harness.docsync_fanout import (ORDINARY_PAGE, SYNCED_URL_PREFIX, PageProber,
                                          RestartLoop, new_fanout_primary, new_fanout_secondary,
                                          serves, small_worker_pool)
from suite_harness.failure_logs import print_error_logs, test_failed
from suite_harness.waiting import wait_until

WORKERS = 2  # fewer than the secondaries: uncapped, their long polls take every worker
SECONDARIES = 3
LOOP_SECONDS = 10.0
UP_SECONDS = 1.0  # between two restarts of one secondary (0.5-1.25x, see RestartLoop)


class SecondariesRestartingInALoop(unittest.TestCase):
    def setUp(self):
        self.primary, dirs = new_fanout_primary(["docs"], servers=1, rescan=None)
        small_worker_pool(self.primary, WORKERS)
        self.src = dirs["docs"]
        with open(os.path.join(self.src, "index.html"), "w") as f:
            f.write("<h1>exported</h1>\n")
        with open(os.path.join(self.primary.root, "htdocs", "page.html"), "wb") as f:
            f.write(ORDINARY_PAGE)
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondaries = []
        for i in range(SECONDARIES):
            sec, _ = new_fanout_secondary(self.primary.port, i, ("docs",))
            self.secondaries.append(sec)
            self.addCleanup(sec.cleanup)
            sec.start(timeout=60)
        for sec in self.secondaries:
            wait_until(lambda: serves(sec, f"{SYNCED_URL_PREFIX}/index.html",
                                      b"<h1>exported</h1>\n"),
                       timeout=60, step=0.1, what=f"{sec.name} synced")
        # Registered last, so it runs before the instances are removed.
        self.addCleanup(lambda: test_failed(self) and print_error_logs(
            [self.primary] + self.secondaries, tail_chars=4000))

    def long_polls(self):
        return h.status_json(self.primary)["long_polls"]

    def test_ordinary_pages_are_served_and_every_secondary_catches_up(self):
        self.assertEqual(self.long_polls()["cap"], 1)  # 25% of 2 workers, at least one
        edited, body = "edited-during-the-loop.html", b"<p>edited while they restarted</p>\n"
        with PageProber(self.primary.port, period=0.1, timeout=3.0, limit=1000,
                        max_seconds=LOOP_SECONDS + 130) as prober:
            with RestartLoop(self.secondaries, LOOP_SECONDS, up=UP_SECONDS,
                             most_restarts=30) as loop:
                time.sleep(LOOP_SECONDS / 2)
                h.replace_file(os.path.join(self.src, edited), body.decode())
                loop.wait()
            for sec in self.secondaries:
                wait_until(lambda: serves(sec, f"{SYNCED_URL_PREFIX}/{edited}", body),
                           timeout=60, step=0.1, what=f"{sec.name} serves the edited page")
        self.assertEqual(loop.errors, [])
        # Each was really restarted over and over (a loaded machine makes restarts slower).
        self.assertTrue(all(n >= 2 for n in loop.restarts), loop.restarts)
        self.assertGreaterEqual(len(prober.results), 50)
        self.assertEqual(prober.failures(), [], f"{len(prober.failures())} of "
                                                f"{len(prober.results)} probes failed")
        lp = self.long_polls()
        self.assertLessEqual(lp["peak"], 1)
        # Stopped secondaries' waits ended when their connections closed, and the others were
        # answered at once while the one place was taken.
        self.assertGreater(lp["client_gone"], 0)
        self.assertGreater(lp["refused"], 0)


if __name__ == "__main__":
    unittest.main()
