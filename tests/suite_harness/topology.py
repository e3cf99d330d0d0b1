"""The original design on one machine, in network namespaces: a client host, a primary and a
secondary reverse proxy sharing one service address, and two web workers behind them
(loadfactor 3 and 7, lbmethod=bytraffic). The primary exports its shared configuration and its
documents; the secondary syncs both and restarts gracefully when the configuration changes.

Used by demo/demo.py (the README's first command) and by test_system.py (the system test).

    LAN 10.231.0.0/24 (a bridge in its own namespace; nothing in the host's network namespace)
      cl  10.231.0.200   client
      p   10.231.0.1     primary proxy    HAPriority 200   DocSyncExport common, site
      s   10.231.0.2     secondary proxy  HAPriority 100   DocSyncSource ... (restart=graceful)
      w1  10.231.0.11    web worker, loadfactor 3
      w2  10.231.0.12    web worker, loadfactor 7
      service address 10.231.0.100:80, held by whichever proxy is master
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

PROXIES = {"p": (f"{SUBNET}.1", 200), "s": (f"{SUBNET}.2", 100)}
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

    def __init__(self, lab, name, primary_address):
        self.address, self.priority = PROXIES[name]
        self.is_primary = name == "p"
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
        peer = next(ip for n, (ip, _) in PROXIES.items() if n != name)
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
        self.write_config(textwrap.dedent(f"""\
            # Node-local part of {name}'s configuration.
            Listen {VIP}:80
            LogLevel warn ha_heartbeat:info docsync:info
            HAHeartbeat On
            HANodeName {name}
            HAPriority {self.priority}
            HAListen {self.address}
            HAPeer {peer}
            HAInterval 100ms
            HAServiceAddress {VIP}/24 eth0
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


def forward_to_netns(netns, target_port):
    """A relay from host 127.0.0.1:<port> to a namespace's 127.0.0.1:<target_port>, so a browser
    on the host can open the status pages. Connections are made from inside the namespace."""
    def connect():
        with in_netns(netns):
            return socket.create_connection(("127.0.0.1", target_port), 5)
    return TcpRelay(connect)


class Topology:
    """Builds, starts, drives and tears down the whole thing. A context manager: everything it
    made (namespaces, processes, temp dirs, forwarders) is gone after __exit__, also on errors."""

    def __init__(self, forward_ports=False):
        self.lab = NetnsLab(tag=f"ha{os.getpid() % 100000}")
        self.forward_ports = forward_ports
        self.workers = {}
        self.proxies = {}
        self.forwarders = {}
        self.instances = []

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        self.lab.__enter__()
        try:
            self.lab.add_node("cl", f"{CLIENT_IP}/24")
            for name, (ip, _) in list(PROXIES.items()) + list(WORKERS.items()):
                self.lab.add_node(name, f"{ip}/24")
            for name in WORKERS:
                self.workers[name] = Worker(self.lab, name)
                self.instances.append(self.workers[name])
            primary_ip = PROXIES["p"][0]
            for name in PROXIES:
                self.proxies[name] = Proxy(self.lab, name, primary_ip)
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
        self.proxies["p"].start()
        self.proxies["s"].start()
        if self.forward_ports:
            for name, proxy in self.proxies.items():
                self.forwarders[name] = forward_to_netns(self.lab.ns(name), proxy.port)

    # -- observation -------------------------------------------------------------------------
    def holders(self):
        return self.lab.holders(VIP, list(PROXIES))

    def wait_for_holder(self, name, timeout=10.0):
        return self.lab.wait_for_sole_holder(VIP, name, list(PROXIES), timeout)

    def who_answers(self, timeout=0.5):
        return Prober(self.lab, "cl", VIP, 80, timeout=timeout).who_answers()

    def client_get(self, path, timeout=2.0):
        """GET http://<service address><path> from the client host: (status, body)."""
        with in_netns(self.lab.ns("cl")):
            conn = http.client.HTTPConnection(VIP, 80, timeout=timeout)
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                return resp.status, resp.read()
            finally:
                conn.close()

    def prober(self, **kw):
        return Prober(self.lab, "cl", VIP, 80, **kw).start()

    def sync_status(self, source_suffix):
        sources = self.proxies["s"].status("docsync-status")["sources"]
        return next(src for src in sources if src["url"].endswith(source_suffix))

    def wait_for_sync(self, timeout=20.0):
        """Until the secondary has synced both exports and runs the shared configuration."""
        def synced():
            ok = all(self.sync_status(s)["result"] == "ok" for s in ("/common", "/site"))
            serving = self.proxies["s"].get("/traffic-status?json")[0] == 200
            return ok and serving
        return wait_until(synced, timeout, step=0.2, raise_on_timeout=False, ignore=(Exception,))

    def load(self, requests=4000, seconds=30.0, threads=8):
        ns = self.lab.ns("cl")
        client = LoadClient(80, MIXED_PATHS, threads=threads, max_requests=requests,
                            max_seconds=seconds, host=VIP, thread_context=lambda: in_netns(ns))
        return client.run()

    def split(self, since=0.0):
        """[(worker, loadfactor, requests, bytes)] as the workers logged them."""
        return [(name, w.loadfactor, w.requests_served(since), w.bytes_served(since))
                for name, w in self.workers.items()]

    # -- the story's events --------------------------------------------------------------------
    def primary_link_down(self):
        self.lab.link_down("p")

    def primary_link_up(self):
        self.lab.link_up("p")

    def edit_page(self, text):
        path = os.path.join(self.proxies["p"].root, "htdocs", "index.html")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def secondary_serves(self, text):
        status, body = self.proxies["s"].get("/index.html")
        return status == 200 and text.encode() in body

    def push_common_config(self, name, text):
        """Writes a file into the primary's shared configuration (synced to the secondary)."""
        path = os.path.join(self.proxies["p"].common, name)
        # Written aside and renamed, as an editor or a deploy does: a file seen half-written
        # is "changed on the primary since its manifest" on the secondary, not the config.
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)

    def remove_common_config(self, name):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.proxies["p"].common, name))

    def leftovers(self):
        """Namespaces of this run that still exist (should be none after __exit__)."""
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in names.splitlines()
                if line.startswith(self.lab.tag + "-")]
