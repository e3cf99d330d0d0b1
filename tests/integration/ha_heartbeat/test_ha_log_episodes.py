"""The error log tells an operator what happened once per episode, never once per heartbeat.

A one-way split brain at HAInterval 10ms: b no longer hears a (a firewall rule in b's own test
namespace drops a's heartbeats), so b claims master while a, which still hears b, stays master
and announces again each interval. That is 100 heartbeats a second from the other master; the
log must say so once, and once more when it is over, with the count on the status page.
"""
import time
import unittest

from suite_harness.ha_cluster import HaCluster, node_ip

SPLIT_SECONDS = 3.0
# An episode ends after 10 intervals (at least 1 s) without the other master; wait past that.
EPISODE_END_WAIT = 3.0
# The split brain is continuous (b heartbeats every 10 ms), so it is one episode; a gap of more
# than 1 s in b's heartbeats (a stalled machine) would start another. At most this many, then:
# per-heartbeat logging would write about 300 lines.
MAX_EPISODES = 3
SPLIT_LINE = "also claims master (split brain)"


class HaLogEpisodesTest(unittest.TestCase):

    def test_one_way_split_brain_is_one_log_line_and_counted(self):
        with HaCluster([200, 100], interval="10ms") as c:
            c.start_all()
            c.wait_for_holder("a")
            table = "inet test_split"
            c.lab.exec("b", ["nft", "add", "table", *table.split()])
            c.lab.exec("b", ["nft", "add", "chain", *table.split(), "in",
                             "{ type filter hook input priority 0; policy accept; }"])
            c.lab.exec("b", ["nft", "add", "rule", *table.split(), "in", "ip", "saddr",
                             node_ip(0), "udp", "dport", "694", "drop"])
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and "b" not in c.holders():
                time.sleep(0.02)
            self.assertIn("b", c.holders())
            time.sleep(SPLIT_SECONDS)
            c.lab.exec("b", ["nft", "delete", "table", *table.split()])
            c.wait_for_holder("a", 2.0)
            time.sleep(EPISODE_END_WAIT)
            log = c.node("a").error_log_text()
            lines = [l for l in log.splitlines() if SPLIT_LINE in l]
            episodes = c.node("a").status()["episodes"]
            self.assertGreaterEqual(len(lines), 1, log)
            self.assertLessEqual(len(lines), MAX_EPISODES, log)
            self.assertEqual(episodes["split_brain"], len(lines))
            self.assertGreater(episodes["reannouncements"], len(lines))
            self.assertEqual(log.count("split brain over"), len(lines), log)


if __name__ == "__main__":
    unittest.main()
