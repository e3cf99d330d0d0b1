"""Configuration errors stop httpd at startup with a message naming the directive."""
import os
import pwd
import subprocess
import unittest

from suite_harness.docsync import write_secret
from suite_harness.httpd import HTTPD_BINARY, HttpdInstance, ensure_system_user


class DirectiveErrors(unittest.TestCase):
    def configtest(self, body_for):
        inst = HttpdInstance("directives", "", suite_modules=["docsync"], servers=1)
        self.addCleanup(inst.cleanup)
        inst.write_config(body_for(inst.root))
        proc = inst.configtest()
        return proc.returncode, proc.stdout + proc.stderr

    def assert_refused(self, body_for, directive, reason):
        rc, out = self.configtest(body_for)
        self.assertNotEqual(rc, 0, out)
        self.assertIn(directive, out)
        self.assertIn(reason, out)

    def test_secret_file_readable_by_others_is_refused(self):
        def body(root):
            path = write_secret(os.path.join(root, "conf"), mode=0o644)
            return f'DocSyncSecretFile "{path}"'
        self.assert_refused(body, "DocSyncSecretFile", "readable or writable by others")

    def test_short_or_missing_secret_is_refused(self):
        def short(root):
            path = write_secret(os.path.join(root, "conf"), secret="short")
            return f'DocSyncSecretFile "{path}"'
        self.assert_refused(short, "DocSyncSecretFile", "shorter than 16 bytes")
        self.assert_refused(lambda root: f'DocSyncSecretFile "{root}/nope"', "DocSyncSecretFile",
                            "No such file")

    def test_bad_sources_and_exports_are_refused(self):
        def secret(root):
            return f'DocSyncSecretFile "{write_secret(os.path.join(root, "conf"))}"\n'
        self.assert_refused(lambda r: secret(r) + "DocSyncSource http://127.0.0.1:1/x relative/dir",
                            "DocSyncSource", "absolute path")
        self.assert_refused(lambda r: secret(r) + "DocSyncSource ftp://h/x /tmp/x",
                            "DocSyncSource", "http:// or https://")
        self.assert_refused(lambda r: secret(r) + "DocSyncSource http://h/x /tmp/x delete=maybe",
                            "DocSyncSource", "unknown option")
        for option, reason in [("max-delete=lots", "max-delete"), ("max-files=0", "max-files"),
                               ("max-bytes=much", "max-bytes"), ("stall-timeout=0", "stall-timeout"),
                               ("empty-manifest=yes", "empty-manifest")]:
            self.assert_refused(lambda r: secret(r) + f"DocSyncSource http://h/x /tmp/x {option}",
                                "DocSyncSource", reason)
        self.assert_refused(lambda r: secret(r) + f"DocSyncSource http://h/a {r}/d\n"
                            f"DocSyncSource http://h/b {r}/d/sub", "DocSyncSource", "inside")
        self.assert_refused(lambda r: secret(r) + f'DocSyncExport "bad name" "{r}"',
                            "DocSyncExport", "export name")
        self.assert_refused(lambda r: secret(r) + f'DocSyncExport x "{r}/missing"',
                            "DocSyncExport", "not a directory")
        self.assert_refused(lambda r: secret(r) + "DocSyncLongPoll 1h", "DocSyncLongPoll",
                            "between")
        self.assert_refused(lambda r: secret(r) + "<VirtualHost 127.0.0.1:1>\n"
                            f'DocSyncExport x "{r}"\n</VirtualHost>', "DocSyncExport",
                            "VirtualHost")

    def test_sync_user_must_exist_and_not_be_root(self):
        def body(user):
            return lambda r: (f'DocSyncSecretFile "{write_secret(os.path.join(r, "conf"))}"\n'
                              f"DocSyncUser {user}")
        self.assert_refused(body("no-such-docsync-user"), "DocSyncUser",
                            "adduser --system --group --no-create-home no-such-docsync-user")
        self.assert_refused(body("root"), "DocSyncUser", "must not run as root")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the check as another user")
    def test_unprivileged_configtest_accepts_an_unreadable_secret_but_not_a_missing_one(self):
        user = ensure_system_user("docsync")
        inst = HttpdInstance("directives", "", suite_modules=["docsync"], servers=1)
        self.addCleanup(inst.cleanup)

        def check_as_sync_user(body):
            inst.write_config(body)
            return subprocess.run(
                [HTTPD_BINARY, "-t", "-d", inst.root, "-f", inst.conf_path,
                 "-D", "DocSyncUnprivilegedConfigTest"], user=user.pw_uid, group=user.pw_gid,
                extra_groups=[], capture_output=True, text=True, timeout=60)
        secret = write_secret(os.path.join(inst.root, "conf"))  # 0600 root: unreadable to it
        ok = check_as_sync_user(f'DocSyncSecretFile "{secret}"')
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        missing = check_as_sync_user(f'DocSyncSecretFile "{inst.root}/conf/missing.secret"')
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("DocSyncSecretFile", missing.stdout + missing.stderr)
        # Without the define, a check that cannot read the secret fails as before.
        inst.write_config(f'DocSyncSecretFile "{secret}"')
        plain = subprocess.run([HTTPD_BINARY, "-t", "-d", inst.root, "-f", inst.conf_path],
                               user=user.pw_uid, group=user.pw_gid, extra_groups=[],
                               capture_output=True, text=True, timeout=60)
        self.assertNotEqual(plain.returncode, 0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root to run the check as another user")
    def test_unprivileged_configtest_accepts_an_unreadable_signing_key_but_not_a_missing_one(self):
        # A synced configuration of a relaying secondary may name the primary-side key (0600,
        # root's): the sync user's configtest cannot read it, the real start checks it.
        user = ensure_system_user("docsync")
        inst = HttpdInstance("directives", "", suite_modules=["docsync"], servers=1)
        self.addCleanup(inst.cleanup)
        secret = write_secret(os.path.join(inst.root, "conf"))
        key = os.path.join(inst.root, "conf", "signing.key")
        subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True,
                       capture_output=True, timeout=60)
        os.chmod(key, 0o600)

        def check_as_sync_user(key_path):
            inst.write_config(f'DocSyncSecretFile "{secret}"\nDocSyncSigningKeyFile "{key_path}"')
            return subprocess.run(
                [HTTPD_BINARY, "-t", "-d", inst.root, "-f", inst.conf_path,
                 "-D", "DocSyncUnprivilegedConfigTest"], user=user.pw_uid, group=user.pw_gid,
                extra_groups=[], capture_output=True, text=True, timeout=60)
        ok = check_as_sync_user(key)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        missing = check_as_sync_user(os.path.join(inst.root, "conf", "missing.key"))
        self.assertNotEqual(missing.returncode, 0)
        self.assertIn("DocSyncSigningKeyFile", missing.stdout + missing.stderr)

    def test_export_without_secret_fails_at_startup(self):
        inst = HttpdInstance("directives", "", suite_modules=["docsync"], servers=1)
        self.addCleanup(inst.cleanup)
        inst.write_config(f'DocSyncExport docs "{inst.root}/htdocs"')
        with self.assertRaises(Exception):
            inst.start(timeout=5)
        self.assertIn("DocSyncSecretFile", inst.error_log_text())


if __name__ == "__main__":
    unittest.main()
