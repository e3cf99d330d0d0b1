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
import json
import os
import shutil
import socket
import subprocess
import textwrap
import threading
import time

from httpd_fixture import BACKEND_FILES, PROXY_MODULES, LoadClient
from netns_fixture import NetnsHttpd, NetnsLab, Prober, in_netns

SUBNET = "10.231.0"
VIP = f"{SUBNET}.100"
CLIENT_IP = f"{SUBNET}.200"
PROXIES = {"p": (f"{SUBNET}.1", 200), "s": (f"{SUBNET}.2", 100)}
WORKERS = {"w1": (f"{SUBNET}.11", 3), "w2": (f"{SUBNET}.12", 7)}
SYNC_PORT = 8081  # the primary's docsync export, on its LAN address
MIXED_PATHS = ["/app/s1k"] * 6 + ["/app/s10k"] * 3 + ["/app/s100k"]
HA_SECRET = "demo-heartbeat-secret-0123456789abcdef\n"
SYNC_SECRET = "demo-docsync-secret-0123456789abcdef\n"


def write_private(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


class Worker(NetnsHttpd):
    """A web worker: fixed-size files under /, its name at /whoami, every response logged."""

    def __init__(self, lab, name):
        self.address, self.loadfactor = WORKERS[name]
        super().__init__(lab, name, "", threads=64, servers=2)
        for fname, size in BACKEND_FILES.items():
            with open(os.path.join(self.root, "htdocs", fname), "wb") as f:
                f.write(bytes((i * 7 + 13) % 251 for i in range(size)))
        with open(os.path.join(self.root, "htdocs", "whoami"), "w") as f:
            f.write(name + "\n")
        self.access_log = os.path.join(self.root, "logs", "access.log")
        self.write_config(textwrap.dedent(f"""\
            Listen {self.address}:80
            KeepAliveTimeout 30
            LogFormat "%{{usec}}t %I %O %U" timed
            CustomLog "{self.access_log}" timed
            """))

    def bytes_served(self, since=0.0):
        total = 0
        with contextlib.suppress(FileNotFoundError), open(self.access_log) as log:
            for line in log:
                parts = line.split()
                if len(parts) == 4 and int(parts[0]) / 1e6 >= since:
                    total += int(parts[1]) + int(parts[2])
        return total

    def requests_served(self, since=0.0):
        with contextlib.suppress(FileNotFoundError), open(self.access_log) as log:
            return sum(1 for line in log
                       if len(line.split()) == 4 and int(line.split()[0]) / 1e6 >= since)
        return 0


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


class Forwarder:
    """Host 127.0.0.1:<port> -> a namespace's 127.0.0.1:<port>, so a browser on the host can
    open the status pages. Connections are made from inside the namespace."""

    def __init__(self, netns, target_port, listen_port=0):
        self.netns, self.target_port = netns, target_port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client):
        try:
            with in_netns(self.netns):
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
        except OSError:
            client.close()
            return

        def pump(src, dst):
            with contextlib.suppress(OSError):
                while data := src.recv(65536):
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=pump, args=(upstream, client), daemon=True)
        t.start()
        pump(client, upstream)
        t.join(30)
        client.close()
        upstream.close()

    def close(self):
        self._stop.set()
        self.sock.close()


def wait_until(predicate, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            result = predicate()
            if result:
                return result
        time.sleep(step)
    return None


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
        for h in reversed(self.instances):
            if exc and exc[0] is not None:
                print(f"--- {h.name} error log (tail) ---\n{h.error_log_text()[-3000:]}")
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
                self.forwarders[name] = Forwarder(self.lab.ns(name), proxy.port)

    # -- observation -------------------------------------------------------------------------
    def holders(self):
        return self.lab.holders(VIP, list(PROXIES))

    def wait_for_holder(self, name, timeout=10.0):
        return wait_until(lambda: self.holders() == [name], timeout)

    def who_answers(self, timeout=0.5):
        prober = Prober(self.lab, "cl", VIP, 80, timeout=timeout)
        with in_netns(self.lab.ns("cl")):
            _, ok, who = prober.probe_once()
        return who if ok else None

    def client_get(self, path, timeout=2.0):
        """GET http://<service address><path> from the client host: (status, body)."""
        import http.client
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
        return wait_until(synced, timeout, step=0.2)

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
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o644)

    def remove_common_config(self, name):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.proxies["p"].common, name))

    def leftovers(self):
        """Namespaces of this run that still exist (should be none after __exit__)."""
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        return [line.split()[0] for line in names.splitlines()
                if line.startswith(self.lab.tag + "-")]
