"""Headless Chromium (Debian's `chromium`) for looking at the status pages as a person would.

Chromium runs inside a test namespace (the page's own node), whose only networks are its
loopback and the test LAN, and is told to resolve no host name at all; it gets a fresh profile
and none of its background services.
"""
import os
import shutil
import struct
import subprocess
import tempfile
import zlib

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--enable-logging=stderr", "--v=0", "--window-size=1000,1600",
]


def available():
    return os.path.exists(CHROMIUM)


def render(netns, url, screenshot_path, timeout=60):
    """Loads `url` from inside `netns`; returns (dom_text, console_lines) and writes a PNG."""
    profile = tempfile.mkdtemp(prefix="suite-chromium-")
    try:
        base = ["ip", "netns", "exec", netns, CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
        dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True,
                             timeout=timeout)
        shot = subprocess.run(base + [f"--screenshot={screenshot_path}", url],
                              capture_output=True, text=True, timeout=timeout)
        console = [line for line in (dom.stderr + shot.stderr).splitlines()
                   if "CONSOLE" in line or "Uncaught" in line]
        return dom.stdout, console
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def png_pixels(path):
    """(width, height, rows of (r, g, b)) of an 8-bit RGB/RGBA PNG, such as Chromium writes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"unsupported PNG depth {depth} color type {color}")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        filt, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if filt == 1:
                line[i] = (line[i] + a) & 0xFF
            elif filt == 2:
                line[i] = (line[i] + b) & 0xFF
            elif filt == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif filt == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append([tuple(line[x * channels:x * channels + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def color_count(rows, rgb, tolerance=40):
    """Pixels within `tolerance` (per channel) of `rgb`."""
    r0, g0, b0 = rgb
    return sum(1 for row in rows for (r, g, b) in row
               if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance)
