"""Headless Chromium for report tests (Debian's ``chromium``; bin/system-deps installs it)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="needs Debian's chromium (bin/system-deps installs it)")


def chromium_flags(profile_dir: Path, size: str = "1280,2400") -> list[str]:
    return ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
            "--no-first-run", "--disable-component-update", "--disable-sync", f"--user-data-dir={profile_dir}",
            "--enable-logging=stderr", "--v=0", f"--window-size={size}"]


def screenshot(page: Path, shot: Path, profile_dir: Path, size: str = "1280,2400") -> list[str]:
    """Screenshot ``page`` into ``shot``; returns the page's console / uncaught-error lines (empty when clean)."""
    result = subprocess.run(["chromium", *chromium_flags(profile_dir, size), f"--screenshot={shot}", page.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def dump_dom(page: Path, profile_dir: Path) -> str:
    result = subprocess.run(["chromium", *chromium_flags(profile_dir), "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def png_pixels(png: bytes) -> bytes:
    """The decompressed image data of a PNG (filter bytes included): enough to tell blank from drawn."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos:pos + 4])
        kind = png[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8:pos + 8 + length]
        pos += 12 + length
    return zlib.decompress(idat)


def drawn_share(png: bytes) -> float:
    """Share of sampled bytes that are neither black nor white (a blank page is ~0)."""
    pixels = png_pixels(png)
    sample = pixels[::7]
    return sum(1 for b in sample if b not in (0, 255)) / len(sample)
