"""`python -m core` as a subprocess: train, eval's JSON contract (checkpoints, baselines, BM25, hybrids),
--help."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from tests.conftest import tiny_rows

    d = tmp_path_factory.mktemp("cli")
    data = d / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in tiny_rows()))
    r = run(
        "train",
        "--out",
        str(d / "run"),
        "--source",
        str(data),
        "--epochs",
        "2",
        "--hidden",
        "16",
        "--out-dim",
        "16",
        "--top-n",
        "500",
        "--batch-size",
        "8",
        "--val-fraction",
        "0.3",
    )
    assert r.returncode == 0, r.stderr
    return d / "run" / "model.pt", data


def test_train_writes_run_folder(tiny_checkpoint):
    ckpt, _ = tiny_checkpoint
    run_dir = ckpt.parent
    log = json.loads((run_dir / "log.json").read_text())
    assert [e["epoch"] for e in log["epochs"]] == [0, 1, 2]
    assert log["batches"] and all("active" in b and "loss" in b for b in log["batches"])
    assert json.loads((run_dir / "config.json").read_text())["train"]["epochs"] == 2


def test_eval_json_contract(tiny_checkpoint):
    ckpt, data = tiny_checkpoint
    r = run("eval", "--checkpoint", str(ckpt), "--data", str(data), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"rerank", "full", "bm25_hard"}
    assert (
        set(out["rerank"])
        == set(out["bm25_hard"])
        == {"queries", "mrr@10", "recall@1", "recall@5", "ndcg@10"}
    )
    assert 0 < out["bm25_hard"]["queries"] <= out["full"]["queries"]
    assert set(out["full"]) == {"queries", "corpus", "mrr@10", "recall@1", "recall@10", "recall@100"}
    assert out["rerank"]["queries"] == 18 and out["full"]["queries"] == 18 and out["full"]["corpus"] == 12
    for mode in out.values():
        assert all(0 <= v <= 1 for k, v in mode.items() if k not in ("queries", "corpus"))


def test_eval_baseline_and_errors(tiny_checkpoint, tmp_path):
    _, data = tiny_checkpoint
    r = run("eval", "--checkpoint", "glove-avg", "--data", str(data), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["full"]["queries"] == 18
    r = run("eval", "--checkpoint", str(tmp_path / "none.pt"), "--data", str(data), "--json")
    assert r.returncode == 2 and "not found" in r.stderr and "Traceback" not in r.stderr
    r = run("eval", "--checkpoint", "glove-avg", "--data", str(tmp_path / "none.jsonl"))
    assert r.returncode == 2 and "MSMARCO_SOURCE" in r.stderr


def test_help():
    r = run("--help")
    assert r.returncode == 0 and "train" in r.stdout and "eval" in r.stdout


def test_eval_bm25_and_hybrid_print_the_same_contract(tiny_checkpoint, tmp_path):
    ckpt, data = tiny_checkpoint
    r = run("eval", "--checkpoint", "bm25", "--data", str(data), "--json")
    assert r.returncode == 0, r.stderr
    bm25 = json.loads(r.stdout)
    r = run(
        "eval", "--checkpoint", f"hybrid:{ckpt}", "--data", str(data), "--json", "--artifacts", str(tmp_path)
    )
    assert r.returncode == 2 and "python -m core build" in r.stderr and "Traceback" not in r.stderr
    from core.model.two_tower import file_fingerprint
    from core.retrieval.hybrid import save_weight

    save_weight(tmp_path, "tiny", file_fingerprint(ckpt), 0.5, {0.5: 1.0}, 10, {"split": "tuning"})
    r = run(
        "eval", "--checkpoint", f"hybrid:{ckpt}", "--data", str(data), "--json", "--artifacts", str(tmp_path)
    )
    assert r.returncode == 0, r.stderr
    hybrid = json.loads(r.stdout)
    for out in (bm25, hybrid):
        assert set(out["rerank"]) == {"queries", "mrr@10", "recall@1", "recall@5", "ndcg@10"}
        assert set(out["full"]) == {"queries", "corpus", "mrr@10", "recall@1", "recall@10", "recall@100"}
        assert out["full"]["queries"] == 18 and out["full"]["corpus"] == 12
