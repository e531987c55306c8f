"""The benchmark's measurements of the app's first result, each in a new process: the cold start
(`python -c` rendering a Search page through AppTest, every index already built) and first use (in
headless Chromium, what a class waits for: `streamlit run app.py` on a fresh clone to its first Search
result, then a new run's checkpoint to its first Search result). `refresh_first_use` measures first
use alone into an existing report (`python -m core bench --first-use`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.common.artifacts import PREFERRED, find_checkpoints, read_json
from core.data.corpora import load_corpus
from core.model.encoder import Checkpoint
from core.model.passages import FILE, save_vectors
from core.model.two_tower import load_checkpoint, save_checkpoint
from core.pipeline.bench_report import DOC, first_use_checks, write_reports

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
FIRST_QUERY = "what is the capital of france"
BEFORE = {"fresh clone": 66, "new run": 37}  # issue 20: seconds on 2 cores, both indexes built first


def cold_start(source: str, artifacts: Path) -> dict:
    """Seconds from a new Python process to the Search page rendered with results (AppTest), with
    every index already built: imports, corpus, both checkpoints, Chroma, first search."""
    script = (
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file('app.py', default_timeout=600)\n"
        f"at.query_params['q'] = {FIRST_QUERY!r}\n"
        "at.switch_page('views/pages/search.py').run()\n"
        "assert not at.exception, [e.value for e in at.exception]\n"
        "assert any('class=\"card' in h.value for h in at.html), 'no results rendered'\n"
    )
    env = {**os.environ, "MSMARCO_SOURCE": source, "ARTIFACTS_DIR": str(artifacts)}
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if done.returncode:
        return {
            "error": done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        }
    return {"seconds": round(seconds, 2)}


def _serve(app_root: Path, artifacts: Path, source: str, port: int, log: Path) -> subprocess.Popen:
    """`streamlit run app.py` (headless) from `app_root`, over `artifacts`, as a class would start it."""
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "MSMARCO_SOURCE": source}
    env.pop("CHROMA_HOST", None)
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
    command += ["--server.address", "127.0.0.1", "--server.port", str(port)]
    return subprocess.Popen(command, cwd=app_root, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process `pid` has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _first_card(page, url: str, server: subprocess.Popen, timeout_s: float = 600) -> dict:
    """Seconds until `url` (a Search link) shows its first result card, and the CPU seconds the app
    spent meanwhile (what a busy machine cannot inflate); the page is asked for again while the server
    is still starting."""
    started, cpu = time.perf_counter(), _cpu_seconds(server.pid)
    while True:
        try:
            page.goto(url, timeout=5_000, wait_until="commit")
            break
        except Exception:  # not listening yet
            if time.perf_counter() - started > timeout_s:
                raise
            time.sleep(0.1)
    page.locator(".card").first.wait_for(timeout=timeout_s * 1000)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "app_cpu_s": round(_cpu_seconds(server.pid) - cpu, 2),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def _indexes_ready(page, base: str, names: list[str], timeout_s: float) -> bool:
    """Wait (up to `timeout_s`) until each checkpoint's Search answers from its Chroma index, i.e. the
    app's background index builds are done."""
    deadline = time.perf_counter() + timeout_s
    for name in names:
        while time.perf_counter() < deadline:
            try:
                page.goto(f"{base}/search?q=capital&model={name}", wait_until="commit")
                page.locator(".card").first.wait_for(timeout=120_000)
                if page.get_by_text("search the index").count():  # not "exact search over every passage"
                    break
            except Exception:  # a slow page on a busy machine: asked again
                pass
            time.sleep(10)
        else:
            return False
    return True


def _stop(server: subprocess.Popen, grace_s: float = 60) -> float | None:
    """Seconds the server took to exit after SIGTERM (a background index build finishes the chunk it
    is adding); None when it had to be killed after `grace_s`."""
    started = time.perf_counter()
    server.terminate()
    try:
        server.wait(timeout=grace_s)
        return round(time.perf_counter() - started, 2)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        return None


def _checkpoint_files(model: Path) -> list[Path]:
    """A checkpoint's model.pt and, when it has them, its stored passage vectors (`core.model.passages`)."""
    return [model] + [f for f in [model.parent / FILE] if f.is_file()]


def _publish_run(model: Path, run: Path, source: str) -> None:
    """A new run as `train` publishes it, all at once: a checkpoint file of its own (the weights of
    `model` under a new name, so a new fingerprint that no index or stored vectors know) with its
    passages' vectors (what an app that reads them finds; an earlier app encodes the passages)."""
    net, vocab, meta = load_checkpoint(model)
    staged = Path(tempfile.mkdtemp(prefix=f"{run.name}-"))  # outside the artifacts the app recovers
    save_checkpoint(staged / "model.pt", net, vocab, {**meta, "name": run.name})
    corpus, checkpoint = load_corpus(source), Checkpoint(run.name, staged / "model.pt")
    save_vectors(checkpoint, checkpoint.encoder.encode_passages(corpus.texts()), corpus.fingerprint())
    run.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, run)


def first_use(
    source: str, checkpoints: dict[str, Path], app_root: Path = ROOT, settle_s: float = 600
) -> dict:
    """What a class waits for, measured in headless Chromium: seconds from `streamlit run app.py` on a
    fresh clone (the committed checkpoints, no Chroma folder) to the first Search result of a link
    `/search?q=…`; then, once the app is idle (its index builds done), from a new run (`_publish_run`)
    appearing under runs/ID to its first Search result. `app_root`: the app to measure (another
    checkout, to measure an earlier version the same way)."""
    from playwright.sync_api import sync_playwright

    out: dict = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "query": FIRST_QUERY,
        "load_avg_start": os.getloadavg()[0],
        "before (issue 20)": BEFORE,
    }
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        artifacts = Path(tmp)
        for name, path in checkpoints.items():  # as a fresh clone has them
            (artifacts / name).mkdir()
            for file in _checkpoint_files(path):
                (artifacts / name / file.name).symlink_to(file.resolve())
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        with socket.socket() as free:  # a port nothing listens on
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        base, query = f"http://127.0.0.1:{port}", FIRST_QUERY.replace(" ", "+")
        server = _serve(app_root, artifacts, source, port, artifacts / "streamlit.log")
        try:
            out["fresh clone -> first result"] = _first_card(page, f"{base}/search?q={query}", server)
            out["indexes built before the new run"] = _indexes_ready(page, base, list(checkpoints), settle_s)
            _publish_run(next(iter(checkpoints.values())), artifacts / "runs" / "bench-run", source)
            out["new run -> first result"] = _first_card(
                page, f"{base}/search?q={query}&model=run-bench-run", server
            )
        finally:
            browser.close()
            out["server stopped after SIGTERM, s"] = _stop(server)
    out["load_avg_end"] = os.getloadavg()[0]
    return out


def refresh_first_use(
    artifacts: Path, source: str, label: str = "now", app_root: Path = ROOT, doc: Path = DOC
) -> dict:
    """Measure `first_use` alone (of the app at `app_root`, kept under `label`) into the benchmark's
    existing report, and rewrite artifacts/bench.json and docs/benchmark.md."""
    report = read_json(artifacts / "bench.json", None)
    if not isinstance(report, dict) or "checks" not in report:
        raise FileNotFoundError(f"{artifacts / 'bench.json'} is missing: run `python -m core bench` first")
    pair = {n: p for n, p in find_checkpoints(artifacts).items() if n in PREFERRED}
    report.setdefault("first_use", {})[label] = first_use(source, pair, app_root)
    report["checks"] = {**report["checks"], **first_use_checks(report)}
    write_reports(report, artifacts, doc)
    return report
