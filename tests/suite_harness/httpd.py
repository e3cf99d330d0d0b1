"""Real Debian apache2 processes from generated configs in temp dirs.

Every test of the suite's modules runs through this file:

    with HttpdInstance("proxy", body, modules=PROXY_MODULES + ["balancer_traffic"]) as proxy:
        proxy.get("/")

An instance writes conf/httpd.conf under its own temp dir (ServerRoot), loads Debian's modules
from HTTPD_MODULE_DIR and ours from SUITE_MODULE_DIR (the fresh build), starts `apache2 -k start`,
waits until it answers, and on any failure prints its error log. Backends are the same class
with a docroot (`Backend`). Only loopback addresses are ever used (netns.NetnsHttpd runs the same
inside a test namespace).
"""
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import threading
import time

from suite_harness.constants import BACKEND_FILES, LOOPBACK
from suite_harness.failure_logs import print_error_logs

HTTPD_BINARY = os.environ.get("HTTPD_BINARY", "/usr/sbin/apache2")
HTTPD_MODULE_DIR = os.environ.get("HTTPD_MODULE_DIR", "/usr/lib/apache2/modules")
SUITE_MODULE_DIR = os.environ.get(
    "SUITE_MODULE_DIR",
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "modules"))

# Debian module name -> module record, for the stock modules tests load.
STOCK_MODULES = {
    "mpm_event": "mpm_event_module",
    "authz_core": "authz_core_module",
    "authz_host": "authz_host_module",
    "mime": "mime_module",
    "dir": "dir_module",
    "alias": "alias_module",
    "slotmem_shm": "slotmem_shm_module",
    "proxy": "proxy_module",
    "proxy_http": "proxy_http_module",
    "proxy_balancer": "proxy_balancer_module",
    "lbmethod_bytraffic": "lbmethod_bytraffic_module",
    "lbmethod_byrequests": "lbmethod_byrequests_module",
    "status": "status_module",
}
PROXY_MODULES = ["slotmem_shm", "proxy", "proxy_http", "proxy_balancer"]


def use_module_dir(path):
    """Load our modules from `path` (a build's modules/ directory) from now on."""
    global SUITE_MODULE_DIR
    SUITE_MODULE_DIR = os.path.abspath(path)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def run_user():
    """The unprivileged user httpd's children run as when the tests run as root."""
    for name in ("www-data", "daemon", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    return None


def ensure_system_user(name):
    """The unprivileged system user a module's process runs as (mod_docsync's DocSyncUser
    default), created if missing as .ci/install-deps and the Debian package do."""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam(name)
    if os.geteuid() == 0:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       check=False, capture_output=True, timeout=30)
    return pwd.getpwnam(name)


class HttpdError(RuntimeError):
    pass


class HttpdInstance:
    """One httpd with its own ServerRoot, config, logs and port on 127.0.0.1."""

    def __init__(self, name, body, modules=(), suite_modules=(), port=None, threads=25,
                 servers=2, root=None, extra_listen=()):
        self.name = name
        self.port = port or free_port()
        self.root = root or tempfile.mkdtemp(prefix=f"suite-{name}-")
        os.chmod(self.root, 0o755)  # children run as an unprivileged user and read docroots
        for sub in ("conf", "logs", "run", "htdocs"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        self.conf_path = os.path.join(self.root, "conf", "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.pid_file = os.path.join(self.root, "run", "httpd.pid")
        self.body = body
        self.modules = ["mpm_event", "authz_core", "mime", "dir"] + list(modules)
        self.suite_modules = list(suite_modules)
        if "docsync" in self.suite_modules and os.geteuid() == 0:
            ensure_system_user("docsync")
        self.threads = threads
        self.servers = servers
        self.extra_listen = list(extra_listen)
        self.write_config(body)

    # -- configuration --------------------------------------------------------------------
    def load_lines(self):
        lines = []
        seen = set()
        for m in self.modules:
            if m in seen:
                continue
            seen.add(m)
            lines.append(f"LoadModule {STOCK_MODULES[m]} {HTTPD_MODULE_DIR}/mod_{m}.so")
        for m in self.suite_modules:
            path = os.path.abspath(os.path.join(SUITE_MODULE_DIR, f"mod_{m}.so"))
            lines.append(f"LoadModule {m}_module {path}")
        return "\n".join(lines)

    def write_config(self, body):
        self.body = body
        user = run_user()
        user_lines = f"User {user}\nGroup {'www-data' if user == 'www-data' else 'nogroup'}" \
            if os.geteuid() == 0 and user else ""
        listens = "\n".join(f"Listen {LOOPBACK}:{p}" for p in [self.port] + self.extra_listen)
        text = textwrap.dedent(f"""\
            ServerRoot "{self.root}"
            ServerName {self.name}.test
            {listens}
            PidFile "{self.pid_file}"
            DefaultRuntimeDir "{self.root}/run"
            ErrorLog "{self.error_log}"
            LogLevel warn
            TypesConfig /etc/mime.types
            DocumentRoot "{self.root}/htdocs"
            MaxKeepAliveRequests 0
            """)
        text += user_lines + "\n"
        text += self.load_lines() + "\n"
        text += textwrap.dedent(f"""\
            StartServers {self.servers}
            ServerLimit {max(self.servers, 4)}
            ThreadsPerChild {self.threads}
            MaxRequestWorkers {self.threads * max(self.servers, 4)}
            MinSpareThreads {self.threads}
            MaxSpareThreads {self.threads * max(self.servers, 4)}
            <Directory "{self.root}/htdocs">
                Require all granted
            </Directory>
            """)
        text += body + "\n"
        with open(self.conf_path, "w") as f:
            f.write(text)

    # -- where it runs: the host (here) or a test namespace (netns.NetnsHttpd) ------------------
    def command_prefix(self):
        """What runs httpd's command line (empty: run it directly)."""
        return []

    def socket_context(self):
        """The context this thread makes its sockets to the instance in."""
        return contextlib.nullcontext()

    # -- lifecycle ------------------------------------------------------------------------
    def httpd(self, *args, check=True):
        cmd = self.command_prefix() + [HTTPD_BINARY, "-d", self.root, "-f", self.conf_path, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise HttpdError(f"{self.name}: {' '.join(cmd)} exited {proc.returncode}\n"
                             f"{proc.stdout}{proc.stderr}\n{self.error_log_text()}")
        return proc

    def configtest(self):
        return self.httpd("-t", check=False)

    def start(self, timeout=15):
        self.httpd("-k", "start")
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid() and self._port_open():
                return
            time.sleep(0.05)
        raise HttpdError(f"{self.name} did not become ready on port {self.port}\n"
                         f"{self.error_log_text()}")

    def _port_open(self):
        with self.socket_context():
            with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, self.port), 0.5):
                return True
        return False

    def pid(self):
        with contextlib.suppress(OSError, ValueError):
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        return None

    def generation_pids(self):
        """The parent and its children."""
        parent = self.pid()
        if not parent:
            return []
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True,
                             text=True).stdout.split()
        return [parent] + [int(p) for p in out]

    def graceful(self, timeout=15):
        before = self.error_log_size()
        self.httpd("-k", "graceful")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "resuming normal operations" in self.error_log_text(before):
                return
            time.sleep(0.05)
        raise HttpdError(f"{self.name}: graceful restart not completed\n{self.error_log_text()}")

    def stop(self, timeout=15):
        pid = self.pid()
        if not pid:
            return
        self.httpd("-k", "stop", check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.pid():
            time.sleep(0.05)
        if self.pid():
            self.kill()
        # httpd removes its pid file before its last pool cleanups run (a module may wait there
        # for a process of its own) and closes its listeners only when it exits: a start right
        # after would fail to bind. Wait until the port is free too.
        while time.monotonic() < deadline and self._port_open():
            time.sleep(0.02)

    def kill(self):
        """SIGKILL the whole instance (parent and children), as a crash would."""
        for pid in self.generation_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self._port_open():
            time.sleep(0.02)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.pid_file)

    def cleanup(self):
        self.stop()
        if os.environ.get("SUITE_KEEP_TMP") != "1":
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if exc[0] is not None:
            print_error_logs([self])
        self.cleanup()

    # -- logs -----------------------------------------------------------------------------
    def error_log_size(self):
        with contextlib.suppress(OSError):
            return os.path.getsize(self.error_log)
        return 0

    def error_log_text(self, offset=0):
        with contextlib.suppress(OSError):
            with open(self.error_log, errors="replace") as f:
                f.seek(offset)
                return f.read()
        return ""

    # -- requests -------------------------------------------------------------------------
    def url(self, path):
        return f"http://{LOOPBACK}:{self.port}{path}"

    def get(self, path, timeout=10, method="GET", body=None, headers=None):
        with self.socket_context():
            conn = http.client.HTTPConnection(LOOPBACK, self.port, timeout=timeout)
            conn.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def get_json(self, path):
        status, body = self.get(path)
        if status != 200:
            raise HttpdError(f"{self.name}: GET {path} -> {status}: {body[:300]!r}")
        return json.loads(body)


# Enough workers that a busy web worker never closes the proxy's kept-alive connections
# (mpm_event does that when it runs out of workers, and the proxy then answers 502).
WEB_WORKER_THREADS = 64


class ServesFixedFiles:
    """For an HttpdInstance that is a web worker: the BACKEND_FILES in its docroot, and an access
    log of every response's size."""

    def serve_fixed_files(self, extra_files=None, config=""):
        files = {name: bytes((i * 7 + 13) % 251 for i in range(size))
                 for name, size in BACKEND_FILES.items()}
        files.update({name: text.encode() for name, text in (extra_files or {}).items()})
        for fname, content in files.items():
            with open(os.path.join(self.root, "htdocs", fname), "wb") as f:
                f.write(content)
            os.chmod(os.path.join(self.root, "htdocs", fname), 0o644)
        self.access_log = os.path.join(self.root, "logs", "access.log")
        # %O: bytes sent including headers (mod_logio); %I: bytes received.
        self.write_config(config + textwrap.dedent(f"""\
            KeepAliveTimeout 30
            LogFormat "%{{usec}}t %I %O %U" timed
            CustomLog "{self.access_log}" timed
            """))

    def requests(self):
        """[(time_seconds, bytes_in, bytes_out, path)] for every request this backend served."""
        out = []
        with contextlib.suppress(FileNotFoundError), open(self.access_log) as log:
            for line in log:
                parts = line.split()
                if len(parts) == 4:
                    out.append((int(parts[0]) / 1e6, int(parts[1]), int(parts[2]), parts[3]))
        return out

    def requests_served(self, since=0.0):
        return sum(1 for t, *_ in self.requests() if t >= since)

    def bytes_served(self, since=0.0):
        return sum(i + o for t, i, o, _ in self.requests() if t >= since)


class Backend(ServesFixedFiles, HttpdInstance):
    """A web worker on 127.0.0.1: plain httpd serving fixed-size files and logging every
    response size."""

    def __init__(self, name, port=None):
        super().__init__(name, "", modules=[], port=port, threads=WEB_WORKER_THREADS, servers=2)
        self.serve_fixed_files({"health": "ok\n"})


class LoadClient:
    """Closed-loop HTTP load from a few threads, each on a keep-alive connection, bounded by a
    request count and a deadline. Records (start_time, status, path) for every request."""

    def __init__(self, port, paths, threads=8, max_requests=2000, max_seconds=20.0,
                 host=LOOPBACK, thread_context=None, failure_pause=0.0):
        """thread_context: a callable returning a context manager each load thread runs in
        (e.g. lambda: suite_harness.netns.in_netns(ns) for a client inside a test namespace).
        failure_pause: seconds a thread waits after a failed request before its next, as a
        retrying client would (0: at once)."""
        self.failure_pause = failure_pause
        self.port = port
        self.host = host
        self.thread_context = thread_context or contextlib.nullcontext
        self.paths = paths
        self.threads = threads
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.results = []
        self.retried = 0  # requests resent after a kept-alive connection was found closed
        self._lock = threading.Lock()
        self._count = 0
        self._stop = threading.Event()

    def _next(self):
        with self._lock:
            if self._count >= self.max_requests:
                return None
            self._count += 1
            return self._count

    def _worker(self, deadline):
        try:
            with self.thread_context():
                self._loop(deadline, conn_holder := [None])
        finally:
            if conn_holder[0]:
                conn_holder[0].close()

    def _loop(self, deadline, holder):
        while not self._stop.is_set() and time.monotonic() < deadline:
            n = self._next()
            if n is None:
                return
            path = self.paths[n % len(self.paths)]
            t = time.time()
            status = self._request(holder, path)
            with self._lock:
                self.results.append((t, status, path))
            if status == 0 and self.failure_pause:
                self._stop.wait(self.failure_pause)

    def _request(self, holder, path):
        """GET `path` on the kept-alive connection. Like a browser, a request that finds its
        kept-alive connection closed before any response (the server closed it while idle, as
        httpd does on a graceful restart) is sent once more on a new connection; a failure after
        the response started is not retried. Returns the status, 0 for no usable response."""
        for attempt in range(2):
            reused = holder[0] is not None
            if holder[0] is None:
                holder[0] = http.client.HTTPConnection(self.host, self.port, timeout=10)
            conn = holder[0]
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException):
                conn.close()
                holder[0] = None
                if reused and attempt == 0:
                    with self._lock:
                        self.retried += 1
                    continue
                return 0
            try:
                resp.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                holder[0] = None
                return 0
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                holder[0] = None
            return resp.status
        return 0

    def run(self):
        deadline = time.monotonic() + self.max_seconds
        workers = [threading.Thread(target=self._worker, args=(deadline,), daemon=True)
                   for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(self.max_seconds + 15)
        return self.results

    def start(self):
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        return self.results

    def wait(self):
        """After start(): until its count or deadline ends it; its results."""
        self._thread.join(self.max_seconds + 20)
        return self.results
