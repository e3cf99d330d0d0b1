#!/usr/bin/env python3
"""Peak memory (VmHWM) of the secondary's sync process for one huge manifest (issue 9, finding 5).

A small python "primary" on 127.0.0.1 serves a full manifest of N entries (1,000 directories,
the rest files) and answers every file with an error frame, so the round plans everything and
writes nothing but the directories. The secondary is the real httpd with mod_docsync from
SUITE_MODULE_DIR; the figure is VmHWM of its docsync-sync process once the round is over.

    PYTHONPATH=tests SUITE_MODULE_DIR=build/modules \\
        python3 bench/docsync_manifest_rss.py --entries 1000000 --options max-files=1000000

(--options: extra DocSyncSource options; the module of an older build may not know them.)
Nothing here is a pass/fail test.
"""
import argparse
import hashlib
import os
import time

from suite_harness.docsync import new_secondary, status_json
from suite_harness.fake_primary import HostilePrimary
from suite_harness.waiting import wait_until


def big_manifest(entries):
    dirs = 1000
    per_dir = max(1, (entries - dirs) // dirs)
    sha = hashlib.sha256(b"0123456789").hexdigest()
    lines = []
    for d in range(dirs):
        lines.append(f"d 755 0 1000000000 - dir{d:04d}\n")
        for f in range(per_dir):
            lines.append(f"f 644 10 1000000000 {sha} dir{d:04d}/page-{f:07d}.html\n")
    return (f"DSM1 {len(lines)}\n" + "".join(lines)).encode()


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--options", nargs="*", default=[])
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    evil = HostilePrimary()
    text = big_manifest(args.entries)
    evil.manifest = text
    evil.files = lambda paths: [("E", "no") for _ in paths]
    secondary, dirs = new_secondary(evil.port, [("big", "htdocs/synced", args.options)])
    os.makedirs(dirs["big"])
    try:
        secondary.start()
        # The sync worker is the privileged helper's child, not httpd's: the status page names it.
        pid = wait_until(lambda: status_json(secondary)["sync_child_pid"], what="sync process",
                         ignore=(OSError,))
        t0 = time.monotonic()

        def round_over():
            # A round that ran (its counters are written), one refused by a limit, or a
            # manifest refused before any round.
            st = status_json(secondary)["sources"][0]
            done = (st["rounds"] >= 1 or st["result"] == "refused"
                    or st["last_error"].startswith("rejected manifest"))
            return st if done else None

        st = wait_until(round_over, timeout=args.timeout, step=0.5, what="the round")
        print(f"manifest: {len(text)} bytes, {args.entries} entries; options {args.options}")
        print(f"round: result {st['result']} after {time.monotonic() - t0:.1f} s; "
              f"{st['last_error'][:120]!r}")
        print(f"docsync-sync VmHWM: {vm_hwm_kib(pid) / 1024:.0f} MiB")
    finally:
        secondary.cleanup()
        evil.close()


if __name__ == "__main__":
    main()
