"""How long a corpus uploaded in the browser takes to become searchable (a measurement, not a test):
`python -m tests.app.measure_upload [N]` writes a CSV of the demo corpus's first N passages (default
20,000), serves the app over the real checkpoints (linked into a temporary artifacts folder, so the
demo corpus needs no encoding), uploads the CSV through the Corpora page's file input in headless
Chromium, and prints the seconds from the end of the upload (the file received, the Add button shown)
to the corpus being added, and to its first Search result; with the load average at both ends."""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time
from pathlib import Path

from core.data.corpora import load_corpus
from tests.app.browser import ARGS, CHROMIUM, app_server
from tests.app.test_browser_corpus import ADDED, WAIT_MS, linked_artifacts, upload


def write_sample(path: Path, n: int) -> Path:
    """The demo corpus's first `n` passages as a CSV of id, title, text."""
    corpus = load_corpus()
    rows = corpus.passages.head(n)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "title", "text"])
        out.writerows(zip(rows.pid, rows.title.fillna(""), rows.text))
    return path


def main(n: int) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="measure-upload-") as tmp:
        art = Path(tmp) / "artifacts"
        art.mkdir()
        linked_artifacts(art)
        sample = write_sample(Path(tmp) / f"sample{n // 1000}k.csv", n)
        print(f"{n:,} passages, {sample.stat().st_size / 1e6:.1f} MB: {sample.name}", flush=True)
        with app_server(art, {}) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            upload(page, url, sample)  # returns once the file is received: the upload has ended
            load0, t0 = os.getloadavg(), time.perf_counter()
            page.get_by_role("button", name="Add the corpus").click()
            page.get_by_text(ADDED).wait_for(timeout=WAIT_MS)
            added = time.perf_counter() - t0
            page.get_by_role("link", name=f"Search {sample.stem}").click()
            page.get_by_label("Query").fill("what is the capital of france")
            page.get_by_label("Query").press("Enter")
            page.locator(".card").first.wait_for(timeout=WAIT_MS)
            searchable, load1 = time.perf_counter() - t0, os.getloadavg()
            browser.close()
    print(f"added (encoded by both models) {added:.1f} s after the upload ended")
    print(f"first Search result {searchable:.1f} s after the upload ended")
    print(f"load average (1, 5, 15 min) at the start {load0}, at the end {load1}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
