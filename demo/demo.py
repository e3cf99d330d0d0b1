#!/usr/bin/env python3
"""The design, live on this machine: a client, two (or --nodes N) httpd reverse proxies serving
side by side, each holding one of the service addresses (mod_ha_heartbeat, active-active), two
web workers behind them weighted 3:7 by traffic (mod_balancer_traffic), the secondaries'
configuration and documents synced from the config primary (mod_docsync).

The client spreads its requests over every service address, as DNS round robin would. A proxy
that fails hands its address to a survivor; when it comes back it takes its own address back.

Everything runs in network namespaces this script creates, with addresses only inside them;
the status pages are forwarded to 127.0.0.1 on this host. All of it is removed on exit, also
on Ctrl-C and on failure.
"""
import argparse
import os
import signal
import sys
import threading
import time

from suite_harness import httpd
from suite_harness import topology as T
from suite_harness.address_watch import AddressWatch
from suite_harness.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
# The story reads servers that may be restarting: an error counts as "not yet", and a wait that
# runs out is told to the audience rather than raised.
STORY_WAIT = {"raise_on_timeout": False, "ignore": (Exception,)}
# The load around a failure: long enough to see the address move and the load go on.
EVENT_LOAD_SECONDS = 6.0
EVENT_LOAD_MAX_REQUESTS = 60000
EVENT_LEAD = 1.0
# A client thread whose request failed tries again after this long (as a retrying client
# would; at once, it would count every refused retry of the same moment).
FAILURE_PAUSE = 0.05


def say(text=""):
    print(text, flush=True)


def show_split(topo, since):
    rows = topo.split(since)
    total_req = sum(r for _, _, r, _ in rows) or 1
    total_bytes = sum(b for *_, b in rows) or 1
    total_lf = sum(lf for _, lf, _, _ in rows)
    say(f"     {'worker':<8} {'loadfactor':>10} {'target':>7} {'requests':>9} {'share':>7}"
        f" {'bytes':>12} {'share':>7}")
    for name, lf, req, nbytes in rows:
        say(f"     {name:<8} {lf:>10} {100 * lf / total_lf:>6.1f}% {req:>9}"
            f" {100 * req / total_req:>6.1f}% {nbytes:>12} {100 * nbytes / total_bytes:>6.1f}%")


def show_proxy_split(topo, since):
    split = topo.proxy_split(since)
    total = sum(sum(c.values()) for c in split.values()) or 1
    say(f"     {'proxy':<8} {'requests':>9} {'share':>7}   by service address")
    for name, counts in split.items():
        n = sum(counts.values())
        per = ", ".join(f"{a} {c}" for a, c in sorted(counts.items())) or "-"
        say(f"     {name:<8} {n:>9} {100 * n / total:>6.1f}%   {per}")


def show_holders(topo):
    holders = topo.all_holders()
    say("     " + ", ".join(f"{a} on {'+'.join(h) or 'nobody'}"
                            + (" (home)" if h == [topo.home(a)] else "")
                            for a, h in holders.items()))


def show_ha(topo):
    for name, proxy in topo.proxies.items():
        try:
            st = proxy.status("ha-status")
            held = [a["address"].split("/")[0] for a in st.get("addresses", []) if a.get("held")]
            say(f"     {name}: holds {', '.join(held) or 'nothing':<28} transitions "
                f"{st['transitions']:>2} — {st.get('last_reason', '')[:80]}")
        except Exception as e:  # a node that is down cannot answer; say so
            say(f"     {name}: no answer ({type(e).__name__})")


def show_sync(topo):
    for name in topo.secondaries:
        for suffix in ("/common", "/site"):
            try:
                src = topo.sync_status(suffix, name)
            except Exception as e:
                say(f"     {name} {suffix[1:]:<7} no answer ({type(e).__name__})")
                continue
            say(f"     {name:<3} {suffix[1:]:<7} result {src['result']:<8} rounds "
                f"{src['rounds']:>3}, files {src['files_transferred']:>3}, bytes received "
                f"{src['bytes_received']:>8}, graceful restarts {src['restarts_triggered']}"
                + (f", last error: {src['last_error'][:100]}" if src.get("last_error") else ""))


def report_load(topo, results, since, seconds, event_at=None):
    flat = [r for rs in results.values() for r in rs]
    ok = sum(1 for r in flat if r[1] == 200)
    addresses = ", ".join(topo.addresses)
    say(f"   {ok}/{len(flat)} requests answered 200 through http://{{{addresses}}}/app/ "
        f"in {seconds:.1f} s, {len(flat) - ok} failed (60% 1 KiB, 30% 10 KiB, 10% 100 KiB)")
    failed = {a: [t for t, status, _ in rs if status != 200] for a, rs in results.items()}
    for address, times in failed.items():
        if times and event_at is not None:
            say(f"     {len(times)} failed on {address}, started {min(times) - event_at:+.2f} s"
                f" to {max(times) - event_at:+.2f} s from the event")
    time.sleep(0.5)
    say("   per proxy (its access log):")
    show_proxy_split(topo, since)
    say("   per worker (their access logs):")
    show_split(topo, since)


def load(topo, requests):
    since = time.time()
    t0 = time.monotonic()
    results = topo.spread_load(requests)
    report_load(topo, results, since, time.monotonic() - t0)


class BackgroundLoad:
    """A spread load in a thread for `seconds` around an event (and at most
    EVENT_LOAD_MAX_REQUESTS)."""

    def __init__(self, topo, seconds):
        self.topo, self.since, self.t0 = topo, time.time(), time.monotonic()
        self.results = {}
        self.event_at = None
        self.thread = threading.Thread(target=lambda: self.results.update(
            topo.spread_load(EVENT_LOAD_MAX_REQUESTS, seconds=seconds, threads_per_address=2,
                             failure_pause=FAILURE_PAUSE)), daemon=True)
        self.thread.start()

    def mark_event(self):
        self.event_at = time.time()

    def report(self):
        self.thread.join(EVENT_LOAD_SECONDS + 30)
        report_load(self.topo, self.results, self.since, time.monotonic() - self.t0,
                    self.event_at)


def event_kill(topo, name):
    home = [a for a in topo.addresses if topo.home(a) == name]
    say(f"== proxy {name} crashes (SIGKILL of its httpd) under load; it held {', '.join(home)}")
    watch = AddressWatch(topo.lab, topo.names, topo.addresses)
    background = BackgroundLoad(topo, EVENT_LOAD_SECONDS)
    time.sleep(EVENT_LEAD)
    down_at = time.monotonic()
    background.mark_event()
    topo.proxies[name].kill()
    for address in home:
        def moved():
            live = [n for n in watch.holders()[address] if n != name]
            return len(live) == 1 and live[0]
        taker = wait_until(moved, 10, step=0.01, **STORY_WAIT)
        say(f"   {address} moved to {taker} {1000 * (time.monotonic() - down_at):.0f} ms after"
            " the kill" if taker else f"   {address} did not move within 10 s")
    watch.close()
    say("   the load went on:")
    background.report()
    wait_until(lambda: topo.spread_as_expected(down=[name]), 5, **STORY_WAIT)
    say("   holders now (a dead node's own copy goes when its kernel lifetime ends):")
    show_holders(topo)
    show_ha(topo)


def event_restore(topo, name):
    say(f"== proxy {name} comes back (preempt on: its home address moves back, drained first)")
    background = BackgroundLoad(topo, EVENT_LOAD_SECONDS)
    t0 = time.monotonic()
    background.mark_event()
    try:
        topo.proxies[name].start()
    except Exception as e:
        say(f"   it did not start: {e}")
        return
    back = wait_until(topo.spread_as_expected, 20, step=0.05, **STORY_WAIT)
    say(f"   spread again after {time.monotonic() - t0:.1f} s (start, listening, drain):" if back
        else "   not spread again within 20 s:")
    show_holders(topo)
    background.report()
    show_ha(topo)


def event_edit_page(topo, version):
    say(f"== a page is edited on the config primary {T.PRIMARY} (htdocs/index.html, "
        f"version {version})")
    t0 = time.monotonic()
    topo.edit_page(f"<h1>Welcome (version {version})</h1>\n")
    for name in topo.secondaries:
        ok = wait_until(lambda: topo.serves(name, f"version {version}"), 15, step=0.02,
                        **STORY_WAIT)
        say(f"   {name} serves it after {1000 * (time.monotonic() - t0):.0f} ms" if ok
            else f"   {name} did not serve it within 15 s")
    show_sync(topo)


SYNC_UNDECIDED = ("ok", "", "pending")  # a sync result before the broken file is judged


def event_broken_config(topo):
    say("== a broken line is pushed into the shared configuration on the primary")
    topo.push_common_config("zz-broken.conf", "ThisIsNotADirective on\n")
    for name in topo.secondaries:
        wait_until(lambda: topo.sync_status("/common", name)["result"] not in SYNC_UNDECIDED,
                   15, **STORY_WAIT)
        src = topo.sync_status("/common", name)
        say(f"   {name} refused it: result {src['result']!r}; configtest said:")
        for line in (src.get("config_check_output") or src.get("last_error") or ""
                     ).splitlines()[:2]:
            say(f"     | {line}")
        status = topo.proxies[name].get("/traffic-status?json")[0]
        say(f"   {name} still runs its last good configuration (status page: {status})")
    say("== the broken line is removed on the primary")
    topo.remove_common_config("zz-broken.conf")
    for name in topo.secondaries:
        wait_until(lambda: topo.sync_status("/common", name)["result"] == "ok", 15, **STORY_WAIT)
    show_sync(topo)


def interactive(topo, args, version):
    victim = topo.names[-1]
    events = {
        "k": f"kill proxy {victim} (SIGKILL) under load",
        "b": f"bring proxy {victim} back",
        "e": "edit a page on the primary",
        "c": "push a broken config",
        "l": "send a load through every service address",
        "s": "show status",
    }
    say("== running until Ctrl-C. Commands (letter + Enter):")
    for key, text in events.items():
        say(f"     {key}  {text}")
    while True:
        line = sys.stdin.readline()
        if not line:  # no terminal: just keep everything up
            while True:
                time.sleep(3600)
        key = line.strip()[:1]
        if key == "k":
            event_kill(topo, victim)
        elif key == "b":
            event_restore(topo, victim)
        elif key == "e":
            version += 1
            event_edit_page(topo, version)
        elif key == "c":
            event_broken_config(topo)
        elif key == "l":
            load(topo, args.requests)
        elif key == "s":
            show_holders(topo)
            show_ha(topo)
            show_sync(topo)
        elif key:
            say(f"   unknown command {key!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--nodes", type=int, default=2,
                    help=f"proxies, one service address each (2..{T.MAX_PROXIES}; 2)")
    ap.add_argument("--requests", type=int, default=4000, help="requests per load (4000)")
    ap.add_argument("--no-story", action="store_true",
                    help="skip the scripted events (page edit, failure, return, broken config)")
    ap.add_argument("--keep", action="store_true",
                    help="keep running until Ctrl-C and take commands to trigger the events")
    args = ap.parse_args()
    if not 2 <= args.nodes <= T.MAX_PROXIES:
        ap.error(f"--nodes must be 2..{T.MAX_PROXIES}")
    httpd.use_module_dir(os.path.join(args.build, "modules"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    say("== building the design in network namespaces (addresses only inside them)")
    try:
        with T.Topology(forward_ports=True, nodes=args.nodes) as topo:
            say(f"   client {T.CLIENT_IP}; workers w1 {T.WORKERS['w1'][0]} (loadfactor 3), "
                f"w2 {T.WORKERS['w2'][0]} (loadfactor 7)")
            for i, name in enumerate(topo.names):
                homes = ", ".join(f"{a} (then {topo.successors(a)[0]})" for a in topo.addresses
                                  if topo.home(a) == name)
                role = "config primary" if name == T.PRIMARY else f"syncs from {T.PRIMARY}"
                say(f"   proxy {name} {T.proxy_spec(i)[0]:<12} {role:<16} home of {homes}")
            topo.start()
            say("== status pages, from this host:")
            for name, fwd in topo.forwarders.items():
                base = f"http://127.0.0.1:{fwd.port}"
                say(f"   {name}: {base}/traffic-status  {base}/ha-status  {base}/docsync-status"
                    "  (add ?json)")
            spread = topo.wait_for_spread(timeout=20)
            say("== every proxy serves: each holds its own service address"
                + ("" if spread else " (not yet)"))
            show_holders(topo)
            show_ha(topo)
            synced = topo.wait_for_sync(40)
            say("== the secondaries synced the shared config and the documents from the primary"
                + ("" if synced else " (not yet)") + ", and restarted gracefully:")
            show_sync(topo)
            say("== client load over every service address (DNS round robin):")
            load(topo, args.requests)
            version = 1
            if not args.no_story:
                version += 1
                event_edit_page(topo, version)
                victim = topo.names[-1]
                event_kill(topo, victim)
                event_restore(topo, victim)
                event_broken_config(topo)
            if args.keep:
                interactive(topo, args, version)
    except KeyboardInterrupt:
        say("\n== stopping")
    say("== cleaned up: namespaces, httpd processes and temp dirs removed")


if __name__ == "__main__":
    main()
