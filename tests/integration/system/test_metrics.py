"""Metrics for a monitoring system, checked by the real thing: the three status pages' `?metrics`
pass `promtool check metrics`, the shipped rules pass `promtool check rules` and their unit tests,
and a real Prometheus server (Debian's package, on a loopback port, its data in a temp dir)
scrapes both proxies of the topology, answers queries with the values the JSON pages show, and
fires the shipped "balancer with no usable member" alert when the balancer's members die."""
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

from suite_harness import topology as T
from suite_harness.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
SHIPPED = os.path.join(REPO, "conf", "prometheus")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PAGES = {"httpd-balancer-traffic": "/traffic-status", "httpd-ha": "/ha-status",
         "httpd-docsync": "/docsync-status"}
TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
SCRAPE_INTERVAL = "1s"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port, path, accept=None):
    """GET http://127.0.0.1:<port><path> from the host: (status, content type, body text)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read().decode()


def promtool(*args, stdin=None):
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True, text=True,
                          timeout=60)


def scrape_config(targets):
    """The shipped prometheus.yml with the test's targets, a 1 s scrape and evaluation interval
    and the test's copy of the rules (see rules_copy)."""
    with open(os.path.join(SHIPPED, "prometheus.yml")) as f:
        text = f.read()
    text = re.sub(r'targets: \[[^\]]*\]', "targets: [" + ", ".join(
        f'"{t}"' for t in targets) + "]", text)
    text = re.sub(r"(scrape|evaluation)_interval: \S+", rf"\1_interval: {SCRAPE_INTERVAL}", text)
    assert text.count("127.0.0.1") == 3 * len(targets), text
    return text


def rules_copy():
    """The shipped rules with every `for:` set to 0s: the same expressions, firing at the first
    evaluation that finds them true (the shipped durations are for production)."""
    with open(os.path.join(SHIPPED, "httpd-suite-alerts.yml")) as f:
        text = f.read()
    copy, n = re.subn(r"(\n\s+for:) \S+", r"\1 0s", text)
    assert n >= 5, "the shipped rules have `for:` durations"
    return copy


class PrometheusServer:
    """Debian's prometheus binary on 127.0.0.1:<free port>, config, rules and TSDB in `root`."""

    def __init__(self, root, config_text, rules_text):
        self.root = root
        self.port = free_port()
        self.config = os.path.join(root, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(config_text)
        with open(os.path.join(root, "httpd-suite-alerts.yml"), "w") as f:
            f.write(rules_text)
        self.log_path = os.path.join(root, "prometheus.log")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.config}",
             f"--storage.tsdb.path={os.path.join(self.root, 'data')}",
             f"--web.listen-address=127.0.0.1:{self.port}",
             "--web.console.templates=" + os.path.join(self.root, "consoles"),
             "--web.console.libraries=" + os.path.join(self.root, "console_libraries")],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root)
        ready = wait_until(lambda: self._get("/-/ready", raw=True), 30, step=0.2,
                           raise_on_timeout=False, ignore=(Exception,))
        if not ready:
            raise RuntimeError(f"prometheus did not become ready:\n{self.log_text()}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc:
            self.log.close()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def _get(self, path, raw=False):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            body = r.read()
        return body if raw else json.loads(body)

    def api(self, path, **params):
        answer = self._get(f"/api/v1/{path}?" + urllib.parse.urlencode(params))
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, promql):
        """[(labels, value)] of an instant query."""
        data = self.api("query", query=promql)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def firing(self, alertname):
        return [a["labels"] for a in self.api("alerts")["alerts"]
                if a["labels"].get("alertname") == alertname and a["state"] == "firing"]


@unittest.skipUnless(os.path.exists(PROMTOOL) and os.path.exists(PROMETHEUS),
                     "Debian's prometheus package is not installed (.ci/install-deps)")
class MetricsScrapedByPrometheus(unittest.TestCase):
    def test_shipped_rules_and_config_pass_promtool(self):
        rules = os.path.join(SHIPPED, "httpd-suite-alerts.yml")
        check = promtool("check", "rules", rules)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        self.assertIn("SUCCESS: 6 rules found", check.stdout)
        check = promtool("check", "config", os.path.join(SHIPPED, "prometheus.yml"))
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        unit = promtool("test", "rules", os.path.join(HERE, "alert_rules_test.yml"))
        self.assertEqual(unit.returncode, 0, unit.stdout + unit.stderr)
        self.assertIn("SUCCESS", unit.stdout)

    def test_prometheus_scrapes_the_topology_and_alerts(self):
        tmp = tempfile.mkdtemp(prefix="suite-prometheus-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with T.Topology(forward_ports=True) as topo:
            topo.start()
            self.assertTrue(topo.wait_for_holder("p", 10), topo.holders())
            self.assertTrue(topo.wait_for_sync(30), topo.proxies["s"].status("docsync-status"))
            results = topo.load(1500)
            self.assertEqual([r for r in results if r[1] != 200], [])
            ports = {name: f.port for name, f in topo.forwarders.items()}
            instance = {name: f"127.0.0.1:{port}" for name, port in ports.items()}

            self.check_pages(ports)

            prom = PrometheusServer(tmp, scrape_config(instance.values()), rules_copy())
            prom.start()
            self.addCleanup(prom.stop)
            try:
                self.check_scrapes(prom, topo, instance)
                self.check_alert(prom, topo, instance)
            except AssertionError:
                print(f"--- prometheus log (tail) ---\n{prom.log_text()}")
                raise

    def check_pages(self, ports):
        """Every page of both proxies, as text for promtool and as OpenMetrics."""
        for node, port in ports.items():
            for job, path in PAGES.items():
                with self.subTest(node=node, page=path):
                    status, ctype, text = fetch(port, path + "?metrics")
                    self.assertEqual((status, ctype), (200, TEXT_TYPE))
                    self.assertNotIn("# EOF", text)
                    lint = promtool("check", "metrics", stdin=text)
                    self.assertEqual((lint.returncode, lint.stdout + lint.stderr), (0, ""),
                                     text[:2000])
                    status, ctype, om = fetch(port, path, accept="application/openmetrics-text")
                    self.assertEqual((status, ctype), (200, OPENMETRICS_TYPE))
                    self.assertTrue(om.endswith("\n# EOF\n"), om[-200:])
                    # The JSON and HTML pages stay as they were.
                    self.assertEqual(fetch(port, path + "?json")[1], "application/json")
                    self.assertIn("text/html", fetch(port, path)[1])
        # HEAD answers the headers only; caches learn that the answer depends on Accept.
        req = urllib.request.Request(f"http://127.0.0.1:{ports['p']}/ha-status?metrics",
                                     method="HEAD")
        with urllib.request.urlopen(req, timeout=10) as resp:
            self.assertEqual((resp.status, resp.headers.get("Content-Type"), resp.read()),
                             (200, TEXT_TYPE, b""))
            self.assertIn("Accept", resp.headers.get("Vary", ""))
        _, _, ha = fetch(ports["p"], "/ha-status?metrics")
        self.assertIn('httpd_ha_state{node="p",state="MASTER"} 1\n', ha)
        if os.environ.get("SUITE_SHOW_METRICS") == "1":  # to read the pages
            for node, port in ports.items():
                for path in PAGES.values():
                    print(f"=== {node} {path}\n{fetch(port, path + '?metrics')[2]}")

    def check_scrapes(self, prom, topo, instance):
        # Every target up: Prometheus asked for OpenMetrics and parsed what it got.
        def all_up():
            targets = prom.api("targets")["activeTargets"]
            return len(targets) == 6 and all(t["health"] == "up" for t in targets) and targets
        targets = wait_until(all_up, 30, step=0.5, raise_on_timeout=False, ignore=(Exception,))
        self.assertTrue(targets, json.dumps(prom.api("targets"), indent=1)[:3000])

        # Queries answer with what the JSON pages show. The load has stopped, so the counters
        # stay put; wait for the scrape that sees them.
        p, s = topo.proxies["p"], topo.proxies["s"]
        members = p.status("traffic-status")["balancers"][0]["members"]
        self.assertGreater(sum(m["picks_total"] for m in members), 0)
        for m in members:
            self.assert_query(prom, f'httpd_balancer_traffic_member_picks_total{{'
                              f'instance="{instance["p"]}",member="{m["name"]}"}}',
                              m["picks_total"])
            self.assert_query(prom, f'httpd_balancer_traffic_member_bytes_total{{'
                              f'instance="{instance["p"]}",member="{m["name"]}"}}',
                              m["bytes_total"])
        ha = p.status("ha-status")
        self.assert_query(prom, f'httpd_ha_effective_priority{{instance="{instance["p"]}"}}',
                          ha["effective_priority"])
        self.assert_query(prom, f'httpd_ha_heartbeats_sent_total{{instance="{instance["p"]}"}}',
                          ha["sent"], tolerance=50)  # grows every 100 ms
        self.assert_query(prom, 'sum by (address) (httpd_ha_address_held)', 1)
        sync = topo.sync_status("/site")
        self.assert_query(prom, f'httpd_docsync_rounds_total{{instance="{instance["s"]}",'
                          f'source="{sync["url"]}"}}', sync["rounds"])
        self.assert_query(prom, f'httpd_docsync_received_bytes_total{{instance="{instance["s"]}",'
                          f'source="{sync["url"]}"}}', sync["bytes_received"],
                          tolerance=10_000)  # long polls go on
        self.assert_query(prom, f'httpd_docsync_behind_primary_seconds{{'
                          f'instance="{instance["s"]}"}}', 0)
        entries = prom.query(f'httpd_docsync_export_manifest_entries{{instance="{instance["p"]}",'
                             f'export="site"}}')
        self.assertEqual(len(entries), 1, entries)
        self.assertGreater(entries[0][1], 0)
        # The secondary's two sources each wait in a long poll on the primary, in whichever of
        # its children took them: the page of any child counts both.
        self.assert_query(prom, f'sum(httpd_docsync_export_long_polls_waiting{{'
                          f'instance="{instance["p"]}"}})', 2)

    def assert_query(self, prom, promql, expected, tolerance=0):
        got = wait_until(
            lambda: [v for _, v in prom.query(promql)] if all(
                abs(v - expected) <= tolerance for _, v in prom.query(promql)) else None,
            15, step=0.5, raise_on_timeout=False, ignore=(Exception,))
        self.assertTrue(got, f"{promql}: {prom.query(promql)}, JSON shows {expected}")

    def check_alert(self, prom, topo, instance):
        # Alive and well: the alert rules are evaluated and nothing fires.
        wait_until(lambda: prom.api("rules")["groups"][0]["rules"][0].get("lastEvaluation",
                                                                           "").startswith("2"),
                   10, step=0.5, raise_on_timeout=False, ignore=(Exception,))
        time.sleep(2)
        self.assertEqual(prom.firing("BalancerWithoutUsableMember"), [])
        self.assertEqual(prom.firing("HAServiceAddressWithoutMaster"), [])
        self.assertEqual(prom.firing("HAServiceAddressHeldTwice"), [])
        # Both members of the balancer die; requests through the service address find out.
        for worker in topo.workers.values():
            worker.kill()

        def all_members_in_error():
            topo.client_get("/app/s1k")
            members = topo.proxies["p"].status("traffic-status")["balancers"][0]["members"]
            return all("Err" in m["state"] for m in members)
        self.assertTrue(wait_until(all_members_in_error, 15, step=0.2, raise_on_timeout=False,
                                   ignore=(Exception,)),
                        topo.proxies["p"].status("traffic-status"))
        self.assert_query(prom, f'httpd_balancer_traffic_usable_members{{'
                          f'instance="{instance["p"]}"}}', 0)
        firing = wait_until(lambda: prom.firing("BalancerWithoutUsableMember"), 15, step=0.5,
                            raise_on_timeout=False, ignore=(Exception,))
        self.assertTrue(firing, prom.api("alerts"))
        self.assertEqual([(a["instance"], a["balancer"]) for a in firing],
                         [(instance["p"], "balancer://cluster")])


if __name__ == "__main__":
    unittest.main()
