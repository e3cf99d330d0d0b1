"""Config to every node: one docsync primary and three secondaries, each a real apache2 on
127.0.0.1 with its own ServerRoot and port. Each secondary syncs the primary's `conf` export
(restart=graceful, included by its own httpd.conf: an Alias that says which version of the
configuration runs) and its `docs` export (served at /synced/).

A new page on the primary is served by every secondary. While the primary is stopped every
secondary keeps serving its last good content and configuration — also across a graceful
restart, and a stop and start, of the secondary itself —, a change made on the primary meanwhile
does not show, and the sync processes back off instead of busy-looping: counted by their own
failed-attempt counters, by their threads' context switches and by their CPU time. When the
primary is back, the page and the configuration edited while it was down reach all three."""
import os
import shutil
import time
import unittest

from suite_harness.docsync import probe, probe_alias, probe_dirs, replace_file, status_json
from suite_harness.docsync_fanout import (SYNCED_URL_PREFIX, context_switches, cpu_seconds,
                                          new_fanout_primary, new_fanout_secondary, serves,
                                          source_status)
from suite_harness.failure_logs import print_error_logs, test_failed
from suite_harness.waiting import wait_until

SECONDARIES = 3
EXPORTS = ("conf", "docs")
# The long poll and the backoff bound everything below: a change during a long poll is answered
# at once; a failed poll is retried after 1, 2, 4 … 30 s (source_follower.h).
MAX_BACKOFF = 30
SYNC_TIMEOUT = 60  # a new page or configuration on every secondary (a loaded 2-core machine)
CATCH_UP_TIMEOUT = MAX_BACKOFF + SYNC_TIMEOUT  # the last retry may come a whole backoff late
# The outage window in which the sync processes are watched, once each has seen the primary go.
QUIET_WINDOW = 15.0
# Within QUIET_WINDOW the backoff (1, 2, 4, 8 s …) allows at most 4 attempts per source. A
# build whose failed polls were retried every 50 ms instead made ~280 (and ~1,500 context
# switches per process, 0.3 s of CPU): it fails the first two bounds.
MAX_ATTEMPTS_PER_SOURCE = 6
# Per sync process in QUIET_WINDOW: its main thread wakes 10 times a second (it polls the
# privileged helper's socket every 100 ms), each source thread a few times per attempt: ~175.
MAX_CONTEXT_SWITCHES = 600
# Per sync process in QUIET_WINDOW; measured ≤ 0.02 s. For a thread that spins without sleeping
# (a core's worth: seconds), which the counts above might not see.
MAX_CPU_SECONDS = 0.5


def page(text):
    return f"<h1>{text}</h1>\n".encode()


class FanOutToThreeSecondaries(unittest.TestCase):
    def setUp(self):
        self.probes = probe_dirs(("v1", "v2"))
        self.addCleanup(shutil.rmtree, self.probes, True)
        self.primary, dirs = new_fanout_primary(EXPORTS)
        self.conf_src, self.docs = dirs["conf"], dirs["docs"]
        self.write_common("v1")
        self.write_page("index.html", page("index v1"))
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondaries = []
        for i in range(SECONDARIES):
            sec, _ = new_fanout_secondary(self.primary.port, i, EXPORTS, long_poll="25s",
                                          modules=["alias"])
            sec.start()
            self.addCleanup(sec.cleanup)
            self.secondaries.append(sec)
        # Before the instances' cleanups remove their ServerRoots: any of the four may be the one.
        self.addCleanup(lambda: test_failed(self) and print_error_logs(
            [self.primary, *self.secondaries], tail_chars=20000))

    def write_common(self, version):
        replace_file(os.path.join(self.conf_src, "common.conf"),
                     probe_alias(os.path.join(self.probes, version)))

    def write_page(self, name, body):
        with open(os.path.join(self.docs, name + ".new"), "wb") as f:
            f.write(body)
        os.chmod(os.path.join(self.docs, name + ".new"), 0o644)
        os.replace(os.path.join(self.docs, name + ".new"), os.path.join(self.docs, name))

    def wait_every_secondary(self, check, timeout, what):
        """Polls every secondary until `check(secondary)` holds for each; their seconds."""
        t0 = time.monotonic()
        took = {}
        for sec in self.secondaries:
            wait_until(lambda: check(sec), timeout=max(1.0, timeout - (time.monotonic() - t0)),
                       what=f"{what} on {sec.name}")
            took[sec.name] = round(time.monotonic() - t0, 3)
        return took

    def serving(self, path, body):
        return lambda sec: serves(sec, SYNCED_URL_PREFIX + path, body)

    def configured(self, version):
        return lambda sec: probe(sec) == version

    def sync_pids(self):
        return {sec.name: status_json(sec)["sync_child_pid"] for sec in self.secondaries}

    def failed_attempts(self):
        return {(sec.name, export): source_status(sec, export)["failures_error"]
                for sec in self.secondaries for export in EXPORTS}

    def long_polls_waiting(self):
        return status_json(self.primary)["long_polls"]["waiting"]

    def test_every_secondary_follows_keeps_its_copy_while_the_primary_is_down_and_catches_up(self):
        self.wait_every_secondary(self.serving("/index.html", page("index v1")), SYNC_TIMEOUT,
                                  "initial docroot")
        self.wait_every_secondary(self.configured("v1"), SYNC_TIMEOUT, "initial configuration")
        # Idle, the primary holds one long poll per source of each secondary, and no more.
        wait_until(lambda: self.long_polls_waiting() == SECONDARIES * len(EXPORTS),
                   timeout=SYNC_TIMEOUT, what="one long poll per source waiting")

        self.write_page("new.html", page("new page"))
        took = self.wait_every_secondary(self.serving("/new.html", page("new page")),
                                         SYNC_TIMEOUT, "a new page")
        print(f"new page served by every secondary after (s): {took}")
        self.assertLessEqual(status_json(self.primary)["long_polls"]["peak"],
                             SECONDARIES * len(EXPORTS) + len(EXPORTS),
                             "more long polls than sources (plus a restarted secondary's)")

        # --- the primary goes down
        pids = self.sync_pids()
        before = self.failed_attempts()
        self.primary.stop()
        wait_until(lambda: all(n > before[k] for k, n in self.failed_attempts().items()),
                   timeout=SYNC_TIMEOUT, what="every source has seen the primary go")
        # Changes made on the primary while it is down: nobody can fetch them yet.
        self.write_page("index.html", page("index v2, edited while down"))
        self.write_page("while-down.html", page("added while down"))
        self.write_common("v2")

        attempts0, cpu0 = self.failed_attempts(), {n: cpu_seconds([p]) for n, p in pids.items()}
        switches0 = {n: context_switches(p) for n, p in pids.items()}
        time.sleep(QUIET_WINDOW)
        attempts1, cpu1 = self.failed_attempts(), {n: cpu_seconds([p]) for n, p in pids.items()}
        switches1 = {n: context_switches(p) for n, p in pids.items()}
        self.assertEqual(self.sync_pids(), pids, "a sync process was restarted")
        attempts = {k: attempts1[k] - attempts0[k] for k in attempts0}
        switches = {n: switches1[n] - switches0[n] for n in pids}
        cpu = {n: round(cpu1[n] - cpu0[n], 3) for n in pids}
        print(f"in {QUIET_WINDOW} s with the primary down: attempts {attempts}, "
              f"context switches {switches}, CPU s {cpu}")
        for key, n in attempts.items():
            self.assertLessEqual(n, MAX_ATTEMPTS_PER_SOURCE, f"{key} retried {n} times")
        for name in pids:
            self.assertLessEqual(switches[name], MAX_CONTEXT_SWITCHES, name)
            self.assertLessEqual(cpu[name], MAX_CPU_SECONDS, name)

        # Every secondary serves its last good copy and runs its last good configuration.
        def kept(sec):
            return (serves(sec, SYNCED_URL_PREFIX + "/index.html", page("index v1")) and
                    serves(sec, SYNCED_URL_PREFIX + "/new.html", page("new page")) and
                    not serves(sec, SYNCED_URL_PREFIX + "/while-down.html",
                               page("added while down")) and probe(sec) == "v1")

        for sec in self.secondaries:
            self.assertTrue(kept(sec), sec.name)
        # ... also after a graceful restart of each, and a stop and start of one: what is on
        # disk is a valid configuration and a whole docroot, with no primary to ask.
        for sec in self.secondaries:
            sec.graceful()
        self.secondaries[-1].stop()
        self.secondaries[-1].start()
        for sec in self.secondaries:
            self.assertTrue(wait_until(lambda: kept(sec), timeout=10, what=f"{sec.name} kept"))

        # --- the primary is back: everything edited while it was down reaches every secondary
        self.primary.start()
        back = time.monotonic()
        took = self.wait_every_secondary(
            lambda sec: (serves(sec, SYNCED_URL_PREFIX + "/index.html",
                                page("index v2, edited while down")) and
                         serves(sec, SYNCED_URL_PREFIX + "/while-down.html",
                                page("added while down"))),
            CATCH_UP_TIMEOUT, "the docroot edited while the primary was down")
        self.wait_every_secondary(self.configured("v2"),
                                  CATCH_UP_TIMEOUT - (time.monotonic() - back),
                                  "the configuration edited while the primary was down")
        print(f"docroot caught up after the primary's return (s): {took}; configuration after "
              f"{time.monotonic() - back:.1f} s")
        for sec in self.secondaries:
            self.assertEqual(source_status(sec, "conf")["result"], "ok", sec.name)
            self.assertEqual(source_status(sec, "docs")["result"], "ok", sec.name)


if __name__ == "__main__":
    unittest.main()
