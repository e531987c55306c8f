"""How long adapting a corpus takes on this machine: `python -m core adapt` end to end (its
pseudo-queries, the start grown by its words, BM25 mining, the training steps, the corpus's judged
metrics at each validation, the checkpoint written), alone on the machine's cores, timed in a child
process (wall clock, CPU seconds, peak memory) and kept per corpus in `artifacts/adapt_bench.json` and
a section of docs/benchmark.md. The checkpoint it writes goes to a temporary folder, removed after.

`python -m bench.adapting [--corpus scifact] [--threads 2] [--report docs/benchmark.md]`"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.common.artifacts import artifacts_dir, read_json, write_json, write_section
from core.common.settings import ADAPT_STEPS
from core.data.corpora import open_corpus

ROOT = Path(__file__).resolve().parents[1]
SECTION = "Adapting a corpus"
CORE = [sys.executable, "-m", "core"]
TARGET_S = 600  # issue 27: a 5,000-passage corpus adapted in 10 minutes or less on 2 cores


def measure(corpus: str, threads: int, artifacts: Path) -> dict:
    """`python -m core adapt --corpus CORPUS` in a child process, its checkpoint in a temporary folder."""
    passages = len(open_corpus(corpus, artifacts).passages)
    with tempfile.TemporaryDirectory(prefix="adapt-bench-") as out:
        command = [*CORE, "adapt", "--corpus", corpus, "--out", f"{out}/model", "--threads", str(threads)]
        env = {**os.environ, "ARTIFACTS_DIR": str(artifacts)}
        before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.time()
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        wall, after = time.time() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode:
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{done.stderr[-2000:]}")
        log = json.loads(Path(out, "model", "log.json").read_text())
    judged = log["epochs"][log.get("kept_epoch", -1)].get("judged", {}).get("reported", {})
    return {
        "corpus": corpus,
        "passages": passages,
        "threads": threads,
        "steps": log["steps"],
        "wall_s": round(wall, 1),
        "train_s": log["seconds"],
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "peak_rss_mb": round(after.ru_maxrss / 1024),
        "ndcg@10": judged.get("ndcg@10"),
        "measured": time.strftime("%Y-%m-%d %H:%M"),
    }


def table(measured: dict) -> list[str]:
    lines = [
        f"`python -m bench.adapting --corpus NAME`: `python -m core adapt --corpus NAME` end to end "
        f"({ADAPT_STEPS} steps; pseudo-queries, the grown start, BM25 mining, training, the judged metrics "
        "at each validation, the checkpoint written), alone on the machine's 2 cores. Target: a corpus of "
        f"about 5,000 passages in {TARGET_S // 60} minutes or less.",
        "",
        "| corpus | passages | threads | steps | wall clock, s | of it training, s | CPU, s "
        "| peak memory, MB | nDCG@10 after (reported queries) | target |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in measured.values():
        met = "met" if m["wall_s"] <= TARGET_S else "missed"
        lines.append(
            f"| {m['corpus']} | {m['passages']:,} | {m['threads']} | {m['steps']} | {m['wall_s']} | "
            f"{m['train_s']} | {m['cpu_s']} | {m['peak_rss_mb']:,} | {m['ndcg@10']} | {met} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.adapting", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="scifact", help="an added corpus (default: scifact)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2, the machine's)")
    parser.add_argument("--report", default=str(ROOT / "docs" / "benchmark.md"))
    args = parser.parse_args(argv)
    artifacts = artifacts_dir()
    store = artifacts / "adapt_bench.json"
    measured = read_json(store, {})
    measured[args.corpus] = measure(args.corpus, args.threads, artifacts)
    write_json(store, measured)
    write_section(Path(args.report), SECTION, table(measured))
    print("\n".join(table(measured)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
