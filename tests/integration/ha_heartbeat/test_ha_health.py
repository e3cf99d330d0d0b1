"""mod_ha_heartbeat: health tracking, notifications, privileges and address supervision, with
real httpd nodes in network namespaces the test builds itself (see suite_harness/ha_cluster.py)."""
import os
import pwd
import tempfile
import textwrap
import time
import unittest

from suite_harness.httpd import PROXY_MODULES
from suite_harness.ha_cluster import VIP, HaCluster
from suite_harness.procfs import proc_status
from suite_harness.waiting import wait_until

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13


class HaHealthTest(unittest.TestCase):

    def test_heartbeat_process_keeps_only_net_admin_and_net_raw(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            node = c.node("a")
            hb = node.status()["heartbeat_pid"]
            status = proc_status(hb)
            # HAUser's default, not httpd's User (www-data).
            user = pwd.getpwnam("haheartbeat").pw_uid
            self.assertNotEqual(user, pwd.getpwnam("www-data").pw_uid)
            self.assertEqual(status["Uid"].split(), [str(user)] * 4)
            self.assertEqual(int(status["CapEff"], 16), (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW))
            self.assertEqual(int(status["CapPrm"], 16), (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW))
            # The request-serving children have no capabilities at all.
            workers = [p for p in node.generation_pids()[1:] if p != hb]
            self.assertTrue(workers)
            for pid in workers:
                self.assertEqual(int(proc_status(pid)["CapEff"], 16), 0)

    def test_address_removed_by_someone_else_is_added_back(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.lab.exec("a", ["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
            self.assertTrue(wait_until(lambda: c.holders() == ["a"], 1.0, raise_on_timeout=False))
            self.assertIn("removed from eth0 by someone else", c.node("a").error_log_text())
            c.wait_for_answers_from("a", 2.0)

    def test_notify_command_runs_on_every_state_change(self):
        outdir = tempfile.mkdtemp(prefix="ha-notify-")
        os.chmod(outdir, 0o777)  # the heartbeat process runs as the httpd User
        script = os.path.join(outdir, "notify.sh")
        with open(script, "w") as f:
            f.write(f'#!/bin/sh\necho "$1 $2 $3" >> {outdir}/"$2".log\n')
        os.chmod(script, 0o755)
        extra = {n: f"HANotify {script}\n" for n in ("a", "b")}
        try:
            with HaCluster([200, 100], extra=extra) as c:
                c.start_all()
                c.wait_for_holder("a")
                def log(node):
                    path = os.path.join(outdir, f"{node}.log")
                    if not os.path.exists(path):
                        return []
                    with open(path) as f:
                        return f.read().splitlines()

                self.assertTrue(wait_until(lambda: log("a") == ["BACKUP a 200", "MASTER a 200"], 2,
                                           raise_on_timeout=False))
                # b's notification ran earlier, but as a process of its own it may finish later.
                self.assertTrue(wait_until(lambda: log("b") == ["BACKUP b 100"], 2,
                                           raise_on_timeout=False), log("b"))
                c.node("a").stop()
                self.assertTrue(wait_until(lambda: log("b")[-1:] == ["MASTER b 100"], 2,
                                           raise_on_timeout=False), log("b"))
        finally:
            for name in os.listdir(outdir):
                os.unlink(os.path.join(outdir, name))
            os.rmdir(outdir)

    def test_failing_track_file_puts_the_master_in_fault_and_recovery_takes_back(self):
        with tempfile.NamedTemporaryFile("w", prefix="ha-track-", delete=False) as f:
            f.write("0\n")
        os.chmod(f.name, 0o644)
        extra = {"a": f"HATrack file:{f.name}\nHATrackInterval 100ms\n"}
        try:
            with HaCluster([200, 100], extra=extra) as c:
                c.start_all()
                c.wait_for_holder("a")
                with open(f.name, "w") as out:
                    out.write("1\n")
                c.wait_for_holder("b", 2.0)
                self.assertEqual(c.node("a").status()["state"], "FAULT")
                c.wait_for_answers_from("b", 2.0)
                with open(f.name, "w") as out:
                    out.write("0\n")
                c.wait_for_holder("a", 3.0)
                self.assertIn("healthy again", c.node("a").error_log_text())
        finally:
            os.unlink(f.name)

    def test_failing_track_command_with_weight_lowers_priority(self):
        flag = tempfile.mktemp(prefix="ha-track-flag-")
        extra = {"a": f'HATrack "test ! -e {flag}" 150\nHATrackInterval 100ms\n'}
        try:
            with HaCluster([200, 100], extra=extra) as c:
                c.start_all()
                c.wait_for_holder("a")
                open(flag, "w").close()
                c.wait_for_holder("b", 2.0)  # 200 - 150 = 50 < 100: b preempts
                a = c.node("a").status()
                self.assertEqual((a["state"], a["effective_priority"]), ("BACKUP", 50))
                os.unlink(flag)
                c.wait_for_holder("a", 3.0)
                self.assertEqual(c.node("a").status()["effective_priority"], 200)
        finally:
            if os.path.exists(flag):
                os.unlink(flag)

    def test_balancer_without_usable_member_lowers_priority_and_backup_preempts(self):
        # Port 9 on the node's own loopback: nothing listens, the member goes into error.
        balancer = textwrap.dedent("""\
            HATrackBalancers 150
            HATrackInterval 100ms
            ProxyPass /app balancer://app
            <Proxy balancer://app>
                BalancerMember http://127.0.0.1:9 retry=60
            </Proxy>
            """)
        with HaCluster([200, 100], extra={"a": balancer},
                       modules={"a": PROXY_MODULES + ["lbmethod_byrequests"]}) as c:
            c.start_all()
            c.wait_for_holder("a")
            time.sleep(0.3)
            self.assertEqual(c.node("a").status()["effective_priority"], 200)
            status, _ = c.node("a").get("/app/")
            self.assertEqual(status, 503)
            c.wait_for_holder("b", 2.0)
            a = c.node("a").status()
            self.assertEqual(a["effective_priority"], 50)
            self.assertEqual(a["state"], "BACKUP")
            self.assertIn("no usable member in balancer://app", c.node("a").error_log_text())


if __name__ == "__main__":
    unittest.main()
