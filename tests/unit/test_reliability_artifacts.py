"""What protects the artifacts: `train --out` never replaces a folder a run did not make (not even
with --force), one writer per output folder and per build, and a folder swap that a crash at any
point leaves recoverable: the next start finishes or undoes it, and the checkpoint is found."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.common import outputs
from core.common.artifacts import find_checkpoints, write_json
from core.common.outputs import hold, publish_dir, sibling
from core.pipeline import cli
from tests.unit.test_reliability import TINY, one_error_line


def train(out: Path, data: Path, *flags: str) -> int:
    return cli.main(["train", "--out", str(out), "--source", str(data), "--epochs", "1", *TINY, *flags])


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_out_never_replaces_a_folder_that_holds_more_than_a_run(tiny_jsonl, capsys):
    """`--out artifacts` (or `--out ~/notes`) used to replace the whole folder with one run."""
    folder = tiny_jsonl.parent / "artifacts"
    (folder / "random").mkdir(parents=True)
    (folder / "random" / "model.pt").write_bytes(b"a checkpoint")
    (folder / "metrics.json").write_text("{}")
    before = snapshot(folder)
    assert train(folder, tiny_jsonl) == 2
    assert "never replaced" in one_error_line(capsys)
    assert train(folder, tiny_jsonl, "--force") == 2
    assert "not even with --force" in one_error_line(capsys)
    assert snapshot(folder) == before and sorted(p.name for p in tiny_jsonl.parent.iterdir()) == [
        "artifacts",
        "tiny.jsonl",
    ], "nothing beside it either"


def test_an_unfinished_run_is_replaced_only_with_force_and_a_finished_one_always(tiny_jsonl, capsys):
    out = tiny_jsonl.parent / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # a run's file, but no model.pt
    assert train(out, tiny_jsonl) == 2
    message = one_error_line(capsys)
    assert "not a finished run" in message and "--force" in message
    assert train(out, tiny_jsonl, "--force") == 0
    first = (out / "model.pt").read_bytes()
    assert train(out, tiny_jsonl, "--seed", "5") == 0, "a finished run is replaced by the next"
    assert (out / "model.pt").read_bytes() != first
    assert sorted(p.name for p in tiny_jsonl.parent.iterdir()) == ["run", "tiny.jsonl"], (
        "no lock, no .partial"
    )


def test_a_second_writer_of_one_output_or_one_build_is_refused(tiny_jsonl, capsys):
    folder = tiny_jsonl.parent
    with hold(sibling(folder / "run", "lock"), "the test"):
        assert train(folder / "run", tiny_jsonl) == 2
        assert "being written by another process (pid" in one_error_line(capsys)
    assert not (folder / "run").exists()
    out = folder / "artifacts"
    with hold(out / ".build.lock", "the test"):
        assert cli.main(["build", "--artifacts", str(out), "--source", str(tiny_jsonl), *TINY]) == 2
        assert "being written by another process" in one_error_line(capsys)
    assert list(out.iterdir()) == [], "the refused build wrote nothing, and the lock is gone"


def run_folder(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    for name in outputs.RUN_FILES:
        (folder / name).write_text(text)
    return folder


class Crash(BaseException):
    pass


def crash_at(monkeypatch, n: int) -> None:
    """The n-th rename or removal in the swap raises, as a kill there would leave it."""
    calls = {"n": 0}

    def step(real):
        def wrapped(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise Crash
            return real(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(outputs.os, "replace", step(os.replace))
    monkeypatch.setattr(outputs.shutil, "rmtree", step(shutil.rmtree))


@pytest.mark.parametrize("point", range(1, 6))
def test_a_swap_interrupted_at_any_point_is_finished_or_undone_at_the_next_start(
    tmp_path, monkeypatch, point
):
    artifacts = tmp_path / "artifacts"
    final = run_folder(artifacts / "random", "old")
    work = run_folder(sibling(final, "partial"), "new")
    crash_at(monkeypatch, point)
    with contextlib.suppress(Crash):
        publish_dir(work, final)
    monkeypatch.undo()
    found = find_checkpoints(artifacts)  # the next start
    assert list(found) == ["random"] and found["random"].read_text() in ("old", "new")
    assert (final / "log.json").read_text() == found["random"].read_text(), "one run, not a mix"
    assert sorted(p.name for p in artifacts.iterdir()) == ["random"], "nothing left over"


def test_the_state_a_kill_between_the_old_swap_renames_left_is_restored(tmp_path):
    """Only `.random.old` and `.random.partial` (the issue's case): the checkpoint is found again."""
    artifacts = tmp_path / "artifacts"
    run_folder(artifacts / ".random.old", "old")
    run_folder(artifacts / ".random.partial", "new")
    assert find_checkpoints(artifacts)["random"].read_text() == "old"
    assert sorted(p.name for p in artifacts.iterdir()) == ["random"]


def test_recovery_leaves_a_folder_that_another_process_is_writing_alone(tmp_path):
    artifacts = tmp_path / "artifacts"
    run_folder(artifacts / "random", "old")
    partial = run_folder(artifacts / ".random.partial", "being written")
    with hold(sibling(artifacts / "random", "lock"), "the test"):
        find_checkpoints(artifacts)
        assert partial.is_dir()
    find_checkpoints(artifacts)
    assert not partial.exists(), "a run that never finished is cleared once nobody writes it"


def test_a_benchmark_of_other_artifacts_never_overwrites_the_repositorys_report(tmp_path):
    """`bench --artifacts <elsewhere>` used to overwrite docs/benchmark.md."""
    from core.pipeline.bench_report import ROOT, report_path

    assert report_path(tmp_path) == tmp_path / "benchmark.md"
    assert report_path(ROOT / "artifacts") == ROOT / "docs" / "benchmark.md"
    assert report_path(tmp_path, str(tmp_path / "mine.md")) == tmp_path / "mine.md"


def test_config_json_holds_no_absolute_path_of_this_machine(tmp_path):
    from core.common.config import ROOT, Config

    cfg = Config()
    cfg.train.hard_file = str(ROOT / "artifacts" / "mined" / "negatives.json")
    cfg.train.init_from = str(ROOT / "artifacts" / "random" / "model.pt")
    cfg.vocab.glove = str(tmp_path / "glove.6B.50d.txt")  # outside the repository: kept as it is
    cfg.save(tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["train"]["hard_file"] == "artifacts/mined/negatives.json"
    assert saved["train"]["init_from"] == "artifacts/random/model.pt"
    assert saved["vocab"]["glove"] == str(tmp_path / "glove.6B.50d.txt")
    assert str(ROOT) not in (tmp_path / "config.json").read_text()


@pytest.mark.parametrize("text", ["garbage{", "[1, 2]", '{"random": {"checkpoint": "fp", "weight": NaN}}'])
def test_a_damaged_hybrid_json_is_an_error_naming_the_file(tmp_path, text):
    from core.common.artifacts import CheckpointError
    from core.retrieval.hybrid import weight_for

    (tmp_path / "hybrid.json").write_text(text)
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'hybrid.json'} is damaged"):
        weight_for(tmp_path, "fp")


def test_a_killed_writers_temporary_file_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".metrics.json.{dead.pid}.x1.tmp"  # a writer killed mid-write left it
    live = tmp_path / f".metrics.json.{os.getpid()}.x2.tmp"  # a writer still at work
    stale.write_text("half")
    live.write_text("half")
    write_json(tmp_path / "metrics.json", {"ok": True})
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "metrics.json"]
