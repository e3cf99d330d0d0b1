"""The shipped example configurations of the whole system pass `apache2 -t` with this build."""
import os
import shutil
import subprocess
import tempfile
import unittest

from suite_harness.httpd import HTTPD_BINARY, HTTPD_MODULE_DIR, SUITE_MODULE_DIR

CONF = os.path.join(os.path.dirname(__file__), "..", "..", "..", "conf")
SUITE = ("balancer_traffic", "ha_heartbeat", "docsync")


class ExampleConfigurations(unittest.TestCase):
    def prepare(self, example):
        """A copy of `example` whose paths point into a scratch root and at this build."""
        root = tempfile.mkdtemp(prefix="suite-example-")
        self.addCleanup(shutil.rmtree, root, True)
        for sub in ("common", "site", "run", "log", "app"):
            os.makedirs(os.path.join(root, sub))
        shutil.copy(os.path.join(CONF, "system", "common", "cluster.conf.example"),
                    os.path.join(root, "common", "cluster.conf"))
        for key in ("ha.key", "docsync.secret"):
            path = os.path.join(root, key)
            with open(path, "w") as f:
                f.write("example-secret-0123456789abcdef\n")
            os.chmod(path, 0o600)
        # The primary's docsync TLS certificate, and the CA file the secondary trusts.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=192.0.2.10", "-keyout", os.path.join(root, "docsync-tls.key"),
                        "-out", os.path.join(root, "docsync-tls.crt")], check=True,
                       capture_output=True)
        shutil.copy(os.path.join(root, "docsync-tls.crt"), os.path.join(root, "docsync-ca.pem"))
        with open(os.path.join(CONF, "system", example)) as f:
            text = f.read()
        for name in SUITE:
            text = text.replace(f"/usr/lib/apache2/modules/mod_{name}.so",
                                os.path.abspath(os.path.join(SUITE_MODULE_DIR, f"mod_{name}.so")))
        text = (text.replace("/usr/lib/apache2/modules", HTTPD_MODULE_DIR)
                .replace("/etc/apache2", root).replace("/var/www/site", f"{root}/site")
                .replace("/var/www/app", f"{root}/app").replace("/run/apache2", f"{root}/run")
                .replace("/var/log/apache2", f"{root}/log"))
        conf = os.path.join(root, example.replace(".example", ""))
        with open(conf, "w") as f:
            f.write(text)
        # The shared part is Included with its own paths: point those into the root too.
        common = os.path.join(root, "common", "cluster.conf")
        with open(common) as f:
            shared = f.read().replace("/var/www/site", f"{root}/site")
        with open(common, "w") as f:
            f.write(shared)
        return conf

    def configtest(self, example):
        conf = self.prepare(example)
        proc = subprocess.run([HTTPD_BINARY, "-t", "-f", conf], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, f"{example}:\n{proc.stdout}{proc.stderr}")

    def test_modules_answer_to_their_conventional_names(self):
        # httpd names a module after the source file in its record; <IfModule mod_x.c> relies on it.
        root = tempfile.mkdtemp(prefix="suite-names-")
        self.addCleanup(shutil.rmtree, root, True)
        lines = [f"ServerRoot {root}", "ServerName localhost", f"ErrorLog {root}/error.log", "Listen 127.0.0.1:9",
                 f"LoadModule mpm_event_module {HTTPD_MODULE_DIR}/mod_mpm_event.so",
                 f"LoadModule authz_core_module {HTTPD_MODULE_DIR}/mod_authz_core.so",
                 f"LoadModule proxy_module {HTTPD_MODULE_DIR}/mod_proxy.so",
                 f"LoadModule proxy_balancer_module {HTTPD_MODULE_DIR}/mod_proxy_balancer.so",
                 f"LoadModule slotmem_shm_module {HTTPD_MODULE_DIR}/mod_slotmem_shm.so"]
        for name in SUITE:
            so = os.path.abspath(os.path.join(SUITE_MODULE_DIR, f"mod_{name}.so"))
            lines.append(f"LoadModule {name}_module {so}")
        for name in SUITE:
            lines += [f"<IfModule !mod_{name}.c>", f'    Error "mod_{name}.c is not known"',
                      "</IfModule>"]
        conf = os.path.join(root, "names.conf")
        with open(conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        proc = subprocess.run([HTTPD_BINARY, "-t", "-f", conf], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_primary(self):
        self.configtest("primary.conf.example")

    def test_secondary(self):
        self.configtest("secondary.conf.example")

    def test_worker(self):
        self.configtest("worker.conf.example")


if __name__ == "__main__":
    unittest.main()
