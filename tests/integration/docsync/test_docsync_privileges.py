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
import unittest

from suite_harness import procfs
from suite_harness.docsync import (SECRET, config_secondary, new_primary, probe, probe_alias,
                                   probe_dirs, replace_file, status_json)
from suite_harness.procfs import proc_status_words as proc_status
from suite_harness.waiting import wait_until

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


def memory_contains(pid, needle):
    """Whether `needle` is in the process's anonymous memory (heap, stacks, anonymous maps)."""
    return procfs.memory_contains(pid, needle, anonymous_only=True, max_region=256 << 20)


def run_as(uid, gid, argv):
    """argv as uid:gid with no supplementary groups: what the sync worker could do."""
    return subprocess.run(argv, user=uid, group=gid, extra_groups=[], capture_output=True,
                          text=True, timeout=30)


@unittest.skipUnless(os.geteuid() == 0, "needs root: httpd must start as root to drop to a user")
class SyncProcessPrivileges(unittest.TestCase):
    def setUp(self):
        self.probes = probe_dirs(("v1",), prefix="docsync-priv-probes-")
        self.addCleanup(shutil.rmtree, self.probes, True)
        self.primary, pdirs = new_primary(["conf"])
        self.src = pdirs["conf"]
        self.write_common(self.common_conf())
        self.primary.start()
        self.addCleanup(self.primary.cleanup)
        self.secondary, self.dst = config_secondary(self.primary.port, modules=["alias"])
        self.secondary.start()
        self.addCleanup(self.secondary.cleanup)
        self.user = pwd.getpwnam("docsync")
        wait_until(lambda: self.probe() == "v1", timeout=30, what="first sync applied")

    def common_conf(self, extra=""):
        return probe_alias(os.path.join(self.probes, "v1")) + extra

    def write_common(self, text):
        replace_file(os.path.join(self.src, "common.conf"), text)

    def probe(self):
        return probe(self.secondary)

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
        # Its persistent state directory beside the tree (the manifest version): yes.
        parent = os.path.dirname(self.dst)
        state = os.path.join(parent, ".docsync-state." + os.path.basename(self.dst), "probe")
        self.assertEqual(run_as(uid, gid, ["touch", state]).returncode, 0)
        os.unlink(state)
        conf = os.path.dirname(self.secondary.conf_path)
        for target in (os.path.join(conf, "planted.conf"), os.path.join(self.secondary.root, "x"),
                       os.path.join(self.secondary.root, "htdocs", "x"),
                       os.path.join(parent, ".docsync-state.planted")):
            r = run_as(uid, gid, ["touch", target])
            self.assertNotEqual(r.returncode, 0, target)
            self.assertFalse(os.path.exists(target), target)
        r = run_as(uid, gid, ["sh", "-c", f'echo x >> "{self.secondary.conf_path}"'])
        self.assertNotEqual(r.returncode, 0)
        with open(self.secondary.conf_path) as f:
            self.assertFalse(f.read().endswith("\nx\n"))

    def test_both_processes_survive_a_graceful_restart_and_are_restarted_when_killed(self):
        worker = self.worker_pid()
        helper = int(proc_status(worker)["PPid"][0])
        self.secondary.graceful()
        self.assertEqual(self.worker_pid(), worker)
        self.assertEqual(int(proc_status(worker)["PPid"][0]), helper)

        def restarted(old):
            def check():
                pid = status_json(self.secondary)["sync_child_pid"]
                if pid in (0, old) or not os.path.exists(f"/proc/{pid}"):
                    return None
                st = proc_status(pid)
                return pid if st["Name"] == ["docsync-sync"] else None
            return check
        # The worker dies: the helper goes with it and the supervisor in httpd starts both.
        os.kill(worker, 9)
        worker2 = wait_until(restarted(worker), timeout=30, what="worker restarted")
        st = proc_status(worker2)
        self.assertEqual(st["Uid"], [str(self.user.pw_uid)] * 4)
        helper2 = int(st["PPid"][0])
        self.assertNotEqual(helper2, helper)
        wait_until(lambda: not os.path.exists(f"/proc/{helper}/status") or
                   proc_status(helper)["State"][0] == "Z", timeout=10, what="old helper gone")
        # The helper dies: its worker ends too (PR_SET_PDEATHSIG) and both come back.
        os.kill(helper2, 9)
        worker3 = wait_until(restarted(worker2), timeout=30, what="worker restarted again")
        wait_until(lambda: not os.path.exists(f"/proc/{worker2}/status") or
                   proc_status(worker2)["State"][0] == "Z", timeout=10, what="old worker gone")
        self.assertEqual(proc_status(worker3)["Uid"][0], str(self.user.pw_uid))
        self.assertEqual(self.probe(), "v1")

    def test_a_secondary_only_server_keeps_the_secret_out_of_its_httpd_processes(self):
        worker = self.worker_pid()
        helper = int(proc_status(worker)["PPid"][0])
        needle = SECRET.encode()
        # The scan finds the secret where it must be: in the worker, which signs requests.
        self.assertTrue(memory_contains(worker, needle))
        httpd = [p for p in self.secondary.generation_pids() if p != helper]
        self.assertGreaterEqual(len(httpd), 2)  # the parent and at least one child
        for pid in httpd:
            self.assertFalse(memory_contains(pid, needle), f"secret in httpd process {pid}")

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
        st = wait_until(lambda: (lambda s: s if s["result"] == "config-rejected" else None)(
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
        wait_until(lambda: (lambda s: s if s["result"] == "ok" else None)(
            status_json(self.secondary)["sources"][0]), timeout=30, what="valid change applied")
        with open(os.path.join(self.dst, "common.conf")) as f:
            self.assertIn("v1 again, valid", f.read())
        self.assertEqual(self.secondary.pid(), parent)
        self.assertEqual(self.worker_pid(), worker_before)  # the graceful restart kept it


if __name__ == "__main__":
    unittest.main()
