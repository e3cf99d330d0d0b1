"""The whole story, unattended: the original topology in namespaces, every module at work."""
import os
import subprocess
import time
import unittest

from suite_harness import topology as T
from suite_harness.waiting import wait_until


def httpd_processes_under(root):
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if root in line and "apache2" in line]


class WholeSystem(unittest.TestCase):
    def test_the_original_design_end_to_end(self):
        topo = T.Topology(forward_ports=True)
        roots = []
        with topo:
            roots = [h.root for h in topo.instances]
            topo.start()

            # The primary holds the service address; the secondary has synced and runs the
            # shared configuration (balancer and all) after its graceful restart.
            self.assertTrue(topo.wait_for_holder("p", 10), topo.holders())
            self.assertTrue(topo.wait_for_sync(30), topo.proxies["s"].status("docsync-status"))
            self.assertEqual(topo.sync_status("/common")["restarts_triggered"], 1)
            self.assertEqual(topo.who_answers(), "p")

            # Weighted split through the service address, measured at the workers.
            since = time.time()
            results = topo.load(3000)
            self.assertEqual([r for r in results if r[1] != 200], [])
            time.sleep(0.5)
            split = topo.split(since)
            total = sum(b for *_, b in split)
            self.assertAlmostEqual(split[1][3] / total, 0.7, delta=0.03, msg=f"{split}")

            # The status pages are reachable from the host through the forwarded ports.
            import urllib.request
            for page in ("traffic-status", "ha-status", "docsync-status"):
                url = f"http://127.0.0.1:{topo.forwarders['p'].port}/{page}"
                with urllib.request.urlopen(url, timeout=5) as resp:
                    self.assertEqual(resp.status, 200, url)

            # The primary drops off the LAN: the secondary takes the address and answers.
            prober = topo.prober(period=0.01, timeout=0.2, max_seconds=60)
            time.sleep(0.3)
            down_at = time.monotonic()
            topo.primary_link_down()
            self.assertTrue(topo.wait_for_holder("s", 5), topo.holders())
            answered = wait_until(lambda: prober.first_answer_after(down_at, "s"), 5,
                                  raise_on_timeout=False)
            self.assertTrue(answered, prober.results[-5:])
            self.assertLess(answered - down_at, 2.0)
            status, body = topo.client_get("/app/s1k")
            self.assertEqual(status, 200)  # the secondary proxies to the workers too

            # The primary comes back; with preempt it takes the address back: one owner.
            topo.primary_link_up()
            self.assertTrue(topo.wait_for_holder("p", 10), topo.holders())
            time.sleep(0.5)
            self.assertEqual(topo.holders(), ["p"])
            self.assertTrue(wait_until(lambda: topo.who_answers() == "p", 5,
                                       raise_on_timeout=False))
            prober.stop()

            # A page edited on the primary is served by the secondary.
            edited_at = time.monotonic()
            topo.edit_page("<h1>Welcome (version 2)</h1>\n")
            self.assertTrue(wait_until(lambda: topo.secondary_serves("version 2"), 10,
                                       raise_on_timeout=False, ignore=(Exception,)))
            self.assertLess(time.monotonic() - edited_at, 10)

            # A broken shared configuration is refused: the secondary keeps its running
            # configuration and keeps serving, and says why on its status page.
            restarts = topo.sync_status("/common")["restarts_triggered"]
            topo.push_common_config("zz-broken.conf", "ThisIsNotADirective on\n")
            refused = wait_until(
                lambda: topo.sync_status("/common")["result"] not in ("ok", ""), 15,
                raise_on_timeout=False, ignore=(Exception,))
            self.assertTrue(refused, topo.sync_status("/common"))
            common = topo.sync_status("/common")
            self.assertIn("ThisIsNotADirective", common["config_check_output"] + common["last_error"])
            self.assertEqual(common["restarts_triggered"], restarts)
            self.assertFalse(os.path.exists(os.path.join(topo.proxies["s"].common,
                                                          "zz-broken.conf")))
            self.assertEqual(topo.proxies["s"].get("/traffic-status?json")[0], 200)
            topo.primary_link_down()  # make the secondary serve the service address
            self.assertTrue(topo.wait_for_holder("s", 5))
            self.assertEqual(wait_until(lambda: topo.client_get("/app/s1k")[0], 5,
                                        raise_on_timeout=False, ignore=(Exception,)), 200)
            topo.primary_link_up()
            self.assertTrue(topo.wait_for_holder("p", 10))

        # Nothing left behind: namespaces, processes, temp dirs.
        self.assertEqual(topo.leftovers(), [])
        for root in roots:
            self.assertEqual(httpd_processes_under(root), [], root)
            self.assertFalse(os.path.exists(root), root)


if __name__ == "__main__":
    unittest.main()
