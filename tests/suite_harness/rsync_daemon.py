"""An `rsync --daemon` on 127.0.0.1 serving one directory read-only: the anchor the docsync
benches compare with."""
import contextlib
import os
import re
import socket
import subprocess

from suite_harness.constants import LOOPBACK
from suite_harness.httpd import free_port
from suite_harness.waiting import wait_until


@contextlib.contextmanager
def rsync_daemon(src, work, module="bench"):
    """Runs the daemon (config and pid file in `work`) for the `with` block; yields
    (its process, the URL of `src`: rsync://127.0.0.1:<port>/<module>/)."""
    port = free_port()
    conf = os.path.join(work, "rsyncd.conf")
    with open(conf, "w") as f:
        f.write(f"pid file = {work}/rsyncd.pid\nuse chroot = no\nport = {port}\n"
                f"address = {LOOPBACK}\n[{module}]\npath = {src}\nread only = yes\n"
                "uid = root\ngid = root\n")
    daemon = subprocess.Popen(["rsync", "--daemon", "--no-detach", f"--config={conf}"])
    try:
        wait_until(lambda: socket.socket().connect_ex((LOOPBACK, port)) == 0, 10, step=0.01,
                   what="rsync daemon listening")
        yield daemon, f"rsync://{LOOPBACK}:{port}/{module}/"
    finally:
        daemon.terminate()
        daemon.wait(10)


def stats_bytes(out):
    """Bytes sent plus received, from the output of `rsync --stats`."""
    sent = int(re.search(r"Total bytes sent: ([\d,]+)", out).group(1).replace(",", ""))
    received = int(re.search(r"Total bytes received: ([\d,]+)", out).group(1).replace(",", ""))
    return sent + received
