#!/usr/bin/env python3
"""The suite, live: two web workers (loadfactor 3 and 7) behind a real httpd reverse proxy with
mod_balancer_traffic's lbmethod=bytraffic, a mixed load, and the split it produced.

Everything listens on 127.0.0.1 only and is removed on exit (also on Ctrl-C or failure).
"""
import argparse
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "balancer_traffic"))

import httpd_fixture  # noqa: E402
from cluster import MIXED_PATHS, byte_share, request_share, start_proxy  # noqa: E402
from httpd_fixture import Backend, LoadClient, free_port  # noqa: E402

LOADFACTORS = (3, 7)


def print_split(backends, since=0.0):
    shares, total_bytes = byte_share(backends, since)
    req_shares, total_requests = request_share(backends, since)
    target_total = sum(LOADFACTORS)
    print(f"  {'member':<28} {'loadfactor':>10} {'target':>7} {'requests':>9} {'share':>7}"
          f" {'bytes':>12} {'share':>7}")
    for i, b in enumerate(backends):
        requests = round(req_shares[i] * total_requests)
        nbytes = round(shares[i] * total_bytes)
        print(f"  {'http://127.0.0.1:%d' % b.port:<28} {LOADFACTORS[i]:>10}"
              f" {100 * LOADFACTORS[i] / target_total:>6.1f}% {requests:>9}"
              f" {100 * req_shares[i]:>6.1f}% {nbytes:>12} {100 * shares[i]:>6.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--requests", type=int, default=4000, help="requests in the load (default 4000)")
    ap.add_argument("--keep", action="store_true",
                    help="keep everything running (and a light load going) until Ctrl-C")
    args = ap.parse_args()
    httpd_fixture.SUITE_MODULE_DIR = os.path.join(os.path.abspath(args.build), "modules")

    started = []

    def cleanup(*_):
        for h in reversed(started):
            h.cleanup()
        started.clear()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        print("== starting two web workers (real httpd) on 127.0.0.1")
        backends = []
        for i in range(2):
            b = Backend(f"web{i + 1}")
            started.append(b)
            backends.append(b.start())
        print("== starting the reverse proxy (httpd + mod_balancer_traffic), as configured by:")
        for i, b in enumerate(backends):
            print(f"       BalancerMember http://127.0.0.1:{b.port} loadfactor={LOADFACTORS[i]}")
        print("       ProxySet lbmethod=bytraffic")
        proxy = start_proxy("proxy", [(b, f"loadfactor={lf} retry=1")
                                      for b, lf in zip(backends, LOADFACTORS)])
        started.append(proxy)
        base = f"http://127.0.0.1:{proxy.port}"
        print(f"   proxy:        {base}/app/  (balancer://cluster)")
        print(f"   status page:  {base}/traffic-status   (JSON: {base}/traffic-status?json)")
        print(f"   manager:      {base}/balancer-manager")
        print(f"== sending {args.requests} requests: 60% 1 KiB, 30% 10 KiB, 10% 100 KiB, 8 clients")
        t0 = time.time()
        results = LoadClient(proxy.port, MIXED_PATHS, threads=8, max_requests=args.requests,
                             max_seconds=60).run()
        ok = sum(1 for r in results if r[1] == 200)
        print(f"   {ok}/{len(results)} answered 200 in {time.time() - t0:.1f} s")
        time.sleep(0.3)
        print("== the split, as the web workers logged it (bytes both ways):")
        print_split(backends)
        if args.keep:
            print("== running until Ctrl-C (a light load keeps going; watch the status page)")
            while True:
                LoadClient(proxy.port, MIXED_PATHS, threads=2, max_requests=200,
                           max_seconds=5).run()
                time.sleep(1)
    except KeyboardInterrupt:
        print("\n== stopping")
    finally:
        cleanup()
        print("== cleaned up: all httpd instances stopped, temp dirs removed")


if __name__ == "__main__":
    main()
