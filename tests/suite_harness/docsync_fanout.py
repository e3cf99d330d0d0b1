"""One docsync primary and N secondaries on loopback, each a real apache2 with its own ServerRoot
and port: what the fan-out test and bench/docsync_fanout.py share. Also the /proc readings they
take of it (CPU time of a process group, context switches of a process's threads)."""
import contextlib
import os

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
