"""mod_balancer_traffic against a real httpd and real backends (all on 127.0.0.1)."""
import os
import time
import unittest

from suite_harness.balancer import (MIXED_PATHS, STATUS_LOCATION, byte_share, configured_proxy,
                                    manager_update, proxy_picks, request_share, settle_logs,
                                    start_proxy, unreachable_balancer)
from suite_harness.failure_logs import print_error_logs, test_failed
from suite_harness.httpd import Backend, HttpdInstance, LoadClient


class BackendsTestCase(unittest.TestCase):
    backend_count = 2

    def setUp(self):
        self.backends = []
        for i in range(self.backend_count):
            b = Backend(f"web{i + 1}")
            self.addCleanup(b.cleanup)
            b.start()
            self.backends.append(b)
        self.proxy = None

    def start_proxy(self, members, **kwargs):
        self.proxy = start_proxy("proxy", members, **kwargs)
        self.addCleanup(self.proxy.cleanup)
        self.addCleanup(self.dump_log_on_failure)
        return self.proxy

    def dump_log_on_failure(self):
        if test_failed(self) and self.proxy:
            print_error_logs([self.proxy], tail_chars=6000)

    def load(self, requests, seconds=30.0, threads=8, paths=MIXED_PATHS):
        results = LoadClient(self.proxy.port, paths, threads=threads, max_requests=requests,
                             max_seconds=seconds).run()
        settle_logs(self.backends)
        return results

    def status(self):
        return self.proxy.get_json("/traffic-status?json")["balancers"][0]


class WeightedSplit(BackendsTestCase):
    def test_bytraffic_splits_bytes_3_to_7_with_mixed_sizes(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")])
        results = self.load(3000)
        self.assertEqual([r for r in results if r[1] != 200], [])
        shares, total = byte_share(self.backends)
        self.assertGreater(total, 3000 * 1024)
        self.assertAlmostEqual(shares[0], 0.3, delta=0.02, msg=f"byte shares {shares}")
        self.assertAlmostEqual(shares[1], 0.7, delta=0.02, msg=f"byte shares {shares}")
        status = self.status()
        self.assertEqual(status["lbmethod"], "bytraffic")
        self.assertTrue(status["managed"])
        self.assertEqual([m["target_share"] for m in status["members"]], [0.3, 0.7])
        self.assertEqual(sum(m["picks_total"] for m in status["members"]), 3000)
        # Every pick was released when its request ended (post_request hook into mod_proxy).
        self.assertEqual([m["inflight"] for m in status["members"]], [0, 0])

    def test_byrequests_interleaves_3_to_7(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")], lbmethod="byrequests")
        results = self.load(2000, paths=["/app/s1k"])
        self.assertEqual([r for r in results if r[1] != 200], [])
        shares, total = request_share(self.backends)
        self.assertEqual(total, 2000)
        # Smooth weighted round robin: exact to within one request per member.
        self.assertAlmostEqual(shares[0] * total, 600, delta=1)

    def test_status_page_renders_html_with_members_and_shares(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")])
        self.load(300)
        status, body = self.proxy.get("/traffic-status")
        self.assertEqual(status, 200)
        html = body.decode()
        self.assertIn("balancer://cluster", html)
        self.assertIn(f"http://127.0.0.1:{web1.port}", html)
        self.assertIn("<svg", html)
        self.assertIn("class=\"share\"", html)  # the last-minute chart
        self.assertIn("over the last minute", html)
        self.assertIn("Byte share", html)


class Failures(BackendsTestCase):
    def test_all_members_down_answers_503(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3 retry=30"), (web2, "loadfactor=7 retry=30")])
        web1.kill()
        web2.kill()
        statuses = [self.proxy.get("/app/s1k")[0] for _ in range(5)]
        self.assertEqual(statuses[-1], 503, statuses)
        self.assertTrue(all(s in (502, 503) for s in statuses), statuses)

    def test_killed_member_recovers_to_its_share_without_a_flood(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3 retry=1"), (web2, "loadfactor=7 retry=1")])
        client = LoadClient(self.proxy.port, MIXED_PATHS, threads=8, max_requests=200000,
                            max_seconds=14).start()
        time.sleep(3)
        killed_at = time.time()
        web2.kill()
        time.sleep(3)
        web2.start()
        back_at = time.time()
        time.sleep(8)
        results = client.stop()
        settle_logs(self.backends)
        failed = [r for r in results if r[1] != 200]
        # Only requests already on their way to the killed member fail: one in flight per client
        # connection, and at most one more per connection that httpd's proxy sends on a pooled
        # connection to the dead backend before it notices (it then closes the client connection
        # or answers 502; that is mod_proxy_http, whatever the lbmethod).
        self.assertLessEqual(len(failed), 2 * 8, failed[:20])
        self.assertTrue(all(killed_at <= t <= killed_at + 1.0 for t, _, _ in failed), failed)
        dead = f"http://127.0.0.1:{web2.port}"
        # Whatever the proxy logged as failed went to the killed member, none to the other.
        proxy_failures = [p for p in proxy_picks(self.proxy) if p[1] != 200]
        self.assertLessEqual({p[2] for p in proxy_failures}, {dead}, proxy_failures[:10])
        # While it was down, web1 served everything.
        shares, total = byte_share(self.backends, killed_at + 0.5, back_at)
        self.assertGreater(total, 0)
        self.assertGreater(shares[0], 0.99)
        # After its retry interval (1 s) it is at its 70% in every 2-second slice: no flood.
        for start in (back_at + 2, back_at + 4, back_at + 6):
            shares, total = byte_share(self.backends, start, start + 2)
            self.assertGreater(total, 0)
            self.assertAlmostEqual(shares[1], 0.7, delta=0.05,
                                   msg=f"slice from +{start - back_at:.0f}s: {shares}")

    def test_hot_standby_serves_only_when_the_regular_member_is_down(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=1 retry=30"), (web2, "loadfactor=1 status=+H")])
        self.load(200)
        self.assertEqual(request_share(self.backends)[0], [1.0, 0.0])
        web1.kill()
        before = time.time()
        results = self.load(200)
        self.assertLessEqual(len([r for r in results if r[1] != 200]), 1)
        self.assertEqual(request_share(self.backends, before)[0], [0.0, 1.0])


class Runtime(BackendsTestCase):
    backend_count = 3

    def test_balancer_manager_loadfactor_change_takes_effect_at_once(self):
        web1, web2, _ = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")])
        self.load(2000)
        manager_update(self.proxy, f"http://127.0.0.1:{web1.port}", w_lf="7")
        since = time.time()
        self.load(1500)
        shares, _ = byte_share(self.backends[:2], since)
        self.assertAlmostEqual(shares[0], 0.5, delta=0.05, msg=f"{shares}")
        member = self.status()["members"][0]
        self.assertEqual(member["loadfactor"], 7.0)

    def test_balancer_manager_disable_and_enable_take_effect_at_once_without_a_flood(self):
        web1, web2, _ = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")])
        self.load(1500)
        manager_update(self.proxy, f"http://127.0.0.1:{web2.port}", w_status_D="1")
        since = time.time()
        self.load(1000)
        self.assertEqual(request_share(self.backends[:2], since)[0], [1.0, 0.0])
        manager_update(self.proxy, f"http://127.0.0.1:{web2.port}", w_status_D="0")
        since = time.time()
        self.load(1500)
        shares, _ = byte_share(self.backends[:2], since)
        self.assertAlmostEqual(shares[1], 0.7, delta=0.05, msg=f"{shares}")

    def test_member_added_by_balancer_manager_gets_its_share_without_a_flood(self):
        web1, web2, web3 = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")], growth=2)
        self.load(2000)
        new_url = f"http://127.0.0.1:{web3.port}"
        manager_update(self.proxy, None, b_wyes="1", b_nwrkr=new_url)
        manager_update(self.proxy, new_url, w_lf="5", w_status_D="0")
        since = time.time()
        self.load(2000)
        shares, _ = byte_share(self.backends, since)
        self.assertAlmostEqual(shares[2], 5 / 15, delta=0.06, msg=f"{shares}")


class Restarts(BackendsTestCase):
    def test_graceful_restart_under_load_fails_nothing_and_keeps_state(self):
        web1, web2 = self.backends
        self.start_proxy([(web1, "loadfactor=3"), (web2, "loadfactor=7")])
        self.load(1500)
        picks_before = sum(m["picks_total"] for m in self.status()["members"])
        self.assertGreaterEqual(picks_before, 1500)
        client = LoadClient(self.proxy.port, MIXED_PATHS, threads=8, max_requests=3000,
                            max_seconds=20).start()
        time.sleep(1)
        self.proxy.graceful()
        results = client.stop()
        settle_logs(self.backends)
        self.assertEqual([r for r in results if r[1] != 200], [])
        status = self.status()
        picks_after = sum(m["picks_total"] for m in status["members"])
        # The counters went on from where they were: the learned state survived.
        self.assertGreaterEqual(picks_after, picks_before + len(results))
        shares, _ = byte_share(self.backends)
        self.assertAlmostEqual(shares[1], 0.7, delta=0.02, msg=f"{shares}")


class Configuration(unittest.TestCase):
    def configtest(self, directives, section=""):
        body = directives + "\n" + unreachable_balancer(member_params="loadfactor=3",
                                                        settings=section)
        h = configured_proxy("cfg", body)
        self.addCleanup(h.cleanup)
        return h.configtest()

    def test_good_directives_pass_configtest(self):
        for directive in ("BalancerTrafficWindow 30s", "BalancerTrafficWindow cumulative",
                          "BalancerTrafficSlowStart 5s", "BalancerTrafficSlowStart off"):
            proc = self.configtest(directive)
            self.assertEqual(proc.returncode, 0, proc.stderr)
        proc = self.configtest("", "BalancerTrafficWindow 2s\n    BalancerTrafficSlowStart 500ms")
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_a_balancer_section_overrides_the_server_wide_setting(self):
        body = ("BalancerTrafficWindow 30s\nBalancerTrafficSlowStart 4s\n" +
                unreachable_balancer("tuned", settings="BalancerTrafficWindow 2s") +
                unreachable_balancer("plain") + STATUS_LOCATION)
        h = configured_proxy("scoped", body)
        self.addCleanup(h.cleanup)
        h.start()
        balancers = {b["name"]: b for b in h.get_json("/traffic-status?json")["balancers"]}
        self.assertEqual(balancers["balancer://tuned"]["window_seconds"], 2.0)
        self.assertEqual(balancers["balancer://tuned"]["slow_start_seconds"], 4.0)
        self.assertEqual(balancers["balancer://plain"]["window_seconds"], 30.0)

    def test_the_shipped_example_configuration_is_valid(self):
        example = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf",
                               "proxy-balancer.conf.example")
        with open(example) as f:
            body = f.read()
        h = configured_proxy("example", body, modules=["authz_host"])
        self.addCleanup(h.cleanup)
        proc = h.configtest()
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_missing_mod_proxy_is_a_clear_startup_error(self):
        h = HttpdInstance("noproxy", "", modules=[], suite_modules=["balancer_traffic"])
        self.addCleanup(h.cleanup)
        proc = h.configtest()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("mod_balancer_traffic needs mod_proxy", proc.stderr + proc.stdout)

    def test_bad_directives_fail_with_the_directive_and_reason(self):
        cases = {
            "BalancerTrafficWindow 5parsecs": "unknown unit",
            "BalancerTrafficWindow 10ms": "must be between 100ms and 24h, or 'cumulative'",
            "BalancerTrafficWindow": "takes one argument",
            "BalancerTrafficSlowStart soon": "not a duration",
            "BalancerTrafficSlowStart 3h": "must be between 100ms and 1h, or 'off'",
        }
        for directive, reason in cases.items():
            proc = self.configtest(directive)
            self.assertNotEqual(proc.returncode, 0, directive)
            self.assertIn(directive.split()[0], proc.stderr)
            self.assertIn(reason, proc.stderr)
        proc = self.configtest("<Location /x>\n    BalancerTrafficWindow 5s\n</Location>")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("BalancerTrafficWindow: allowed in the server configuration or in "
                      "<Proxy balancer://...>", proc.stderr)

    def test_our_provider_is_in_effect_and_logged_when_the_stock_module_is_loaded_too(self):
        # Debian's a2enmod loads modules in file-name order; ours must win either way.
        body = "LogLevel notice\n" + unreachable_balancer() + STATUS_LOCATION
        for stock_first in (True, False):
            h = configured_proxy("both", body, modules=["lbmethod_bytraffic"])
            self.addCleanup(h.cleanup)
            lines = h.load_lines().splitlines()
            ours = [l for l in lines if "balancer_traffic_module" in l]
            stock = [l for l in lines if "lbmethod_bytraffic_module" in l]
            others = [l for l in lines if l not in ours + stock]
            order = stock + ours if stock_first else ours + stock
            h.load_lines = lambda others=others, order=order: "\n".join(others + order)
            h.write_config(body)
            h.start()
            log = h.error_log_text()
            status = h.get_json("/traffic-status?json")["balancers"][0]
            h.stop()
            self.assertIn("mod_lbmethod_bytraffic.c is loaded too; mod_balancer_traffic's "
                          "'bytraffic' is in effect", log)
            self.assertEqual(status["lbmethod"], "bytraffic")
            self.assertIsNotNone(status.get("window_seconds"))

if __name__ == "__main__":
    unittest.main()
