"""Headless Chromium (Debian's ``chromium``) for the tests of cpucompat's HTML pages (the vMotion
map, the fleet report): one run renders a page, saves a screenshot, dumps the DOM as rendered and
collects the console messages."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chromium() -> str | None:
    """Debian's chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    browser = chromium()
    if browser is None:
        pytest.skip("Debian's chromium is not installed: the page was not rendered")
    return browser


@dataclass
class Rendered:
    dom: str  # the DOM after rendering (--dump-dom)
    screenshot: Path
    console: list[str]  # console messages and uncaught errors
    seconds: float  # wall time of the whole browser run
    stderr: str


def render(page: Path, folder: Path, width: int = 1400, height: int = 2400, timeout: int = 120) -> Rendered:
    """Render ``page`` once: screenshot to ``folder``/NAME.png, the DOM, the console messages."""
    browser = require_chromium()
    shot = folder / f"{page.stem}.png"
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={folder / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
               f"--screenshot={shot}", f"--window-size={width},{height}", "--dump-dom", page.as_uri()]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    seconds = time.perf_counter() - start
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    return Rendered(run.stdout, shot, console, seconds, run.stderr)


def assert_png(path: Path, least: int = 10_000, size: tuple[int, int] | None = None) -> None:
    """A non-empty PNG of plausible size: at least ``least`` bytes and, given ``size``, that many
    pixels wide and high (the IHDR chunk)."""
    assert path.exists() and path.stat().st_size > least, f"no screenshot at {path}"
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    if size is not None:
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == size
