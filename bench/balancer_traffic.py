#!/usr/bin/env python3
"""mod_balancer_traffic against the stock mod_lbmethod_bytraffic, same machine, same run.

Both proxies are real httpd (Debian's apache2, mpm_event) with the same configuration
(BalancerMember loadfactor=3 and 7, lbmethod=bytraffic, retry=1) in front of the same two real
httpd backends on 127.0.0.1, driven by wrk with a mixed response-size profile
(60% 1 KiB, 30% 10 KiB, 10% 100 KiB). Prints a table; nothing here is a pass/fail test.

    bash bench/balancer_traffic.sh            (builds, then runs this)
"""
import argparse
import os
import re
import statistics
import subprocess
import tempfile
import time

from suite_harness import httpd
from suite_harness.balancer import byte_share, pick_ns, start_proxy
from suite_harness.httpd import Backend

HERE = os.path.dirname(os.path.abspath(__file__))

TARGET = [0.3, 0.7]
WRK_SCRIPT = """
local paths = {"/app/s1k", "/app/s1k", "/app/s10k", "/app/s1k", "/app/s10k",
               "/app/s1k", "/app/s100k", "/app/s1k", "/app/s10k", "/app/s1k"}
local i = 0
request = function()
    i = i + 1
    return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def wrk(port, seconds, script, connections=32, threads=2):
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script,
         f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    errors = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                  out.stdout)
    if m:
        errors += sum(int(x) for x in m.groups())
    return rps, errors


def truncate_logs(backends):
    for b in backends:
        with open(b.access_log, "w"):
            pass


def windowed_deviation(backends, window=200):
    """p95 over consecutive windows of `window` requests of |byte share - target| (member 2)."""
    events = []
    for idx, b in enumerate(backends):
        events += [(t, idx, i + o) for t, i, o, _ in b.requests()]
    events.sort()
    deviations = []
    for start in range(0, len(events) - window + 1, window):
        chunk = events[start:start + window]
        total = sum(e[2] for e in chunk)
        share = sum(e[2] for e in chunk if e[1] == 1) / total
        deviations.append(abs(share - TARGET[1]))
    if not deviations:
        return float("nan")
    deviations.sort()
    return deviations[min(len(deviations) - 1, int(0.95 * len(deviations)))]


def steady_state(variant, backends, script, seconds, rounds_out):
    proxy = start_proxy(f"bench-{variant}", [(backends[0], "loadfactor=3 retry=1"),
                                              (backends[1], "loadfactor=7 retry=1")],
                        stock=(variant == "stock"))
    try:
        wrk(proxy.port, 1, script)  # warm-up: connections, children, caches
        truncate_logs(backends)
        rps, errors = wrk(proxy.port, seconds, script)
        time.sleep(0.3)  # last log lines
        shares, _ = byte_share(backends)
        rounds_out.append({
            "rps": rps, "errors": errors,
            "share_error": max(abs(s - t) for s, t in zip(shares, TARGET)),
            "p95_window": windowed_deviation(backends),
        })
    finally:
        proxy.cleanup()


def recovery(variant, script, down_at=3.0, down_for=3.0, after=12.0, tolerance=0.05):
    """Kill the loadfactor-7 member under load, restart it, and time its return to its share."""
    backends = [Backend(f"rec-{variant}-1").start(), Backend(f"rec-{variant}-2").start()]
    proxy = start_proxy(f"rec-{variant}", [(backends[0], "loadfactor=3 retry=1"),
                                            (backends[1], "loadfactor=7 retry=1")],
                        stock=(variant == "stock"))
    try:
        total = down_at + down_for + after
        load = subprocess.Popen(
            ["wrk", "-t2", "-c32", f"-d{total:.0f}s", "-s", script,
             f"http://127.0.0.1:{proxy.port}/"], stdout=subprocess.PIPE, text=True)
        time.sleep(down_at)
        backends[1].kill()
        time.sleep(down_for)
        backends[1].start()
        back_at = time.time()
        load.communicate(timeout=total + 30)
        end = back_at + after - 0.5
        step = width = 0.5
        slices = []
        t = back_at
        while t + width <= end:
            shares, n = byte_share(backends, t, t + width)
            slices.append((t - back_at, shares[1] if n else None))
            t += step
        recovered = None
        for i, (offset, share) in enumerate(slices):
            if all(s is not None and abs(s - TARGET[1]) <= tolerance for _, s in slices[i:]):
                recovered = offset + width  # the slice ends there
                break
        flood = max((s for _, s in slices if s is not None), default=0.0)
        return {"recovered_s": recovered, "max_slice_share": flood, "observed_s": after}
    finally:
        proxy.cleanup()
        for b in backends:
            b.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    os.environ.setdefault("SUITE_MODULE_DIR", os.path.join(args.build, "modules"))
    httpd.use_module_dir(os.environ["SUITE_MODULE_DIR"])

    workdir = tempfile.mkdtemp(prefix="bench-bt-")
    script = os.path.join(workdir, "mixed.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT)

    print(f"steady state: {args.rounds} rounds x {args.seconds}s per variant, alternating ...",
          flush=True)
    backends = [Backend("bench-web1").start(), Backend("bench-web2").start()]
    results = {"stock": [], "ours": []}
    try:
        for _ in range(args.rounds):
            for variant in ("stock", "ours"):
                steady_state(variant, backends, script, args.seconds, results[variant])
    finally:
        for b in backends:
            b.cleanup()
    print("recovery: loadfactor-7 member killed at 3 s for 3 s, 12 s observed after ...",
          flush=True)
    rec = {v: recovery(v, script) for v in ("stock", "ours")}
    picks = pick_ns(args.build)

    def med(variant, key):
        return statistics.median(r[key] for r in results[variant])

    ratios = [o["rps"] / s["rps"] for s, o in zip(results["stock"], results["ours"])]

    def rec_text(r):
        if r["recovered_s"] is None:
            return f"never within {r['observed_s']:.0f} s"
        return f"{r['recovered_s']:.2f} s"

    rows = [
        ("requests/s (median)", f"{med('stock', 'rps'):.0f}", f"{med('ours', 'rps'):.0f}",
         f"ours/stock {statistics.median(ratios):.3f} (pairs: "
         + ", ".join(f"{x:.3f}" for x in ratios) + ")"),
        ("failed requests", str(sum(r["errors"] for r in results["stock"])),
         str(sum(r["errors"] for r in results["ours"])), ""),
        ("overall byte-share error", f"{100 * med('stock', 'share_error'):.2f}%",
         f"{100 * med('ours', 'share_error'):.2f}%", "target <= 1%"),
        ("p95 share deviation, 200-request windows", f"{100 * med('stock', 'p95_window'):.1f}%",
         f"{100 * med('ours', 'p95_window'):.1f}%", "target: no worse than stock"),
        ("recovered member within +-5% of share", rec_text(rec["stock"]), rec_text(rec["ours"]),
         "target <= 2 s"),
        ("its largest 0.5 s byte share after return", f"{100 * rec['stock']['max_slice_share']:.0f}%",
         f"{100 * rec['ours']['max_slice_share']:.0f}%", "target share 70%"),
    ]
    for method in ("bytraffic", "byrequests"):
        for n in (2, 16, 256):
            free, locked = picks[(method, n)]
            rows.append((f"ns per pick, {method}, {n} members", "-",
                         f"{free:.0f} ({locked:.0f} with lock)",
                         "target <= 100 at 16" if n == 16 else ""))
    width = [max(len(r[i]) for r in rows + [("metric", "stock", "ours", "")]) for i in range(4)]
    header = ("metric", "stock", "ours", "note")
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, width)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in width) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, width)) + " |")


if __name__ == "__main__":
    main()
