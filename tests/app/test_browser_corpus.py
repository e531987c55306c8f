"""Corpora in a real browser: `streamlit run app.py` as a subprocess, driven by Debian's Chromium
through Playwright. A CSV of passages and a zip of a BEIR folder (tests/app/corpus_files.py) are
uploaded through the Corpora page's real file input, each is picked and searched, and every page
opens on both without an exception. Saves docs/screenshot_corpus_{picker,upload,transfer}_{1440,1024}.png
(the picker open, the upload panel filled in, Home's transfer table from metrics.json's "corpora"
section, measured here on the tiny BEIR collection).

Needs: the `playwright` Python package, /usr/bin/chromium and the real checkpoints; the demo corpus
is a tiny MS MARCO-schema file the test writes, so nothing waits on encoding 22,194 passages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from core.data.corpora import DEMO_FILE
from core.pipeline import new_corpus
from tests.app.corpus_files import write_beir, write_csv, zip_folder
from tests.conftest import free_port, tiny_rows

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
REAL_ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or ROOT / "artifacts")
CHECKPOINTS = {name: REAL_ARTIFACTS / name / "model.pt" for name in ("random", "hard")}
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
SIZES = {"1440": {"width": 1440, "height": 900}, "1024": {"width": 1024, "height": 768}}
PAGES = ("", "search", "compare", "embeddings", "confused", "training", "corpora")
WAIT_MS = 600_000  # encoding and UMAP on a loaded 2-core machine

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"Chromium not found at {CHROMIUM}"),
    pytest.mark.skipif(
        not all(p.is_file() for p in CHECKPOINTS.values()),
        reason=f"needs the real checkpoints ({', '.join(map(str, CHECKPOINTS.values()))})",
    ),
]


def linked_artifacts(art: Path) -> Path:
    """`art` holding links to the real checkpoints' files (their stored vectors too) and the
    shipped demo corpus, hybrid.json and a copy of metrics.json."""
    for name, path in CHECKPOINTS.items():
        (art / name).mkdir()
        for f in path.parent.iterdir():
            (art / name / f.name).symlink_to(f)
    for extra in ("metrics.json", "hybrid.json"):
        if (REAL_ARTIFACTS / extra).is_file():
            shutil.copy(REAL_ARTIFACTS / extra, art / extra)
    if (REAL_ARTIFACTS / DEMO_FILE).is_file():
        (art / DEMO_FILE).symlink_to(REAL_ARTIFACTS / DEMO_FILE)
    return art


@contextmanager
def app_server(art: Path, env: dict):
    """The app served from the repository root over artifacts folder `art`: yields its URL."""
    port = free_port()
    env = {**os.environ, "ARTIFACTS_DIR": str(art), **env}
    env.pop("CHROMA_HOST", None)
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
            for _ in range(240):
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.5)
            else:
                raise RuntimeError(f"streamlit did not start: {(art / 'streamlit.log').read_text()[-2000:]}")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def upload(page, url: str, path: Path, text_column: str | None = None) -> None:
    """Open the Corpora page, put `path` in its file input, pick the text column, wait until the
    file is received (the Add button shows)."""
    page.goto(f"{url}/corpora", timeout=60_000)
    page.get_by_text("Add a corpus").first.wait_for(timeout=WAIT_MS)
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    add = page.get_by_role("button", name="Add the corpus")
    add.wait_for(timeout=60_000)
    if text_column:
        from playwright.sync_api import expect

        page.get_by_label("Text column").click()
        page.get_by_role("option", name=text_column, exact=True).click()
        expect(page.get_by_label("Text column")).to_have_value(text_column, timeout=30_000)


ADDED = re.compile(r"Added \S+: [\d,]+ passages")  # the success message, once the add has ended


def add_and_wait(page) -> None:
    page.get_by_role("button", name="Add the corpus").click()
    page.get_by_text(ADDED).wait_for(timeout=WAIT_MS)


def no_crash(page) -> None:
    assert not page.locator("[data-testid='stException']").count(), page.inner_text("body")[:2000]


def search(page, url: str, corpus: str, query: str) -> str:
    """The first result's text for `query` on `corpus`."""
    page.goto(f"{url}/search?corpus={corpus}&q={query.replace(' ', '+')}", timeout=60_000)
    card = page.locator(".card").first
    card.wait_for(timeout=WAIT_MS)
    no_crash(page)
    return card.inner_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, files): the app over linked checkpoints, a tiny demo corpus, and a metrics.json whose
    "corpora" section was measured here on the tiny BEIR collection; the files to upload."""
    art = linked_artifacts(tmp_path_factory.mktemp("artifacts"))
    files = tmp_path_factory.mktemp("files")
    msmarco = files / "tiny.jsonl"
    msmarco.write_text("\n".join(json.dumps(r) for r in tiny_rows()) + "\n")
    beir = write_beir(files / "tinybeir")
    quiet = dict(artifacts=art, log=lambda _: None, index=False, maps=False)
    new_corpus.add("measured", str(beir), **quiet)
    scores = new_corpus.evaluate("measured", art, models=("random", "hard", "bm25"))
    metrics = json.loads((art / "metrics.json").read_text()) if (art / "metrics.json").is_file() else {}
    metrics["corpora"] = {"measured": {"source": "tinybeir", "queries": 18, "passages": 24, "models": scores}}
    (art / "metrics.json").write_text(json.dumps(metrics))
    with app_server(art, {"MSMARCO_SOURCE": str(msmarco)}) as url:
        yield url, {"csv": write_csv(files / "notes.csv"), "zip": zip_folder(beir, files / "course.zip")}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_upload_a_csv_and_a_beir_zip_then_search_each_on_every_page(server, browser):
    url, files = server
    page = browser.new_page(viewport=SIZES["1440"])
    for size, viewport in SIZES.items():  # the panel filled in, before adding
        page.set_viewport_size(viewport)
        upload(page, url, files["csv"], "snippet")
        page.screenshot(path=str(DOCS / f"screenshot_corpus_upload_{size}.png"))
    add_and_wait(page)
    no_crash(page)
    page.wait_for_url("**corpus=notes**", timeout=30_000)  # picked, and kept in the URL
    assert "latte is espresso" in search(page, url, "notes", "what is a latte")

    upload(page, url, files["zip"])
    add_and_wait(page)
    page.wait_for_url("**corpus=course**", timeout=30_000)
    assert "18 queries" in page.inner_text("body")
    assert "longest snake" in search(page, url, "course", "the reticulated python")

    for corpus in ("notes", "course"):
        for name in PAGES:
            page.goto(f"{url}/{name}?corpus={corpus}", timeout=60_000)
            page.locator("h1").first.wait_for(timeout=WAIT_MS)
            page.locator("[data-testid='stSpinner']").first.wait_for(state="detached", timeout=WAIT_MS)
            page.locator("[data-testid='stProgress']").first.wait_for(state="detached", timeout=WAIT_MS)
            no_crash(page)
            assert f"corpus={corpus}" in page.url, (name, page.url)
    page.goto(f"{url}/confused?corpus=notes", timeout=60_000)
    page.get_by_text("Confused needs judgements").wait_for(timeout=WAIT_MS)
    page.close()


def test_picker_and_transfer_table_screenshots(server, browser):
    url, _ = server
    for size, viewport in SIZES.items():
        page = browser.new_page(viewport=viewport)
        page.goto(f"{url}/search?q=what+is+a+latte", timeout=60_000)
        page.locator(".card").first.wait_for(timeout=WAIT_MS)
        page.get_by_label("Corpus", exact=True).click()
        page.get_by_role("option", name="Corpus · measured", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=str(DOCS / f"screenshot_corpus_picker_{size}.png"))
        page.get_by_role("option", name="Corpus · measured", exact=True).click()
        page.wait_for_url("**corpus=measured**", timeout=60_000)
        page.goto(f"{url}/?corpus=measured", timeout=60_000)
        heading = page.get_by_text("Off MS MARCO")
        heading.wait_for(timeout=WAIT_MS)
        no_crash(page)
        heading.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -80)")
        page.screenshot(path=str(DOCS / f"screenshot_corpus_transfer_{size}.png"))
        page.close()
