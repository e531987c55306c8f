"""What the real-browser tests share: the app served by `streamlit run app.py` from the repository
root (so .streamlit/config.toml applies as it does in class), Debian's Chromium through Playwright,
the two screen sizes, and the checks every page gets."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REAL_ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
CHECKPOINTS = {name: REAL_ARTIFACTS / name / "model.pt" for name in ("random", "hard")}
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIZES = {"1440": {"width": 1440, "height": 900}, "1024": {"width": 1024, "height": 768}}
OPEN_MS = 300_000  # a page's own files, on a 2-core machine busy building indexes and maps

try:
    import playwright.sync_api  # noqa: F401

    HAVE_PLAYWRIGHT = True
except ImportError:
    HAVE_PLAYWRIGHT = False

NEEDS = [
    pytest.mark.skipif(not HAVE_PLAYWRIGHT, reason="the playwright Python package is not installed"),
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"{CHROMIUM} not found (apt-get install chromium)"),
    pytest.mark.skipif(
        not all(p.is_file() for p in CHECKPOINTS.values()),
        reason="real checkpoints not built: run `python -m core build`",
    ),
]


@contextmanager
def app_server(art: Path, env_extra: dict | None = None, ready_s: float = 120):
    """The app over artifacts folder `art` (its log: `art`/streamlit.log; `CHROMA_HOST` and
    `MSMARCO_SOURCE` unset unless `env_extra` sets them): yields its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CHROMA_HOST", "MSMARCO_SOURCE")}
    env = {**env, "ARTIFACTS_DIR": str(art), **(env_extra or {})}
    with open(art / "streamlit.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
            + ["--server.address", "127.0.0.1", "--server.port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + ready_s
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"streamlit did not start: {(art / 'streamlit.log').read_text()[-2000:]}")
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def chromium():
    """Debian's Chromium, headless."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(page, url: str) -> None:
    """Go to `url`, waiting for the page's HTML only: the app draws itself over its websocket after
    that, which each test waits for by what it shows."""
    page.goto(url, wait_until="domcontentloaded", timeout=OPEN_MS)


def no_crash(page) -> None:
    assert not page.locator("[data-testid='stException']").count(), page.inner_text("body")[:2000]
