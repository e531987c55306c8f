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
import re
import shutil
from pathlib import Path

import pytest

from core.data.corpora import DEMO_FILE
from core.pipeline import new_corpus
from tests.app.browser import (
    CHECKPOINTS,
    DOCS,
    NEEDS,
    REAL_ARTIFACTS,
    SIZES,
    app_server,
    chromium,
    no_crash,
    open_page,
)
from tests.app.corpus_files import write_beir, write_csv, zip_folder
from tests.conftest import tiny_rows

PAGES = ("", "search", "compare", "embeddings", "confused", "training", "corpora")
WAIT_MS = 600_000  # encoding and UMAP on a loaded 2-core machine

pytestmark = NEEDS


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


def upload(page, url: str, path: Path, text_column: str | None = None) -> None:
    """Open the Corpora page, put `path` in its file input, pick the text column, wait until the
    file is received (the Add button shows)."""
    open_page(page, f"{url}/corpora")
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


def search(page, url: str, corpus: str, query: str) -> str:
    """The first result's text for `query` on `corpus`."""
    open_page(page, f"{url}/search?corpus={corpus}&q={query.replace(' ', '+')}")
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
    with app_server(art, {"MSMARCO_SOURCE": str(msmarco)}, ready_s=120) as url:
        yield url, {"csv": write_csv(files / "notes.csv"), "zip": zip_folder(beir, files / "course.zip")}


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


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
            open_page(page, f"{url}/{name}?corpus={corpus}")
            page.locator("h1").first.wait_for(timeout=WAIT_MS)
            page.locator("[data-testid='stSpinner']").first.wait_for(state="detached", timeout=WAIT_MS)
            page.locator("[data-testid='stProgress']").first.wait_for(state="detached", timeout=WAIT_MS)
            no_crash(page)
            assert f"corpus={corpus}" in page.url, (name, page.url)
    open_page(page, f"{url}/confused?corpus=notes")
    page.get_by_text("Confused needs judgements").wait_for(timeout=WAIT_MS)
    page.close()


def test_picker_and_transfer_table_screenshots(server, browser):
    url, _ = server
    for size, viewport in SIZES.items():
        page = browser.new_page(viewport=viewport)
        open_page(page, f"{url}/search?q=what+is+a+latte")
        page.locator(".card").first.wait_for(timeout=WAIT_MS)
        page.get_by_label("Corpus", exact=True).click()
        page.get_by_role("option", name="Corpus · measured", exact=True).wait_for(timeout=30_000)
        page.screenshot(path=str(DOCS / f"screenshot_corpus_picker_{size}.png"))
        page.get_by_role("option", name="Corpus · measured", exact=True).click()
        page.wait_for_url("**corpus=measured**", timeout=60_000)
        open_page(page, f"{url}/?corpus=measured")
        heading = page.get_by_text("Off MS MARCO")
        heading.wait_for(timeout=WAIT_MS)
        no_crash(page)
        heading.scroll_into_view_if_needed()
        page.evaluate("window.scrollBy(0, -80)")
        page.screenshot(path=str(DOCS / f"screenshot_corpus_transfer_{size}.png"))
        page.close()
