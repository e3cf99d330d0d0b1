"""Configuration errors stop httpd at startup with a message naming the directive."""
import os
import unittest

from docsync_helpers import write_secret
from httpd_fixture import HttpdInstance


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

    def test_export_without_secret_fails_at_startup(self):
        inst = HttpdInstance("directives", "", suite_modules=["docsync"], servers=1)
        self.addCleanup(inst.cleanup)
        inst.write_config(f'DocSyncExport docs "{inst.root}/htdocs"')
        with self.assertRaises(Exception):
            inst.start(timeout=5)
        self.assertIn("DocSyncSecretFile", inst.error_log_text())


if __name__ == "__main__":
    unittest.main()
