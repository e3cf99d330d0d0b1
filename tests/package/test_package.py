"""The Debian package: built with CPack, unpacked into a scratch root, contents checked."""
import glob
import os
import subprocess
import tempfile
import unittest

BUILD_DIR = os.environ["SUITE_BUILD_DIR"]
MODULE_DIR = os.environ.get("HTTPD_MODULE_DIR", "/usr/lib/apache2/modules")
MODULES = [m for m in os.environ.get("SUITE_MODULE_NAMES", "").split(";") if m]


class DebianPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="suite-deb-")
        subprocess.run(["cpack", "-G", "DEB", "-B", cls.workdir], cwd=BUILD_DIR, check=True,
                       capture_output=True, timeout=600)
        debs = glob.glob(os.path.join(cls.workdir, "*.deb"))
        assert len(debs) == 1, debs
        cls.deb = debs[0]
        cls.root = os.path.join(cls.workdir, "root")
        subprocess.run(["dpkg-deb", "-x", cls.deb, cls.root], check=True)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.workdir], check=False)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True,
                              text=True, check=True).stdout.strip()

    def test_named_and_versioned_as_a_debian_httpd_module_package(self):
        self.assertEqual(self.field("Package"), "libapache2-mod-ha-suite")
        self.assertTrue(self.field("Version"))
        self.assertEqual(self.field("Section"), "httpd")

    def test_declares_the_httpd_module_abi_and_library_dependencies(self):
        depends = self.field("Depends")
        self.assertIn("apache2-api-20120211", depends)
        self.assertIn("libc6", depends)  # from dpkg-shlibdeps
        self.assertIn("libstdc++6", depends)

    def test_installs_each_module_with_its_load_file(self):
        for name in MODULES:
            so = os.path.join(self.root, MODULE_DIR.lstrip("/"), f"mod_{name}.so")
            self.assertTrue(os.path.isfile(so), so)
            load = os.path.join(self.root, "etc/apache2/mods-available", f"{name}.load")
            with open(load) as f:
                text = f.read()
            self.assertIn(f"LoadModule {name}_module {MODULE_DIR}/mod_{name}.so", text)

    def test_balancer_traffic_enables_its_dependencies_through_a2enmod(self):
        if "balancer_traffic" not in MODULES:
            self.skipTest("mod_balancer_traffic not built")
        load = os.path.join(self.root, "etc/apache2/mods-available/balancer_traffic.load")
        with open(load) as f:
            self.assertIn("# Depends: proxy_balancer", f.read())
        conf = os.path.join(self.root, "etc/apache2/mods-available/balancer_traffic.conf")
        self.assertTrue(os.path.isfile(conf))

    def test_postinst_creates_each_system_user_once(self):
        # docsync: mod_docsync's sync worker (DocSyncUser); haheartbeat: the heartbeat process
        # (HAUser). Both are created in every package, whichever modules an admin enables.
        control = os.path.join(self.workdir, "control")
        subprocess.run(["dpkg-deb", "-e", self.deb, control], check=True)
        postinst = os.path.join(control, "postinst")
        self.assertTrue(os.access(postinst, os.X_OK), "postinst missing or not executable")
        self.assertIn("adduser", self.field("Depends"))
        # Run it against a stand-in adduser/getent/install that record their calls: a missing
        # user is created once; an existing one is left alone.
        fake = os.path.join(self.workdir, "fakebin")
        os.makedirs(fake, exist_ok=True)
        calls = os.path.join(self.workdir, "calls")
        users = os.path.join(self.workdir, "users")
        scripts = {
            "adduser": f'echo "adduser $*" >> {calls}; for a; do last=$a; done; '
                       f'echo "$last" >> {users}',
            "getent": f'grep -qx "$2" {users} 2>/dev/null',
            "install": f'echo "install $*" >> {calls}',
        }
        for name, body in scripts.items():
            path = os.path.join(fake, name)
            with open(path, "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(path, 0o755)
        env = dict(os.environ, PATH=fake + ":" + os.environ["PATH"])
        for _ in range(2):
            subprocess.run(["sh", postinst, "configure"], env=env, check=True, timeout=30)
        with open(calls) as f:
            lines = f.read().splitlines()
        adds = [l for l in lines if l.startswith("adduser")]
        self.assertEqual(sorted(a.split()[-1] for a in adds), ["docsync", "haheartbeat"], lines)
        for add in adds:
            self.assertIn("--system", add)
            self.assertIn("--no-create-home", add)
        subprocess.run(["sh", "-n", postinst], check=True)


if __name__ == "__main__":
    unittest.main()
