#!/usr/bin/env python3
"""Do long polls starve a primary? (issue 15) A primary with few workers (MaxRequestWorkers 20,
mpm_event, 127.0.0.1) gets `--open` signed long polls that stay open and `--closed` whose
clients close right after sending (secondaries restarting, a network glitch), `--pace` s apart,
while a prober fetches an ordinary page every 100 ms (3 s timeout). Prints the probes, how many
failed and the probe latencies. `--modules` picks the build to measure, so a build without the
fix can be compared (the harness, tests/suite_harness, on PYTHONPATH as bench/common.sh sets it):

    bash bench/docsync_long_poll_starve.sh --runs 3
    PYTHONPATH=tests python3 bench/docsync_long_poll_starve.py --modules build/modules --runs 3
"""
import argparse
import json
import os
import socket
import statistics
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = b"<h1>an ordinary page</h1>\n"
PROBE_PERIOD = 0.1
PROBE_TIMEOUT = 3.0


def parse():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", default=os.path.join(HERE, "..", "build", "modules"),
                    help="directory holding mod_docsync.so")
    ap.add_argument("--closed", type=int, default=200)
    ap.add_argument("--open", type=int, default=3)
    ap.add_argument("--pace", type=float, default=0.03, help="seconds between closed polls")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--json", help="write the figures of every run here")
    return ap.parse_args()


def one_run(args):
    from suite_harness.constants import LOOPBACK
    from suite_harness.docsync import new_primary, request, signed_headers, signed_request

    primary, _ = new_primary(["docs"], extra="DocSyncLongPoll 20s")
    primary.threads = 5  # with the harness's ServerLimit 4: MaxRequestWorkers 20
    primary.write_config(primary.body)
    with open(os.path.join(primary.root, "htdocs", "page.html"), "wb") as f:
        f.write(PAGE)
    primary.start()
    held = []
    try:
        _, _, headers = signed_request(primary.port, "GET", "/.docsync/docs/manifest")
        etag = headers["ETag"]

        def long_poll():
            path = "/.docsync/docs/manifest?wait=20"
            h = signed_headers("GET", path)
            h["If-None-Match"] = etag
            text = f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
            s = socket.create_connection((LOOPBACK, primary.port), timeout=5)
            s.sendall(text.encode())
            return s

        held = [long_poll() for _ in range(args.open)]
        results = []  # (ok, seconds)
        stop = threading.Event()

        def prober():
            while not stop.is_set() and len(results) < 10_000:
                t = time.monotonic()
                try:
                    status, body, _ = request(primary.port, "GET", "/page.html",
                                              timeout=PROBE_TIMEOUT)
                    ok = status == 200 and body == PAGE
                except OSError:
                    ok = False
                results.append((ok, time.monotonic() - t))
                stop.wait(PROBE_PERIOD)

        th = threading.Thread(target=prober, daemon=True)
        began = time.monotonic()
        th.start()
        for _ in range(args.closed):
            long_poll().close()
            time.sleep(args.pace)
        time.sleep(1.0)
        stop.set()
        th.join(PROBE_TIMEOUT + 1)
        lat = sorted(s for _, s in results)
        return {"closed": args.closed, "open": args.open, "seconds": time.monotonic() - began,
                "probes": len(results), "failed": sum(1 for ok, _ in results if not ok),
                "probe_p50_ms": 1000 * statistics.median(lat) if lat else None,
                "probe_max_ms": 1000 * lat[-1] if lat else None}
    finally:
        for s in held:
            s.close()
        primary.cleanup()


def main():
    args = parse()
    os.environ["SUITE_MODULE_DIR"] = os.path.abspath(args.modules)
    runs = []
    for i in range(max(1, min(args.runs, 20))):
        r = one_run(args)
        runs.append(r)
        print(f"run {i + 1}: {r['probes']} probes, {r['failed']} failed, "
              f"p50 {r['probe_p50_ms']:.1f} ms, max {r['probe_max_ms']:.1f} ms, "
              f"over {r['seconds']:.1f} s ({r['closed']} closed, {r['open']} open long polls)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)


if __name__ == "__main__":
    main()
