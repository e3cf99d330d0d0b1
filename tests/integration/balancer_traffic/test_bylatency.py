"""bylatency against a real httpd in front of three delay backends on 127.0.0.1: one slows down
20x under load, is degraded to probes only, and gets its part again once it recovers."""
import re
import time
import unittest

from suite_harness.balancer import (STATUS_LOCATION, configured_proxy, start_proxy,
                                    unreachable_balancer)
from suite_harness.delay_backend import DelayBackend
from suite_harness.httpd import LoadClient

FAST_MS = 5
SLOW_MS = 100
# The default BalancerLatencyDecay over the core's kProbesPerDecay: a degraded member gets at
# most one request per this interval (latency_scheduler.h).
PROBE_INTERVAL_S = 0.5 / 4


class DegradedWorker(unittest.TestCase):
    def setUp(self):
        self.backends = []
        for _ in range(3):
            b = DelayBackend(FAST_MS)
            self.addCleanup(b.cleanup)
            self.backends.append(b.start())
        self.proxy = start_proxy("latproxy", [(b, "retry=1") for b in self.backends],
                                 lbmethod="bylatency")
        self.addCleanup(self.proxy.cleanup)

    def counts(self, since, until):
        return [sum(1 for t in b.served() if since <= t < until) for b in self.backends]

    def shares(self, since, until):
        counts = self.counts(since, until)
        total = sum(counts)
        return [c / total if total else 0.0 for c in counts], total

    def members(self):
        return self.proxy.get_json("/traffic-status?json")["balancers"][0]["members"]

    def test_a_slow_member_gets_less_traffic_and_gets_it_back_after_recovery(self):
        load = LoadClient(self.proxy.port, ["/app/item"], threads=12, max_requests=10**7,
                          max_seconds=40).start()
        try:
            time.sleep(4)
            slow_at = time.time()
            self.backends[1].set_delay(SLOW_MS)
            time.sleep(4)
            during = self.members()
            recovered_at = time.time()
            self.backends[1].set_delay(FAST_MS)
            time.sleep(5)
        finally:
            results = load.stop()
        failed = [r for r in results if r[1] != 200]
        self.assertEqual(failed, [], f"{len(failed)} of {len(results)} failed")
        before, n_before = self.shares(slow_at - 3, slow_at)
        slowed, n_slowed = self.shares(slow_at + 1, recovered_at)
        after, n_after = self.shares(recovered_at + 2, recovered_at + 5)
        msg = f"before {before} ({n_before}), during {slowed} ({n_slowed}), after {after} " \
              f"({n_after}); members during {during}"
        self.assertGreater(min(n_before, n_slowed, n_after), 300, msg)
        # Healthy, equal members share by requests in flight: a third each, less what a busy
        # machine's stalls take (a member that stalls is probed until it answers fast again).
        self.assertGreater(before[1], 0.2, msg)
        # Slowed, from a second on (by then its slow answers have degraded it), it gets probes
        # only: at most one per probe interval. The factor 2 is slack for timing on a busy
        # machine, not for the mechanism.
        probes = self.counts(slow_at + 1, recovered_at)[1]
        self.assertLessEqual(probes, 2 * (recovered_at - slow_at - 1) / PROBE_INTERVAL_S + 2, msg)
        self.assertLess(slowed[1], 0.05, msg)
        # Recovered, a few fast probes readmit it; from two seconds on it carries its part.
        self.assertGreater(after[1], 0.2, msg)
        # The status page shows why: the slow member's estimate is the highest, at least its
        # delay.
        latency = [m["latency_ms"] for m in during]
        self.assertGreater(latency[1], max(latency[0], latency[2]), msg)
        self.assertGreaterEqual(latency[1], 0.9 * SLOW_MS, msg)
        self.assertEqual(sum(m["inflight"] for m in self.members()), 0, msg)

    def test_estimates_survive_a_graceful_restart(self):
        self.backends[2].set_delay(SLOW_MS)
        results = LoadClient(self.proxy.port, ["/app/item"], threads=4, max_requests=300,
                             max_seconds=15).run()
        self.assertEqual([r for r in results if r[1] != 200], [])
        before = [m["latency_ms"] for m in self.members()]
        self.assertNotIn(None, before)
        self.assertGreaterEqual(before[2], 0.9 * SLOW_MS)  # it tracks the member's delay
        status, body = self.proxy.get("/traffic-status")
        self.assertEqual(status, 200)
        # The HTML page shows the estimates too, one cell per member.
        self.assertEqual(len(re.findall(r"<td>\d+\.\d\d ms</td>", body.decode())), 3)
        self.proxy.graceful()
        # The new generation reads the same shared state: nothing was forgotten.
        self.assertEqual([m["latency_ms"] for m in self.members()], before)


class LatencyDecayDirective(unittest.TestCase):
    def configtest(self, directive):
        body = directive + "\n" + unreachable_balancer(lbmethod="bylatency") + STATUS_LOCATION
        h = configured_proxy("latcfg", body)
        self.addCleanup(h.cleanup)
        return h, h.configtest()

    def test_good_values_pass_and_show_on_the_status_page(self):
        h, proc = self.configtest("BalancerLatencyDecay 250ms")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        h.start()
        balancer = h.get_json("/traffic-status?json")["balancers"][0]
        self.assertEqual(balancer["lbmethod"], "bylatency")
        self.assertEqual(balancer["latency_decay_seconds"], 0.25)
        self.assertIsNone(balancer["members"][0]["latency_ms"])

    def test_bad_values_fail_with_the_directive_and_reason(self):
        cases = {
            "BalancerLatencyDecay 5ms": "must be between 10ms and",
            "BalancerLatencyDecay 2h": "must be between 10ms and",
            "BalancerLatencyDecay off": "not a duration",
            "BalancerLatencyDecay": "takes one argument",
        }
        for directive, reason in cases.items():
            _, proc = self.configtest(directive)
            self.assertNotEqual(proc.returncode, 0, directive)
            self.assertIn("BalancerLatencyDecay", proc.stderr, directive)
            self.assertIn(reason, proc.stderr, directive)


if __name__ == "__main__":
    unittest.main()
