#!/usr/bin/env python3
"""Config to every node: one mod_docsync primary and N secondaries, each a real apache2 on
127.0.0.1 with its own ServerRoot and port; an rsync daemon on 127.0.0.1 polled by N cron-like
loops as the anchor. One run measures:

  fan-out latency   for each N of --secondaries (default 1 and 7): a new small file written on
                    the primary, until EVERY secondary serves it over HTTP (each secondary's
                    copy is watched with stat() and confirmed by a GET as soon as it appears:
                    the time is that of the GET's 200 answer). Median and max over --rounds,
                    and the median of the first secondary to serve it.
  idle cost         with the largest N idle for --idle-seconds (default 60): the primary's CPU
                    time (utime+stime of all its httpd processes from /proc, children that
                    exited included) and the bytes its docsync requests received and sent on
                    the wire (mod_logio's %I/%O in its access log, headers included), per idle
                    secondary per minute. The primary alone is measured for the same window
                    first, and its CPU (periodic rescans, the MPM's timers) subtracted. Also
                    the secondaries' own sync-process CPU.
  waiting alone     (skip with --wait-cost-seconds 0) the primary's run time with as many
                    raw long polls that are never answered in the window as the largest N,
                    against none, alternated twice: what holding a long poll costs, without
                    its answers.
  catch-up          (skip with --outage-seconds 0) the primary stopped for 20 s with the
                    largest N, a file written meanwhile: seconds from its return until every
                    secondary serves it.
  rsync anchor      (skip with --no-rsync) an `rsync --daemon` exporting the same tree; per
                    secondary a loop `rsync -a --delete --stats rsync://…/ <dir>/; sleep 1`:
                    the same latency (until the file is in every copy) and, for the largest N,
                    the daemon's CPU (it and its per-connection children) and the --stats bytes
                    per secondary per minute.

Every secondary has one source (the docroot: one long poll); a node that also syncs its conf
holds two. Prints a table and the command line; nothing here is a pass/fail test.

    bash bench/docsync_fanout.sh [--idle-seconds 60] [--rounds 7] [--no-rsync]
"""
import argparse
import json
import os
import random
import resource
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from suite_harness import docsync as h
from suite_harness import httpd
from suite_harness.constants import LOOPBACK
from suite_harness.docsync_fanout import (SYNCED_DOCS, SYNCED_URL_PREFIX, cpu_seconds,
                                          new_fanout_primary, new_fanout_secondary, pids_with,
                                          run_time_seconds, serves)
from suite_harness.rsync_daemon import rsync_daemon, stats_bytes
from suite_harness.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
WATCH_STEP = 0.002  # how often each copy is stat()ed while a round waits for it
ROUND_TIMEOUT = 90.0  # also bounds the catch-up after an outage (a retry comes within 30 s)
SETTLE_SECONDS = 0.5  # between rounds, once every secondary's long poll waits again
RSYNC_PERIOD = 1.0
PRIMARY_LONG_POLL_SECONDS = 25  # the module's default DocSyncLongPoll: the longest wait granted


def generate(root, files, rng):
    dirs = max(1, files // 100)
    for d in range(dirs):
        os.makedirs(os.path.join(root, f"d{d:03d}"), exist_ok=True)
    for i in range(files):
        with open(os.path.join(root, f"d{i % dirs:03d}", f"f{i:05d}.html"), "wb") as f:
            f.write(rng.randbytes(rng.randint(100, 8192)))
    subprocess.run(["chmod", "-R", "a+rX", root], check=True)


def write_new_file(root, name, body):
    tmp = os.path.join(root, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(body)
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(root, name))


def wait_idle(pids_of, quiet=1.0, timeout=120):
    """Until the processes `pids_of()` used no CPU for `quiet` seconds (best effort)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pids_of())
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_seconds(pids_of())
        if now == last:
            return
        last = now


def watch_copies(copies, name, body, t0, confirm):
    """Seconds from t0 until each copy (a directory) holds `name` and `confirm(i)` says it is
    served; None for a copy that did not within ROUND_TIMEOUT."""
    done = [None] * len(copies)
    deadline = t0 + ROUND_TIMEOUT
    while None in done and time.monotonic() < deadline:
        for i, d in enumerate(copies):
            if done[i] is None and os.path.exists(os.path.join(d, name)) and confirm(i):
                done[i] = time.monotonic() - t0
        time.sleep(WATCH_STEP)
    return done


def latency_rounds(label, src, copies, confirm, rounds, settle):
    """`rounds` new files; per round the seconds until each copy serves it."""
    out = []
    for r in range(rounds):
        name = f"fanout-{label}-{r}.html"
        body = f"<p>{label} round {r} {random.random()}</p>\n".encode()
        t0 = time.monotonic()
        write_new_file(src, name, body)
        times = watch_copies(copies, name, body, t0, lambda i: confirm(i, name, body))
        if None in times:
            raise RuntimeError(f"{label} round {r}: not every copy got {name}: {times}")
        out.append(times)
        settle()
    return out


def summarise(rounds):
    every = [max(t) for t in rounds]
    first = [min(t) for t in rounds]
    return {"all_median": statistics.median(every), "all_max": max(every),
            "first_median": statistics.median(first), "rounds": rounds}


# ---- mod_docsync ------------------------------------------------------------------------------

def wire_bytes(log_path, offset):
    """(requests, bytes in + out) of the /.docsync/ requests logged past `offset`."""
    n = total = 0
    with open(log_path) as f:
        f.seek(offset)
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[4].startswith("/.docsync/"):
                n += 1
                total += int(parts[1]) + int(parts[2])
    return n, total


def bench_docsync(args, counts):
    primary, dirs = new_fanout_primary(["docs"], servers=2, rescan=None, access_log=True)
    src = dirs["docs"]
    generate(src, args.files, random.Random(2026))
    secondaries = []
    res = {"latency": {}, "idle": None}

    def primary_pids():
        return pids_with(primary.root)

    def waiting():
        return h.status_json(primary).get("long_polls", {}).get("waiting")

    try:
        primary.start(timeout=120)
        wait_until(lambda: h.signed_request(primary.port, "GET", "/.docsync/docs/manifest")[0]
                   == 200, 120, 0.1)
        wait_idle(primary_pids)
        baseline = idle_window(args, primary, primary_pids, [], 0)
        if args.wait_cost_seconds > 0:
            res["waiting"] = waiting_cost(args, primary, primary_pids, max(counts))

        for n in counts:
            while len(secondaries) < n:
                sec, _ = new_fanout_secondary(primary.port, len(secondaries), ("docs",),
                                              long_poll=args.long_poll)
                sec.start(timeout=60)
                secondaries.append(sec)
            marker = f"initial-{n}.html"
            write_new_file(src, marker, b"initial\n")
            for sec in secondaries:
                wait_until(lambda: serves(sec, f"{SYNCED_URL_PREFIX}/{marker}", b"initial\n"),
                           300, 0.1, what=f"{sec.name} synced")
            wait_until(lambda: waiting() == n, 60, 0.05, what=f"{n} long polls waiting")
            wait_idle(lambda: primary_pids() + [p for s in secondaries for p in pids_with(s.root)])
            copies = [os.path.join(s.root, SYNCED_DOCS) for s in secondaries]

            def confirm(i, name, body, secs=list(secondaries)):
                return serves(secs[i], f"{SYNCED_URL_PREFIX}/{name}", body)

            def settle(n=n):
                wait_until(lambda: waiting() == n, 60, 0.01, what=f"{n} long polls waiting")
                time.sleep(SETTLE_SECONDS)

            res["latency"][n] = summarise(latency_rounds(f"docsync{n}", src, copies, confirm,
                                                         args.rounds, settle))
            print(f"docsync, {n} secondaries: {fmt_latency(res['latency'][n])}", flush=True)
            if args.verbose:
                print(f"  rounds (s): {[[round(t, 3) for t in r] for r in res['latency'][n]['rounds']]}")

        wait_until(lambda: waiting() == len(secondaries), 60, 0.05)
        wait_idle(lambda: primary_pids() + [p for s in secondaries for p in pids_with(s.root)])
        sync_pids = [h.status_json(s)["sync_child_pid"] for s in secondaries]
        res["idle"] = idle_window(args, primary, primary_pids, sync_pids, len(secondaries))
        res["baseline"] = baseline
        if args.outage_seconds > 0:
            res["outage"] = outage(args, primary, src, secondaries)
        return res
    finally:
        for sec in secondaries:
            sec.cleanup()
        primary.cleanup()


def hold_long_polls(primary, n):
    """`n` signed long polls for the manifest the primary has, asking to wait 300 s (the
    primary grants its DocSyncLongPoll): sent, never read; close the sockets to end them."""
    etag = h.signed_request(primary.port, "GET", "/.docsync/docs/manifest")[2]["ETag"]
    socks = []
    for _ in range(n):
        path = "/.docsync/docs/manifest?wait=300"
        headers = h.signed_headers("GET", path)
        headers["If-None-Match"] = etag
        sock = socket.create_connection((LOOPBACK, primary.port), timeout=5)
        sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        socks.append(sock)
    return socks


def waiting_cost(args, primary, primary_pids, n):
    """What waiting alone costs the primary: its run time (schedstat) over --wait-cost-seconds
    with `n` long polls that wait the whole time (the window is shorter than the wait the
    primary grants, so none is answered within it) against the same time with none, alternated
    twice."""
    out = {"held": n, "seconds": args.wait_cost_seconds, "with": [], "without": []}
    for held in (0, n, 0, n):
        socks = hold_long_polls(primary, held)
        try:
            wait_until(lambda: h.status_json(primary)["long_polls"]["waiting"] == held, 10, 0.05)
            pids = primary_pids()
            r0 = run_time_seconds(pids)
            time.sleep(args.wait_cost_seconds)
            r1 = run_time_seconds(pids)
        finally:
            for sock in socks:
                sock.close()
        out["with" if held else "without"].append(r1 - r0)
        wait_until(lambda: h.status_json(primary)["long_polls"]["waiting"] == 0, 10, 0.05)
    print(f"docsync, {n} long polls held {args.wait_cost_seconds:.0f} s: primary run time "
          f"{[round(x * 1000, 2) for x in out['with']]} ms, none held "
          f"{[round(x * 1000, 2) for x in out['without']]} ms", flush=True)
    return out


def outage(args, primary, src, secondaries):
    """The primary stopped for --outage-seconds, a file written meanwhile, the primary started:
    seconds from its return until every secondary serves the file (each retries on its own
    backoff of 1, 2, 4 … 30 s)."""
    primary.stop()
    time.sleep(args.outage_seconds / 2)
    name, body = "written-while-down.html", b"written while the primary was down\n"
    write_new_file(src, name, body)
    time.sleep(args.outage_seconds / 2)
    primary.start(timeout=120)
    t0 = time.monotonic()
    copies = [os.path.join(s.root, SYNCED_DOCS) for s in secondaries]
    times = watch_copies(copies, name, body, t0,
                         lambda i: serves(secondaries[i], f"{SYNCED_URL_PREFIX}/{name}", body))
    if None in times:
        raise RuntimeError(f"after the outage not every secondary got {name}: {times}")
    print(f"docsync, {len(secondaries)} secondaries, after {args.outage_seconds:.0f} s down: "
          f"every one serves the new file {max(times):.1f} s after the primary's return "
          f"(first {min(times):.1f} s)", flush=True)
    return {"seconds_down": args.outage_seconds, "times": times}


def idle_window(args, primary, primary_pids, sync_pids, n):
    """The primary's CPU and docsync bytes over --idle-seconds with `n` idle secondaries."""
    offset = os.path.getsize(primary.access_log) if os.path.exists(primary.access_log) else 0
    pids0 = primary_pids()
    cpu0, run0, sync0 = cpu_seconds(pids0), run_time_seconds(pids0), cpu_seconds(sync_pids)
    t0 = time.monotonic()
    time.sleep(args.idle_seconds)
    pids1 = primary_pids()
    cpu1, run1, sync1 = cpu_seconds(pids1), run_time_seconds(pids1), cpu_seconds(sync_pids)
    t1 = time.monotonic()
    # schedstat counts live threads only: it holds for the window if no process came or went.
    run_time = run1 - run0 if sorted(pids0) == sorted(pids1) else None
    requests, wire = wire_bytes(primary.access_log, offset) if os.path.exists(
        primary.access_log) else (0, 0)
    print(f"docsync idle, {n} secondaries, {t1 - t0:.1f} s: primary CPU {cpu1 - cpu0:.3f} s, "
          f"{requests} docsync requests, {wire} B", flush=True)
    return {"secondaries": n, "seconds": t1 - t0, "primary_cpu": cpu1 - cpu0,
            "primary_run_time": run_time, "sync_cpu": sync1 - sync0, "requests": requests,
            "bytes": wire}


# ---- rsync ------------------------------------------------------------------------------------

class RsyncLoop:
    """A secondary as cron would keep it: `rsync -a --delete` into `dst`, then RSYNC_PERIOD
    of sleep, until stopped; records (end time, bytes) of every run."""

    def __init__(self, url, dst):
        self.url, self.dst = url, dst
        self.runs = []
        self.stop = threading.Event()
        os.makedirs(dst, exist_ok=True)
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            proc = subprocess.run(["rsync", "-a", "--delete", "--stats", self.url, self.dst + "/"],
                                  capture_output=True, text=True, timeout=120)
            if proc.returncode == 0:
                self.runs.append((time.monotonic(), stats_bytes(proc.stdout)))
            self.stop.wait(RSYNC_PERIOD)

    def close(self):
        self.stop.set()
        self.thread.join(130)


def bench_rsync(args, counts, work):
    src = os.path.join(work, "rsync-src")
    generate(src, args.files, random.Random(2026))
    loops = []
    res = {"latency": {}, "idle": None}
    with rsync_daemon(src, work, "docs") as (daemon, url):
        try:
            for n in counts:
                while len(loops) < n:
                    loops.append(RsyncLoop(url, os.path.join(work, f"rsync-dst{len(loops)}")))
                wait_until(lambda: all(lp.runs for lp in loops), 300, 0.1,
                           what="first rsync runs")
                copies = [lp.dst for lp in loops]
                # The file is in place once rsync renamed it: what a static httpd would serve.
                res["latency"][n] = summarise(latency_rounds(
                    f"rsync{n}", src, copies, lambda i, name, body: True, args.rounds,
                    lambda: time.sleep(SETTLE_SECONDS)))
                print(f"rsync, {n} loops: {fmt_latency(res['latency'][n])}", flush=True)
            time.sleep(2 * RSYNC_PERIOD)  # the last round's file is in every copy: runs are idle
            res["idle"] = rsync_idle_window(args, daemon, loops)
            return res
        finally:
            for lp in loops:
                lp.close()


def rsync_idle_window(args, daemon, loops):
    """The daemon's CPU (with its per-connection children) and the --stats bytes of the runs
    that ended within --idle-seconds."""
    cpu0, kids0 = cpu_seconds([daemon.pid]), children_cpu()
    t0 = time.monotonic()
    time.sleep(args.idle_seconds)
    cpu1, kids1, t1 = cpu_seconds([daemon.pid]), children_cpu(), time.monotonic()
    runs = [b for lp in loops for (t, b) in lp.runs if t0 <= t < t1]
    print(f"rsync idle, {len(loops)} loops, {t1 - t0:.1f} s: daemon CPU {cpu1 - cpu0:.3f} s, "
          f"{len(runs)} runs, {sum(runs)} B", flush=True)
    return {"secondaries": len(loops), "seconds": t1 - t0, "primary_cpu": cpu1 - cpu0,
            "client_cpu": kids1 - kids0, "requests": len(runs), "bytes": sum(runs)}


def children_cpu():
    """CPU time of this process's waited-for children (the rsync clients)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


# ---- report -----------------------------------------------------------------------------------

def fmt_latency(s):
    return (f"every secondary: median {s['all_median'] * 1000:.0f} ms, max "
            f"{s['all_max'] * 1000:.0f} ms; first: median {s['first_median'] * 1000:.0f} ms")


def per_secondary_minute(value, idle):
    return value / idle["secondaries"] * 60.0 / idle["seconds"]


def net_primary_cpu(idle, baseline):
    """The primary's CPU in `idle` less what it spends alone (rescans, the MPM's timers) in as
    long."""
    return idle["primary_cpu"] - baseline["primary_cpu"] * idle["seconds"] / baseline["seconds"]


def report(args, d, r, counts):
    print("\ncommand: " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print(f"tree: {args.files} files (100 B … 8 KiB); secondaries' DocSyncLongPoll "
          f"{args.long_poll} (the primary's default 25s caps it); rounds per N: {args.rounds}\n")
    print("| measure | mod_docsync | rsync daemon, 1 s loop |")
    print("| --- | --- | --- |")
    for n in counts:
        dl = d["latency"][n]
        rl = r["latency"][n] if r else None
        print(f"| new file served by every one of {n} secondar{'y' if n == 1 else 'ies'}: median "
              f"(max) | {dl['all_median'] * 1000:.0f} ms ({dl['all_max'] * 1000:.0f} ms) | "
              + (f"{rl['all_median'] * 1000:.0f} ms ({rl['all_max'] * 1000:.0f} ms)" if rl
                 else "—") + " |")
    for n in counts:
        dl = d["latency"][n]
        rl = r["latency"][n] if r else None
        print(f"| … by the first of {n}: median | {dl['first_median'] * 1000:.0f} ms | "
              + (f"{rl['first_median'] * 1000:.0f} ms" if rl else "—") + " |")
    idle, base = d["idle"], d["baseline"]
    gross = per_secondary_minute(idle["primary_cpu"], idle)
    net = per_secondary_minute(net_primary_cpu(idle, base), idle)
    n = idle["secondaries"]
    rsync_cpu = rsync_bytes = rsync_req = rsync_client = "—"
    if r:
        ri = r["idle"]
        rsync_cpu = f"{per_secondary_minute(ri['primary_cpu'], ri) * 1000:.1f} ms"
        rsync_bytes = f"{per_secondary_minute(ri['bytes'], ri):,.0f} B"
        rsync_req = f"{per_secondary_minute(ri['requests'], ri):.1f} runs"
        rsync_client = f"{per_secondary_minute(ri['client_cpu'], ri) * 1000:.1f} ms"
    print(f"| primary CPU per idle secondary per minute ({n} idle, {idle['seconds']:.0f} s), "
          f"utime+stime | {net * 1000:.1f} ms (gross {gross * 1000:.1f} ms; the primary alone: "
          f"{base['primary_cpu'] * 1000:.0f} ms in {base['seconds']:.0f} s) | {rsync_cpu} |")
    if idle["primary_run_time"] is not None and base["primary_run_time"] is not None:
        net_run = idle["primary_run_time"] - base["primary_run_time"] * idle["seconds"] / \
            base["seconds"]
        print(f"| … the same from schedstat (ns, live threads) | "
              f"{per_secondary_minute(net_run, idle) * 1000:.2f} ms (gross "
              f"{per_secondary_minute(idle['primary_run_time'], idle) * 1000:.2f} ms; alone: "
              f"{base['primary_run_time'] * 1000:.1f} ms) | — |")
    print(f"| bytes per idle secondary per minute (both directions, headers included) | "
          f"{per_secondary_minute(idle['bytes'], idle):,.0f} B | {rsync_bytes} |")
    print(f"| requests per idle secondary per minute | "
          f"{per_secondary_minute(idle['requests'], idle):.1f} long polls | {rsync_req} |")
    if d.get("waiting"):
        w = d["waiting"]
        extra = statistics.median(w["with"]) - statistics.median(w["without"])
        per_minute = extra / w["held"] * 60.0 / w["seconds"]
        print(f"| … of which waiting alone (a long poll that is not answered: {w['held']} held "
              f"{w['seconds']:.0f} s, against none; schedstat) | {per_minute * 1000:.2f} ms | — |")
    if d.get("outage"):
        o = d["outage"]
        print(f"| every one of {n} secondaries serves a file written while the primary was down "
              f"({o['seconds_down']:.0f} s), after its return | {max(o['times']):.1f} s (first "
              f"{min(o['times']):.1f} s) | not measured |")
    print(f"| the secondary's own CPU per idle minute | "
          f"{per_secondary_minute(idle['sync_cpu'], idle) * 1000:.1f} ms (sync process) | "
          f"{rsync_client} (rsync client) |")
    print(f"\nCPU from /proc in clock ticks of {1000 // os.sysconf('SC_CLK_TCK')} ms; "
          f"load average at the end: {os.getloadavg()[0]:.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="build directory holding modules/")
    ap.add_argument("--secondaries", default="1,7", help="the N to measure, e.g. 1,7")
    ap.add_argument("--rounds", type=int, default=7, help="new files per N")
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--files", type=int, default=1000, help="files in the synced tree")
    ap.add_argument("--long-poll", default="25s", help="the secondaries' DocSyncLongPoll")
    ap.add_argument("--wait-cost-seconds", type=float, default=20.0,
                    help="window for the cost of waiting alone (held long polls; 0: skip); "
                         "below the primary's DocSyncLongPoll (25 s), which ends the waits")
    ap.add_argument("--outage-seconds", type=float, default=20.0,
                    help="how long the primary is stopped for the catch-up figure (0: skip)")
    ap.add_argument("--no-rsync", action="store_true", help="skip the rsync anchor")
    ap.add_argument("--verbose", action="store_true", help="print every round's times")
    ap.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    args = ap.parse_args()
    counts = sorted({int(x) for x in args.secondaries.split(",")})
    if args.wait_cost_seconds >= PRIMARY_LONG_POLL_SECONDS - 1:
        ap.error(f"--wait-cost-seconds must be below {PRIMARY_LONG_POLL_SECONDS - 1}")
    httpd.use_module_dir(os.path.abspath(os.path.join(HERE, "..", args.build, "modules")))
    work = tempfile.mkdtemp(prefix="docsync-fanout-")
    os.chmod(work, 0o755)
    try:
        d = bench_docsync(args, counts)
        r = None if args.no_rsync or not shutil.which("rsync") else bench_rsync(args, counts, work)
        report(args, d, r, counts)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"docsync": d, "rsync": r}, f)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
