"""A private LAN for HA tests: network namespaces joined by a bridge, and httpd inside them.

    with NetnsLab() as lab:
        lab.add_node("a", "10.231.0.1")
        node = NetnsHttpd(lab, "a", body)
        ...

The bridge itself lives in a namespace of its own, so nothing is created in (or sent from) the
host's network namespace. Every namespace name carries a per-run tag; destroy() (also run by
__exit__ on any failure) kills what runs inside them and deletes them. Addresses are whatever
the test gives (10.231.x.x, fd00:231::x), and they only exist inside these namespaces.
"""
import contextlib
import ctypes
import os
import subprocess

from suite_harness.httpd import HttpdInstance
from suite_harness.waiting import wait_until

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
BRIDGE = "br0"
NODE_IF = "eth0"
COMMAND_TIMEOUT = 20


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def in_netns(ns):
    """Runs the body (this thread only) inside namespace `ns`; sockets made there stay there."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def run(cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc


class NetnsLab:
    """Namespaces on one bridge. Node names are short (they name veth interfaces)."""

    def __init__(self, tag=None):
        self.tag = tag or f"hat{os.getpid() % 100000}"
        self.bridge_ns = f"{self.tag}-br"
        self.nodes = {}
        self.procs = []

    def ns(self, name):
        return f"{self.tag}-{name}"

    def _port(self, name):
        return f"v{name}"

    def create(self):
        run(["ip", "netns", "add", self.bridge_ns])
        run(["ip", "-n", self.bridge_ns, "link", "set", "lo", "up"])
        run(["ip", "-n", self.bridge_ns, "link", "add", BRIDGE, "type", "bridge"])
        # No forwarding delay: ports forward as soon as they are up.
        run(["ip", "-n", self.bridge_ns, "link", "set", BRIDGE, "type", "bridge",
             "forward_delay", "0", "stp_state", "0"])
        run(["ip", "-n", self.bridge_ns, "link", "set", BRIDGE, "up"])
        return self

    def add_node(self, name, *addresses):
        """addresses: "10.231.0.1/24" or "fd00:231::1/64" (prefix added when missing)."""
        ns = self.ns(name)
        run(["ip", "netns", "add", ns])
        self.nodes[name] = ns
        port = self._port(name)
        run(["ip", "-n", self.bridge_ns, "link", "add", port, "type", "veth", "peer", "name",
             NODE_IF, "netns", ns])
        run(["ip", "-n", self.bridge_ns, "link", "set", port, "master", BRIDGE, "up"])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "-n", ns, "link", "set", NODE_IF, "up"])
        # httpd listens on the service address before it holds it.
        self.sysctl(name, "net.ipv4.ip_nonlocal_bind", "1")
        self.sysctl(name, "net.ipv6.ip_nonlocal_bind", "1")
        for a in addresses:
            if "/" not in a:
                a += "/64" if ":" in a else "/24"
            extra = ["nodad"] if ":" in a else []
            run(["ip", "-n", ns, "addr", "add", a, "dev", NODE_IF] + extra)
        return ns

    def sysctl(self, name, key, value):
        run(["ip", "netns", "exec", self.ns(name), "sysctl", "-q", "-w", f"{key}={value}"])

    def exec(self, name, cmd, check=True):
        return run(["ip", "netns", "exec", self.ns(name)] + list(cmd), check=check)

    def popen(self, name, cmd, **kw):
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(name)] + list(cmd), **kw)
        self.procs.append(p)
        return p

    # -- failures ----------------------------------------------------------------------------
    def link_down(self, name):
        """The node drops off the LAN (its cable is pulled): its side of the link goes down."""
        run(["ip", "-n", self.bridge_ns, "link", "set", self._port(name), "down"])

    def link_up(self, name):
        run(["ip", "-n", self.bridge_ns, "link", "set", self._port(name), "up"])

    def detach(self, name):
        """Partition: the node's port leaves the bridge (both ends stay up)."""
        run(["ip", "-n", self.bridge_ns, "link", "set", self._port(name), "nomaster"])

    def attach(self, name):
        run(["ip", "-n", self.bridge_ns, "link", "set", self._port(name), "master", BRIDGE])

    # -- observation -------------------------------------------------------------------------
    def has_address(self, name, address):
        out = self.exec(name, ["ip", "-o", "addr", "show", "dev", NODE_IF]).stdout
        return any(f" {address}/" in line for line in out.splitlines())

    def holders(self, address, names=None):
        return [n for n in (names or self.nodes) if self.has_address(n, address)]

    def wait_for_sole_holder(self, address, name, names=None, timeout=10.0, step=0.05):
        """Whether `name` alone (of `names`) came to hold `address` within `timeout`."""
        return wait_until(lambda: self.holders(address, names) == [name], timeout, step,
                          raise_on_timeout=False)

    # -- cleanup -----------------------------------------------------------------------------
    def destroy(self):
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.kill()
                p.wait(5)
        for ns in list(self.nodes.values()) + [self.bridge_ns]:
            pids = run(["ip", "netns", "pids", ns], check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), 9)
            run(["ip", "netns", "del", ns], check=False)

    def __enter__(self):
        try:
            return self.create()
        except BaseException:
            self.destroy()
            raise

    def __exit__(self, *exc):
        self.destroy()


class NetnsHttpd(HttpdInstance):
    """An HttpdInstance whose processes run inside a lab namespace. Its control port is on the
    namespace's own loopback, reached by switching this thread into the namespace."""

    CONTROL_PORT = 8080

    def __init__(self, lab, node, body, **kw):
        self.lab = lab
        self.netns = lab.ns(node)
        kw.setdefault("port", self.CONTROL_PORT)
        super().__init__(node, body, **kw)

    def command_prefix(self):
        return ["ip", "netns", "exec", self.netns]

    def socket_context(self):
        return in_netns(self.netns)

    def status(self):
        return self.get_json("/ha-status?json")

