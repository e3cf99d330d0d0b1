"""Helpers for the mod_docsync integration tests: a primary and a secondary httpd on loopback,
request signing as the module does it, tree comparison and bounded waiting."""
import contextlib
import hashlib
import hmac
import http.client
import json
import os
import secrets
import stat
import tempfile
import time

from httpd_fixture import HttpdInstance, LOOPBACK

SECRET = "docsync-integration-test-secret-0123456789"


def write_secret(directory, secret=SECRET, mode=0o600):
    path = os.path.join(directory, "docsync.secret")
    with open(path, "w") as f:
        f.write(secret + "\n")
    os.chmod(path, mode)
    return path


def signed_headers(method, path_and_query, secret=SECRET, timestamp=None, nonce=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    msg = f"{method}\n{path_and_query}\n{ts}\n{nonce}".encode()
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return {"X-DocSync-Time": ts, "X-DocSync-Nonce": nonce, "X-DocSync-Signature": sig}


def request(port, method, path, body=None, headers=None, timeout=30):
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read(), dict(resp.getheaders())
    finally:
        conn.close()


def signed_request(port, method, path, body=None, extra=None, **kw):
    headers = signed_headers(method, path, **kw)
    headers.update(extra or {})
    return request(port, method, path, body=body, headers=headers)


def wait_for(predicate, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def tree_state(root, with_mtime=True):
    """{relpath: (type, mode, content-hash or target, mtime)} without following symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            try:
                st = os.lstat(full)
                mtime = st.st_mtime_ns if with_mtime else 0
                if stat.S_ISLNK(st.st_mode):
                    out[rel] = ("l", 0o777, os.readlink(full), 0)
                elif stat.S_ISDIR(st.st_mode):
                    out[rel] = ("d", stat.S_IMODE(st.st_mode), "", mtime)
                else:
                    with open(full, "rb") as f:
                        digest = hashlib.sha256(f.read()).hexdigest()
                    out[rel] = ("f", stat.S_IMODE(st.st_mode), digest, mtime)
            except FileNotFoundError:
                # The tree is live (a sync may be renaming a temp file into place): an entry
                # that vanished while we walked is left out; callers compare again later.
                continue
    return out


def temp_files(root):
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        found += [os.path.join(dirpath, n) for n in filenames + dirnames
                  if n.startswith(".docsync-tmp-")]
    return found


def primary_body(root, secret_file, exports, extra=""):
    lines = [f'DocSyncSecretFile "{secret_file}"', "DocSyncRescanInterval 10s"]
    for name, directory in exports.items():
        lines.append(f'DocSyncExport {name} "{directory}"')
    lines += ["<Location /.docsync>", "    SetHandler docsync", "</Location>",
              "<Location /docsync-status>", "    SetHandler docsync-status", "</Location>", extra]
    return "\n".join(lines)


def secondary_body(secret_file, sources, extra="", long_poll="5s"):
    lines = [f'DocSyncSecretFile "{secret_file}"', f"DocSyncLongPoll {long_poll}"]
    for src in sources:
        lines.append("DocSyncSource " + " ".join(src))
    lines += ["<Location /docsync-status>", "    SetHandler docsync-status", "</Location>", extra]
    return "\n".join(lines)


def status_json(instance):
    status, body, _ = request(instance.port, "GET", "/docsync-status?json")
    if status != 200:
        raise AssertionError(f"status page: {status} {body[:200]!r}")
    return json.loads(body)


def new_primary(exports_spec, extra=""):
    """A primary whose exports live under its own ServerRoot; returns (instance, {name: dir})."""
    inst = HttpdInstance("primary", "", suite_modules=["docsync"], servers=1)
    secret = write_secret(os.path.join(inst.root, "conf"))
    dirs = {}
    for name in exports_spec:
        d = os.path.join(inst.root, "export", name)
        os.makedirs(d, exist_ok=True)
        os.chmod(os.path.join(inst.root, "export"), 0o755)
        os.chmod(d, 0o755)
        dirs[name] = d
    inst.write_config(primary_body(inst.root, secret, dirs, extra))
    return inst, dirs


def new_secondary(primary_port, sources_spec, extra="", modules=()):
    """sources_spec: [(export, local-subdir-of-root, [options...])]."""
    inst = HttpdInstance("secondary", "", suite_modules=["docsync"], servers=1,
                         modules=list(modules))
    secret = write_secret(os.path.join(inst.root, "conf"))
    sources, dirs = [], {}
    for export, local, options in sources_spec:
        d = os.path.join(inst.root, local)
        dirs[export] = d
        sources.append([f"http://{LOOPBACK}:{primary_port}/.docsync/{export}", f'"{d}"',
                        *options])
    inst.write_config(secondary_body(secret, sources, extra))
    return inst, dirs


def wait_round_done(secondary, primary, export, timeout=30):
    """The secondary's status once its last round ended on the primary's current manifest
    (files become visible before the round's counters are written)."""
    def done():
        status, _, headers = signed_request(primary.port, "GET", f"/.docsync/{export}/manifest")
        etag = headers.get("ETag", "").strip('"')
        st = status_json(secondary)["sources"][0]
        return st if status == 200 and st["remote_etag"] == etag and st["result"] == "ok" else None
    return wait_for(done, timeout=timeout, what="round finished")
