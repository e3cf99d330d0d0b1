"""The design on one machine, in network namespaces: a client host, N reverse proxies (2 by
default) sharing N service addresses active-active, and two web workers behind them (loadfactor
3 and 7, lbmethod=bytraffic). The first proxy (the config primary) exports its shared
configuration and its documents; every other proxy syncs both from it and restarts gracefully
when the configuration changes.

Used by demo/demo.py (the README's first command) and by the system tests.

    LAN 10.231.0.0/24 (a bridge in its own namespace; nothing in the host's network namespace)
      cl  10.231.0.200   client
      p   10.231.0.1     config primary   DocSyncExport common, site
      s   10.231.0.2     secondary        DocSyncSource ... (restart=graceful)
      s2  10.231.0.3     secondary (--nodes 3), s3 10.231.0.4 ... likewise
      w1  10.231.0.11    web worker, loadfactor 3
      w2  10.231.0.12    web worker, loadfactor 7
      service addresses 10.231.0.100, .101, ... (one per proxy by default), port 80

Every proxy lists every service address (`HAServiceAddress` repeated, no prefer=): address i's
home is node i mod N in the order of the proxies' heartbeat addresses, i.e. VIP (.100) on p,
.101 on s, .102 on s2; HAPreempt On moves a returning node's home addresses back to it. With one
address (addresses=1) it is the classic active/standby pair: p (HAPriority 200) holds it, s
(100) takes over.
"""
import contextlib
import http.client
import os
import shutil
import socket
import subprocess
import textwrap

from suite_harness.constants import CLIENT_ADDRESS as CLIENT_IP
from suite_harness.constants import LAB_SUBNET as SUBNET
from suite_harness.constants import MIXED_PATHS
from suite_harness.constants import SERVICE_ADDRESS as VIP
from suite_harness.failure_logs import print_error_logs
from suite_harness.httpd import PROXY_MODULES, WEB_WORKER_THREADS, LoadClient, ServesFixedFiles
from suite_harness.netns import NetnsHttpd, NetnsLab, in_netns
from suite_harness.probe import Prober
from suite_harness.relay import TcpRelay
from suite_harness.waiting import wait_until

MAX_PROXIES = 8
PRIMARY = "p"


def proxy_name(i):
    """p, s, s2, s3, ...: the names the two-node tests have always used come first."""
    return ("p", "s")[i] if i < 2 else f"s{i}"


def proxy_spec(i):
    """(LAN address, HAPriority) of proxy i. The priority only matters with one address."""
    return f"{SUBNET}.{i + 1}", 200 if i == 0 else 100


def service_address(i):
    return f"{SUBNET}.{100 + i}"


PROXIES = {proxy_name(i): proxy_spec(i) for i in range(2)}  # the default two
WORKERS = {"w1": (f"{SUBNET}.11", 3), "w2": (f"{SUBNET}.12", 7)}
SYNC_PORT = 8081  # the primary's docsync export, on its LAN address
HA_SECRET = "demo-heartbeat-secret-0123456789abcdef\n"
SYNC_SECRET = "demo-docsync-secret-0123456789abcdef\n"


def write_private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class Worker(ServesFixedFiles, NetnsHttpd):
    """A web worker: fixed-size files under /, its name at /whoami, every response logged."""

    def __init__(self, lab, name):
        self.address, self.loadfactor = WORKERS[name]
        super().__init__(lab, name, "", threads=WEB_WORKER_THREADS, servers=2)
        self.serve_fixed_files({"whoami": name + "\n"}, config=f"Listen {self.address}:80\n")


def common_config():
    """The shared part, edited on the primary and synced to the secondary."""
    members = "\n".join(f"    BalancerMember http://{ip} loadfactor={lf} retry=1"
                        for ip, lf in WORKERS.values())
    return textwrap.dedent("""\
        # Shared by both proxies (edited on the primary, synced by mod_docsync).
        <Proxy balancer://cluster>
        {members}
            ProxySet lbmethod=bytraffic
        </Proxy>
        ProxyPass /app balancer://cluster
        <Location /traffic-status>
            SetHandler balancer-traffic-status
        </Location>
        """).format(members=members)


class Proxy(NetnsHttpd):
    """A reverse proxy node with all three modules. Node-local: its addresses, HA name and
    priority, docsync role; shared (conf/common, synced): the balancer and routing."""

    def __init__(self, lab, name, index, primary_address, peers, addresses):
        self.address, self.priority = proxy_spec(index)
        self.index = index
        self.service_addresses = list(addresses)
        self.is_primary = name == PRIMARY
        super().__init__(lab, name, "", modules=PROXY_MODULES + ["authz_host", "alias"],
                         suite_modules=["balancer_traffic", "ha_heartbeat", "docsync"],
                         threads=25, servers=2)
        self.common = os.path.join(self.root, "conf", "common")
        os.makedirs(self.common, exist_ok=True)
        write_private(os.path.join(self.root, "conf", "ha.key"), HA_SECRET)
        write_private(os.path.join(self.root, "conf", "docsync.secret"), SYNC_SECRET)
        with open(os.path.join(self.root, "conf", "whoami"), "w") as f:
            f.write(name + "\n")
        if self.is_primary:
            with open(os.path.join(self.common, "cluster.conf"), "w") as f:
                f.write(common_config())
            with open(os.path.join(self.root, "htdocs", "index.html"), "w") as f:
                f.write("<h1>Welcome (version 1)</h1>\n")
        self.access_log = os.path.join(self.root, "logs", "access.log")
        if self.is_primary:
            sync = textwrap.dedent(f"""\
                Listen {self.address}:{SYNC_PORT}
                DocSyncExport common {self.common}
                DocSyncExport site {self.root}/htdocs
                <Location /.docsync>
                    SetHandler docsync
                    Require ip {SUBNET}.0/24
                </Location>
                """)
        else:
            base = f"http://{primary_address}:{SYNC_PORT}/.docsync"
            sync = textwrap.dedent(f"""\
                DocSyncSource {base}/common {self.common} restart=graceful
                DocSyncSource {base}/site {self.root}/htdocs delete=on
                """)
        listens = "".join(f"Listen {a}:80\n" for a in self.service_addresses)
        ha_peers = "".join(f"HAPeer {ip}\n" for ip in peers)
        ha_addresses = "".join(f"HAServiceAddress {a}/24 eth0\n" for a in self.service_addresses)
        self.write_config(f"# Node-local part of {name}'s configuration.\n" + listens + ha_peers
                          + ha_addresses + textwrap.dedent(f"""\
            LogLevel warn ha_heartbeat:info docsync:info
            # Which service address each request came in on (%A), for the per-proxy split.
            LogFormat "%{{usec}}t %A %>s %U" arrived
            CustomLog "{self.access_log}" arrived
            HAHeartbeat On
            HANodeName {name}
            HAPriority {self.priority}
            HAListen {self.address}
            HAInterval 100ms
            HASecretFile conf/ha.key
            HAPreempt On
            DocSyncSecretFile conf/docsync.secret
            Alias /whoami "{self.root}/conf/whoami"
            <Directory "{self.root}/conf">
                Require all granted
            </Directory>
            <Location /ha-status>
                SetHandler ha-status
            </Location>
            <Location /docsync-status>
                SetHandler docsync-status
            </Location>
            """) + sync + f"IncludeOptional {self.common}/*.conf\n")

    def status(self, page):
        return self.get_json(f"/{page}?json")

    def arrivals(self, since=0.0):
        """[(time, service address, status, path)] of the requests this proxy answered."""
        out = []
        with contextlib.suppress(FileNotFoundError), open(self.access_log) as log:
            for line in log:
                parts = line.split()
                if len(parts) == 4 and int(parts[0]) / 1e6 >= since:
                    out.append((int(parts[0]) / 1e6, parts[1], int(parts[2]), parts[3]))
        return out


def forward_to_netns(netns, target_port):
    """A relay from host 127.0.0.1:<port> to a namespace's 127.0.0.1:<target_port>, so a browser
    on the host can open the status pages. Connections are made from inside the namespace."""
    def connect():
        with in_netns(netns):
            return socket.create_connection(("127.0.0.1", target_port), 5)
    return TcpRelay(connect)


class Topology:
    """Builds, starts, drives and tears down the whole thing. A context manager: everything it
    made (namespaces, processes, temp dirs, forwarders) is gone after __exit__, also on errors.

    nodes: how many proxies (2..MAX_PROXIES); addresses: how many service addresses (default:
    one per proxy)."""

    def __init__(self, forward_ports=False, nodes=2, addresses=None):
        if not 2 <= nodes <= MAX_PROXIES:
            raise ValueError(f"nodes must be 2..{MAX_PROXIES}, not {nodes}")
        self.lab = NetnsLab(tag=f"ha{os.getpid() % 100000}")
        self.forward_ports = forward_ports
        self.names = [proxy_name(i) for i in range(nodes)]
        self.secondaries = self.names[1:]
        self.addresses = [service_address(i) for i in range(nodes if addresses is None
                                                            else addresses)]
        self.workers = {}
        self.proxies = {}
        self.forwarders = {}
        self.instances = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        self.lab.__enter__()
        try:
            self.lab.add_node("cl", f"{CLIENT_IP}/24")
            for i, name in enumerate(self.names):
                self.lab.add_node(name, f"{proxy_spec(i)[0]}/24")
            for name, (ip, _) in WORKERS.items():
                self.lab.add_node(name, f"{ip}/24")
            for name in WORKERS:
                self.workers[name] = Worker(self.lab, name)
                self.instances.append(self.workers[name])
            primary_ip = proxy_spec(0)[0]
            for i, name in enumerate(self.names):
                peers = [proxy_spec(j)[0] for j in range(len(self.names)) if j != i]
                self.proxies[name] = Proxy(self.lab, name, i, primary_ip, peers, self.addresses)
                self.instances.append(self.proxies[name])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for f in self.forwarders.values():
            f.close()
        if exc and exc[0] is not None:
            print_error_logs(reversed(self.instances), tail_chars=3000)
        for h in reversed(self.instances):
            with contextlib.suppress(Exception):
                h.kill()
            with contextlib.suppress(Exception):
                shutil.rmtree(h.root, ignore_errors=True)
        self.lab.destroy()

    def start(self):
        for w in self.workers.values():
            w.start()
        for proxy in self.proxies.values():
            proxy.start()
        if self.forward_ports:
            for name, proxy in self.proxies.items():
                self.forwarders[name] = forward_to_netns(self.lab.ns(name), proxy.port)

    # -- placement ---------------------------------------------------------------------------
    def home(self, address):
        """The proxy whose home `address` is (spread placement: address i on node i mod N, the
        nodes in the order of their heartbeat addresses, which is the order of self.names)."""
        if len(self.addresses) == 1:
            return PRIMARY
        return self.names[self.addresses.index(address) % len(self.names)]

    def successors(self, address):
        """The proxies that take `address` when its home fails, best first (spread placement,
        core/address_groups.cc): for address i with home h = i mod N and round r = i div N, the
        nodes h+1+r, h+2+r, ... (mod N, skipping h), so the k-th address a node is home of goes
        to the k-th node after it."""
        n = len(self.names)
        if len(self.addresses) == 1:
            return self.names[1:]  # HAPriority 100 each: which one is the node ids' order
        i = self.addresses.index(address)
        home, rounds = i % n, (i // n) % (n - 1)
        return [self.names[(home + 1 + (rounds + k) % (n - 1)) % n] for k in range(n - 1)]

    def expected_holders(self, down=()):
        """{address: proxy} as the placement puts it with the proxies in `down` gone: a home
        address at home, a failed node's on its first live successor (None: any survivor, for
        the one-address pair whose backups rank by node id)."""
        out = {}
        for a in self.addresses:
            if self.home(a) not in down:
                out[a] = self.home(a)
            elif len(self.addresses) == 1 and len(self.names) > 2:
                out[a] = None
            else:
                out[a] = next((n for n in self.successors(a) if n not in down), None)
        return out

    # -- observation -------------------------------------------------------------------------
    def holders(self, address=None):
        """The proxies holding `address` (the first service address by default)."""
        return self.lab.holders(address or VIP, self.names)

    def all_holders(self):
        """{address: [proxies holding it]}, from each proxy's namespace."""
        return {a: self.holders(a) for a in self.addresses}

    def wait_for_holder(self, name, timeout=10.0, address=None):
        return self.lab.wait_for_sole_holder(address or VIP, name, self.names, timeout)

    def spread_as_expected(self, down=(), holders=None):
        """Whether every address has exactly one holder, home addresses at home, and none on a
        proxy in `down`."""
        holders = holders or self.all_holders()
        for address, want in self.expected_holders(down).items():
            got = holders[address]
            if len(got) != 1 or (want is not None and got != [want]) or got[0] in down:
                return False
        return True

    def wait_for_spread(self, down=(), timeout=15.0):
        """Until spread_as_expected(down); False after `timeout`."""
        return wait_until(lambda: self.spread_as_expected(down), timeout, step=0.05,
                          raise_on_timeout=False, ignore=(RuntimeError,))

    def ha_status(self, name):
        return self.proxies[name].status("ha-status")

    def who_answers(self, timeout=0.5, address=None):
        return Prober(self.lab, "cl", address or VIP, 80, timeout=timeout).who_answers()

    def client_get(self, path, timeout=2.0, address=None):
        """GET http://<service address><path> from the client host: (status, body)."""
        with in_netns(self.lab.ns("cl")):
            conn = http.client.HTTPConnection(address or VIP, 80, timeout=timeout)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

    def prober(self, address=None, **kw):
        return Prober(self.lab, "cl", address or VIP, 80, **kw).start()

    def sync_status(self, source_suffix, name="s"):
        sources = self.proxies[name].status("docsync-status")["sources"]
        return next(src for src in sources if src["url"].endswith(source_suffix))

    def wait_for_sync(self, timeout=20.0):
        """Until every secondary has synced both exports and runs the shared configuration."""
        def synced(name):
            ok = all(self.sync_status(s, name)["result"] == "ok" for s in ("/common", "/site"))
            return ok and self.proxies[name].get("/traffic-status?json")[0] == 200
        return wait_until(lambda: all(synced(n) for n in self.secondaries), timeout, step=0.2,
                          raise_on_timeout=False, ignore=(Exception,))

    def load(self, requests=4000, seconds=30.0, threads=8):
        """A bounded load through the first service address."""
        ns = self.lab.ns("cl")
        client = LoadClient(80, MIXED_PATHS, threads=threads, max_requests=requests,
                            max_seconds=seconds, host=VIP, thread_context=lambda: in_netns(ns))
        return client.run()

    def spread_load(self, requests=4000, seconds=30.0, threads_per_address=4, failure_pause=0.0):
        """A bounded load over every service address, as clients resolving a name with one A
        record per address (DNS round robin) make it: each kept-alive connection goes to the
        next address, so every address gets an equal part. {address: [(t, status, path)]}."""
        ns = self.lab.ns("cl")
        per_address = max(1, requests // len(self.addresses))
        clients = {a: LoadClient(80, MIXED_PATHS, threads=threads_per_address,
                                 max_requests=per_address, max_seconds=seconds, host=a,
                                 thread_context=lambda: in_netns(ns),
                                 failure_pause=failure_pause).start()
                   for a in self.addresses}
        return {a: c.wait() for a, c in clients.items()}

    def split(self, since=0.0):
        """[(worker, loadfactor, requests, bytes)] as the workers logged them."""
        return [(name, w.loadfactor, w.requests_served(since), w.bytes_served(since))
                for name, w in self.workers.items()]

    def proxy_split(self, since=0.0):
        """{proxy: {service address: requests answered}} as the proxies logged them."""
        out = {}
        for name, proxy in self.proxies.items():
            counts = {}
            for _, address, _, _ in proxy.arrivals(since):
                if address in self.addresses:  # not the secondaries' syncs from the primary
                    counts[address] = counts.get(address, 0) + 1
            out[name] = counts
        return out

    # -- the story's events --------------------------------------------------------------------
    def primary_link_down(self):
        self.lab.link_down(PRIMARY)

    def primary_link_up(self):
        self.lab.link_up(PRIMARY)

    def edit_page(self, text):
        path = os.path.join(self.proxies[PRIMARY].root, "htdocs", "index.html")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def serves(self, name, text):
        status, body = self.proxies[name].get("/index.html")
        return status == 200 and text.encode() in body

    def secondary_serves(self, text, name="s"):
        return self.serves(name, text)

    def push_common_config(self, name, text):
        """Writes a file into the primary's shared configuration (synced to the secondaries)."""
        # Written aside (outside the synced directory) and renamed in, as an editor or a deploy
        # does: a file seen half-written is "changed on the primary since its manifest" on a
        # secondary, not the config.
        tmp = os.path.join(self.proxies[PRIMARY].root, "conf", f".{name}.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(self.proxies[PRIMARY].common, name))

    def remove_common_config(self, name):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.proxies[PRIMARY].common, name))

    def leftovers(self):
        """Namespaces of this run that still exist (should be none after __exit__)."""
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in names.splitlines()
                if line.startswith(self.lab.tag + "-")]
