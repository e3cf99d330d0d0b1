#!/usr/bin/env python3
"""Where bylatency's p99 during the slowdown comes from: the degraded-worker scenario of
bench/balancer_latency.py for one lbmethod, with every request logged by the proxy (start,
time taken, member) and by the delay backends (arrival, answer, delay), then cut up by member
and by time since the onset.

Variants (--variants, comma-separated):
  bylatency     our bylatency, member 2 slows down for the middle phase (as in the bench);
  byrequests    stock byrequests, same;
  zero-slow     the floor: the middle phase goes to a second proxy (same module, same settings)
                that has only members 1 and 3, so the slow worker gets no request at all.

    bash bench/balancer_latency_tail.sh [--runs N] [--variants bylatency,zero-slow]
"""
import argparse
import os
import re
import statistics
import subprocess
import time

from balancer_latency import SLOW_MEMBER, UNITS, wrk
from suite_harness import httpd
from suite_harness.delay_backend import DelayBackend

# Each request's start (us since the epoch), its time in the proxy (us) and its member.
TIMING_LOG = """LogFormat "%{begin:usec}t %D %{BALANCER_WORKER_NAME}e %{remote}p %P %{end:usec}t" timing
CustomLog logs/timing.log timing
"""
# Time since the onset at which the middle phase is cut (seconds).
BUCKETS = [0.0, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]


# wrk's own view of a phase: its percentiles and request count (a done() hook).
WRK_PERCENTILES = """done = function(summary, latency, requests)
  io.write(string.format("WRK requests %d max %.1f\\n", summary.requests, latency.max / 1000))
  for _, p in ipairs({90, 95, 98, 99, 99.5, 99.9}) do
    io.write(string.format("WRK p%s %.1f\\n", p, latency:percentile(p) / 1000))
  end
end
"""


def wrk_seen(port, seconds, root):
    script = os.path.join(root, "percentiles.lua")
    with open(script, "w") as f:
        f.write(WRK_PERCENTILES)
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/app/item"], capture_output=True, text=True,
                         timeout=seconds + 30).stdout
    seen = {}
    for line in out.splitlines():
        if line.startswith("WRK "):
            _, key, value = line.split()[:3]
            seen[key] = float(value)
    seen["p50"] = float("nan")
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
    if m:
        seen["p50"] = float(m.group(1)) * UNITS[m.group(2)]
    seen["p99"] = seen.get("p99", float("nan"))
    return seen


def timing_log(proxy):
    out = []
    with open(os.path.join(proxy.root, "logs", "timing.log")) as log:
        for line in log:
            parts = line.split()
            if len(parts) == 6:
                out.append((int(parts[0]) / 1e6, int(parts[1]) / 1e3, parts[2], parts[3],
                            parts[4], int(parts[5]) / 1e6))
    return out


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def load_average():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def scenario(variant, fast_ms, slow_ms, phase_s):
    backends = [DelayBackend(fast_ms).start() for _ in range(3)]
    proxies = []
    try:
        lbmethod, stock = ("byrequests", "lbmethod_byrequests") if variant == "byrequests" \
            else ("bylatency", None)
        members = [(b, "loadfactor=1 retry=1") for b in backends]
        proxy = start_proxy_logged(f"tail-{variant}", members, lbmethod, stock)
        proxies.append(proxy)
        during_proxy = proxy
        if variant == "zero-slow":
            during_proxy = start_proxy_logged(
                "tail-zero-slow-2", [m for i, m in enumerate(members) if i != SLOW_MEMBER],
                lbmethod, stock)
            proxies.append(during_proxy)
            wrk(during_proxy.port, 1)
        wrk(proxy.port, 1)
        t0 = time.time()
        before = wrk(proxy.port, phase_s)
        backends[SLOW_MEMBER].set_delay(slow_ms)
        onset = time.time()
        during = wrk_seen(during_proxy.port, phase_s, during_proxy.root)
        during_end = time.time()
        # The same again, the member long degraded: no onset in this one.
        steady = wrk_seen(during_proxy.port, phase_s, during_proxy.root)
        backends[SLOW_MEMBER].set_delay(fast_ms)
        end = time.time()
        log = timing_log(proxy) + (timing_log(during_proxy) if during_proxy is not proxy else [])
        spans = [b.spans() for b in backends]
        return {"variant": variant, "before": before, "during": during, "t0": t0,
                "onset": onset, "end": during_end, "steady": steady, "log": log, "spans": spans,
                "ports": [str(b.port) for b in backends], "load": load_average()}
    finally:
        for p in proxies:
            p.cleanup()
        for b in backends:
            b.cleanup()


def start_proxy_logged(name, members, lbmethod, stock):
    from suite_harness.balancer import proxy_config
    from suite_harness.httpd import PROXY_MODULES, HttpdInstance
    httpd.STOCK_MODULES.setdefault("lbmethod_bybusyness", "lbmethod_bybusyness_module")
    modules, suite = (PROXY_MODULES + [stock], []) if stock else (PROXY_MODULES,
                                                                  ["balancer_traffic"])
    proxy = HttpdInstance(name, proxy_config(members, lbmethod=lbmethod,
                                             extra_server=TIMING_LOG),
                          modules=modules, suite_modules=suite, threads=64, servers=2)
    return proxy.start()


def wrk_corrected(latencies_ms, seconds, connections=32):
    """What wrk 4 reports for these latencies: before printing, its stats_correct() adds, for
    every latency of at least twice the expected interval (run time / requests per connection),
    the latencies of the requests that connection "would have sent" meanwhile: the latency
    minus one, two, ... intervals, down to the interval (coordinated-omission correction)."""
    if not latencies_ms:
        return []
    interval = 1e3 * seconds / (len(latencies_ms) / connections)
    out = list(latencies_ms)
    for v in latencies_ms:
        if v >= 2 * interval:
            m = v - interval
            while m > interval:
                out.append(m)
                m -= interval
    return out


def member_of(url, ports):
    for i, port in enumerate(ports):
        if url.endswith(f":{port}") or url.endswith(f":{port}/"):
            return i
    return None


def report(r):
    onset, ports = r["onset"], r["ports"]
    healthy = [d for t, d, *_ in r["log"] if r["t0"] <= t < onset]
    during = [(t - onset, d, member_of(u, ports)) for t, d, u, *_ in r["log"] if onset <= t < r["end"]]
    line = 2 * r["before"]["p99"]  # the target: p99 during <= 2x healthy p99 (wrk's)
    print(f"\n{r['variant']}: load average {r['load']:.1f}; wrk before p50/p99 "
          f"{r['before']['p50']:.1f}/{r['before']['p99']:.1f} ms, during "
          f"{r['during']['p50']:.1f}/{r['during']['p99']:.1f} ms "
          f"(ratio {r['during']['p99'] / r['before']['p99']:.2f}); proxy log before p99 "
          f"{pct(healthy, 99):.1f} ms, during p99 {pct([d for _, d, _ in during], 99):.1f} ms")
    n = len(during)
    corrected = wrk_corrected([d for _, d, _ in during], r["end"] - onset)
    print(f"  proxy log during with wrk's correction applied: p99 {pct(corrected, 99):.1f} ms "
          f"({len(corrected) - n} samples added to {n})")
    for name in ("during", "steady"):
        print(f"  wrk, {name}: " + ", ".join(f"{k} {v:g}" for k, v in r[name].items()
                                             if k not in ("rps", "errors")))
    over = [x for x in during if x[1] > line]
    print(f"  during: {n} requests, {len(over)} ({100 * len(over) / max(n, 1):.2f}%) over "
          f"2x healthy p99 = {line:.1f} ms; p99 needs < 1%")
    for m in range(3):
        mine = [d for _, d, mm in during if mm == m]
        mine_over = [x for x in over if x[2] == m]
        print(f"  member {m + 1}: {len(mine)} requests ({100 * len(mine) / max(n, 1):.1f}%), "
              f"p50/p99 {pct(mine, 50):.1f}/{pct(mine, 99):.1f} ms, {len(mine_over)} over "
              f"the line ({100 * len(mine_over) / max(n, 1):.2f}% of all)")
    print("  by time since onset (s): requests, over the line (slow member / fast members), "
          "fast members' p99")
    for lo, hi in zip(BUCKETS, BUCKETS[1:]):
        cut = [x for x in during if lo <= x[0] < hi]
        fast = [d for _, d, m in cut if m != SLOW_MEMBER]
        slow_over = sum(1 for _, d, m in cut if m == SLOW_MEMBER and d > line)
        fast_over = sum(1 for _, d, m in cut if m != SLOW_MEMBER and d > line)
        print(f"    [{lo:4.1f}, {hi:4.1f}): {len(cut):6d}, {slow_over:4d} / {fast_over:4d}, "
              f"{pct(fast, 99):6.1f} ms")
    # Fast members' slow requests: spread out, or in bursts (a stall of the machine)?
    fast_over_t = sorted(t for t, d, m in over if m != SLOW_MEMBER)
    bursts = []
    for t in fast_over_t:
        if bursts and t - bursts[-1][1] <= 0.05:
            bursts[-1][1] = t
            bursts[-1][2] += 1
        else:
            bursts.append([t, t, 1])
    big = sorted(bursts, key=lambda b: -b[2])[:5]
    print(f"  fast members' requests over the line come in {len(bursts)} clusters (gaps > 50 ms); "
          "largest: " + ", ".join(f"{b[2]} at {b[0]:.2f}-{b[1]:.2f} s" for b in big))
    # Per client connection (its port): the time between the proxy's end of one request and
    # its start of the next is the part of wrk's latency the proxy log does not see (plus wrk's
    # turnaround). Which requests are followed by long gaps?
    conns = {}
    for t, d, u, port, pid, end in r["log"]:
        if onset <= t < r["end"]:
            conns.setdefault(port, []).append((t, end, member_of(u, ports), pid))
    gaps, after_slow = [], []
    for reqs in conns.values():
        reqs.sort()
        for a, b in zip(reqs, reqs[1:]):
            gap = 1e3 * (b[0] - a[1])
            gaps.append(gap)
            if a[2] == SLOW_MEMBER:
                after_slow.append(gap)
    print(f"  gaps between a connection's requests (proxy end -> next start): p50/p99/p99.9/max "
          f"{pct(gaps, 50):.2f}/{pct(gaps, 99):.2f}/{pct(gaps, 99.9):.1f}/{max(gaps, default=0):.1f}"
          f" ms; {sum(1 for g in gaps if g > 20)} over 20 ms; after a slow-member request "
          f"p50/max {pct(after_slow, 50):.2f}/{max(after_slow, default=0):.1f} ms")
    # Long gaps: when, and what else the same process was doing.
    long_gaps = sorted((b[0] - onset, 1e3 * (b[0] - a[1]), a[3]) for reqs in conns.values()
                       for a, b in zip(reqs, reqs[1:]) if 1e3 * (b[0] - a[1]) > 20)
    print("  gaps over 20 ms (s since onset, ms, pid): " +
          ", ".join(f"{t:.2f}/{g:.0f}/{p}" for t, g, p in long_gaps[:40]))
    # Backend side: how long past its delay each answer took (the event loop's lag).
    for phase, lo, hi in (("healthy", r["t0"], onset), ("during", onset, r["end"])):
        lags = []
        for m, spans in enumerate(r["spans"]):
            if m == SLOW_MEMBER and phase == "during":
                continue
            lags += [1e3 * (s - a - d) for a, s, d in spans if lo <= a < hi]
        print(f"  fast backends' lag past their delay, {phase}: p50/p99/max "
              f"{pct(lags, 50):.2f}/{pct(lags, 99):.2f}/{max(lags, default=0):.1f} ms")
    return {"ratio": r["during"]["p99"] / r["before"]["p99"], "during_p99": r["during"]["p99"],
            "before_p99": r["before"]["p99"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build-bench")
    ap.add_argument("--variants", default="bylatency,zero-slow")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--phase-seconds", type=int, default=10)
    ap.add_argument("--fast-ms", type=float, default=10.0)
    ap.add_argument("--slowdown", type=float, default=10.0)
    args = ap.parse_args()
    os.environ.setdefault("SUITE_MODULE_DIR", os.path.join(args.build, "modules"))
    httpd.use_module_dir(os.environ["SUITE_MODULE_DIR"])
    summary = {}
    for run in range(args.runs):
        variants = args.variants.split(",")
        variants = variants[run % len(variants):] + variants[:run % len(variants)]
        for v in variants:
            r = scenario(v, args.fast_ms, args.fast_ms * args.slowdown, args.phase_seconds)
            summary.setdefault(v, []).append(report(r))
    print("\nvariant: wrk p99 before / during / ratio, per run; medians")
    for v, rows in summary.items():
        print(f"  {v}: " + "; ".join(f"{x['before_p99']:.1f}/{x['during_p99']:.1f}/"
                                      f"{x['ratio']:.2f}" for x in rows) +
              f"; median ratio {statistics.median(x['ratio'] for x in rows):.2f}, "
              f"median during p99 {statistics.median(x['during_p99'] for x in rows):.1f} ms")


if __name__ == "__main__":
    main()
