"""Headless Chromium for the tests of every page papertrade writes or serves.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when missing). Pages are read
back from the DOM *after* their scripts ran (``--dump-dom`` with a virtual-time budget), so a
test sees what a person would see, not the HTML the code wrote. Chromium is started with the
flags this machine's closed network needs (no background networking, no component updates),
and with a fresh profile folder per call, so calls never share state.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

import pytest

__all__ = ["CHROMIUM", "dump_dom", "require_chromium", "screenshot"]

CHROMIUM: Final = shutil.which("chromium") or shutil.which("chromium-browser")
_FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def require_chromium() -> str:
    """The browser's path; skips the test when it is not installed (CI always installs it)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it)")
    return CHROMIUM


def _url(target: str | Path) -> str:
    return target.resolve().as_uri() if isinstance(target, Path) else target


def _run(target: str | Path, extra: list[str], budget_ms: int, timeout_s: float) -> str:
    browser = require_chromium()
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run(
            [browser, *_FLAGS, f"--user-data-dir={profile}",
             f"--virtual-time-budget={budget_ms}", *extra, _url(target)],
            capture_output=True, text=True, timeout=timeout_s, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"chromium exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def dump_dom(target: str | Path, *, budget_ms: int = 5000, timeout_s: float = 60.0) -> str:
    """The page's DOM as HTML after its scripts ran for ``budget_ms`` of virtual time."""
    return _run(target, ["--dump-dom"], budget_ms, timeout_s)


def screenshot(
    target: str | Path,
    png: Path,
    *,
    size: tuple[int, int] = (1280, 2000),
    budget_ms: int = 5000,
    timeout_s: float = 60.0,
) -> Path:
    """Save a PNG of the page after its scripts ran; returns ``png``."""
    extra = [f"--screenshot={png}", f"--window-size={size[0]},{size[1]}"]
    _run(target, extra, budget_ms, timeout_s)
    if not png.exists() or png.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot to {png}")
    return png
