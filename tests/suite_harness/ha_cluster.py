"""Builds the HA test LAN: a client namespace and N httpd nodes running mod_ha_heartbeat, each
serving /whoami (its own name) on the service address."""
import contextlib
import os
import re
import textwrap
import time

from suite_harness.constants import CLIENT_ADDRESS, CLIENT_ADDRESS6, LAB_SUBNET as SUBNET
from suite_harness.constants import SERVICE_ADDRESS as VIP
from suite_harness.constants import SERVICE_ADDRESS6 as VIP6
from suite_harness.constants import SERVICE_PORT
from suite_harness.failure_logs import print_error_logs
from suite_harness.netns import NetnsHttpd, NetnsLab, in_netns
from suite_harness.probe import Prober
from suite_harness.waiting import wait_until

SECRET = "integration-test-shared-secret\n"


def node_ip(i):
    return f"{SUBNET}.{i + 1}"


def node_ip6(i):
    return f"fd00:231::{i + 1}"


class HaNode(NetnsHttpd):
    def __init__(self, lab, name, index, peers, priority, interval="100ms", preempt=True,
                 extra="", secret=SECRET, ipv6=False, modules=(), transport6=False,
                 threads=10, servers=1):
        self.index = index
        self.priority = priority
        self.interval = interval
        self.preempt = preempt
        self.extra = extra
        self.peer_indexes = peers
        self.ipv6 = ipv6
        self.transport6 = transport6
        super().__init__(lab, name, "", modules=["authz_host"] + list(modules),
                         suite_modules=["ha_heartbeat"],
                         servers=servers, threads=threads)
        key = os.path.join(self.root, "conf", "ha.key")
        with open(key, "w") as f:
            f.write(secret)
        os.chmod(key, 0o600)
        with open(os.path.join(self.root, "htdocs", "whoami"), "w") as f:
            f.write(name + "\n")
        self.write_config(self.ha_body())

    def page_nonce(self):
        """The nonce of the handover form on this node's status page."""
        status, html = self.get("/ha-status")
        assert status == 200, status
        m = re.search(rb'name="nonce" value="([0-9a-f]+)"', html)
        assert m, "no handover form with a nonce on the status page (not master?)"
        return m.group(1).decode()

    PAGE_NONCE = object()

    def handover(self, nonce=PAGE_NONCE, origin="", referer=None):
        """POSTs action=handover as a browser would. By default as the page's own button does
        (the page's nonce, Origin of the page); origin None sends none, nonce None no nonce."""
        if nonce is HaNode.PAGE_NONCE:
            nonce = self.page_nonce()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if origin == "":
            origin = f"http://127.0.0.1:{self.port}"
        if origin is not None:
            headers["Origin"] = origin
        if referer is not None:
            headers["Referer"] = referer
        body = "action=handover" + (f"&nonce={nonce}" if nonce is not None else "")
        return self.get("/ha-status", method="POST", body=body, headers=headers)

    def ha_body(self):
        if self.transport6:
            peers = "\n".join(f"HAPeer [{node_ip6(p)}]:694" for p in self.peer_indexes)
            listen = f"[{node_ip6(self.index)}]"
        else:
            peers = "\n".join(f"HAPeer {node_ip(p)}" for p in self.peer_indexes)
            listen = node_ip(self.index)
        # Both families of one service move together: one address group.
        group = " group=web" if self.ipv6 else ""
        v6 = (f"Listen [{VIP6}]:{SERVICE_PORT}\nHAServiceAddress {VIP6}/64 eth0{group}\n"
              if self.ipv6 else "")
        return textwrap.dedent(f"""\
            Listen {VIP}:{SERVICE_PORT}
            LogLevel warn ha_heartbeat:info
            HAHeartbeat On
            HANodeName {self.name}
            HAPriority {self.priority}
            HAListen {listen}
            HAInterval {self.interval}
            HAServiceAddress {VIP}/24 eth0{group}
            HASecretFile conf/ha.key
            HAPreempt {"On" if self.preempt else "Off"}
            <Location /ha-status>
                SetHandler ha-status
                Require ip 127.0.0.1
            </Location>
            """) + peers + "\n" + v6 + self.extra + "\n"


class HaCluster:
    """Lab + client namespace + nodes; use as a context manager so everything is torn down."""

    def __init__(self, priorities, preempt=True, interval="100ms", extra=None, ipv6=False,
                 modules=None, transport6=False, threads=10, servers=1):
        """extra / modules: per node name, more configuration / stock modules. threads: per
        node; mpm_event closes kept-alive connections when they outnumber its workers too far,
        so a load test gives each node more workers than it has clients."""
        self.threads = threads
        self.servers = servers
        self.lab = NetnsLab()
        self.priorities = priorities
        self.preempt = preempt
        self.interval = interval
        self.extra = extra or {}
        self.ipv6 = ipv6
        self.modules = modules or {}
        self.transport6 = transport6
        self.nodes = []
        self.probers = []

    def __enter__(self):
        self.lab.__enter__()
        try:
            self.lab.add_node("cl", f"{CLIENT_ADDRESS}/24", f"{CLIENT_ADDRESS6}/64")
            names = [chr(ord("a") + i) for i in range(len(self.priorities))]
            for i, name in enumerate(names):
                self.lab.add_node(name, f"{node_ip(i)}/24", f"{node_ip6(i)}/64")
            for i, (name, prio) in enumerate(zip(names, self.priorities)):
                peers = [j for j in range(len(names)) if j != i]
                self.nodes.append(HaNode(self.lab, name, i, peers, prio, self.interval,
                                         self.preempt, self.extra.get(name, ""), ipv6=self.ipv6,
                                         modules=self.modules.get(name, ()),
                                         transport6=self.transport6, threads=self.threads,
                                         servers=self.servers))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for p in self.probers:
            p.stop()
        if exc and exc[0] is not None:
            print_error_logs(self.nodes)
        for n in self.nodes:
            with contextlib.suppress(Exception):
                n.kill()
            with contextlib.suppress(Exception):
                n.cleanup()
        self.lab.destroy()

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def start_all(self):
        for n in self.nodes:
            n.start()

    def holders(self, address=VIP):
        return self.lab.holders(address, [n.name for n in self.nodes])

    def wait_for_holder(self, name, timeout=5.0, address=VIP):
        """Waits until exactly `name` holds the address; returns the seconds it took."""
        t0 = time.monotonic()
        wait_until(lambda: self.holders(address) == [name], timeout, step=0.02,
                   what=lambda: f"{name} as the only holder of {address}: "
                                f"holders={self.holders(address)}")
        return time.monotonic() - t0

    def wait_for_answers_from(self, name, timeout):
        """Waits until three probes in a row are answered by `name`; returns the seconds."""
        t0 = time.monotonic()
        wait_until(lambda: self.answers(3, timeout=0.1) == [name] * 3, timeout, step=0.02,
                   what=lambda: f"clients answered by {name}: {self.answers(3, timeout=0.1)}")
        return time.monotonic() - t0

    def prober(self, **kw):
        p = Prober(self.lab, "cl", VIP, SERVICE_PORT, **kw).start()
        self.probers.append(p)
        return p

    def answers(self, count=5, timeout=0.5):
        """Asks the service address `count` times from the client; returns who answered."""
        p = Prober(self.lab, "cl", VIP, SERVICE_PORT, timeout=timeout)
        out = []
        with in_netns(self.lab.ns("cl")):
            for _ in range(count):
                t, ok, who = p.probe_once()
                out.append(who if ok else None)
        return out
