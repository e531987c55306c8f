"""The app's benchmark: what a class waits for before its first search result, per version of the app
(an app checkout, kept under a label), each measured in a new process: the cold start (`python -c`
rendering the Search page through AppTest, every index already built) and first use (in headless
Chromium: `streamlit run app.py` on a fresh clone to its first Search result, then a new run's
checkpoint to its first Search result); their targets, checks and table, added to the report
`python -m core bench` wrote (`artifacts/bench.json`, `docs/benchmark.md`).

`python -m bench.first_use [--label now] [--app .] [--report docs/benchmark.md]`"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.common.artifacts import PREFERRED, artifacts_dir, find_checkpoints, read_json
from core.common.outputs import OutputError
from core.data.corpora import load_corpus, resolve_source
from core.data.corpus import DataSourceError
from core.model.encoder import Checkpoint
from core.model.passages import FILE, save_vectors
from core.model.two_tower import load_checkpoint, save_checkpoint
from core.pipeline import bench_report
from core.pipeline.checks import check_outputs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FIRST_QUERY = "what is the capital of france"
INDEXED = re.compile("from the index|search the index")  # the timing line's wording, today's and earlier
BEFORE = {"fresh clone": 66, "new run": 37}  # issue 20: seconds on 2 cores, both indexes built first
COLD = "cold start -> first result"
PATHS = {  # what `first_use` and `cold_start` measured -> its reference figure in BEFORE, if any
    "fresh clone -> first result": "fresh clone",
    "new run -> first result": "new run",
    COLD: None,
}
TARGETS = {"fresh_clone_first_result_s": 10, "new_run_first_result_s": 15}
CHECKED = {  # check -> the measured path it reads
    "fresh_clone_first_result_s": "fresh clone -> first result",
    "new_run_first_result_s": "new run -> first result",
}
LABELS = {  # check -> its row in the report's targets table
    "fresh_clone_first_result_s": "fresh clone: `streamlit run app.py` to the first Search result, s",
    "new_run_first_result_s": "a new run's first Search result, s",
}


def cold_start(source: str, artifacts: Path, app_root: Path = ROOT) -> dict:
    """Seconds from a new Python process to the Search page of the app at `app_root` rendered with
    results (AppTest), with every index already built: imports, corpus, both checkpoints, Chroma, first
    search."""
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
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=app_root, env=env, capture_output=True, text=True
    )
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
                if page.get_by_text(INDEXED).count():  # not "… exact search over every passage"
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


def checks(report: dict) -> dict:
    """The first-use targets against the current app's measurement (`report["first_use"]["now"]`)."""
    now = report.get("first_use", {}).get("now", {})
    return {
        check: {
            "measured": now[path]["seconds"],
            "target": f"< {TARGETS[check]}",
            "met": now[path]["seconds"] < TARGETS[check],
        }
        for check, path in CHECKED.items()
        if path in now
    }


def _cell(measured: dict) -> str:
    """One path of one version: its seconds, with the app's CPU seconds and the load average where
    measured, or why it failed."""
    if "seconds" not in measured:
        return f"failed: {measured['error']}"
    usage = (
        f" (CPU {measured['app_cpu_s']} s, load {measured['load_avg']})" if "app_cpu_s" in measured else ""
    )
    return f"{measured['seconds']} s{usage}"


def table(measured: dict) -> list[str]:
    """What a class waits for, per version of the app measured (label -> `first_use` with its cold
    start), beside the reference figures (`BEFORE`); nothing when none was measured."""
    if not measured:
        return []
    dates = ", ".join(
        f"{v} on {m['created'][:16].replace('T', ' ')}" for v, m in measured.items() if "created" in m
    )
    lines = [
        "",
        f"First use (`python -m bench.first_use`; {dates}): seconds to the first Search result, per version "
        "of the app: from `streamlit run app.py` on a fresh clone and from a new run's publication, in "
        "headless Chromium, with the app's CPU seconds meanwhile (what a busy machine cannot inflate) and "
        "the load average; from a cold start, a new process rendering the Search page through AppTest "
        "with every index built.",
        "",
        "| from → to | " + " | ".join(measured) + " | issue 20 |",
        "|---|" + "---|" * (len(measured) + 1),
    ]
    before = next(iter(measured.values()))["before (issue 20)"]
    for path, issue in PATHS.items():
        cells = [_cell(m[path]) if path in m else "—" for m in measured.values()]
        reference = f"{before[issue]} s" if issue else "—"
        lines.append(f"| {path.replace('->', '→')} | " + " | ".join(cells) + f" | {reference} |")
    return lines


def refresh(
    artifacts: Path, source: str, label: str = "now", app_root: Path = ROOT, doc: Path = bench_report.DOC
) -> dict:
    """Measure the app at `app_root` (its cold start over `artifacts`, its first use from the committed
    pair alone) under `label` into the benchmark's existing report, and rewrite `artifacts`/bench.json
    and `doc` with the first-use checks and table."""
    report = read_json(artifacts / "bench.json", None)
    if not isinstance(report, dict) or "checks" not in report:
        raise FileNotFoundError(f"{artifacts / 'bench.json'} is missing: run `python -m core bench` first")
    pair = {n: p for n, p in find_checkpoints(artifacts).items() if n in PREFERRED}
    cold = cold_start(source, artifacts, app_root)
    report.setdefault("first_use", {})[label] = {**first_use(source, pair, app_root), COLD: cold}
    report["targets"] = {**report.get("targets", {}), **TARGETS}
    report["checks"] = {**report["checks"], **checks(report)}
    text = bench_report.markdown(report, {**bench_report.LABELS, **LABELS}, table(report["first_use"]))
    bench_report.write_reports(report, artifacts, doc, text)
    return report


def parser() -> argparse.ArgumentParser:
    """`python -m bench.first_use`'s flags."""
    p = argparse.ArgumentParser(
        prog="python -m bench.first_use",
        description="Measure the app's first search result (cold start, and first use in headless Chromium) "
        "into the report `python -m core bench` wrote.",
    )
    p.add_argument(
        "--data",
        default=None,
        help="MS MARCO v1.1 file/folder or 'hub[:split]' (default: $MSMARCO_SOURCE, else the demo corpus)",
    )
    p.add_argument(
        "--artifacts",
        default=None,
        help="artifacts folder with the checkpoints and bench.json (default: ./artifacts or $ARTIFACTS_DIR)",
    )
    p.add_argument(
        "--report",
        default=None,
        help="markdown report to rewrite (default: docs/benchmark.md for ./artifacts, else "
        "benchmark.md in the --artifacts folder)",
    )
    p.add_argument("--app", default=".", help="the app checkout to measure (default: .)")
    p.add_argument("--label", default="now", help="the report's column to keep it in (default: now)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run `refresh` with the flags and print the first-use table; a problem is one `error:` line, exit
    code 2."""
    args = parser().parse_args(argv)
    artifacts = Path(args.artifacts or artifacts_dir())
    doc = bench_report.report_path(artifacts, args.report)
    try:
        check_outputs({"--report": (doc, "benchmark")})
        report = refresh(artifacts, resolve_source(args.data), args.label, Path(args.app), doc)
    except (OutputError, DataSourceError, FileNotFoundError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("\n".join(table(report["first_use"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
