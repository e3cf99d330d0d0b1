#!/usr/bin/env python3
"""Alternating A/B pairs of bench/docsync.py: build A, build B, A, B, ... (each run has its own
rsync run beside it), then medians, ranges and the per-pair B/A ratios. For a loaded machine:
the pairs see similar load, single runs do not.

    python3 bench/docsync_ab.py --a /work/wt/docsync-old/build-bench --b build-bench --pairs 5
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MEASURES = ["initial", "onebyte", "newfile", "nochange"]


def run(build, extra):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, os.path.join(HERE, "docsync.py"), "--build",
                        os.path.abspath(build), "--json", out.name, *extra], check=True,
                       stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def spread(values):
    return f"{statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", required=True, help="build directory of the reference")
    ap.add_argument("--b", required=True, help="build directory of the candidate")
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--raw", help="append every run's figures to this JSON-lines file")
    args, extra = ap.parse_known_args()
    runs = {"a": [], "b": []}
    for i in range(args.pairs):
        for side in ("a", "b"):
            res = run(getattr(args, side), extra)
            runs[side].append(res)
            if args.raw:
                with open(args.raw, "a") as f:
                    f.write(json.dumps({"side": side, "pair": i, **res}) + "\n")
            d, r = res["docsync"], res["rsync"]
            print(f"pair {i} {side}: initial {d['initial'][0]:.3f} (rsync {r['initial'][0]:.3f}), "
                  f"1-byte {d['onebyte'][0]:.3f} {d['onebyte'][1]} B (rsync {r['onebyte'][0]:.3f} "
                  f"{r['onebyte'][1]} B), new file {d['newfile'][0]:.3f}, no-change "
                  f"{d['nochange'][1]:.0f} B", flush=True)
    print(f"\n{args.pairs} pairs, A = {args.a}, B = {args.b}, medians (range)")
    for m in MEASURES:
        a = [x["docsync"][m][0] for x in runs["a"]]
        b = [x["docsync"][m][0] for x in runs["b"]]
        rs = [x["rsync"][m][0] for x in runs["a"] + runs["b"]]
        ratios = [y / x for x, y in zip(a, b) if x > 0]
        ab = [x["docsync"][m][1] for x in runs["a"]]
        bb = [x["docsync"][m][1] for x in runs["b"]]
        rb = [x["rsync"][m][1] for x in runs["a"] + runs["b"]]
        print(f"{m:9} A {spread(a)} s | B {spread(b)} s | rsync {spread(rs)} s | "
              f"B/A pairs median {statistics.median(ratios) if ratios else float('nan'):.2f} | "
              f"bytes A {statistics.median(ab) if ab[0] is not None else '-'} "
              f"B {statistics.median(bb) if bb[0] is not None else '-'} "
              f"rsync {statistics.median(rb) if rb[0] is not None else '-'}")


if __name__ == "__main__":
    main()
