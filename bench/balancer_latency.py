#!/usr/bin/env python3
"""A degraded worker: bylatency against the stock lbmethods and our bytraffic, same run.

Each variant is a real httpd (Debian's apache2, mpm_event) with three members, loadfactor 1/1/1,
in front of three delay backends on 127.0.0.1 (tests/suite_harness/delay_backend.py: asyncio
HTTP/1.1, keep-alive, 512-byte answers after a delay). wrk keeps 32
connections alive through the proxy. Phases: healthy, then one worker answers 10x slower, then
it recovers. Per phase: p50/p99 latency and errors as wrk sees them; during the slowdown the slow
worker's share of answers; after recovery the seconds until no 0.5 s slice leaves it more than
5 points below its third, its share in each of the first three seconds after recovery, and its
largest slice share (a flood would show there); for reference, the range of its slice shares
while healthy. Then, with equal static httpd workers, throughput of
bylatency against stock byrequests, and ns per pick from bench/pick_bench. Prints a table;
nothing here is a pass/fail test.

    bash bench/balancer_latency.sh            (builds, then runs this)
"""
import argparse
import os
import re
import statistics
import subprocess
import time

from suite_harness import httpd
from suite_harness.balancer import pick_ns, proxy_config
from suite_harness.delay_backend import DelayBackend
from suite_harness.httpd import PROXY_MODULES, Backend, HttpdInstance

HERE = os.path.dirname(os.path.abspath(__file__))


# (label, lbmethod, stock module or None for ours)
VARIANTS = [
    ("stock byrequests", "byrequests", "lbmethod_byrequests"),
    ("stock bytraffic", "bytraffic", "lbmethod_bytraffic"),
    ("stock bybusyness", "bybusyness", "lbmethod_bybusyness"),
    ("our bytraffic", "bytraffic", None),
    ("bylatency", "bylatency", None),
]
SLOW_MEMBER = 1
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def start_proxy(name, members, lbmethod, stock_module):
    httpd.STOCK_MODULES.setdefault("lbmethod_bybusyness", "lbmethod_bybusyness_module")
    if stock_module:
        modules, suite = PROXY_MODULES + [stock_module], []
    else:
        modules, suite = PROXY_MODULES, ["balancer_traffic"]
    # Enough proxy threads that 32 client connections never queue in the proxy itself.
    proxy = HttpdInstance(name, proxy_config(members, lbmethod=lbmethod), modules=modules,
                          suite_modules=suite, threads=64, servers=2)
    return proxy.start()


CONNECTIONS = [32]


def wrk(port, seconds, path="/app/item", connections=None, threads=2):
    connections = connections or CONNECTIONS[0]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
         f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True,
        timeout=seconds + 30).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        result[f"p{pct}"] = float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    result["errors"] = errors
    return result


def share_of(served, member, since, until):
    counts = [sum(1 for t in s if since <= t < until) for s in served]
    total = sum(counts)
    return counts[member] / total if total else None


def slice_shares(served, member, since, until, slice_s=0.5):
    """[(seconds since `since` at the end of the slice, share or None)] in 0.5 s slices."""
    slices = []
    t = since
    while t + slice_s <= until:
        slices.append((t - since + slice_s, share_of(served, member, t, t + slice_s)))
        t += slice_s
    return slices


def seconds_back_at_share(slices, tolerance=0.05):
    """End of the first slice from which no slice leaves the member more than `tolerance` below
    its third: it is no longer being starved. Going above its share is reported apart (the
    largest slice share after recovery), since a latency-based split of equal workers wanders
    a few points either way from slice to slice, healthy or not."""
    for i, (end, _) in enumerate(slices):
        if all(s is not None and s >= 1 / 3 - tolerance for _, s in slices[i:]):
            return end
    return None


def degraded(label, lbmethod, stock_module, fast_ms, slow_ms, phase_s):
    backends = [DelayBackend(fast_ms).start() for _ in range(3)]
    proxy = None
    try:
        proxy = start_proxy(f"lat-{lbmethod}-{'stock' if stock_module else 'ours'}",
                            [(b, "loadfactor=1 retry=1") for b in backends], lbmethod,
                            stock_module)
        wrk(proxy.port, 1)  # warm-up: connections, children
        before = wrk(proxy.port, phase_s)
        backends[SLOW_MEMBER].set_delay(slow_ms)
        slow_at = time.time()
        during = wrk(proxy.port, phase_s)
        backends[SLOW_MEMBER].set_delay(fast_ms)
        recovered_at = time.time()
        after = wrk(proxy.port, phase_s)
        end = time.time()
        served = [b.served() for b in backends]
        after_slices = slice_shares(served, SLOW_MEMBER, recovered_at, end)
        healthy = [s for _, s in slice_shares(served, SLOW_MEMBER, slow_at - phase_s, slow_at)
                   if s is not None]
        return {
            "label": label, "before": before, "during": during, "after": after,
            "slow_share": share_of(served, SLOW_MEMBER, slow_at, recovered_at),
            "back_s": seconds_back_at_share(after_slices),
            "max_after": max((s for _, s in after_slices if s is not None), default=0.0),
            "first_seconds": [share_of(served, SLOW_MEMBER, recovered_at + i, recovered_at + i + 1)
                              for i in range(3)],
            "healthy_range": (min(healthy), max(healthy)) if healthy else (0.0, 0.0),
            "observed_s": end - recovered_at,
        }
    finally:
        if proxy:
            proxy.cleanup()
        for b in backends:
            b.cleanup()


def throughput(rounds, seconds):
    """Equal static httpd workers: requests/s of bylatency over stock byrequests, alternating."""
    backends = [Backend(f"latbench-web{i}").start() for i in range(3)]
    ratios = []
    try:
        pair = (("byrequests", "lbmethod_byrequests"), ("bylatency", None))
        for i in range(rounds):
            rps = {}
            # Alternately first, so neither always runs on a cold (or a warm) machine.
            for lbmethod, stock in (pair if i % 2 == 0 else pair[::-1]):
                proxy = start_proxy(f"tput-{lbmethod}", [(b, "loadfactor=1") for b in backends],
                                    lbmethod, stock)
                try:
                    wrk(proxy.port, 1, path="/app/s1k")
                    rps[lbmethod] = wrk(proxy.port, seconds, path="/app/s1k")["rps"]
                finally:
                    proxy.cleanup()
            ratios.append(rps["bylatency"] / rps["byrequests"])
    finally:
        for b in backends:
            b.cleanup()
    return ratios


def table(header, rows):
    width = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, width)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, width)) + " |")


def degraded_table(results):
    def ms(x):
        return f"{x:.1f}"

    rows = []
    for r in results:
        b, d, a = r["before"], r["during"], r["after"]
        back = f"{r['back_s']:.1f}" if r["back_s"] is not None else \
            f"never in {r['observed_s']:.0f}"
        rows.append((r["label"], f"{ms(b['p50'])} / {ms(b['p99'])}",
                     f"{ms(d['p50'])} / {ms(d['p99'])}", f"{ms(a['p50'])} / {ms(a['p99'])}",
                     f"{b['errors']}/{d['errors']}/{a['errors']}",
                     f"{100 * r['slow_share']:.1f}%" if r["slow_share"] is not None else "-",
                     back, "/".join(f"{100 * x:.0f}" if x is not None else "-"
                                    for x in r["first_seconds"]) + "%",
                     f"{100 * r['max_after']:.0f}%",
                     f"{100 * r['healthy_range'][0]:.0f}-{100 * r['healthy_range'][1]:.0f}%",
                     f"{d['p99'] / b['p99']:.2f}"))
    print()
    table(("lbmethod", "before p50/p99 ms", "during p50/p99 ms", "after p50/p99 ms",
           "errors b/d/a", "slow share during", "s back at share", "share 1st/2nd/3rd s after",
           "max share after",
           "healthy share range", "p99 during/before"), rows)


def median_result(results):
    """One variant's results over runs, each figure the median of the runs' figures."""
    def med(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    phases = {ph: {k: med([r[ph][k] for r in results]) for k in results[0][ph]}
              for ph in ("before", "during", "after")}
    for ph in phases.values():
        ph["errors"] = int(round(ph["errors"]))  # a median of counts
    backs = [r["back_s"] if r["back_s"] is not None else float("inf") for r in results]
    back = statistics.median(backs)
    return {
        "label": results[0]["label"], **phases,
        "slow_share": med([r["slow_share"] for r in results]),
        "back_s": None if back == float("inf") else back,
        "max_after": med([r["max_after"] for r in results]),
        "first_seconds": [med([r["first_seconds"][i] for r in results]) for i in range(3)],
        "healthy_range": (med([r["healthy_range"][0] for r in results]),
                          med([r["healthy_range"][1] for r in results])),
        "observed_s": med([r["observed_s"] for r in results]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--phase-seconds", type=int, default=10)
    ap.add_argument("--fast-ms", type=float, default=10.0)
    ap.add_argument("--slowdown", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32, help="wrk connections (keep-alive)")
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the degraded-worker scenario; prints each run and the medians")
    args = ap.parse_args()
    os.environ.setdefault("SUITE_MODULE_DIR", os.path.join(args.build, "modules"))
    httpd.use_module_dir(os.environ["SUITE_MODULE_DIR"])
    slow_ms = args.fast_ms * args.slowdown
    CONNECTIONS[0] = args.connections

    print(f"degraded worker: {args.phase_seconds}s healthy ({args.fast_ms:g} ms), "
          f"{args.phase_seconds}s with member {SLOW_MEMBER + 1} at {slow_ms:g} ms, "
          f"{args.phase_seconds}s recovered; wrk -c{args.connections} keep-alive; "
          f"{args.runs} run(s) ...", flush=True)
    runs = []
    for run in range(args.runs):
        # Each run starts one variant further on, so none is always first (or last) when the
        # machine's other work changes.
        order = VARIANTS[run % len(VARIANTS):] + VARIANTS[:run % len(VARIANTS)]
        results = {}
        for label, lbmethod, stock in order:
            results[label] = degraded(label, lbmethod, stock, args.fast_ms, slow_ms,
                                      args.phase_seconds)
            print(f"  run {run + 1}: {label} done", flush=True)
        runs.append([results[label] for label, _, _ in VARIANTS])
    print(f"equal workers: {args.rounds} rounds x {args.seconds}s, stock byrequests vs "
          "bylatency ...", flush=True)
    ratios = throughput(args.rounds, args.seconds)
    picks = pick_ns(args.build)

    for run, results in enumerate(runs):
        print(f"\nrun {run + 1} of {len(runs)}:")
        degraded_table(results)
    if len(runs) > 1:
        print(f"\nmedian of {len(runs)} runs (each column on its own):")
        degraded_table([median_result(rs) for rs in zip(*runs)])
        best = sum(1 for results in runs
                   if min(results, key=lambda r: r["during"]["p99"])["label"] == "bylatency")
        print(f"\nbylatency has the lowest p99 during the slowdown in {best} of {len(runs)} runs")
    print()
    free16, locked16 = picks[("bylatency", 16)]
    table(("metric", "value", "target"), [
        ("bylatency/stock byrequests requests/s, equal workers (median)",
         f"{statistics.median(ratios):.3f} (" + ", ".join(f"{x:.3f}" for x in ratios) + ")",
         ">= 0.98"),
        ("ns per pick, bylatency, 16 members (incl. latency sample)",
         f"{free16:.0f} ({locked16:.0f} with lock)", "<= 150"),
        ("ns per pick, bylatency, 2 / 256 members",
         f"{picks[('bylatency', 2)][0]:.0f} / {picks[('bylatency', 256)][0]:.0f}", ""),
        ("ns per pick, bytraffic / byrequests, 16 members",
         f"{picks[('bytraffic', 16)][0]:.0f} / {picks[('byrequests', 16)][0]:.0f}", ""),
    ])


if __name__ == "__main__":
    main()
