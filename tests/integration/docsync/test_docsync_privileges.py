"""No root process parses network input: the sync worker, which talks to the primary and writes
the synced trees, runs as DocSyncUser without capabilities; the configtest of a synced
configuration runs as that user too (a synced module's constructor never runs as root); only a
small root helper, which reads nothing from the network, swaps the staging tree in and asks httpd
for the graceful restart."""
import os
import pwd
import shutil
import subprocess
import tempfile
import textwrap
import unittest

from docsync_helpers import new_primary, new_secondary, request, status_json, wait_for

# A module that is not one: its constructor records who loaded it, then httpd refuses it
# (no module record), so the configuration is rejected.
PROBE_SOURCE = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((constructor)) static void record_loader(void) {
    FILE *f = fopen(PROBE_OUT, "a");
    if (f) {
        fprintf(f, "%d %d\n", (int)getuid(), (int)geteuid());
        fclose(f);
    }
}
"""


def proc_status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def run_as(uid, gid, argv):
    """argv as uid:gid with no supplementary groups: what the sync worker could do."""
    return subprocess.run(argv, user=uid, group=gid, extra_groups=[], capture_output=True,
                          text=True, timeout=30)


@unittest.skipUnless(os.geteuid() == 0, "needs root: httpd must start as root to drop to a user")
class SyncProcessPrivileges(unittest.TestCase):
    def setUp(self):
        self.probes = tempfile.mkdtemp(prefix="docsync-priv-probes-")
        os.chmod(self.probes, 0o755)
        self.addCleanup(shutil.rmtree, self.probes, True)
        os.makedirs(os.path.join(self.probes, "v1"))
        os.chmod(os.path.join(self.probes, "v1"), 0o755)
        with open(os.path.join(self.probes, "v1", "x"), "w") as f:
            f.write("v1")
        self.primary, pdirs = new_primary(["conf"])
        self.src = pdirs["conf"]
        self.write_common(self.common_conf())
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondary, sdirs = new_secondary(self.primary.port,
                                              [("conf", "conf/common", ["restart=graceful"])],
                                              modules=["alias"])
        self.dst = sdirs["conf"]
        os.makedirs(self.dst)
        with open(self.secondary.conf_path, "a") as f:
            f.write(f'IncludeOptional "{self.dst}/*.conf"\n')
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)
        self.user = pwd.getpwnam("docsync")
        wait_for(lambda: self.probe() == "v1", timeout=30, what="first sync applied")

    def common_conf(self, extra=""):
        probe = os.path.join(self.probes, "v1")
        return textwrap.dedent(f"""\
            Alias /probe "{probe}"
            <Directory "{probe}">
                Require all granted
            </Directory>
            """) + extra

    def write_common(self, text):
        path = os.path.join(self.src, "common.conf")
        with open(path + ".new", "w") as f:
            f.write(text)
        os.replace(path + ".new", path)

    def probe(self):
        status, body, _ = request(self.secondary.port, "GET", "/probe/x")
        return body.decode() if status == 200 else f"HTTP {status}"

    def worker_pid(self):
        pid = status_json(self.secondary)["sync_child_pid"]
        self.assertGreater(pid, 0)
        return pid

    def test_the_process_that_talks_to_the_primary_is_not_root_and_has_no_capabilities(self):
        worker = self.worker_pid()
        st = proc_status(worker)
        self.assertEqual(st["Name"], ["docsync-sync"])
        self.assertEqual(st["Uid"], [str(self.user.pw_uid)] * 4)  # real, effective, saved, fs
        self.assertEqual(st["Gid"], [str(self.user.pw_gid)] * 4)
        self.assertEqual(st.get("Groups", []), [str(self.user.pw_gid)])
        for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
            self.assertEqual(int(st[caps][0], 16), 0, caps)
        self.assertEqual(st["NoNewPrivs"], ["1"])
        # Its parent is the privileged helper, a child of the httpd parent.
        helper = int(st["PPid"][0])
        hst = proc_status(helper)
        self.assertEqual(hst["Name"], ["docsync-priv"])
        self.assertEqual(hst["Uid"][0], "0")
        self.assertEqual(int(hst["PPid"][0]), self.secondary.pid())
        # The helper's and the worker's descriptors: only the worker has sockets to the network
        # (the helper holds just its socketpair end and stdio).
        helper_sockets = [os.readlink(f"/proc/{helper}/fd/{fd}")
                          for fd in os.listdir(f"/proc/{helper}/fd")]
        self.assertLessEqual(sum(1 for t in helper_sockets if t.startswith("socket:")), 1,
                             helper_sockets)

    def test_the_sync_user_can_write_the_synced_tree_and_nothing_else_of_the_server(self):
        # The rights of whatever uid the worker really runs as.
        st = proc_status(self.worker_pid())
        uid, gid = int(st["Uid"][1]), int(st["Gid"][1])
        # Its own tree: yes (so the check below is about rights, not a broken command).
        inside = os.path.join(self.dst, "probe-write")
        self.assertEqual(run_as(uid, gid, ["touch", inside]).returncode, 0)
        os.unlink(inside)
        conf = os.path.dirname(self.secondary.conf_path)
        for target in (os.path.join(conf, "planted.conf"), os.path.join(self.secondary.root, "x"),
                       os.path.join(self.secondary.root, "htdocs", "x")):
            r = run_as(uid, gid, ["touch", target])
            self.assertNotEqual(r.returncode, 0, target)
            self.assertFalse(os.path.exists(target), target)
        r = run_as(uid, gid, ["sh", "-c", f'echo x >> "{self.secondary.conf_path}"'])
        self.assertNotEqual(r.returncode, 0)
        with open(self.secondary.conf_path) as f:
            self.assertFalse(f.read().endswith("\nx\n"))

    def test_a_synced_module_runs_only_in_the_unprivileged_configtest(self):
        build = tempfile.mkdtemp(prefix="docsync-probe-so-")
        self.addCleanup(shutil.rmtree, build, True)
        os.chmod(build, 0o755)
        out_dir = os.path.join(build, "out")
        os.mkdir(out_dir)
        os.chmod(out_dir, 0o1777)  # whoever loads the probe may record itself
        out = os.path.join(out_dir, "loaded-by")
        src = os.path.join(build, "probe.c")
        with open(src, "w") as f:
            f.write(PROBE_SOURCE)
        so = os.path.join(build, "mod_probe.so")
        subprocess.run(["cc", "-shared", "-fPIC", f'-DPROBE_OUT="{out}"', "-o", so, src],
                       check=True, timeout=120)
        os.chmod(so, 0o755)
        worker_before = self.worker_pid()

        self.write_common(self.common_conf(f'LoadModule probe_module "{so}"\n'))
        st = wait_for(lambda: (lambda s: s if s["result"] == "config-rejected" else None)(
            status_json(self.secondary)["sources"][0]), timeout=30, what="config rejected")
        self.assertIn("probe_module", st["config_check_output"])
        with open(out) as f:
            loads = [tuple(int(x) for x in line.split()) for line in f if line.strip()]
        self.assertTrue(loads, "the configtest never loaded the probe")
        for uid, euid in loads:
            self.assertNotEqual(uid, 0)
            self.assertNotEqual(euid, 0)
            self.assertEqual(uid, self.user.pw_uid)
        with open(os.path.join(self.dst, "common.conf")) as f:
            self.assertNotIn("LoadModule", f.read())
        self.assertEqual(self.probe(), "v1")
        self.assertEqual(self.worker_pid(), worker_before)  # nothing crashed or restarted

        # A valid change is still swapped in (by the helper) and followed by a graceful restart.
        parent = self.secondary.pid()
        self.write_common(self.common_conf("# v1 again, valid\n"))
        wait_for(lambda: (lambda s: s if s["result"] == "ok" else None)(
            status_json(self.secondary)["sources"][0]), timeout=30, what="valid change applied")
        with open(os.path.join(self.dst, "common.conf")) as f:
            self.assertIn("v1 again, valid", f.read())
        self.assertEqual(self.secondary.pid(), parent)
        self.assertEqual(self.worker_pid(), worker_before)  # the graceful restart kept it


if __name__ == "__main__":
    unittest.main()
