"""mod_ha_heartbeat with real httpd nodes in network namespaces the test builds itself.

Each test builds a LAN (bridge namespace, client namespace `cl`, nodes a, b[, c]), starts a
real apache2 with the module in each node, probes the service address from the client over
HTTP and asserts which node holds the address, that only one does, and that clients are
answered. Everything is torn down whatever happens.
"""
import hashlib
import hmac
import os
import pwd
import socket
import struct
import textwrap
import threading
import time
import unittest

from suite_harness.ha_cluster import SECRET, VIP, VIP6, HaCluster, node_ip
from suite_harness.httpd import HttpdError, HttpdInstance, run_user
from suite_harness.procfs import memory_contains as memory_holds
from suite_harness.procfs import proc_status
from suite_harness.spoof import capture_heartbeats, mac_of, send_frames, udp_frame
from suite_harness.waiting import wait_until

INTERVAL = 0.1
# Failover budget: dead interval (3 intervals + skew < 1 interval) plus probe/poll slack.
FAILOVER_LIMIT = 1.5
# After a partition heals: two intervals, plus the time it takes us to look.
HEAL_LIMIT = 2 * INTERVAL + 0.5
# How long clients may still reach the previous holder after the address moved: a request
# that raced the announcement, plus its timeout.
ARP_SETTLE = 2.0
# A probe during a drain waits for its SYN retransmissions (1 s + 2 s) rather than failing.
HANDOVER_PROBE_TIMEOUT = 4.0


def answered_by(cluster, name, count=5):
    got = cluster.answers(count)
    return got.count(name) == count, got


class HaFailoverTest(unittest.TestCase):

    def assert_served_by(self, cluster, name):
        # The first request right after the address moved can race the announcement (and then
        # waits out its timeout at the old holder); after that every request goes to `name`.
        cluster.wait_for_answers_from(name, ARP_SETTLE)
        ok, got = answered_by(cluster, name)
        self.assertTrue(ok, f"expected every probe answered by {name}, got {got}")

    def test_highest_priority_becomes_master_and_status_reports_it(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            self.assert_served_by(c, "a")
            wait_state(c.node("a"), "MASTER")
            a, b = c.node("a").status(), c.node("b").status()
            self.assertEqual(a["state"], "MASTER")
            self.assertEqual(b["state"], "BACKUP")
            self.assertEqual(a["peers"][0]["address"], node_ip(1))
            self.assertTrue(a["peers"][0]["live"])
            held = a["addresses"][0]
            self.assertEqual({k: held[k] for k in ("address", "interface", "held", "state")},
                             {"address": f"{VIP}/24", "interface": "eth0", "held": True,
                              "state": "MASTER"})
            self.assertEqual(held["holder_node_id"], a["node_id"])
            self.assertEqual(b["addresses"][0]["holder_node_id"], a["node_id"])
            self.assertFalse(b["addresses"][0]["held"])
            self.assertEqual(a["dropped"]["total"], 0)
            status, html = c.node("a").get("/ha-status")
            self.assertEqual(status, 200)
            self.assertIn(b"MASTER", html)
            self.assertIn(f"{VIP}/24".encode(), html)
            self.assertIn("BACKUP -> MASTER", c.node("a").error_log_text())

    def test_primary_link_down_backup_takes_over_and_primary_returns(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            probe = c.prober()
            time.sleep(0.3)
            t0 = time.monotonic()
            c.lab.link_down("a")
            took = c.wait_for_holder("b", FAILOVER_LIMIT)  # a, without carrier, released too
            self.assertLess(took, FAILOVER_LIMIT)
            self.assertIsNotNone(wait_answer(probe, t0, "b"))
            self.assert_served_by(c, "b")
            self.assertIn("no carrier", c.node("a").error_log_text())
            # The primary comes back: with preempt on it takes the address back.
            c.lab.link_up("a")
            c.wait_for_holder("a", 3.0)
            self.assert_served_by(c, "a")
            failed = len(probe.failures_after(t0))
            probe.stop()
            self.assertLess(failed, len(probe.results))

    def test_primary_sigkilled_backup_takes_over_and_lease_expires(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            probe = c.prober()
            time.sleep(0.3)
            t0 = time.monotonic()
            c.node("a").kill()  # parent, workers and heartbeat process, all SIGKILL
            first = wait_answer(probe, t0, "b")
            self.assertIsNotNone(first, "no answer from b after the primary was killed")
            # Nobody renews a's address any more: its kernel lifetime (2 s) ends it.
            c.wait_for_holder("b", 4.0)
            self.assert_served_by(c, "b")

    def test_planned_stop_resigns_and_backup_takes_over_at_once(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.node("a").stop()
            # The resign heartbeat makes b claim without waiting out the dead interval.
            c.wait_for_holder("b", 1.0)
            self.assert_served_by(c, "b")
            self.assertIn("resigned", c.node("b").error_log_text())
            self.assertIn("a successor is master", c.node("a").error_log_text())

    def test_graceful_stop_resigns_too(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.node("a").httpd("-k", "graceful-stop")
            # The workers exit within about a second (the MPM checks once a second); the first
            # one to go starts the resign.
            c.wait_for_holder("b", 3.0)
            self.assert_served_by(c, "b")
            self.assertIn("resigned", c.node("b").error_log_text())

    def test_return_with_preempt_off_does_not_take_back(self):
        with HaCluster([200, 100], preempt=False) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.node("a").stop()
            c.wait_for_holder("b", 1.0)
            c.node("a").start()
            time.sleep(1.5)  # several dead intervals: a would have preempted by now
            self.assertEqual(c.holders(), ["b"])
            self.assertEqual(c.node("a").status()["state"], "BACKUP")
            self.assert_served_by(c, "b")

    def test_partition_gives_two_masters_and_heal_leaves_one(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.lab.detach("a")  # both links stay up: a real split brain
            deadline = time.monotonic() + FAILOVER_LIMIT
            while time.monotonic() < deadline and c.holders() != ["a", "b"]:
                time.sleep(0.02)
            self.assertEqual(c.holders(), ["a", "b"])
            # The client is on b's side: b announced itself, the client's ARP cache says b.
            c.wait_for_answers_from("b", 1.0)
            time.sleep(2.0)  # past every announcement a made when it took over
            c.lab.attach("a")
            t0 = time.monotonic()
            c.wait_for_holder("a", HEAL_LIMIT)
            self.assertLess(time.monotonic() - t0, HEAL_LIMIT)
            # a re-announces when it hears the second master, so the stale cache is fixed
            # at once (not after the neighbour entry times out, seconds later).
            self.assertLess(c.wait_for_answers_from("a", 1.0), 1.0)
            self.assertIn("yielding to higher-ranked master", c.node("b").error_log_text())

    def test_forged_and_replayed_heartbeats_do_not_move_the_address(self):
        with HaCluster([200, 100]) as c:
            c.lab.add_node("x", "10.231.0.66/24")
            c.start_all()
            c.wait_for_holder("a")
            recorded = capture_heartbeats(c.lab, "va", node_ip(0), 0.6)
            self.assertGreater(len(recorded), 3)
            c.node("a").kill()
            c.wait_for_holder("b", 4.0)
            before = c.node("b").status()
            b_mac, x_mac = mac_of(c.lab, "b"), mac_of(c.lab, "x")
            frames = [udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), m) for m in recorded]
            forged = forge(node_id=before["peers"][0]["node_id"], priority=254,
                           epoch=2 ** 62, key=b"a guessed key", source=node_ip(0))
            frames += [udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), forged)] * 20
            # The right key but the attacker's own address: not a peer.
            frames += [udp_frame(x_mac, b_mac, "10.231.0.66", node_ip(1),
                                 forge(node_id=1, priority=254, epoch=1, key=SECRET.strip().encode(),
                                       source="10.231.0.66"))] * 5
            frames += [udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), forged[:30]),
                       udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), os.urandom(HEARTBEAT_BYTES)),
                       udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), os.urandom(900))]
            send_frames(c.lab, "x", frames)
            time.sleep(0.5)
            after = c.node("b").status()
            self.assertEqual(after["state"], "MASTER")
            self.assertEqual(after["transitions"], before["transitions"])
            self.assertEqual(c.holders(), ["b"])
            drops = {k: after["dropped"][k] - before["dropped"][k] for k in after["dropped"]}
            self.assertEqual(drops["replayed"], len(recorded))
            self.assertEqual(drops["bad_mac"], 20)
            self.assertEqual(drops["bad_magic"], 1)
            self.assertEqual(drops["unknown_source"], 5)
            self.assertEqual(drops["wrong_size"], 2)
            self.assertEqual(after["accepted"], before["accepted"])
            # The burst is logged per episode, not per datagram: one line for ~40 rejections
            # sent within well under a second (an episode ends after 1 s without one; at most
            # two if the sender stalled that long), and the count is on the status page.
            lines = c.node("b").error_log_text().count("rejecting datagrams")
            episodes = (after["episodes"]["rejected_datagrams"] -
                        before["episodes"]["rejected_datagrams"])
            self.assertEqual(lines, episodes)
            self.assertIn(lines, (1, 2))
            self.assert_served_by(c, "b")

    def test_graceful_restart_keeps_heartbeat_process_state_and_address(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            wait_state(c.node("a"), "MASTER")
            before = c.node("a").status()
            # A long probe timeout: during a graceful restart new connections wait in the
            # listen backlog for the next generation's workers; they must not be refused.
            probe = c.prober(timeout=3.0)
            time.sleep(0.2)
            t0 = time.monotonic()
            c.node("a").graceful()
            time.sleep(0.5)
            after = c.node("a").status()
            probe.stop()
            self.assertEqual(after["heartbeat_pid"], before["heartbeat_pid"])
            self.assertEqual(after["transitions"], before["transitions"])
            self.assertEqual(after["state"], "MASTER")
            self.assertEqual(c.holders(), ["a"])
            self.assertEqual(c.node("b").status()["transitions"], 1)  # INIT -> BACKUP only
            self.assertEqual(probe.failures_after(t0), [])

    def test_plain_restart_keeps_heartbeat_process_and_address(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            wait_state(c.node("a"), "MASTER")
            before = c.node("a").status()
            size = c.node("a").error_log_size()
            c.node("a").httpd("-k", "restart")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and \
                    "resuming normal operations" not in c.node("a").error_log_text(size):
                time.sleep(0.05)
            c.node("a").wait_ready()
            time.sleep(0.5)
            after = c.node("a").status()
            self.assertEqual(after["heartbeat_pid"], before["heartbeat_pid"])
            self.assertEqual(after["transitions"], before["transitions"])
            self.assertEqual(c.holders(), ["a"])
            self.assert_served_by(c, "a")
            # The module was reloaded by the restart; stopping still ends the heartbeat process.
            c.node("a").stop()
            c.wait_for_holder("b", 1.0)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.path.exists(f"/proc/{after['heartbeat_pid']}"):
                time.sleep(0.05)
            self.assertFalse(os.path.exists(f"/proc/{after['heartbeat_pid']}"))

    def test_killed_heartbeat_process_is_restarted_and_node_stops_claiming(self):
        # Preempt off, so that the restarted node stays backup and we can see it let go.
        with HaCluster([200, 100], preempt=False) as c:
            c.start_all()
            c.wait_for_holder("a")
            old_pid = c.node("a").status()["heartbeat_pid"]
            os.kill(old_pid, 9)
            c.wait_for_holder("b", 4.0)
            deadline = time.monotonic() + 15
            new_pid = old_pid
            while time.monotonic() < deadline and new_pid in (old_pid, 0):
                time.sleep(0.1)
                new_pid = c.node("a").status()["heartbeat_pid"]
            self.assertNotIn(new_pid, (old_pid, 0), "the heartbeat process was not restarted")
            self.assertIn("starting a new one", c.node("a").error_log_text())
            time.sleep(1.0)
            self.assertEqual(c.holders(), ["b"])
            self.assertEqual(c.node("a").status()["state"], "BACKUP")
            self.assert_served_by(c, "b")

    def test_handover_moves_the_address_without_a_failed_probe(self):
        with HaCluster([200, 100], preempt=False) as c:
            c.start_all()
            c.wait_for_holder("a")
            # While a drains, a new connection's SYN is dropped and retransmitted by the
            # client's kernel 1 s later (then 2 s after that), when b holds the address: a probe
            # waits that long instead of failing, so its timeout covers both retransmissions.
            # Margin: even a drain that lasts its whole HADrainTimeout (2 s; here it takes
            # milliseconds, the probes are the only connections) ends before the second
            # retransmission (3 s), 1 s inside the probe's 4 s. What the drain does not
            # promise, a probe connection still open after 2 s, would fail this test, rightly.
            probe = c.prober(period=0.005, timeout=HANDOVER_PROBE_TIMEOUT)
            time.sleep(0.3)
            t0 = time.monotonic()
            status, body = c.node("a").handover()
            self.assertEqual(status, 200, body)
            self.assertIn(b"handing over", body)
            c.wait_for_holder("b", 2.0 + HANDOVER_PROBE_TIMEOUT)
            time.sleep(0.3)
            probe.stop()
            self.assertEqual(probe.failures_after(t0), [])
            self.assertIsNotNone(probe.first_answer_after(t0, "b"))
            self.assert_served_by(c, "b")

    def test_cross_site_handover_is_refused_and_the_page_form_still_works(self):
        with HaCluster([200, 100], preempt=False) as c:
            c.start_all()
            c.wait_for_holder("a")
            a = c.node("a")
            wait_state(a, "MASTER")
            before = a.status()
            size = a.error_log_size()
            own = f"http://127.0.0.1:{a.port}"
            # What a page on another site makes the administrator's browser send (the form as
            # the issue reproduced it), and same-origin requests without the page's nonce.
            attempts = [
                {"nonce": None, "origin": "http://evil.example"},
                {"nonce": None, "origin": None, "referer": "http://evil.example/x"},
                {"nonce": None, "origin": own},
                {"nonce": "0" * 32, "origin": own},                 # a guessed nonce
            ]
            for attempt in attempts:
                status, body = a.handover(**attempt)
                self.assertEqual(status, 403, (attempt, body))
            # Even the page's nonce (were it leaked) from a foreign origin, or with neither
            # Origin nor Referer.
            nonce = a.page_nonce()
            for attempt in ({"nonce": nonce, "origin": "http://evil.example"},
                            {"nonce": nonce, "origin": None}):
                status, body = a.handover(**attempt)
                self.assertEqual(status, 403, (attempt, body))
                attempts.append(attempt)
            time.sleep(0.5)  # a handover would have moved the address by now
            after = a.status()
            self.assertEqual(after["state"], "MASTER")
            self.assertEqual(after["transitions"], before["transitions"])
            self.assertEqual(after["handover_requests"], before["handover_requests"])
            self.assertEqual(c.holders(), ["a"])
            log = a.error_log_text(size)
            self.assertEqual(log.count("handover refused"), len(attempts), log)
            self.assertIn("evil.example", log)
            # The page's own button: same origin (or a same-origin Referer), the page's nonce.
            status, body = a.handover(origin=None, referer=f"{own}/ha-status")
            self.assertEqual(status, 200, body)
            self.assertIn(b"handing over", body)
            c.wait_for_holder("b", 2.0)

    def test_restarted_backup_ignores_recorded_heartbeats_and_claims(self):
        with HaCluster([200, 100]) as c:
            c.lab.add_node("x", "10.231.0.66/24")
            c.start_all()
            c.wait_for_holder("a")
            wait_state(c.node("b"), "BACKUP")
            # Long enough a recording to keep a restarted receiver busy for seconds.
            recorded = capture_heartbeats(c.lab, "va", node_ip(0), 5.0)
            self.assertGreater(len(recorded), 30)
            # The backup restarts (its replay marks are gone), and meanwhile the master dies.
            c.node("b").stop()
            c.node("a").kill()
            b_mac, x_mac = mac_of(c.lab, "b"), mac_of(c.lab, "x")
            frames = [udp_frame(x_mac, b_mac, node_ip(0), node_ip(1), m) for m in recorded]
            replay = threading.Thread(target=send_frames, args=(c.lab, "x", frames, INTERVAL),
                                      daemon=True)
            replay.start()
            try:
                c.node("b").start()
                # Claimed while the replay still runs (it lasts as long as the recording):
                # none of the recorded heartbeats counted as a live master.
                c.wait_for_holder("b", 2.5)
                self.assertTrue(replay.is_alive(), "the replay ended before b claimed")
                status = c.node("b").status()
                self.assertEqual(status["state"], "MASTER")
                self.assertGreater(status["dropped"]["unconfirmed"], 0)
                self.assertEqual(status["accepted"], 0)
            finally:
                replay.join(30)
            self.assert_served_by(c, "b")

    def test_heartbeat_process_runs_as_its_own_user_and_alone_holds_the_key(self):
        with HaCluster([200, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            a = c.node("a")
            pid = a.status()["heartbeat_pid"]
            fields = proc_status(pid)
            uids = {int(u) for u in fields["Uid"].split()}
            self.assertNotIn(0, uids)
            self.assertNotIn(pwd.getpwnam(run_user()).pw_uid, uids)  # httpd's User
            self.assertEqual(uids, {pwd.getpwnam("haheartbeat").pw_uid})
            # (Its capabilities: test_ha_health.)
            # The key is read by the heartbeat process alone: no request-serving child holds it.
            key = SECRET.strip().encode()
            workers = [p for p in a.generation_pids()[1:] if p != pid]
            self.assertTrue(workers)
            for w in workers:
                self.assertFalse(memory_holds(w, key), f"worker {w} holds the HA key")
            self.assertFalse(memory_holds(a.pid(), key), "httpd's parent holds the HA key")
            self.assertTrue(memory_holds(pid, key))  # the search itself works

    def test_three_nodes_the_second_best_takes_over(self):
        with HaCluster([200, 150, 100]) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.node("a").kill()
            c.wait_for_holder("b", 4.0)
            time.sleep(0.5)
            self.assertEqual(c.holders(), ["b"])
            self.assertEqual(c.node("c").status()["state"], "BACKUP")
            self.assert_served_by(c, "b")

    def test_heartbeats_over_ipv6(self):
        with HaCluster([200, 100], transport6=True) as c:
            c.start_all()
            c.wait_for_holder("a")
            # a claims after its listening period whether or not b was heard by then (b's
            # IPv6 address may still be tentative on a slow machine): wait for b's heartbeats.
            wait_until(lambda: c.node("a").status()["peers"], 5.0, step=0.05,
                       what="a hears b over IPv6")
            self.assertEqual(c.node("a").status()["peers"][0]["address"], "fd00:231::2")
            c.node("a").kill()
            c.wait_for_holder("b", 4.0)
            self.assert_served_by(c, "b")

    def test_same_node_name_twice_is_reported(self):
        with HaCluster([200, 100], extra={"b": "HANodeName a\n"}) as c:
            c.start_all()
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and \
                    "is HANodeName a used twice" not in c.node("a").error_log_text():
                time.sleep(0.05)
            self.assertIn("is HANodeName a used twice", c.node("a").error_log_text())
            self.assertGreater(c.node("a").status()["dropped"]["own_node_id"], 0)

    def test_ipv6_service_address_moves_too(self):
        with HaCluster([200, 100], ipv6=True) as c:
            c.start_all()
            c.wait_for_holder("a")
            c.wait_for_holder("a", address=VIP6)
            flags = c.lab.exec("a", ["ip", "-o", "-6", "addr", "show", "dev", "eth0"]).stdout
            line = next(l for l in flags.splitlines() if VIP6 in l)
            self.assertNotIn("tentative", line)
            self.assertNotIn("dadfailed", line)
            self.assertIn("valid_lft 2sec", line.replace("1sec", "2sec"))
            c.node("a").stop()
            c.wait_for_holder("b", 1.0, address=VIP6)


def wait_state(node, state, limit=2.0):
    return wait_until(lambda: node.status()["state"] == state, limit, step=0.02,
                      raise_on_timeout=False)


def wait_answer(probe, t0, name, limit=FAILOVER_LIMIT):
    """The time of the first probe after t0 answered by `name`, waiting up to `limit`."""
    return probe.wait_first_answer_after(t0, name, limit)


# The size of a heartbeat datagram (core/wire_codec.h: kWireSize).
HEARTBEAT_BYTES = 56 + 4 + 16 * 12 + 32


def forge(node_id, priority, epoch, key, source, state=2, seq=1, cluster=1, challenge=1,
          echo=0):
    # Wire version 3: the version 2 header (challenge and echo), then the address groups (none
    # here: 4 bytes of count and padding, 16 empty entries of 12 bytes).
    header = struct.pack("!IBBBBIIIIQQQQ", 0x48414842, 3, state, priority, 0, cluster, node_id,
                         100000, 0, epoch, seq, challenge, echo) + bytes(4 + 16 * 12)
    src = b"\0" * 10 + b"\xff\xff" + socket.inet_aton(source)
    return header + hmac.new(key, header + src, hashlib.sha256).digest()


class HaConfigErrorTest(unittest.TestCase):
    """Configuration errors stop httpd at startup with a message naming the directive. These
    never get as far as the network (the configuration is refused first)."""

    def check_refused(self, body, directive, secret_mode=0o600, secret=SECRET, reason=""):
        inst = HttpdInstance("ha-bad", "", suite_modules=["ha_heartbeat"])
        try:
            key = os.path.join(inst.root, "conf", "ha.key")
            with open(key, "w") as f:
                f.write(secret)
            os.chmod(key, secret_mode)
            inst.write_config(textwrap.dedent(body))
            with self.assertRaises(HttpdError) as ctx:
                inst.start(timeout=5)
            self.assertIn(directive, str(ctx.exception))
            self.assertIn(reason, str(ctx.exception))
        finally:
            inst.cleanup()

    def test_secret_readable_by_others_is_refused(self):
        self.check_refused("""\
            HAHeartbeat On
            HASecretFile conf/ha.key
            """, "HASecretFile", secret_mode=0o644)

    def test_short_secret_is_refused(self):
        self.check_refused("""\
            HAHeartbeat On
            HASecretFile conf/ha.key
            """, "HASecretFile", secret="fifteen-bytes!!\n", reason="at least 16")

    def test_missing_heartbeat_user_is_refused(self):
        self.check_refused("""\
            HAHeartbeat On
            HANodeName a
            HAListen 127.0.0.1:7694
            HAPeer 127.0.0.2:7694
            HAServiceAddress 127.0.0.100/8 lo
            HASecretFile conf/ha.key
            HAUser no-such-ha-user
            """, "HAUser", reason="adduser")

    @unittest.skipUnless(os.geteuid() == 0, "httpd's User applies only when started as root")
    def test_heartbeat_user_same_as_httpd_user_is_refused(self):
        self.check_refused(f"""\
            HAHeartbeat On
            HANodeName a
            HAListen 127.0.0.1:7694
            HAPeer 127.0.0.2:7694
            HAServiceAddress 127.0.0.100/8 lo
            HASecretFile conf/ha.key
            HAUser {run_user()}
            """, "HAUser", reason="also httpd's User")

    def test_priority_out_of_range_is_refused(self):
        self.check_refused("HAPriority 255\n", "HAPriority")

    def test_fractional_address_lifetime_is_refused(self):
        self.check_refused("HAAddressLifetime 1500ms\n", "HAAddressLifetime")

    def test_interval_below_minimum_is_refused(self):
        self.check_refused("HAInterval 5ms\n", "HAInterval")

    def test_missing_peer_is_refused(self):
        self.check_refused("""\
            HAHeartbeat On
            HANodeName a
            HAListen 127.0.0.1:7694
            HASecretFile conf/ha.key
            """, "HAPeer")


if __name__ == "__main__":
    unittest.main()
