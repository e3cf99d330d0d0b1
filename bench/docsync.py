#!/usr/bin/env python3
"""mod_docsync against an rsync daemon, same machine, same generated tree, same run.

Tree: 20,000 small files (100 B .. 8 KiB, in 200 directories) and one 64 MiB file (--big-mib
to change it, e.g. 1024), generated
in a temp dir. docsync: a primary and a secondary httpd (Debian's apache2, mpm_event) on
127.0.0.1; rsync: `rsync -a --delete --stats rsync://127.0.0.1:<port>/bench/ <dst>/` against an
`rsync --daemon` on 127.0.0.1. Measured:
  initial sync      empty destination → identical tree
  no-change round   docsync: one manifest long-poll answered 304 (bytes per poll, both ways,
                    headers included; time of a poll answered at once); rsync: a second run
  1-byte change     one byte flipped in the middle of the big file
  new-file latency  write a small file on the primary → secondary serves it over HTTP (median
                    of 10); rsync has no push: a cron job waits up to its period (60 s) plus
                    one run, shown as the run time alone
Prints a table; nothing here is a pass/fail test.

    bash bench/docsync.sh            (builds, then runs this)
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

from suite_harness import docsync as h
from suite_harness import httpd
from suite_harness.httpd import HttpdInstance
from suite_harness.rsync_daemon import rsync_daemon, stats_bytes
from suite_harness.waiting import wait_until

HERE = os.path.dirname(os.path.abspath(__file__))

SMALL_FILES = 20_000
DIRS = 200
BIG_BYTES = 64 << 20
LATENCY_SAMPLES = 10


def generate(root, rng):
    for d in range(DIRS):
        os.makedirs(os.path.join(root, f"d{d:03d}"))
    for i in range(SMALL_FILES):
        size = rng.randint(100, 8192)
        with open(os.path.join(root, f"d{i % DIRS:03d}", f"f{i:05d}.html"), "wb") as f:
            f.write(rng.randbytes(size))
    with open(os.path.join(root, "big.bin"), "wb") as f:
        for _ in range(BIG_BYTES // (1 << 20)):
            f.write(rng.randbytes(1 << 20))
    os.system(f"chmod -R a+rX '{root}'")


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


def tree_digest(root):
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if name.startswith(".docsync-tmp-"):
                continue
            h.update(os.path.relpath(full, root).encode())
            h.update(file_digest(full))
    return h.hexdigest()


def cpu_ticks(marker):
    """CPU time (clock ticks) of the processes whose command line contains `marker`."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() not in f.read():
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError, ValueError):
            continue
    return total


def wait_idle(marker, quiet=0.5, timeout=120):
    """Until the processes of `marker` used no CPU for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last = cpu_ticks(marker)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_ticks(marker)
        if now == last:
            return
        last = now


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))


# ---- rsync --------------------------------------------------------------------------------

def bench_rsync(src, work):
    with rsync_daemon(src, work) as (_, url):
        dst = os.path.join(work, "rsync-dst")
        os.makedirs(dst)

        def run():
            t0 = time.monotonic()
            out = subprocess.run(["rsync", "-a", "--delete", "--stats", url, dst + "/"],
                                 capture_output=True, text=True, check=True).stdout
            return time.monotonic() - t0, stats_bytes(out)

        res = {"initial": run(), "nochange": run()}
        flip_byte(os.path.join(src, "big.bin"), BIG_BYTES // 2 + 12345)
        res["onebyte"] = run()
        assert tree_digest(src) == tree_digest(dst), "rsync copy differs"
        with open(os.path.join(src, "rsync-new.html"), "w") as f:
            f.write("new\n")
        res["newfile"] = run()
        os.unlink(os.path.join(src, "rsync-new.html"))
        return res


# ---- docsync ------------------------------------------------------------------------------

def bench_docsync(src, module_dir, work):
    httpd.use_module_dir(module_dir)

    for sub in ("primary", "secondary"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    # Two children from the start: with one, mpm_event starts a second as soon as the
    # secondary's long poll holds a thread (MinSpareThreads), and that child's own first scan
    # (it hashes the whole tree) ran into the measured sync in some runs, not in others.
    primary = HttpdInstance("bench-primary", "", suite_modules=["docsync"], servers=2,
                            root=os.path.join(work, "primary"))
    secondary = None
    try:
        secret = h.write_secret(os.path.join(primary.root, "conf"))
        primary.write_config(h.primary_body(primary.root, secret, {"bench": src}))
        primary.start(timeout=120)
        # The primary has hashed the tree once it answers a manifest request.
        wait_until(lambda: h.signed_request(primary.port, "GET", "/.docsync/bench/manifest")[0]
                   == 200, 120, 0.1)
        wait_idle(primary.root)  # every child has finished its first scan
        secondary = HttpdInstance("bench-secondary", "", suite_modules=["docsync"], servers=1,
                                  root=os.path.join(work, "secondary"))
        dst = os.path.join(secondary.root, "htdocs", "synced")
        ssecret = h.write_secret(os.path.join(secondary.root, "conf"))
        secondary.write_config(h.secondary_body(
            ssecret, [[f"http://127.0.0.1:{primary.port}/.docsync/bench", f'"{dst}"']],
            long_poll="2s"))

        def source():
            try:
                return h.status_json(secondary)["sources"][0]
            except Exception:
                return None

        t0 = time.monotonic()
        secondary.start(timeout=60)
        st = wait_until(lambda: (lambda s: s if s and s["rounds"] >= 1 and s["result"] == "ok"
                                 else None)(source()), 300, step=0.01)
        initial_time = time.monotonic() - t0
        initial_bytes = st["bytes_received"] + st["bytes_sent"]
        assert tree_digest(src) == tree_digest(dst), "docsync copy differs"

        # No-change rounds: long polls that time out (DocSyncLongPoll 2s) and get a 304.
        before = source()
        time.sleep(7)
        after = source()
        polls = after["polls"] - before["polls"]
        nochange_bytes = ((after["bytes_received"] + after["bytes_sent"]) -
                          (before["bytes_received"] + before["bytes_sent"])) / max(polls, 1)
        etag = h.signed_request(primary.port, "GET", "/.docsync/bench/manifest")[2]["ETag"]
        times = []
        for _ in range(5):
            t = time.monotonic()
            status = h.signed_request(primary.port, "GET", "/.docsync/bench/manifest?wait=0",
                                      extra={"If-None-Match": etag})[0]
            times.append(time.monotonic() - t)
            assert status == 304
        nochange_time = statistics.median(times)

        # One byte in the big file.
        before = source()
        t0 = time.monotonic()
        flip_byte(os.path.join(src, "big.bin"), BIG_BYTES // 2 + 12345)
        st = wait_until(lambda: (lambda s: s if s["rounds"] > before["rounds"] else None)(source()),
                        120, step=0.01)
        onebyte_time = time.monotonic() - t0
        onebyte_bytes = st["last_bytes"]
        assert file_digest(os.path.join(src, "big.bin")) == file_digest(
            os.path.join(dst, "big.bin")), "docsync copy of big.bin differs"

        # New small file → served by the secondary.
        latencies = []
        for i in range(LATENCY_SAMPLES):
            name = f"latency-{i}.html"
            t0 = time.monotonic()
            with open(os.path.join(src, name), "w") as f:
                f.write(f"new file {i}\n")
            wait_until(lambda: h.request(secondary.port, "GET", f"/synced/{name}")[0] == 200, 30,
                       0.005)
            latencies.append(time.monotonic() - t0)
            time.sleep(0.3)
        for i in range(LATENCY_SAMPLES):
            os.unlink(os.path.join(src, f"latency-{i}.html"))
        return {"initial": (initial_time, initial_bytes),
                "nochange": (nochange_time, nochange_bytes),
                "onebyte": (onebyte_time, onebyte_bytes),
                "newfile": (statistics.median(latencies), None),
                "newfile_max": max(latencies)}
    finally:
        if secondary:
            secondary.cleanup()
        primary.cleanup()


def fmt_bytes(n):
    if n is None:
        return "-"
    return f"{n / 1000:,.1f} KB" if n >= 1000 else f"{n:.0f} B"


def main():
    global BIG_BYTES
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--workdir", default="/dev/shm" if os.path.isdir("/dev/shm") else None,
                    help="where the trees live (default tmpfs, so the file system's inode "
                         "allocation does not dominate both sides; pass /tmp for disk)")
    ap.add_argument("--order", choices=["docsync-first", "rsync-first"], default="docsync-first")
    ap.add_argument("--big-mib", type=int, default=BIG_BYTES >> 20,
                    help="size of the big file in MiB (default 64)")
    ap.add_argument("--json", metavar="FILE",
                    help="also write the figures to FILE (for runs of alternating A/B pairs)")
    args = ap.parse_args()
    BIG_BYTES = args.big_mib << 20
    module_dir = os.path.abspath(os.path.join(HERE, "..", args.build, "modules"))
    work = tempfile.mkdtemp(prefix="docsync-bench-", dir=args.workdir)
    os.chmod(work, 0o755)
    try:
        src = os.path.join(work, "src")
        os.makedirs(src)
        t = time.monotonic()
        generate(src, random.Random(2024))
        print(f"generated {SMALL_FILES} small files + {BIG_BYTES >> 20} MiB file in "
              f"{time.monotonic() - t:.1f} s", flush=True)
        # docsync first, then rsync: file creation on a file system that just deleted many
        # inodes is slower (ext4 checks recently deleted inodes), so neither side runs right
        # after the other's cleanup. --order lets you check that the order does not decide.
        if args.order == "rsync-first":
            r = bench_rsync(src, work)
            d = bench_docsync(src, module_dir, work)
        else:
            d = bench_docsync(src, module_dir, work)
            r = bench_rsync(src, work)
        rows = [
            ("initial sync", r["initial"], d["initial"]),
            ("no-change round", r["nochange"], d["nochange"]),
            (f"1-byte change in {BIG_BYTES >> 20} MiB", r["onebyte"], d["onebyte"]),
        ]
        print()
        print(f"| {'measure':<26} | {'rsync daemon':>24} | {'mod_docsync':>24} |")
        print(f"|{'-' * 28}|{'-' * 26}|{'-' * 26}|")
        for name, (rt, rb), (dt, db) in rows:
            print(f"| {name:<26} | {rt:8.3f} s {fmt_bytes(rb):>13} | "
                  f"{dt:8.3f} s {fmt_bytes(db):>13} |")
        print(f"| {'new small file served':<26} | {'cron period + ' + format(r['newfile'][0], '.2f') + ' s':>24} | "
              f"{format(d['newfile'][0], '.3f') + ' s median':>24} |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"rsync": r, "docsync": d, "big_mib": BIG_BYTES >> 20}, f)
        print(f"\ntrees in {work} ({args.order}); new-file latency max of {LATENCY_SAMPLES}: {d['newfile_max']:.3f} s; "
              "bytes are both directions incl. HTTP headers (docsync) / rsync --stats totals")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
