#!/usr/bin/env python3
"""Active-active placement: how many service addresses move when one node fails and when it
returns, ours (mod_ha_heartbeat, spread placement) against the fewest possible and against
keepalived with crossed instances, same namespaces, same interval, same run.

For each shape (N nodes, A addresses) the nodes are real httpd serving /whoami on every
address inside namespaces this script creates. Every node lists every address; ours uses the
spread placement (no prefer=, HAPreempt On); keepalived gets one vrrp_instance per address with
the home node (i mod N) at priority 200 and the others ranked by rotation after it (190, 180,
...), the usual hand-written "crossed instances" layout, preempting by default. Each run takes
one node off the LAN (its port on the bridge goes down: both implementations see the carrier go
and release what it held) and brings it back, the victim rotating from run to run.

The holders are sampled over rtnetlink every 20 ms in every node's namespace. A move is a
change of an address's sole holder between two samples (an address that moves on and back
counts twice); addresses with no or two holders for a moment are not counted as holders then.
Figures per event: moves (ours, keepalived, the fewest possible) and the most addresses on one
node afterwards (against the lowest possible). Nothing here is a pass/fail test.

    sudo bash bench/ha_active_active.sh [--runs N] [--shapes 3x3,4x8]
"""
import argparse
import contextlib
import math
import os
import signal
import statistics
import subprocess
import tempfile
import time

from suite_harness import httpd
from suite_harness.address_watch import AddressWatch
from suite_harness.constants import CLIENT_ADDRESS, LAB_SUBNET, SERVICE_PORT
from suite_harness.ha_cluster import HaCluster, node_ip
from suite_harness.netns import NetnsHttpd, NetnsLab

INTERVAL_MS = 100
SAMPLE_PERIOD = 0.02
SETTLE_LIMIT = 30.0  # every address with one holder, the spread as placed
EVENT_LIMIT = 20.0   # after an event: every address with one holder again
# After the holders look settled, a while longer: a move that comes later (a preempt after
# a drain, a flap) still counts.
QUIET = 2.0


def address(i):
    return f"{LAB_SUBNET}.{100 + i}"


def node_name(i):
    return chr(ord("a") + i)


# -- counting ----------------------------------------------------------------------------------
def sole_holders(snapshot):
    return {a: h[0] for a, h in snapshot.items() if len(h) == 1}


def moves_in(samples):
    """Changes of sole holder over the samples (see the module's docstring):
    [(address, from, to)]."""
    last, moves = {}, []
    for _, snapshot in samples:
        for a, holder in sole_holders(snapshot).items():
            if a in last and last[a] != holder:
                moves.append((a, last[a], holder))
            last[a] = holder
    return moves


def trail(moves):
    return ", ".join(f".{a.rsplit('.', 1)[1]} {f}->{t}" for a, f, t in moves) or "none"


def most_on_one(snapshot, names):
    return max(sum(1 for h in snapshot.values() if h == [n]) for n in names)


def settled(watch, exclude=()):
    """Every address held by exactly one node, none of them in `exclude`."""
    h = watch.holders()
    return all(len(v) == 1 and v[0] not in exclude for v in h.values()) and h


def wait_quiet(watch, exclude=(), limit=EVENT_LIMIT):
    """Until the holders are settled and have not changed for QUIET seconds; the snapshot."""
    deadline = time.monotonic() + limit
    stable_since, last = None, None
    while time.monotonic() < deadline:
        h = settled(watch, exclude)
        if h and h == last:
            if time.monotonic() - stable_since >= QUIET:
                return h
        else:
            stable_since, last = time.monotonic(), h
        time.sleep(0.05)
    return None


def run_events(lab, names, addresses, runs, label):
    """The failure and return rounds on a running cluster: [(event, moves, most on one)]."""
    watch = AddressWatch(lab, names, addresses, max_seconds=3600)
    results = []
    try:
        if not wait_quiet(watch, limit=SETTLE_LIMIT):
            print(f"  {label}: never settled: {watch.holders()}", flush=True)
            return results
        watch.start(SAMPLE_PERIOD)

        def settled(event, placement, moves, what):
            """(event, addresses moved, most on one node), or Nones when it never settled."""
            if placement is None:
                print(f"  {label}: no settled placement after {what}: {watch.holders()}",
                      flush=True)
                return (event, None, None)
            return (event, len(moves), most_on_one(placement, names))

        for r in range(runs):
            victim = names[r % len(names)]
            t0 = time.monotonic()
            lab.link_down(victim)
            after = wait_quiet(watch, exclude=[victim])
            t1 = time.monotonic()
            moves = moves_in(watch.samples_between(t0 - SAMPLE_PERIOD, t1))
            results.append(settled("failure", after, moves, f"{victim} failed"))
            lab.link_up(victim)
            back = wait_quiet(watch)
            t2 = time.monotonic()
            moves_back = moves_in(watch.samples_between(t1, t2))
            results.append(settled("return", back, moves_back, f"{victim} returned"))
            print(f"  {label} run {r + 1}: {victim} off the LAN: {trail(moves)}; back: "
                  f"{trail(moves_back)}", flush=True)
    finally:
        watch.close()
    return results


# -- ours --------------------------------------------------------------------------------------
def run_ours(nodes, count, runs):
    addresses = [address(i) for i in range(count)]
    extra = "".join(f"Listen {a}:{SERVICE_PORT}\nHAServiceAddress {a}/24 eth0\n"
                    for a in addresses[1:])  # the first is HaNode's own
    names = [node_name(i) for i in range(nodes)]
    with HaCluster([100] * nodes, interval=f"{INTERVAL_MS}ms",
                   extra={n: extra for n in names}) as c:
        c.start_all()
        return run_events(c.lab, names, addresses, runs, f"ours {nodes}x{count}")


# -- keepalived, crossed instances ---------------------------------------------------------------
def keepalived_config(name, index, nodes, addresses, advert):
    peers = "\n        ".join(node_ip(j) for j in range(nodes) if j != index)
    out = [f"global_defs {{\n    router_id {name}\n    vrrp_version 3\n}}\n"]
    for i, a in enumerate(addresses):
        rank = (index - i) % nodes  # 0 at home, then the next nodes in turn
        out.append(f"""\
vrrp_instance VI_{i} {{
    state BACKUP
    interface eth0
    virtual_router_id {51 + i}
    priority {200 - 10 * rank}
    advert_int {advert}
    unicast_src_ip {node_ip(index)}
    unicast_peer {{
        {peers}
    }}
    virtual_ipaddress {{
        {a}/24 dev eth0
    }}
}}
""")
    return "".join(out)


def run_keepalived(nodes, count, runs):
    addresses = [address(i) for i in range(count)]
    names = [node_name(i) for i in range(nodes)]
    lab = NetnsLab()
    servers, procs, dirs = [], [], []
    try:
        lab.create()
        lab.add_node("cl", f"{CLIENT_ADDRESS}/24")
        for i, n in enumerate(names):
            lab.add_node(n, f"{node_ip(i)}/24")
        for i, n in enumerate(names):
            body = "".join(f"Listen {a}:{SERVICE_PORT}\n" for a in addresses)
            node = NetnsHttpd(lab, n, body, servers=1, threads=10)
            with open(os.path.join(node.root, "htdocs", "whoami"), "w") as f:
                f.write(n + "\n")
            servers.append(node.start())
            d = tempfile.mkdtemp(prefix=f"bench-keepalived-{n}-")
            dirs.append(d)
            conf = os.path.join(d, "keepalived.conf")
            with open(conf, "w") as f:
                f.write(keepalived_config(n, i, nodes, addresses, f"{INTERVAL_MS / 1000:g}"))
            log = open(os.path.join(d, "log"), "w")
            procs.append(lab.popen(n, ["keepalived", "-n", "-l", "-P", "-f", conf,
                                       "-p", os.path.join(d, "k.pid"),
                                       "-r", os.path.join(d, "v.pid")],
                                   stdout=log, stderr=subprocess.STDOUT))
        return run_events(lab, names, addresses, runs, f"keepalived {nodes}x{count}")
    finally:
        for p in procs:
            with contextlib.suppress(Exception):
                p.send_signal(signal.SIGTERM)
                p.wait(10)
        for s in servers:
            with contextlib.suppress(Exception):
                s.kill()
                s.cleanup()
        lab.destroy()
        for d in dirs:
            subprocess.run(["rm", "-rf", d], check=False)


# -- the table -----------------------------------------------------------------------------------
def fewest(nodes, count, event):
    """Fewest moves and the lowest most-on-one-node for a failure / a return."""
    if event == "failure":  # what the victim held must move, spread over the survivors
        return math.ceil(count / nodes), math.ceil(count / (nodes - 1))
    # back to an even spread: the returning node takes its share
    return count // nodes, math.ceil(count / nodes)


def summarise(results, event):
    got = [(m, top) for e, m, top in results if e == event]
    done = [(m, top) for m, top in got if m is not None]
    if not done:
        return "-", "-", f"{len(got)}/{len(got)}"
    moves = [m for m, _ in done]
    tops = [t for _, t in done]
    return (f"{statistics.median(moves):g} ({min(moves)}-{max(moves)})",
            f"{statistics.median(tops):g} ({min(tops)}-{max(tops)})",
            f"{len(got) - len(done)}/{len(got)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build-bench-ha")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shapes", default="3x3,4x8", help="NODESxADDRESSES,... (3x3,4x8)")
    ap.add_argument("--no-keepalived", action="store_true")
    args = ap.parse_args()
    httpd.use_module_dir(os.path.join(args.build, "modules"))
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    table = []
    for nodes, count in shapes:
        ours = run_ours(nodes, count, args.runs)
        theirs = [] if args.no_keepalived else run_keepalived(nodes, count, args.runs)
        table.append((nodes, count, ours, theirs))
    print(f"\naddresses moved when one node drops off the LAN and comes back, interval "
          f"{INTERVAL_MS} ms, {args.runs} runs per shape (victim rotating), median (min-max)\n")
    print(f"{'nodes x addr':<13}{'event':<9}{'ours moves':>14}{'keepalived':>14}{'fewest':>8}"
          f"{'ours most/node':>16}{'keepalived':>14}{'lowest':>8}{'unsettled':>11}")
    for nodes, count, ours, theirs in table:
        for event in ("failure", "return"):
            om, ot, omiss = summarise(ours, event)
            km, kt, kmiss = summarise(theirs, event) if theirs else ("-", "-", "-")
            fm, ft = fewest(nodes, count, event)
            print(f"{f'{nodes} x {count}':<13}{event:<9}{om:>14}{km:>14}{fm:>8}{ot:>16}"
                  f"{kt:>14}{ft:>8}{f'{omiss} / {kmiss}':>11}")
    print("\nmost/node: the most addresses on one node once settled after the event (lowest: "
          "an even spread); unsettled: events without a settled placement, ours / keepalived")
    print(f"command: sudo bash bench/ha_active_active.sh --runs {args.runs} "
          f"--shapes {args.shapes}")


if __name__ == "__main__":
    main()
