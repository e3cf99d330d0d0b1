#!/usr/bin/env python3
"""The original design, live on this machine: a client, a primary and a secondary httpd reverse
proxy sharing one service address (mod_ha_heartbeat), two web workers behind them weighted 3:7
by traffic (mod_balancer_traffic), the secondary's configuration and documents synced from the
primary (mod_docsync).

Everything runs in network namespaces this script creates, with addresses only inside them;
the status pages are forwarded to 127.0.0.1 on this host. All of it is removed on exit, also
on Ctrl-C and on failure.
"""
import argparse
import os
import signal
import sys
import time

from suite_harness import httpd
from suite_harness import topology as T
from suite_harness.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
# The story reads servers that may be restarting: an error counts as "not yet", and a wait that
# runs out is told to the audience rather than raised.
STORY_WAIT = {"raise_on_timeout": False, "ignore": (Exception,)}


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


def show_ha(topo):
    for name, proxy in topo.proxies.items():
        try:
            st = proxy.status("ha-status")
            held = [a["address"] for a in st.get("addresses", []) if a.get("held")]
            say(f"     {name}: {st['state']:<7} priority {st['effective_priority']:>3}, "
                f"transitions {st['transitions']}, holds {held or 'nothing'}"
                f" — {st.get('last_reason', '')}")
        except Exception as e:  # a node that is down cannot answer; say so
            say(f"     {name}: no answer ({type(e).__name__})")


def show_sync(topo):
    for suffix in ("/common", "/site"):
        src = topo.sync_status(suffix)
        say(f"     {suffix[1:]:<7} result {src['result']:<8} rounds {src['rounds']:>3}, "
            f"files {src['files_transferred']:>3}, bytes received {src['bytes_received']:>8}, "
            f"graceful restarts {src['restarts_triggered']}"
            + (f", last error: {src['last_error'][:100]}" if src.get("last_error") else ""))


def load(topo, requests):
    since = time.time()
    t0 = time.monotonic()
    results = topo.load(requests)
    ok = sum(1 for r in results if r[1] == 200)
    say(f"   {ok}/{len(results)} requests answered 200 through http://{T.VIP}/app/ "
        f"in {time.monotonic() - t0:.1f} s (60% 1 KiB, 30% 10 KiB, 10% 100 KiB)")
    time.sleep(0.5)
    show_split(topo, since)


def event_kill_primary(topo):
    say("== the primary drops off the LAN (its link goes down)")
    prober = topo.prober(period=0.01, timeout=0.2, max_seconds=30)
    time.sleep(0.3)
    down_at = time.monotonic()
    topo.primary_link_down()
    answered = wait_until(lambda: prober.first_answer_after(down_at, "s"), 10, **STORY_WAIT)
    prober.stop()
    if answered:
        failed = prober.failures_after(down_at, answered)
        say(f"   the secondary answers on {T.VIP} after {1000 * (answered - down_at):.0f} ms"
            f" ({len(failed)} failed probes of one every 10 ms)")
    else:
        say("   the secondary did not answer within 10 s")
    say(f"   holders of {T.VIP}: {topo.holders()}")
    show_ha(topo)


def event_restore_primary(topo):
    say("== the primary comes back (preempt on: it takes the address back)")
    topo.primary_link_up()
    took = wait_until(lambda: topo.holders() == ["p"], 10, **STORY_WAIT)
    say(f"   holders of {T.VIP}: {topo.holders()}" + ("" if took else " (not yet)"))
    show_ha(topo)


def event_edit_page(topo, version):
    say(f"== a page is edited on the primary (htdocs/index.html, version {version})")
    t0 = time.monotonic()
    topo.edit_page(f"<h1>Welcome (version {version})</h1>\n")
    ok = wait_until(lambda: topo.secondary_serves(f"version {version}"), 15, step=0.02,
                    **STORY_WAIT)
    say(f"   the secondary serves it after {1000 * (time.monotonic() - t0):.0f} ms" if ok
        else "   the secondary did not serve it within 15 s")
    show_sync(topo)


def event_broken_config(topo):
    say("== a broken line is pushed into the shared configuration on the primary")
    topo.push_common_config("zz-broken.conf", "ThisIsNotADirective on\n")
    wait_until(lambda: topo.sync_status("/common")["result"] not in ("ok", ""), 15, **STORY_WAIT)
    src = topo.sync_status("/common")
    say(f"   the secondary refused it: result {src['result']!r}; configtest said:")
    for line in (src.get("config_check_output") or src.get("last_error") or "").splitlines()[:4]:
        say(f"     | {line}")
    status = topo.proxies["s"].get("/traffic-status?json")[0]
    say(f"   the secondary still runs its last good configuration (status page: {status})")
    say("== the broken line is removed on the primary")
    topo.remove_common_config("zz-broken.conf")
    wait_until(lambda: topo.sync_status("/common")["result"] == "ok", 15, **STORY_WAIT)
    show_sync(topo)


EVENTS = {
    "k": ("kill the primary (link down)", event_kill_primary),
    "b": ("bring the primary back", event_restore_primary),
    "e": ("edit a page on the primary", None),
    "c": ("push a broken config", event_broken_config),
    "l": ("send a load through the service address", None),
    "s": ("show status", None),
}


def interactive(topo, args, version):
    say("== running until Ctrl-C. Commands (letter + Enter):")
    for key, (text, _) in EVENTS.items():
        say(f"     {key}  {text}")
    while True:
        line = sys.stdin.readline()
        if not line:  # no terminal: just keep everything up
            while True:
                time.sleep(3600)
        key = line.strip()[:1]
        if key == "e":
            version += 1
            event_edit_page(topo, version)
        elif key == "l":
            load(topo, args.requests)
        elif key == "s":
            show_ha(topo)
            show_sync(topo)
        elif key in EVENTS and EVENTS[key][1]:
            EVENTS[key][1](topo)
        elif key:
            say(f"   unknown command {key!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--requests", type=int, default=4000, help="requests per load (4000)")
    ap.add_argument("--no-story", action="store_true",
                    help="skip the scripted events (failover, return, page edit, broken config)")
    ap.add_argument("--keep", action="store_true",
                    help="keep running until Ctrl-C and take commands to trigger the events")
    args = ap.parse_args()
    httpd.use_module_dir(os.path.join(args.build, "modules"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    say("== building the original design in network namespaces (addresses only inside them)")
    say(f"   client {T.CLIENT_IP}; proxies p {T.PROXIES['p'][0]} (priority 200, primary) and "
        f"s {T.PROXIES['s'][0]} (priority 100, secondary)")
    say(f"   workers w1 {T.WORKERS['w1'][0]} (loadfactor 3), w2 {T.WORKERS['w2'][0]} (loadfactor 7);"
        f" service address {T.VIP}")
    try:
        with T.Topology(forward_ports=True) as topo:
            topo.start()
            say("== status pages, from this host:")
            for name, fwd in topo.forwarders.items():
                base = f"http://127.0.0.1:{fwd.port}"
                say(f"   {name}: {base}/traffic-status  {base}/ha-status  {base}/docsync-status"
                    "  (add ?json)")
            held = topo.wait_for_holder("p", 10)
            say(f"== {T.VIP} is held by {topo.holders()}" + ("" if held else " (election slow)"))
            show_ha(topo)
            synced = topo.wait_for_sync(30)
            say("== the secondary synced the shared config and the documents from the primary"
                + ("" if synced else " (not yet)") + ", and restarted gracefully:")
            show_sync(topo)
            say("== client load through the service address:")
            load(topo, args.requests)
            version = 1
            if not args.no_story:
                event_kill_primary(topo)
                say("   load while the secondary serves:")
                load(topo, args.requests // 2)
                event_restore_primary(topo)
                version += 1
                event_edit_page(topo, version)
                event_broken_config(topo)
            if args.keep:
                interactive(topo, args, version)
    except KeyboardInterrupt:
        say("\n== stopping")
    say("== cleaned up: namespaces, httpd processes and temp dirs removed")


if __name__ == "__main__":
    main()
