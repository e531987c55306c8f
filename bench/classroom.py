"""A class on one app: N browser sessions (headless Chromium, one page each) open the Search page of
one `streamlit run app.py` at once, then each types S searches; every index is built first, as in a
lesson that has started. Reports each session's first page and every typed search (p50, p95, worst),
the app's CPU seconds per first page and per search (what a busy machine cannot inflate), and the
clients' own CPU (Chromium and this driver), which shares the cores with the app: the share of the
phase's two-core wall clock it took says how much of the waiting the clients explain.

`python -m bench.classroom [--sessions 20] [--searches 5] [--app .] [--label now]` keeps each
label's figures in artifacts/classroom.json and the table in docs/benchmark.md ("A class on one app")."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.first_use import CHROMIUM, ROOT, _cpu_seconds, _indexes_ready, _serve, _stop
from core.common.artifacts import PREFERRED, artifacts_dir, find_checkpoints, write_json, write_section
from core.common.config import DataConfig
from core.data.corpora import load_corpus, resolve_source
from core.data.corpus import split_queries

SECTION = "A class on one app"
WAIT_MS = 600_000


def _tree(root: int) -> set[int]:
    """`root` and every process below it (/proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += children.get(pid, [])
    return out


def _cpu_of(pids: set[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):  # ended meanwhile
            total += _cpu_seconds(pid)
    return total


class Meter:
    """CPU seconds of the app (the server's process) and of the clients (this process and everything
    below it but the server), and wall seconds, over one phase."""

    def __init__(self, server: subprocess.Popen):
        self.server = server

    def read(self) -> tuple[float, float, float]:
        clients = _tree(os.getpid()) - _tree(self.server.pid)
        return time.perf_counter(), _cpu_seconds(self.server.pid), _cpu_of(clients)

    def since(self, start: tuple[float, float, float]) -> dict:
        wall, app, clients = (b - a for a, b in zip(start, self.read()))
        return {
            "wall_s": round(wall, 2),
            "app_cpu_s": round(app, 2),
            "clients_cpu_s": round(clients, 2),
            "clients_share_of_2_cores": round(clients / (2 * wall), 3) if wall else None,
        }


async def _first_page(page, url: str) -> float:
    t0 = time.perf_counter()
    await page.goto(url, wait_until="commit", timeout=WAIT_MS)
    await page.locator(".card").first.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - t0


async def _typed(page, query: str) -> float:
    """Seconds from Enter to the new query's results drawn (the first card changed, the run ended)."""
    before = await page.locator(".card").first.inner_text()
    box = page.get_by_label("Query")
    await box.fill(query)
    t0 = time.perf_counter()
    await box.press("Enter")
    await page.wait_for_function(
        """(before) => {
          const app = document.querySelector('[data-testid="stApp"]');
          const card = document.querySelector('.card');
          return app && app.getAttribute('data-test-script-state') === 'notRunning'
                 && card && card.innerText !== before;
        }""",
        arg=before,
        timeout=WAIT_MS,
        polling=50,
    )
    return time.perf_counter() - t0


def _stats(seconds: list[float]) -> dict:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50_s": round(statistics.median(ordered), 2),
        "p95_s": round(p95, 2),
        "max_s": round(ordered[-1], 2),
    }


async def _class(base: str, queries: list[list[str]], meter: Meter) -> dict:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        pages = [await browser.new_page(viewport={"width": 1440, "height": 900}) for _ in queries]
        start = meter.read()
        links = [f"{base}/search?q={q[0].replace(' ', '+')}" for q in queries]
        firsts = await asyncio.gather(*(_first_page(page, link) for page, link in zip(pages, links)))
        first_phase = meter.since(start)
        start = meter.read()

        async def session(page, mine: list[str]) -> list[float]:
            return [await _typed(page, q) for q in mine[1:]]

        typed = await asyncio.gather(*(session(page, q) for page, q in zip(pages, queries)))
        search_phase = meter.since(start)
        await browser.close()
    searches = [s for one in typed for s in one]
    first_phase["app_cpu_s_per_first_page"] = round(first_phase["app_cpu_s"] / len(firsts), 3)
    search_phase["app_cpu_s_per_search"] = round(search_phase["app_cpu_s"] / len(searches), 3)
    return {
        "first page": {**_stats(firsts), **first_phase},
        "typed search": {**_stats(searches), **search_phase},
    }


def _queries(source: str, sessions: int, searches: int) -> list[list[str]]:
    """Each session's first query and its typed ones: distinct validation queries."""
    corpus = load_corpus(source)
    _, val = split_queries(corpus, DataConfig.val_fraction, DataConfig.tune_fraction)
    text = corpus.queries.set_index("query_id").text
    chosen = [text[q] for q in val[: sessions * (searches + 1)]]
    return [chosen[i::sessions] for i in range(sessions)]


def measure(app_root: Path, source: str, sessions: int, searches: int) -> dict:
    """One class of `sessions` × `searches` on the app at `app_root` (see the module)."""
    checkpoints = {n: p for n, p in find_checkpoints(artifacts_dir()).items() if n in PREFERRED}
    queries = _queries(source, sessions, searches)
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(tmp)
        for name, path in checkpoints.items():
            (art / name).mkdir()
            for f in path.parent.iterdir():
                (art / name / f.name).symlink_to(f.resolve())
        for extra in ("metrics.json", "hybrid.json"):
            if (artifacts_dir() / extra).is_file():
                shutil.copy(artifacts_dir() / extra, art / extra)
        port = _free_port()
        server = _serve(app_root, art, source, port, art / "streamlit.log")
        base = f"http://127.0.0.1:{port}"
        try:
            _settle(base, list(checkpoints))
            out = asyncio.run(_class(base, queries, Meter(server)))
        finally:
            _stop(server)
    return {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "sessions": sessions,
        "searches_per_session": searches,
        "cores": os.cpu_count(),
        **out,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settle(base: str, names: list[str]) -> None:
    """Wait until the app answers every checkpoint from its index (the lesson has started)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        if not _indexes_ready(browser.new_page(), base, names, timeout_s=1200):
            raise RuntimeError("the app's indexes were not built within 20 minutes")
        browser.close()


def _absolute(source: str) -> str:
    """A local source as an absolute path (the app measured may run from another checkout)."""
    return str(Path(source).resolve()) if Path(source).exists() else source


def table(measured: dict) -> list[str]:
    """The markdown section: one column per label measured."""
    labels = list(measured)
    rows = [
        ("sessions × typed searches", lambda m: f"{m['sessions']} × {m['searches_per_session']}"),
        ("first page p50 / p95 / worst, s", lambda m: _three(m["first page"])),
        ("typed search p50 / p95 / worst, s", lambda m: _three(m["typed search"])),
        ("app CPU per first page, s", lambda m: m["first page"]["app_cpu_s_per_first_page"]),
        ("app CPU per typed search, s", lambda m: m["typed search"]["app_cpu_s_per_search"]),
        ("clients' CPU, share of 2 cores: first pages / searches", lambda m: _shares(m)),
        ("measured", lambda m: m["created"]),
    ]
    lines = [
        "`python -m bench.classroom` (N sessions in headless Chromium open Search at once, then each types "
        "its searches; the indexes built first; clients and app on the same 2 cores). The clients' share "
        "is their CPU over the phase's two-core wall clock: the part of the waiting they explain.",
        "",
        "| | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    lines += [
        f"| {name} | " + " | ".join(str(get(measured[label])) for label in labels) + " |"
        for name, get in rows
    ]
    return lines


def _three(s: dict) -> str:
    return f"{s['p50_s']} / {s['p95_s']} / {s['max_s']}"


def _shares(m: dict) -> str:
    first, typed = (m[phase]["clients_share_of_2_cores"] for phase in ("first page", "typed search"))
    return f"{first:.0%} / {typed:.0%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--searches", type=int, default=5, help="typed searches per session")
    parser.add_argument("--app", default=str(ROOT), help="the app checkout to measure (default: this one)")
    parser.add_argument("--label", default="now", help="the column to keep it in (default: now)")
    parser.add_argument("--report", default=str(ROOT / "docs" / "benchmark.md"))
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 100 or not 1 <= args.searches <= 100:
        parser.error("--sessions and --searches take 1 to 100")
    store = artifacts_dir() / "classroom.json"
    measured = json.loads(store.read_text()) if store.is_file() else {}
    measured[args.label] = measure(
        Path(args.app).resolve(), _absolute(resolve_source()), args.sessions, args.searches
    )
    write_json(store, measured)
    lines = table(measured)
    write_section(Path(args.report), SECTION, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
