"""docsync's `?metrics` between two real httpd instances on loopback: the secondary is 0 s behind
once synced, falls behind (and counts failures) while its primary is down, and catches up when it
is back; the primary counts the secondary's long poll waiting on its export."""
import re
import time
import unittest

from suite_harness.docsync import new_primary, new_secondary, request, status_json
from suite_harness.waiting import wait_until


def metrics(instance):
    status, body, headers = request(instance.port, "GET", "/docsync-status?metrics")
    if status != 200:
        raise AssertionError(f"metrics page: {status} {body[:200]!r}")
    return body.decode()


def sample(page, name, **labels):
    """The value of the one sample of `name` whose labels include `labels`, or None."""
    found = []
    for line in page.splitlines():
        m = re.match(r"([a-z_]+)\{(.*)\} (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-z_]+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        if all(have.get(k) == v for k, v in labels.items()):
            found.append(float(m.group(3)))
    assert len(found) <= 1, (name, labels, found)
    return found[0] if found else None


class DocSyncMetrics(unittest.TestCase):
    def setUp(self):
        self.primary, pdirs = new_primary(["docs"])
        with open(f"{pdirs['docs']}/index.html", "w") as f:
            f.write("<h1>metrics</h1>\n")
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondary, _ = new_secondary(self.primary.port, [("docs", "htdocs/synced", [])])
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)

    def source(self):
        return status_json(self.secondary)["sources"][0]

    def test_behind_the_primary_while_it_is_down_and_caught_up_after(self):
        wait_until(lambda: self.source()["result"] == "ok", what="initial sync")
        page = metrics(self.secondary)
        url = self.source()["url"]
        self.assertEqual(sample(page, "httpd_docsync_behind_primary_seconds", source=url), 0)
        self.assertEqual(sample(page, "httpd_docsync_rounds_total", source=url),
                         self.source()["rounds"])
        self.assertEqual(sample(page, "httpd_docsync_last_result", source=url, result="ok"), 1)
        # The secondary's long poll waits in one of the primary's children.
        wait_until(lambda: sample(metrics(self.primary), "httpd_docsync_export_long_polls_waiting",
                                  export="docs") == 1, timeout=10, what="a long poll waiting")
        self.assertGreater(sample(metrics(self.primary), "httpd_docsync_export_manifest_entries",
                                  export="docs"), 0)

        self.primary.stop()
        down_at = time.time()
        wait_until(lambda: self.source()["result"] == "error", timeout=20, what="a failed poll")
        time.sleep(2.5)
        page = metrics(self.secondary)
        behind = sample(page, "httpd_docsync_behind_primary_seconds", source=url)
        self.assertGreaterEqual(behind, 2)
        # Behind since the last moment it was known in sync, which is before the primary went.
        self.assertLessEqual(behind, time.time() - down_at + 10)
        failures = sample(page, "httpd_docsync_failures_total", source=url, result="error")
        self.assertGreaterEqual(failures, 1)
        self.assertEqual(failures, status_json(self.secondary)["sources"][0]["failures_error"])
        self.assertEqual(sample(page, "httpd_docsync_last_result", source=url, result="error"), 1)

        self.primary.start()
        wait_until(lambda: sample(metrics(self.secondary), "httpd_docsync_behind_primary_seconds",
                                  source=url) == 0, timeout=30, what="caught up again")
        self.assertEqual(self.source()["behind_since"], 0)
        self.assertGreater(self.source()["in_sync"], down_at)


if __name__ == "__main__":
    unittest.main()
