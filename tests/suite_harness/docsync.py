"""Helpers for the mod_docsync integration tests: a primary and a secondary httpd on loopback,
request signing and answer authentication as the module does them, tree comparison."""
import hashlib
import hmac
import http.client
import json
import os
import secrets
import stat
import tempfile
import textwrap
import time

from suite_harness.constants import LOOPBACK
from suite_harness.httpd import HttpdInstance
from suite_harness.waiting import wait_until

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


# ---- answer authentication, as modules/mod_docsync/core/answer_auth.h and answer_stream.h do it

def answer_key(secret=SECRET):
    return hmac.new(secret.encode(), b"docsync answer key v1", hashlib.sha256).digest()


def hmac_tagger(secret=SECRET):
    key = answer_key(secret)
    return lambda message: hmac.new(key, message, hashlib.sha256).hexdigest()


def answer_message(nonce, method, path, status, etag="", version="", kind="", ctype="",
                   body="none"):
    return "\n".join(["docsync-answer-v1", nonce, method, path, str(status), etag, version, kind,
                      ctype, body]).encode()


def whole_body(body):
    return f"whole {len(body)} {hashlib.sha256(body).hexdigest()}"


def frame_message(nonce, seq, prev, kind, auth, raw_len):
    return "\n".join(["docsync-frame-v1", nonce, str(seq), prev, kind, str(len(auth)),
                      str(raw_len), hashlib.sha256(auth).hexdigest()]).encode()


def frame_stream(tagger, nonce, answer_tag, frames):
    """frames: [(authenticated bytes, raw bytes)]; the last one is the 'Z' frame."""
    out, prev = [], answer_tag
    for seq, (auth, raw) in enumerate(frames):
        kind = "Z" if seq == len(frames) - 1 else "M"
        tag = tagger(frame_message(nonce, seq, prev, kind, auth, len(raw)))
        out.append(f"{kind} {len(auth)} {len(raw)}\n".encode() + auth + tag.encode() + b"\n" + raw)
        prev = tag
    return b"".join(out)


def batch_frames(items):
    """items: [("F", content) | ("F", content, announced_size, announced_sha) | ("E", reason)]
    → one frame holding every header and the content."""
    headers, raw = b"", b""
    for item in items:
        if item[0] == "E":
            headers += b"E " + item[1].encode() + b"\n"
            continue
        content = item[1]
        size = item[2] if len(item) > 2 else len(content)
        sha = item[3] if len(item) > 3 else hashlib.sha256(content).hexdigest()
        headers += f"F {size} {sha}\n".encode()
        raw += content
    return [(headers, raw)]


def data_frames(data, chunk=256 * 1024):
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)] or [b""]
    return [(p, b"") for p in pieces]


def read_frames(stream):
    """Parses a frame stream without checking tags: [(kind, auth, tag, raw)]."""
    out, pos = [], 0
    while pos < len(stream):
        nl = stream.index(b"\n", pos)
        kind, alen, rlen = stream[pos:nl].decode().split(" ")
        pos = nl + 1
        auth = stream[pos:pos + int(alen)]
        pos += int(alen)
        nl = stream.index(b"\n", pos)
        tag = stream[pos:nl].decode()
        pos = nl + 1
        raw = stream[pos:pos + int(rlen)]
        pos += int(rlen)
        out.append((kind, auth, tag, raw))
    return out


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


def new_primary(exports_spec, extra="", secret_text=SECRET):
    """A primary whose exports live under its own ServerRoot; returns (instance, {name: dir})."""
    inst = HttpdInstance("primary", "", suite_modules=["docsync"], servers=1)
    secret = write_secret(os.path.join(inst.root, "conf"), secret_text)
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


def config_secondary(primary_port, modules=()):
    """A secondary (not started) keeping conf/common identical to the export `conf` with
    restart=graceful, its own configuration including conf/common/*.conf as conf/system's
    examples do; returns (instance, conf/common)."""
    inst, dirs = new_secondary(primary_port, [("conf", "conf/common", ["restart=graceful"])],
                               modules=modules)
    dst = dirs["conf"]
    os.makedirs(dst)
    with open(inst.conf_path, "a") as f:
        f.write(f'IncludeOptional "{dst}/*.conf"\n')
    return inst, dst


def probe_dirs(versions, prefix="docsync-probes-"):
    """A temp dir (the caller removes it) with a directory per version, each holding a file `x`
    that says the version: what a synced configuration can point /probe at."""
    root = tempfile.mkdtemp(prefix=prefix)
    os.chmod(root, 0o755)
    for version in versions:
        os.makedirs(os.path.join(root, version))
        os.chmod(os.path.join(root, version), 0o755)
        with open(os.path.join(root, version, "x"), "w") as f:
            f.write(version)
    return root


def probe_alias(probe_dir):
    """Configuration serving `probe_dir` at /probe (needs mod_alias)."""
    return textwrap.dedent(f"""\
        Alias /probe "{probe_dir}"
        <Directory "{probe_dir}">
            Require all granted
        </Directory>
        """)


def probe(instance):
    """GET /probe/x: the version the running configuration points at, or "HTTP <status>"."""
    status, body, _ = request(instance.port, "GET", "/probe/x")
    return body.decode() if status == 200 else f"HTTP {status}"


def replace_file(path, text):
    """Writes `path` as a whole (a temp file renamed over it), as an editor saving it would."""
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def wait_round_done(secondary, primary, export, timeout=30):
    """The secondary's status once its last round ended on the primary's current manifest
    (files become visible before the round's counters are written)."""
    def done():
        status, _, headers = signed_request(primary.port, "GET", f"/.docsync/{export}/manifest")
        etag = headers.get("ETag", "").strip('"')
        st = status_json(secondary)["sources"][0]
        return st if status == 200 and st["remote_etag"] == etag and st["result"] == "ok" else None
    return wait_until(done, timeout=timeout, what="round finished")
