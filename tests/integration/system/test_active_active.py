"""Active-active: three proxies and three service addresses, one each (spread placement). A
node's failure moves only its address, its return moves only that address back, an address is
never held twice beyond the windows the mechanism allows, and a page edited on the config
primary reaches both secondaries.

What the mechanism allows, with HAInterval 100ms (dead interval 3 intervals + a skew of at most
a quarter interval: <= 325 ms) and the default HAAddressLifetime 2 s:
  - unplanned failure (SIGKILL of the whole httpd, heartbeat process included): nobody removes
    the address from the dead node's interface; the kernel does when its lifetime runs out
    (renewed 4 times a lifetime, so at most 2 s after the kill, and the kernel's check of
    lifetimes may come up to a second late). Meanwhile a survivor has claimed it: the dead
    node's stale copy and the survivor's overlap for about 2 s - 0.3 s.
    Between live nodes there is no overlap at all.
  - planned handback (the returning node's preempt: the holder drains, hands over, keeps the
    address until it has heard the new master plus one interval, >= 50 ms, then releases):
    make-before-break, so both hold it for about one interval plus one heartbeat's delay.
The sampler reads every proxy's addresses over rtnetlink every SAMPLE_PERIOD and the test
asserts those bounds (plus the sampler's own worst gap), and no overlap at all elsewhere.
"""
import time
import unittest

from suite_harness import topology as T
from suite_harness.address_watch import AddressWatch
from suite_harness.waiting import wait_until

NODES = 3
VICTIM = "s"  # a secondary: the config primary keeps serving the sync meanwhile
SAMPLE_PERIOD = 0.02
INTERVAL = 0.1
DEAD_INTERVAL = 3.25 * INTERVAL
ADDRESS_LIFETIME = 2.0
# The dead node's stale copy: at most the lifetime after the kill, plus the kernel's lifetime
# check, which runs on a rounded-up timer (up to a second late), plus the kill itself.
STALE_BOUND = ADDRESS_LIFETIME + 1.5
# A planned handback: the release linger (one interval) after hearing the new master (its first
# heartbeat as master, within an interval), and the sampler's gap on either side.
HANDBACK_BOUND = 3 * INTERVAL + 2 * SAMPLE_PERIOD + 0.15
FAILOVER_LIMIT = 5.0
RETURN_LIMIT = 20.0  # start (about a second) + listening + drain (<= HADrainTimeout 2 s)


def transitions(topo, names):
    return {n: topo.ha_status(n)["transitions"] for n in names}


def holder_ids(topo, name):
    """{address: holder_node_id} as `name`'s status page sees it."""
    return {a["address"].split("/")[0]: a["holder_node_id"]
            for a in topo.ha_status(name)["addresses"]}


class ActiveActive(unittest.TestCase):
    def assert_no_overlap(self, watch, t0, t1, what):
        overlaps = watch.overlaps(t0, t1)
        self.assertEqual(overlaps, [], f"an address held twice {what}")

    def test_three_proxies_three_addresses(self):
        with T.Topology(nodes=NODES) as topo:
            names, addresses = topo.names, topo.addresses
            watch = AddressWatch(topo.lab, names, addresses, max_seconds=300)
            self.addCleanup(watch.close)
            watch.start(SAMPLE_PERIOD)
            topo.start()

            # Spread: each proxy holds its home address, alone.
            self.assertTrue(topo.wait_for_spread(timeout=20), topo.all_holders())
            self.assertEqual(watch.holders(), {a: [topo.home(a)] for a in addresses})
            self.assertEqual(sorted(topo.home(a) for a in addresses), sorted(names))
            for name in names:
                st = topo.ha_status(name)
                held = [a["address"].split("/")[0] for a in st["addresses"] if a["held"]]
                self.assertEqual(held, [a for a in addresses if topo.home(a) == name], st)
            converged = time.monotonic()

            # Both secondaries run the primary's shared configuration, and its page edit
            # reaches both.
            self.assertTrue(topo.wait_for_sync(40), [topo.proxies[n].status("docsync-status")
                                                     for n in topo.secondaries])
            for name in topo.secondaries:  # the shared config, applied by a graceful restart
                self.assertEqual(topo.sync_status("/common", name)["restarts_triggered"], 1, name)
            topo.edit_page("<h1>Welcome (version 2)</h1>\n")
            for name in topo.secondaries:
                self.assertTrue(wait_until(lambda: topo.serves(name, "version 2"), 15,
                                           raise_on_timeout=False, ignore=(Exception,)), name)
            self.assertTrue(topo.wait_for_spread(timeout=5), topo.all_holders())

            # SIGKILL one proxy (heartbeat process and all): only its address moves, to one
            # survivor; the others keep theirs and their elections do not move.
            survivors = [n for n in names if n != VICTIM]
            moved = next(a for a in addresses if topo.home(a) == VICTIM)
            kept = [a for a in addresses if a != moved]
            before = transitions(topo, survivors)
            time.sleep(0.5)
            killed_at = time.monotonic()
            topo.proxies[VICTIM].kill()

            def taken_over():
                h = watch.holders()
                live = [n for n in h[moved] if n != VICTIM]
                return len(live) == 1 and live[0]
            taker = wait_until(taken_over, FAILOVER_LIMIT, step=0.01, raise_on_timeout=False)
            self.assertTrue(taker, watch.holders())
            taken_at = time.monotonic()
            self.assertEqual(taker, topo.expected_holders(down=[VICTIM])[moved],
                             f"not the successor the spread placement names: {watch.holders()}")
            # The stale copy on the dead node goes with its lifetime.
            self.assertTrue(wait_until(lambda: watch.holders()[moved] == [taker], STALE_BOUND,
                                       step=0.02, raise_on_timeout=False), watch.holders())
            self.assertTrue(topo.wait_for_spread(down=[VICTIM], timeout=2), topo.all_holders())
            bystander = next(n for n in survivors if n != taker)
            after = wait_until(lambda: (lambda t: t[taker] > before[taker] and t)(
                transitions(topo, survivors)), 3, raise_on_timeout=False, ignore=(Exception,))
            self.assertTrue(after, transitions(topo, survivors))
            self.assertEqual(after[taker], before[taker] + 1, "the taker changed more than once")
            self.assertEqual(after[bystander], before[bystander], "a bystander's election moved")
            ids = holder_ids(topo, bystander)
            self.assertEqual(ids[moved], topo.ha_status(taker)["node_id"], ids)
            time.sleep(1.0)  # still so a while later
            self.assertTrue(topo.spread_as_expected(down=[VICTIM]), topo.all_holders())
            self.assertEqual(transitions(topo, survivors), after)

            # It comes back: its home address alone moves back, by a planned handback.
            returned_at = time.monotonic()
            topo.proxies[VICTIM].start()
            self.assertTrue(topo.wait_for_spread(timeout=RETURN_LIMIT), topo.all_holders())
            back_at = time.monotonic()
            final = transitions(topo, survivors)
            self.assertEqual(final[taker], after[taker] + 1, "the taker changed more than once")
            self.assertEqual(final[bystander], before[bystander], "a bystander's election moved")
            time.sleep(1.0)
            self.assertTrue(topo.spread_as_expected(), topo.all_holders())
            self.assertEqual(transitions(topo, survivors), final)
            end = time.monotonic()
            watch.stop()

            # Held twice: never by two live nodes; the kill's stale copy and the handback's
            # make-before-break within their bounds; nothing else.
            self.assertLess(watch.longest_period(converged, end), 0.25,
                            "the sampler was blind too long to tell")
            self.assert_no_overlap(watch, converged, killed_at, "before the failure")
            for address in kept:
                self.assertEqual([o for o in watch.overlaps(converged, end) if o[0] == address],
                                 [], f"{address} never moved and was held twice")
            during_failure = watch.overlaps(killed_at, returned_at)
            for address, first, last, holders in during_failure:
                self.assertEqual((address, holders), (moved, {VICTIM, taker}), during_failure)
                self.assertLessEqual(last - killed_at, STALE_BOUND, during_failure)
            handback = watch.overlaps(returned_at, end)
            for address, first, last, holders in handback:
                self.assertEqual((address, holders), (moved, {VICTIM, taker}), handback)
            handback_overlap = sum(last - first + SAMPLE_PERIOD for _, first, last, _ in handback)
            self.assertLessEqual(handback_overlap, HANDBACK_BOUND, handback)
            stale_until = max((o[2] for o in during_failure), default=killed_at) - killed_at
            print(f"\nfailover {1000 * (taken_at - killed_at):.0f} ms to {taker}; stale copy "
                  f"on the dead node until {1000 * stale_until:.0f} ms; "
                  f"back home {back_at - returned_at:.2f} s after the restart; handback "
                  f"overlap {1000 * handback_overlap:.0f} ms in {len(handback)} run(s); "
                  f"{len(watch.samples)} samples, worst gap "
                  f"{1000 * watch.longest_period(converged, end):.0f} ms", flush=True)


if __name__ == "__main__":
    unittest.main()
