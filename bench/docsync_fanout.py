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

With --restart-loop SECONDS it measures only this instead:

  restart loop      a primary with a small worker pool (--workers, default 20: one mpm_event
                    child, MaxRequestWorkers 20) and --secondaries' largest N (7) real
                    secondaries, each stopped and started over and over (its httpd and sync
                    process: a node redeployed or crash-looping; staggered, all in parallel,
                    up --restart-up s between restarts) for SECONDS, while a prober GETs an
                    ordinary page from the primary every 100 ms (3 s timeout) and mod_status'
                    BusyWorkers is read every 250 ms. A page edited halfway must reach every
                    secondary. Run once per --caps value (default: the module's 25%, then the
                    loosest it accepts, MaxRequestWorkers - 1) and, with --uncapped-build (a
                    build with -DDOCSYNC_BENCH_WITHOUT_LONG_POLL_CAP, which docsync_fanout.sh
                    makes), once without any cap: side by side.

Every secondary has one source (the docroot: one long poll); a node that also syncs its conf
holds two. Prints a table and the command line; nothing here is a pass/fail test.

    bash bench/docsync_fanout.sh [--idle-seconds 60] [--rounds 7] [--no-rsync]
    bash bench/docsync_fanout.sh --restart-loop 30 [--workers 20] [--caps 25%,19]
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
from suite_harness.docsync_fanout import (ORDINARY_PAGE, SYNCED_DOCS, SYNCED_URL_PREFIX,
                                          PageProber, RestartLoop, busy_workers, cpu_seconds,
                                          new_fanout_primary, new_fanout_secondary, pids_with,
                                          run_time_seconds, serves, small_worker_pool,
                                          with_server_status)
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


# ---- secondaries restarting in a loop -----------------------------------------------------------

RESTART_PROBE_PERIOD = 0.1
RESTART_PROBE_TIMEOUT = 3.0
BUSY_SAMPLE_PERIOD = 0.25
AFTER_LOOP_SECONDS = 5.0


class BusySampler:
    """mod_status' BusyWorkers every BUSY_SAMPLE_PERIOD s (a sample that got no answer within
    a second counts as every worker busy: the status request found none)."""

    def __init__(self, primary, workers, max_seconds):
        self.primary, self.workers, self.max_seconds = primary, workers, max_seconds
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            busy = busy_workers(self.primary)
            self.samples.append(self.workers if busy is None else busy)
            self._stop.wait(BUSY_SAMPLE_PERIOD)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)


def restart_loop_run(args, label, cap, modules, n):
    """One window of SECONDS: `n` secondaries restarting in a loop against a primary with
    `args.workers` workers and DocSyncExportMaxLongPolls `cap` (None: the module's default)."""
    httpd.use_module_dir(modules)
    primary, dirs = new_fanout_primary(["docs"], servers=1, rescan=None)
    extra = with_server_status(primary)
    if cap is not None:
        extra += f"DocSyncExportMaxLongPolls {cap}\n"
    primary.write_config(primary.body + extra)
    small_worker_pool(primary, args.workers)
    with open(os.path.join(primary.root, "htdocs", "page.html"), "wb") as f:
        f.write(ORDINARY_PAGE)
    src = dirs["docs"]
    generate(src, min(args.files, 200), random.Random(2026))
    secondaries = []
    try:
        primary.start(timeout=120)
        for i in range(n):
            sec, _ = new_fanout_secondary(primary.port, i, ("docs",), long_poll=args.long_poll)
            secondaries.append(sec)
            sec.start(timeout=60)
        for sec in secondaries:
            wait_until(lambda: serves(sec, f"{SYNCED_URL_PREFIX}/d000/f00000.html",
                                      open(os.path.join(src, "d000", "f00000.html"), "rb").read()),
                       300, 0.1, what=f"{sec.name} synced")
        time.sleep(1.0)
        edited, body = "edited-during-the-loop.html", f"<p>{label} {random.random()}</p>\n".encode()
        began = time.monotonic()
        with PageProber(primary.port, period=RESTART_PROBE_PERIOD, timeout=RESTART_PROBE_TIMEOUT,
                        max_seconds=args.restart_loop + 200) as prober, \
                BusySampler(primary, args.workers, args.restart_loop + 200) as busy:
            synced = []
            watcher = threading.Thread(target=lambda: synced.extend(watch_copies(
                [os.path.join(s.root, SYNCED_DOCS) for s in secondaries], edited, body,
                time.monotonic(), lambda i: serves(secondaries[i],
                                                   f"{SYNCED_URL_PREFIX}/{edited}", body))),
                daemon=True)
            with RestartLoop(secondaries, args.restart_loop, up=args.restart_up,
                             most_restarts=args.most_restarts) as loop:
                time.sleep(args.restart_loop / 2)
                write_new_file(src, edited, body)
                watcher.start()
                loop.wait()
            loop_seconds = time.monotonic() - began
            in_loop = len(prober.results)
            watcher.join(ROUND_TIMEOUT + 10)
            # Every secondary up again and polling: the steady state the loop leaves.
            time.sleep(AFTER_LOOP_SECONDS)
        after = prober.results[in_loop:]
        # Uncapped, the status request may find every worker held by a long poll.
        lp = wait_until(lambda: h.status_json(primary)["long_polls"], 30, 0.5,
                        what="the primary's status", ignore=(OSError,), raise_on_timeout=False)
        lp = lp or {k: None for k in ("cap", "peak", "refused", "client_gone")}
        lat = sorted(t for _, t, _ in prober.results[:in_loop])
        samples = sorted(busy.samples)
        res = {"label": label, "cap": lp["cap"], "workers": args.workers, "secondaries": n,
               "seconds": loop_seconds, "restarts": sum(loop.restarts),
               "restart_errors": loop.errors, "probes": len(lat),
               "failed": sum(1 for ok, _, _ in prober.results[:in_loop] if not ok),
               "after_probes": len(after), "after_failed": sum(1 for ok, _, _ in after if not ok),
               "p50_ms": 1000 * statistics.median(lat), "p99_ms": 1000 * lat[
                   min(len(lat) - 1, int(0.99 * len(lat)))], "max_ms": 1000 * lat[-1],
               "busy_median": statistics.median(samples) if samples else None,
               "busy_max": samples[-1] if samples else None,
               "busy_all": sum(1 for b in samples if b >= args.workers),
               "busy_samples": len(samples), "long_polls": lp,
               "synced_after": None if not synced or None in synced else max(synced)}
        print(f"{label}: {res['restarts']} restarts in {loop_seconds:.1f} s, {res['probes']} "
              f"probes, {res['failed']} failed (after it: {res['after_failed']} of "
              f"{res['after_probes']}), p50 {res['p50_ms']:.0f} ms, p99 "
              f"{res['p99_ms']:.0f} ms, max {res['max_ms']:.0f} ms; BusyWorkers median "
              f"{res['busy_median']}, max {res['busy_max']} of {args.workers}; long polls peak "
              f"{lp['peak']}, refused {lp['refused']}, client gone {lp['client_gone']}; edited "
              f"page on every secondary "
              + (f"{res['synced_after']:.1f} s after the edit" if res["synced_after"] is not None
                 else f"NOT within {ROUND_TIMEOUT:.0f} s"), flush=True)
        return res
    finally:
        for sec in secondaries:
            sec.cleanup()
        primary.cleanup()


def restart_loop_bench(args, counts):
    n = max(counts)
    modules = os.path.abspath(os.path.join(HERE, "..", args.build, "modules"))
    caps = [c.strip() for c in args.caps.split(",") if c.strip()] if args.caps else \
        [None, str(args.workers - 1)]
    variants = [(f"DocSyncExportMaxLongPolls {c or '25% (default)'}", c, modules) for c in caps]
    if args.uncapped_build:
        variants.append(("no cap (bench build)", None, os.path.abspath(
            os.path.join(HERE, "..", args.uncapped_build, "modules"))))
    runs = [restart_loop_run(args, label, cap, mods, n) for label, cap, mods in variants]
    print("\ncommand: " + " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv))
    print(f"primary: one mpm_event child, MaxRequestWorkers {args.workers}; {n} secondaries "
          f"restarted (httpd stop + start) for {args.restart_loop:.0f} s, up {args.restart_up} "
          f"s between restarts (0.5-1.25x, staggered); probe every "
          f"{RESTART_PROBE_PERIOD * 1000:.0f} ms, {RESTART_PROBE_TIMEOUT:.0f} s timeout\n")
    print("| measure | " + " | ".join(r["label"] + f": cap {r['cap']}" if r["cap"] is not None
                                      and r["cap"] < 1 << 31 else r["label"] for r in runs) + " |")
    print("| --- |" + " --- |" * len(runs))
    rows = [("secondary restarts done", lambda r: f"{r['restarts']}"),
            ("probes in the loop / failed", lambda r: f"{r['probes']} / {r['failed']}"),
            (f"… in the {AFTER_LOOP_SECONDS:.0f} s after the loop (every secondary up): probes "
             "/ failed", lambda r: f"{r['after_probes']} / {r['after_failed']}"),
            ("probe latency in the loop: median / p99 / max",
             lambda r: f"{r['p50_ms']:.0f} / {r['p99_ms']:.0f} / {r['max_ms']:.0f} ms"),
            ("BusyWorkers median / max (samples with all busy)",
             lambda r: f"{r['busy_median']} / {r['busy_max']} ({r['busy_all']} of "
                       f"{r['busy_samples']})"),
            ("long polls: peak waiting / refused / client gone",
             lambda r: f"{r['long_polls']['peak']} / {r['long_polls']['refused']} / "
                       f"{r['long_polls']['client_gone']}" if r["long_polls"]["peak"] is not None
             else "no answer from the status page within 30 s"),
            ("page edited halfway served by every secondary, after the edit",
             lambda r: f"{r['synced_after']:.1f} s" if r["synced_after"] is not None
             else f"not within {ROUND_TIMEOUT:.0f} s")]
    for name, cell in rows:
        print(f"| {name} | " + " | ".join(cell(r) for r in runs) + " |")
    errors = [e for r in runs for e in r["restart_errors"]]
    if errors:
        print(f"\n{len(errors)} restarts failed, e.g. {errors[0][:300]}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    return runs


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
    ap.add_argument("--restart-loop", type=float, metavar="SECONDS",
                    help="measure only secondaries restarting in a loop, for SECONDS (<= 600)")
    ap.add_argument("--restart-up", type=float, default=1.0,
                    help="restart loop: seconds a secondary stays up between restarts")
    ap.add_argument("--most-restarts", type=int, default=200,
                    help="restart loop: at most this many restarts per secondary")
    ap.add_argument("--workers", type=int, default=20,
                    help="restart loop: the primary's MaxRequestWorkers (one child)")
    ap.add_argument("--caps", help="restart loop: DocSyncExportMaxLongPolls values to compare "
                                   "(default: the module's default, then workers - 1)")
    ap.add_argument("--uncapped-build", help="restart loop: also run with this build "
                                             "(-DDOCSYNC_BENCH_WITHOUT_LONG_POLL_CAP)")
    args = ap.parse_args()
    counts = sorted({int(x) for x in args.secondaries.split(",")})
    if args.wait_cost_seconds >= PRIMARY_LONG_POLL_SECONDS - 1:
        ap.error(f"--wait-cost-seconds must be below {PRIMARY_LONG_POLL_SECONDS - 1}")
    httpd.use_module_dir(os.path.abspath(os.path.join(HERE, "..", args.build, "modules")))
    if args.restart_loop is not None:
        if not 0 < args.restart_loop <= 600 or args.workers < 2:
            ap.error("--restart-loop takes 0 < SECONDS <= 600, --workers at least 2")
        runs = restart_loop_bench(args, counts)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(runs, f)
        return
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
