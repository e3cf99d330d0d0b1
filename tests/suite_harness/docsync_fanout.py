"""One docsync primary and N secondaries on loopback, each a real apache2 with its own ServerRoot
and port: what the fan-out test and bench/docsync_fanout.py share. Also the /proc readings they
take of it (CPU time of a process group, context switches of a process's threads)."""
import contextlib
import os
import threading
import time

from suite_harness import docsync as h
from suite_harness.constants import LOOPBACK
from suite_harness.httpd import HttpdInstance

# Where a secondary serves the synced docroot, and where it keeps the synced common config.
SYNCED_URL_PREFIX = "/synced"
SYNCED_DOCS = "htdocs/synced"
SYNCED_CONF = "conf/common"


def primary_config(secret, exports, long_poll=None, rescan=None):
    """The primary's body; the module's defaults for DocSyncLongPoll and DocSyncRescanInterval
    unless given."""
    lines = [f'DocSyncSecretFile "{secret}"']
    if rescan is not None:
        lines.append(f"DocSyncRescanInterval {rescan}")
    if long_poll is not None:
        lines.append(f"DocSyncLongPoll {long_poll}")
    lines += [f'DocSyncExport {name} "{directory}"' for name, directory in exports.items()]
    lines += ["<Location /.docsync>", "    SetHandler docsync", "</Location>",
              "<Location /docsync-status>", "    SetHandler docsync-status", "</Location>"]
    return "\n".join(lines) + "\n"


def new_fanout_primary(exports, servers=1, long_poll=None, rescan="10s", access_log=False):
    """A primary (not started) exporting each name of `exports` from <root>/export/<name>;
    returns (instance, {name: dir}). With access_log, every request is logged with the bytes it
    received and sent on the wire (mod_logio's %I and %O, headers included) to logs/access.log."""
    inst = HttpdInstance("primary", "", suite_modules=["docsync"], servers=servers)
    secret = h.write_secret(os.path.join(inst.root, "conf"))
    dirs = {}
    os.makedirs(os.path.join(inst.root, "export"), exist_ok=True)
    os.chmod(os.path.join(inst.root, "export"), 0o755)
    for name in exports:
        dirs[name] = os.path.join(inst.root, "export", name)
        os.makedirs(dirs[name], exist_ok=True)
        os.chmod(dirs[name], 0o755)
    body = primary_config(secret, dirs, long_poll=long_poll, rescan=rescan)
    if access_log:
        inst.access_log = os.path.join(inst.root, "logs", "access.log")
        body += (f'LogFormat "%{{end:usec}}t %I %O %>s %U" wire\n'
                 f'CustomLog "{inst.access_log}" wire\n')
    inst.write_config(body)
    return inst, dirs


def new_fanout_secondary(primary_port, index, exports=("docs",), long_poll="25s", modules=()):
    """Secondary number `index` (not started): `docs` synced to htdocs/synced (served at
    /synced/), `conf` (if exported) to conf/common with restart=graceful and included by its
    own httpd.conf, as a node's local file includes the common part."""
    sources = []
    if "conf" in exports:
        sources.append(("conf", SYNCED_CONF, ["restart=graceful"]))
    if "docs" in exports:
        sources.append(("docs", SYNCED_DOCS, []))
    inst = HttpdInstance(f"secondary{index}", "", suite_modules=["docsync"], servers=1,
                         modules=list(modules))
    secret = h.write_secret(os.path.join(inst.root, "conf"))
    dirs = {export: os.path.join(inst.root, local) for export, local, _ in sources}
    urls = [[f"http://{LOOPBACK}:{primary_port}/.docsync/{export}", f'"{dirs[export]}"', *opts]
            for export, _, opts in sources]
    inst.write_config(h.secondary_body(secret, urls, long_poll=long_poll))
    if "conf" in exports:
        os.makedirs(dirs["conf"])
        with open(inst.conf_path, "a") as f:
            f.write(f'IncludeOptional "{dirs["conf"]}/*.conf"\n')
    return inst, dirs


def source_status(instance, export):
    """The status JSON of `instance`'s source for `export`."""
    for src in h.status_json(instance)["sources"]:
        if src["url"].endswith(f"/.docsync/{export}"):
            return src
    raise AssertionError(f"{instance.name}: no source for export {export}")


def serves(instance, path, body):
    """Whether `instance` answers GET `path` with 200 and exactly `body` (bytes)."""
    with contextlib.suppress(OSError):
        status, got, _ = h.request(instance.port, "GET", path, timeout=5)
        return status == 200 and got == body
    return False


# ---- /proc ------------------------------------------------------------------------------------

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """/proc/<pid>/stat from field 3 on (after the command name, which may hold spaces)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def pids_with(marker):
    """Processes whose command line contains `marker` (an instance's ServerRoot)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
    return found


def cpu_seconds(pids, with_reaped_children=True):
    """utime + stime of `pids` (every thread, live or exited), plus with_reaped_children the CPU
    time of their children that exited and were waited for (cutime + cstime): an httpd child that
    ends during a measurement still counts, through its parent."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            f = stat_fields(pid)
            ticks += int(f[11]) + int(f[12])  # utime, stime
            if with_reaped_children:
                ticks += int(f[13]) + int(f[14])  # cutime, cstime
    return ticks / CLOCK_TICK


def context_switches(pid):
    """Voluntary + involuntary context switches of every live thread of `pid`: how often it
    woke up (a thread that sleeps between attempts switches once per attempt, a busy loop that
    sleeps a millisecond a thousand times a second)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
    return total


def run_time_seconds(pids):
    """CPU run time of every live thread of `pids` from /proc/<pid>/task/<tid>/schedstat
    (nanoseconds, where utime+stime has 10 ms ticks); threads that exited are not in it."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError, ValueError, IndexError):
                    with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                        total += int(f.read().split()[0])
    return total / 1e9


# ---- secondaries restarting in a loop, against a small primary ---------------------------------

ORDINARY_PAGE = b"<h1>an ordinary page</h1>\n"


def small_worker_pool(instance, workers):
    """Rewrites `instance`'s config (already written) for one child of `workers` threads: its
    MaxRequestWorkers is `workers`, whatever ServerLimit the harness would give it."""
    with open(instance.conf_path) as f:
        lines = f.read().splitlines()
    pool = {"StartServers": 1, "ServerLimit": 1, "ThreadsPerChild": workers,
            "MaxRequestWorkers": workers, "MinSpareThreads": 1, "MaxSpareThreads": workers}
    out = [f"{line.split()[0]} {pool[line.split()[0]]}" if line.split() and line.split()[0]
           in pool else line for line in lines]
    with open(instance.conf_path, "w") as f:
        f.write("\n".join(out) + "\n")


def with_server_status(instance):
    """mod_status on `instance` (before write_config): /server-status?auto shows BusyWorkers."""
    instance.modules.append("status")
    return ("ExtendedStatus On\n<Location /server-status>\n    SetHandler server-status\n"
            "</Location>\n")


def busy_workers(instance, timeout=1.0):
    """BusyWorkers from mod_status (None if it did not answer in time: it needs a worker too)."""
    with contextlib.suppress(OSError, ValueError):
        status, body, _ = h.request(instance.port, "GET", "/server-status?auto", timeout=timeout)
        if status == 200:
            for line in body.decode("latin-1").splitlines():
                if line.startswith("BusyWorkers:"):
                    return int(line.split(":", 1)[1])
    return None


class PageProber:
    """GET `path` on a fresh connection every `period` s (each with `timeout`), at most `limit`
    probes or `max_seconds`: an ordinary visitor. Records (ok, seconds, detail) per probe."""

    def __init__(self, port, path="/page.html", body=ORDINARY_PAGE, period=0.1, timeout=3.0,
                 limit=5000, max_seconds=600.0):
        self.port, self.path, self.body = port, path, body
        self.period, self.timeout, self.limit, self.max_seconds = period, timeout, limit, \
            max_seconds
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        while (not self._stop.is_set() and len(self.results) < self.limit
               and time.monotonic() < deadline):
            t = time.monotonic()
            try:
                status, got, _ = h.request(self.port, "GET", self.path, timeout=self.timeout)
                ok, detail = status == 200 and got == self.body, status
            except OSError as e:
                ok, detail = False, repr(e)
            took = time.monotonic() - t
            if ok and took > self.timeout:  # answered, but a visitor would have given up
                ok, detail = False, f"{took:.1f} s"
            self.results.append((ok, took, detail))
            self._stop.wait(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(self.timeout + 5)

    def failures(self):
        return [detail for ok, _, detail in self.results if not ok]

    def latencies(self):
        return sorted(s for _, s, _ in self.results)


class RestartLoop:
    """Each of `secondaries` stopped and started over and over (its httpd, sync process with
    it: what a node being redeployed or crash-looping does), one thread per secondary, the
    threads staggered over the first `up` seconds; each stays up `up` s between restarts. Ends
    after `seconds` or `most_restarts` per secondary, whichever comes first, every secondary
    left running. `restarts` counts the completed ones; `errors` what failed to start."""

    def __init__(self, secondaries, seconds, up=1.0, most_restarts=100):
        self.secondaries, self.seconds, self.up = list(secondaries), seconds, up
        self.most_restarts = most_restarts
        self.restarts = [0] * len(self.secondaries)
        self.errors = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True)
                         for i in range(len(self.secondaries))]

    def _loop(self, index):
        sec = self.secondaries[index]
        deadline = time.monotonic() + self.seconds
        # Staggered, and not in lockstep afterwards: uptimes vary by secondary and round.
        self._stop.wait(self.up * index / len(self.secondaries))
        while (not self._stop.is_set() and time.monotonic() < deadline
               and self.restarts[index] < self.most_restarts):
            try:
                sec.stop()
                sec.start(timeout=60)
                self.restarts[index] += 1
            except Exception as e:  # noqa: BLE001 - recorded, the loop goes on bounded
                self.errors.append(f"{sec.name}: {e}")
                with contextlib.suppress(Exception):
                    sec.start(timeout=60)
            self._stop.wait(self.up * (0.5 + ((index + self.restarts[index]) % 4) / 4))

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def wait(self):
        for t in self._threads:
            t.join(self.seconds + 130)

    def __exit__(self, *exc):
        self._stop.set()
        self.wait()
