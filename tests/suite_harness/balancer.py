"""A proxy in front of web workers on loopback, the original design's shape, for the
mod_balancer_traffic tests, bench and demo."""
import contextlib
import os
import re
import subprocess
import time
import urllib.parse

from suite_harness.constants import MIXED_PATHS  # noqa: F401 - the balancer tests' request mix
from suite_harness.httpd import PROXY_MODULES, HttpdInstance


# The status page of our module, as the tests configure it.
STATUS_LOCATION = """<Location /traffic-status>
    SetHandler balancer-traffic-status
</Location>
"""
# A member on the discard port, where nothing listens: for balancers whose configuration is
# tested, not their traffic.
UNREACHABLE_MEMBER = "http://127.0.0.1:9"


def unreachable_balancer(name="cluster", lbmethod="bytraffic", member_params="", settings=""):
    """A <Proxy balancer://name> section with one UNREACHABLE_MEMBER; `settings`: more lines
    inside the section."""
    lines = [f"<Proxy balancer://{name}>",
             f"    BalancerMember {UNREACHABLE_MEMBER} {member_params}".rstrip(),
             f"    ProxySet lbmethod={lbmethod}"]
    lines += [f"    {line.strip()}" for line in settings.splitlines() if line.strip()]
    return "\n".join(lines + ["</Proxy>"]) + "\n"


def configured_proxy(name, body, modules=()):
    """An httpd (not started) with mod_proxy, mod_proxy_balancer and our module, configured
    with `body`."""
    return HttpdInstance(name, body, modules=PROXY_MODULES + list(modules),
                         suite_modules=["balancer_traffic"])


def proxy_config(members, lbmethod="bytraffic", extra_proxy="", extra_server="", growth=0):
    """members: [(backend, "loadfactor=3 retry=1 ...")]"""
    lines = [f"    BalancerMember http://127.0.0.1:{b.port} {params}" for b, params in members]
    growth_line = f"    ProxySet growth={growth}\n" if growth else ""
    return f"""
<Proxy balancer://cluster>
{chr(10).join(lines)}
    ProxySet lbmethod={lbmethod}
{growth_line}{extra_proxy}
</Proxy>
ProxyPass /app balancer://cluster
<Location /traffic-status>
    SetHandler balancer-traffic-status
</Location>
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
# Which member each proxied request went to, with the status the client got.
LogFormat "%{{usec}}t %>s %{{BALANCER_WORKER_NAME}}e %U" picks
CustomLog logs/picks.log picks
{extra_server}
"""


def start_proxy(name, members, stock=False, **kwargs):
    """A proxy with our module (or, stock=True, the stock lbmethod modules) in front of members."""
    if stock:
        modules = PROXY_MODULES + ["lbmethod_bytraffic", "lbmethod_byrequests"]
        suite = []
    else:
        modules = PROXY_MODULES
        suite = ["balancer_traffic"]
    proxy = HttpdInstance(name, proxy_config(members, **kwargs), modules=modules,
                          suite_modules=suite)
    return proxy.start()


def byte_share(backends, since=0.0, until=float("inf")):
    """Fraction of bytes (in + out) each backend served in [since, until) (wall clock)."""
    totals = []
    for b in backends:
        totals.append(sum(i + o for t, i, o, _ in b.requests() if since <= t < until))
    whole = sum(totals)
    return [t / whole if whole else 0.0 for t in totals], whole


def request_share(backends, since=0.0, until=float("inf")):
    counts = [sum(1 for t, *_ in b.requests() if since <= t < until) for b in backends]
    whole = sum(counts)
    return [c / whole if whole else 0.0 for c in counts], whole


def manager_update(proxy, worker_url, **params):  # worker_url None: a balancer-level change
    """Change a member through balancer-manager, as an administrator's browser would."""
    status, body = proxy.get("/balancer-manager")
    nonce = re.search(rb"nonce=([0-9a-f-]+)", body).group(1).decode()
    form = {"b": "cluster", "nonce": nonce, **params}
    if worker_url:
        form["w"] = worker_url
    status, body = proxy.get(
        "/balancer-manager", method="POST", body=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Referer": f"http://127.0.0.1:{proxy.port}/balancer-manager"})
    if status != 200:
        raise RuntimeError(f"balancer-manager update -> {status}")


def settle_logs(backends, expected=None, timeout=5.0):
    """Backends log a request after answering it: wait until the logs hold `expected` requests
    (or stop growing), so shares are computed over everything that was served."""
    last = -1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = sum(len(b.requests()) for b in backends)
        if (expected is not None and count >= expected) or (expected is None and count == last):
            return count
        last = count
        time.sleep(0.1)
    return last


PICK_BENCH_TIMEOUT = 300  # seconds


def pick_ns(build_dir):
    """ns per pick of the scheduling core alone, from bench/pick_bench in `build_dir`:
    {(method, members): (without the lock, with the lock)}."""
    out = subprocess.run([os.path.join(build_dir, "bench", "pick_bench")], capture_output=True,
                         text=True, timeout=PICK_BENCH_TIMEOUT).stdout
    rows = {}
    for line in out.splitlines():
        _, method, members, free, locked = line.split()
        rows[(method, int(members))] = (float(free), float(locked))
    return rows


def proxy_picks(proxy):
    """[(time, status, member_url, path)] for every request the proxy logged."""
    out = []
    path = os.path.join(proxy.root, "logs", "picks.log")
    with contextlib.suppress(FileNotFoundError), open(path) as log:
        for line in log:
            parts = line.split()
            if len(parts) == 4:
                out.append((int(parts[0]) / 1e6, int(parts[1]), parts[2], parts[3]))
    return out
