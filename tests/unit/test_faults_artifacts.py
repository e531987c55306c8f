"""What protects the artifacts from faults: recovery swaps in only a complete run; an output file
flag never replaces a file its command did not write, nor a device or a folder; stored passage
vectors are used only when their content is sound."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import numpy as np
import pytest

from core.analysis import results
from core.common.artifacts import find_checkpoints
from core.model.two_tower import file_fingerprint
from core.pipeline import cli
from tests.unit.test_reliability import TINY, one_error_line
from tests.unit.test_reliability_artifacts import run_folder, snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_or_incomplete_ready_folder_never_replaces_a_checkpoint(tmp_path):
    artifacts = tmp_path / "artifacts"
    run_folder(artifacts / "hard", "hard")
    run_folder(artifacts / "random", "random")
    (artifacts / ".hard.ready").mkdir()  # `mkdir artifacts/.hard.ready`
    incomplete = run_folder(artifacts / ".random.ready", "half")
    (incomplete / "model.pt").unlink()
    found = find_checkpoints(artifacts)
    assert list(found) == ["random", "hard"]
    assert found["hard"].read_text() == "hard" and found["random"].read_text() == "random"
    assert sorted(p.name for p in artifacts.iterdir()) == ["hard", "random"], "the incomplete ones removed"


def test_a_complete_ready_folder_is_still_swapped_in(tmp_path):
    artifacts = tmp_path / "artifacts"
    run_folder(artifacts / "hard", "old")
    run_folder(artifacts / ".hard.ready", "new")
    assert find_checkpoints(artifacts)["hard"].read_text() == "new"
    assert sorted(p.name for p in artifacts.iterdir()) == ["hard"]


def command_lines(folder: Path, data: Path, target: Path) -> dict[str, list[str]]:
    """Each command with an output file flag pointing at `target` (and every other input real)."""
    return {
        "train --progress-file": [
            "train", "--out", str(folder / "run"), "--source", str(data), "--epochs", "1", *TINY,
            "--progress-file", str(target),
        ],
        "mine --out": ["mine", "--checkpoint", str(folder / "random" / "model.pt"), "--out", str(target)],
        "bench --report": ["bench", "--artifacts", str(folder), "--data", str(data), "--report", str(target)],
        "experiments --docs": [
            "experiments", "--artifacts", str(folder), "--source", str(data), "--docs", str(target.parent),
        ],
    }  # fmt: skip


def special_file(folder: Path, kind: str) -> Path:
    """A character device (a private twin of /dev/null, so that a broken check damages nothing of the
    machine's; skipped where device files cannot be made) or a named pipe, in `folder`."""
    path = folder / kind.replace(" ", "-")
    if kind == "a named pipe":
        os.mkfifo(path)
        return path
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("device files cannot be made here")
    return path


@pytest.mark.parametrize("command", ["train --progress-file", "mine --out", "bench --report"])
@pytest.mark.parametrize("target", ["a checkpoint", "a character device", "a named pipe", "a folder"])
def test_an_output_flag_never_replaces_a_file_it_did_not_write(tiny_jsonl, capsys, command, target):
    folder = tiny_jsonl.parent
    checkpoint = folder / "random" / "model.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"PK\x03\x04 a checkpoint")
    if target == "a checkpoint":
        path = checkpoint
    elif target == "a folder":
        path = folder
    else:
        path = special_file(folder / "random", target)
    kind = stat.S_IFMT(os.lstat(path).st_mode)
    before = snapshot(folder)
    assert cli.main(command_lines(folder, tiny_jsonl, path)[command]) == 2
    message = one_error_line(capsys)
    assert command.split()[1] in message and str(path) in message
    assert stat.S_IFMT(os.lstat(path).st_mode) == kind, "a device is still a device, a pipe a pipe"
    assert snapshot(folder) == before, "nothing written, not even a run folder: refused before any work"


def test_experiments_never_replaces_a_report_it_did_not_write(tiny_jsonl, capsys):
    docs = tiny_jsonl.parent / "docs"
    docs.mkdir()
    (docs / "experiments.md").write_text("my notes")
    assert cli.main(command_lines(tiny_jsonl.parent, tiny_jsonl, docs / "x")["experiments --docs"]) == 2
    assert "--docs" in one_error_line(capsys) and (docs / "experiments.md").read_text() == "my notes"


def test_a_command_rewrites_its_own_output_files(tmp_path):
    """The files each command writes begin as `checks.HEADS` says, so a second run may replace them."""
    from core.common.outputs import file_problem
    from core.data.triplets import save_mined
    from core.pipeline import checks
    from core.training.tracking import progress_file

    progress_file(tmp_path / "progress.json")("epoch", {"epochs": []})
    save_mined(tmp_path / "mined.json", {"1": ["p"]}, {"key": "k"})
    shutil.copy(ROOT / "docs" / "benchmark.md", tmp_path / "benchmark.md")
    shutil.copy(ROOT / "docs" / "experiments.md", tmp_path / "experiments.md")
    for name, kind in [
        ("progress.json", "progress"),
        ("mined.json", "mined"),
        ("benchmark.md", "benchmark"),
        ("experiments.md", "experiments"),
    ]:
        assert file_problem(tmp_path / name, "--flag", checks.HEADS[kind]) is None, name


def damaged_vectors(encoded, damage: str):
    """`encoded` (an `Encoded`) damaged so: every row keeps its length except where the damage is that."""
    from core.model.encoded import Encoded

    rng = np.random.default_rng(0)
    dense, lexical = encoded.dense, encoded.lexical.copy()
    length = np.linalg.norm(dense, axis=1, keepdims=True)
    if damage == "NaN":
        return Encoded(np.full_like(dense, np.nan), lexical)
    if damage == "random unit vectors":
        noise = rng.standard_normal(dense.shape).astype(np.float32)
        return Encoded(noise / np.linalg.norm(noise, axis=1, keepdims=True) * length, lexical)
    if damage == "other words":
        lexical.indices = (lexical.indices + 1) % lexical.shape[1]
        return Encoded(dense, lexical)
    if damage == "a wrong width":
        cut = dense[:, :-3]
        return Encoded(cut / np.linalg.norm(cut, axis=1, keepdims=True) * length, lexical)
    return Encoded(dense * 2, lexical * 2)  # not of unit length


@pytest.mark.parametrize(
    "damage", ["NaN", "random unit vectors", "other words", "a wrong width", "not unit length"]
)
def test_damaged_passage_vectors_are_never_used(glove_vocab, tmp_path, damage):
    """A passages.npz that names the right checkpoint and corpus but holds other vectors is ignored:
    the engine encodes the passages and answers as with none stored."""
    from core.common.config import ModelConfig
    from core.data.msmarco import build_corpus
    from core.model.encoder import Checkpoint
    from core.model.passages import load_vectors, save_vectors
    from core.model.two_tower import TwoTower, save_checkpoint
    from core.retrieval.catalog import Catalog
    from core.retrieval.dense import DenseRanker
    from tests.conftest import tiny_rows

    model = TwoTower.from_vocab(ModelConfig(hidden=16, out_dim=16, lexical=True), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"data": {"query_len": 32, "passage_len": 64}})
    checkpoint, catalog = Checkpoint("tiny", tmp_path / "model.pt"), Catalog(build_corpus(tiny_rows()))
    encoded = checkpoint.encoder.encode_passages(catalog.texts)
    save_vectors(checkpoint, damaged_vectors(encoded, damage), catalog.fingerprint)
    assert load_vectors(checkpoint, catalog.fingerprint, catalog.texts) is None
    engine = DenseRanker("tiny", checkpoint, catalog)
    assert np.array_equal(engine.vectors.dense, encoded.dense), "encoded again, not the damaged file"
    assert (engine.vectors.lexical != encoded.lexical).nnz == 0
    hits = results.search(engine, "how is coffee made", 3).hits
    assert len(hits) == 3 and all(np.isfinite(h.score) for h in hits)


def test_metrics_of_a_replaced_checkpoint_are_stale_and_of_the_same_one_current(tmp_path):
    from core.common.artifacts import stale_models
    from views.parts.headline import stale_metrics

    for name in ("random", "hard"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "model.pt").write_bytes(name.encode())
    fingerprints = {n: file_fingerprint(tmp_path / n / "model.pt") for n in ("random", "hard")}
    models = {m: {"full": {"mrr@10": 0.5}} for m in ("random", "hard", "hybrid:hard", "bm25")}
    metrics = {"checkpoints": dict(fingerprints), "models": models}
    assert stale_metrics(metrics, tmp_path) == [], "quiet while they match"
    (tmp_path / "hard" / "model.pt").write_bytes(b"retrained")  # `train --out artifacts/hard`
    assert stale_metrics(metrics, tmp_path) == ["hard", "hybrid:hard"]
    assert stale_models({"models": models}, fingerprints) == ["random", "hard", "hybrid:hard"], (
        "none recorded"
    )
    assert stale_models({"models": "garbage", "checkpoints": 3}, fingerprints) == []


def test_train_into_a_folder_a_build_holds_is_refused_before_any_work(tiny_jsonl, capsys):
    from core.common.outputs import hold

    artifacts = tiny_jsonl.parent / "artifacts"
    with hold(artifacts / ".build.lock", "the test's build"):
        out = artifacts / "hard"
        assert (
            cli.main(["train", "--out", str(out), "--source", str(tiny_jsonl), "--epochs", "1", *TINY]) == 2
        )
        assert "being written by another process" in one_error_line(capsys)
        assert sorted(p.name for p in artifacts.iterdir()) == [".build.lock"]
    assert cli.main(["train", "--out", str(out), "--source", str(tiny_jsonl), "--epochs", "1", *TINY]) == 0
    assert sorted(p.name for p in artifacts.iterdir()) == ["hard"], "and its own hold is released"


def dead_pid() -> str:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return str(gone.pid)


def litter(artifacts: Path) -> None:
    """What `kill -9` of a build and of a launched run leave: `.partial` folders and hold's locks."""
    run_folder(artifacts / "random", "random")
    run_folder(artifacts / ".random.partial", "half")
    run_folder(artifacts / ".warmup.partial", "half")
    for lock in (".random.lock", ".warmup.lock", ".build.lock", "runs/.20260101-000000.lock"):
        (artifacts / lock).parent.mkdir(exist_ok=True)
        (artifacts / lock).write_text(dead_pid())
    (artifacts / "runs" / ".registry.lock").write_text("")  # the registry's own lock: never removed


@pytest.mark.parametrize("next_run", ["the app starts", "a build starts"])
def test_what_a_killed_build_or_run_left_is_cleared_by_the_next_start(tmp_path, capsys, next_run):
    from core.common.outputs import hold

    artifacts = tmp_path / "artifacts"
    litter(artifacts)
    with hold(artifacts / ".hard.lock", "a live writer"):  # another process writing now: left alone
        if next_run == "the app starts":
            assert list(find_checkpoints(artifacts)) == ["random"]
        else:
            nowhere = str(tmp_path / "nowhere.jsonl")
            assert cli.main(["build", "--artifacts", str(artifacts), "--source", nowhere, *TINY]) == 2
            capsys.readouterr()
        assert sorted(p.name for p in artifacts.iterdir()) == [".hard.lock", "random", "runs"]
    assert sorted(p.name for p in (artifacts / "runs").iterdir()) == [".registry.lock"]
