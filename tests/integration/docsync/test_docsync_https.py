"""mod_docsync behind mod_ssl: the secondary verifies the primary's certificate (here against
DocSyncCACertificateFile) and refuses to sync from a server it cannot verify; the CA file
replaces the system trust store, and proxy variables in httpd's environment are ignored."""
import os
import shutil
import subprocess
import tempfile
import unittest

from suite_harness.docsync import new_primary, new_secondary, status_json, tree_state
from suite_harness import httpd as harness_httpd
from suite_harness.httpd import HTTPD_MODULE_DIR
from suite_harness.waiting import wait_until


def make_ca_and_server_cert(directory, ca_name="docsync test CA"):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", f"/CN={ca_name}")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    for name in os.listdir(directory):
        os.chmod(os.path.join(directory, name), 0o644)
    return {k: os.path.join(directory, f"{k}.pem") for k in ("ca", "server")} | {
        "key": os.path.join(directory, "server.key")}


def use_https(instance):
    """Points the secondary's DocSyncSource at https:// instead of http://."""
    with open(instance.conf_path) as f:
        text = f.read()
    with open(instance.conf_path, "w") as f:
        f.write(text.replace("http://127.0.0.1", "https://127.0.0.1"))


def tls_config(certs):
    """mod_ssl serving the primary's port with the certificate make_ca_and_server_cert made."""
    return (f"LoadModule socache_shmcb_module {HTTPD_MODULE_DIR}/mod_socache_shmcb.so\n"
            f"LoadModule ssl_module {HTTPD_MODULE_DIR}/mod_ssl.so\n"
            f"SSLEngine on\nSSLCertificateFile {certs['server']}\n"
            f"SSLCertificateKeyFile {certs['key']}\n")


class DocSyncOverHttps(unittest.TestCase):
    def test_sync_over_verified_https_and_refusal_without_trust(self):
        certs_dir = tempfile.mkdtemp(prefix="docsync-certs-")
        self.addCleanup(shutil.rmtree, certs_dir, True)
        os.chmod(certs_dir, 0o755)
        certs = make_ca_and_server_cert(certs_dir)
        primary, pdirs = new_primary(["docs"], extra=tls_config(certs))
        self.addCleanup(primary.cleanup)
        src = pdirs["docs"]
        with open(os.path.join(src, "index.html"), "w") as f:
            f.write("over TLS\n")
        primary.start()

        trusting, tdirs = new_secondary(
            primary.port, [("docs", "htdocs/synced", [])],
            extra=f'DocSyncCACertificateFile "{certs["ca"]}"')
        self.addCleanup(trusting.cleanup)
        use_https(trusting)
        trusting.start()
        wait_until(lambda: tree_state(src) == tree_state(tdirs["docs"]), timeout=30,
                   what="sync over https")

        untrusting, udirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(untrusting.cleanup)
        use_https(untrusting)
        untrusting.start()
        st = wait_until(lambda: (lambda s: s if s["result"] == "error" else None)(
            status_json(untrusting)["sources"][0]), timeout=30, what="verification failure")
        self.assertRegex(st["last_error"], "(?i)certificate|SSL")
        self.assertFalse(os.path.exists(os.path.join(udirs["docs"], "index.html")))

    def test_ca_file_replaces_the_system_store_and_proxies_are_ignored(self):
        """The primary's CA is in the *system* store (a private mount namespace gives the
        secondary an /etc/ssl/certs holding only it), DocSyncCACertificateFile names another
        CA: the secondary must refuse. http_proxy in its environment must not be used."""
        certs_dir = tempfile.mkdtemp(prefix="docsync-certs-")
        self.addCleanup(shutil.rmtree, certs_dir, True)
        os.chmod(certs_dir, 0o755)
        certs = make_ca_and_server_cert(certs_dir)
        other_dir = os.path.join(certs_dir, "other")
        os.makedirs(other_dir)
        other = make_ca_and_server_cert(other_dir, ca_name="another docsync test CA")
        system_store = os.path.join(certs_dir, "system-store")
        os.makedirs(system_store)
        shutil.copy(certs["ca"], os.path.join(system_store, "ca-certificates.crt"))
        shutil.copy(certs["ca"], os.path.join(system_store, "docsync-test-ca.pem"))
        subprocess.run(["openssl", "rehash", system_store], check=True, capture_output=True)
        wrapper = os.path.join(certs_dir, "apache2-with-store")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    f"exec unshare -m sh -c 'mount --bind {system_store} /etc/ssl/certs && "
                    "export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 "
                    f"all_proxy=http://127.0.0.1:9 && exec {harness_httpd.HTTPD_BINARY} \"$@\"' "
                    "sh \"$@\"\n")
        os.chmod(wrapper, 0o755)

        primary, pdirs = new_primary(["docs"], extra=tls_config(certs))
        self.addCleanup(primary.cleanup)
        with open(os.path.join(pdirs["docs"], "index.html"), "w") as f:
            f.write("over TLS\n")
        primary.start()

        def secondary(extra):
            inst, dirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])], extra=extra)
            self.addCleanup(inst.cleanup)
            use_https(inst)
            saved = harness_httpd.HTTPD_BINARY
            harness_httpd.HTTPD_BINARY = wrapper
            self.addCleanup(setattr, harness_httpd, "HTTPD_BINARY", saved)
            inst.start()
            return inst, dirs["docs"]

        # Without a CA file the system store (holding the primary's CA) is used, through no
        # proxy: the sync works, so the namespace and the variables are as intended.
        plain, plain_dst = secondary("")
        wait_until(lambda: os.path.exists(os.path.join(plain_dst, "index.html")), timeout=30,
                   what="sync trusting the system store")
        pinned, pinned_dst = secondary(f'DocSyncCACertificateFile "{other["ca"]}"')
        st = wait_until(lambda: (lambda s: s if s["result"] == "error" else None)(
            status_json(pinned)["sources"][0]), timeout=30, what="verification failure")
        self.assertRegex(st["last_error"], "(?i)certificate|SSL")
        self.assertFalse(os.path.exists(os.path.join(pinned_dst, "index.html")))


if __name__ == "__main__":
    unittest.main()
