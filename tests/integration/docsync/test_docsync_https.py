"""mod_docsync behind mod_ssl: the secondary verifies the primary's certificate (here against
DocSyncCACertificateFile) and refuses to sync from a server it cannot verify."""
import os
import shutil
import subprocess
import tempfile
import unittest

from docsync_helpers import new_primary, new_secondary, status_json, tree_state, wait_for
from httpd_fixture import HTTPD_MODULE_DIR


def make_ca_and_server_cert(directory):
    """A throwaway CA and a certificate for 127.0.0.1 signed by it."""
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=docsync test CA")
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


class DocSyncOverHttps(unittest.TestCase):
    def test_sync_over_verified_https_and_refusal_without_trust(self):
        certs_dir = tempfile.mkdtemp(prefix="docsync-certs-")
        self.addCleanup(shutil.rmtree, certs_dir, True)
        os.chmod(certs_dir, 0o755)
        certs = make_ca_and_server_cert(certs_dir)
        ssl = (f"LoadModule socache_shmcb_module {HTTPD_MODULE_DIR}/mod_socache_shmcb.so\n"
               f"LoadModule ssl_module {HTTPD_MODULE_DIR}/mod_ssl.so\n"
               f"SSLEngine on\nSSLCertificateFile {certs['server']}\n"
               f"SSLCertificateKeyFile {certs['key']}\n")
        primary, pdirs = new_primary(["docs"], extra=ssl)
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
        wait_for(lambda: tree_state(src) == tree_state(tdirs["docs"]), timeout=30,
                 what="sync over https")

        untrusting, udirs = new_secondary(primary.port, [("docs", "htdocs/synced", [])])
        self.addCleanup(untrusting.cleanup)
        use_https(untrusting)
        untrusting.start()
        st = wait_for(lambda: (lambda s: s if s["result"] == "error" else None)(
            status_json(untrusting)["sources"][0]), timeout=30, what="verification failure")
        self.assertRegex(st["last_error"], "(?i)certificate|SSL")
        self.assertFalse(os.path.exists(os.path.join(udirs["docs"], "index.html")))


if __name__ == "__main__":
    unittest.main()
