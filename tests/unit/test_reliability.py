"""Reliability of what is on disk and of the command line: the atomic write helper under concurrent
writers (and every writer going through it), training settings checked before any work, diverged
runs, malformed data rows, `mine` as a stage of its own, errors that name the file, and a missing
source or an unwritable artifacts or Chroma folder. Every failure is one `error:` line (exit code 2)
and leaves no checkpoint and no `.partial` folder."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core.common.artifacts import CheckpointError, write_atomic, write_json
from core.data.triplets import load_mined
from core.data.vocab import Vocab
from core.model.two_tower import file_fingerprint, load_checkpoint
from core.pipeline import cli
from core.retrieval.index import chroma_client, ensure_index
from core.retrieval.vectors import IndexTarget, SearchIndexError
from tests.conftest import tiny_rows

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 1000


def _write_rounds(path: str, width: int, rounds: int) -> None:
    """One writer: `rounds` JSON objects of its own length (short or long) over the same file."""
    for i in range(rounds):
        write_json(path, {"writer": width, "round": i, "payload": "x" * width})


def _read_rounds(path: str, rounds: int, failures) -> None:
    for _ in range(rounds):
        try:
            json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            failures.put(f"{type(e).__name__}: {e}")


def test_concurrent_writers_of_different_lengths_never_corrupt_the_file(tmp_path):
    path = tmp_path / "job.json"
    write_json(path, {"writer": 0, "round": -1, "payload": ""})
    ctx = multiprocessing.get_context("fork")
    failures = ctx.Queue()
    procs = [ctx.Process(target=_write_rounds, args=(str(path), width, ROUNDS)) for width in (3, 5000)]
    procs.append(ctx.Process(target=_read_rounds, args=(str(path), ROUNDS, failures)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0, "a writer or the reader raised"
    seen = []
    while not failures.empty():
        seen.append(failures.get())
    assert not seen, seen[:3]
    final = json.loads(path.read_text())
    assert final["round"] == ROUNDS - 1 and len(final["payload"]) == final["writer"]
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"], "no temporary file is left behind"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    write_atomic(path, lambda f: f.write(b"old"))

    def half_then_fail(f):
        f.write(b"half of a new file")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(path, half_then_fail)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]
    with pytest.raises(ValueError):
        write_json(tmp_path / "log.json", {"loss": float("nan")})  # never a file that does not parse
    assert not (tmp_path / "log.json").exists()
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask()), "permissions as open() gives them"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_every_writer_uses_the_helper():
    """No hand-written temp-file-and-rename left in the code (a temporary name, a direct write, a rename
    of a temporary file): one helper does it, and knows how. Folder swaps are another matter."""
    hand_written = re.compile(r"\.tmp\b|\.write_text\(|\.write_bytes\(|os\.replace\(tmp")
    code = [*sorted((ROOT / "core").rglob("*.py")), ROOT / "app.py", *sorted((ROOT / "views").rglob("*.py"))]
    modules = [p for p in code if p != ROOT / "core" / "common" / "artifacts.py"]
    assert (
        ROOT / "core" / "retrieval" / "index.py" in modules
        and ROOT / "views" / "pages" / "search.py" in modules
    )
    offenders = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in modules
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if hand_written.search(line)
    ]
    assert not offenders, offenders


def test_checkpoints_vocabularies_and_maps_are_written_atomically(tmp_path, glove_vocab, monkeypatch):
    from core.common.config import ModelConfig
    from core.model.two_tower import TwoTower, save_checkpoint

    model = TwoTower.from_vocab(ModelConfig(hidden=8, out_dim=8), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"name": "x"})
    glove_vocab.save(tmp_path / "vocab.npz")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    monkeypatch.setattr(np, "savez", full_disk)
    for write in (
        lambda: save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"name": "y"}),
        lambda: glove_vocab.save(tmp_path / "vocab.npz"),
    ):
        with pytest.raises(OSError):
            write()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "model.pt")[2] == {"name": "x"}


# --- the command line: one error line, nothing left behind -------------------------------------

TINY = [
    "--top-n",
    "300",
    "--hidden",
    "8",
    "--out-dim",
    "8",
    "--batch-size",
    "8",
    "--warmup-steps",
    "1",
    "--val-fraction",
    "0.3",
]


def one_error_line(capsys) -> str:
    """The error the CLI printed: exactly one `error:` line, last, and no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and err.rstrip().splitlines()[-1] == errors[0] and "Traceback" not in err, err
    return errors[0]


def left_behind(folder: Path, *keep: str) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


@pytest.fixture(scope="module")
def tiny_random(tmp_path_factory):
    """A checkpoint trained for one epoch on the tiny corpus through the CLI, and that corpus."""
    folder = tmp_path_factory.mktemp("tiny")
    data = folder / "tiny.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in tiny_rows()) + "\n")
    assert (
        cli.main(["train", "--out", str(folder / "random"), "--source", str(data), "--epochs", "1", *TINY])
        == 0
    )
    return folder / "random" / "model.pt", data


BAD_SETTINGS = {
    "--epochs 0": (["--epochs", "0"], "--epochs must be a whole number from 1"),
    "--epochs -1": (["--epochs", "-1"], "--epochs must be a whole number from 1"),
    "--val-fraction 1.0": (["--val-fraction", "1.0"], "--val-fraction must be a finite number above 0"),
    "--val-fraction 0": (["--val-fraction", "0"], "--val-fraction must be a finite number above 0"),
    "--batch-size -4": (["--batch-size", "-4"], "--batch-size must be a whole number from 1"),
    "--batch-size 0": (["--batch-size", "0"], "--batch-size must be a whole number from 1"),
    "--lr nan": (["--lr", "nan"], "--lr must be a finite number above 0"),
    "--lr -1": (["--lr", "-1"], "--lr must be a finite number above 0"),
    "--max-queries -5": (["--max-queries", "-5"], "--max-queries must be a whole number of at least 0"),
    "--negatives hard": (["--negatives", "hard"], "python -m core mine --checkpoint"),
    "--lr 1000 (diverges)": (["--lr", "1000"], "training diverged at epoch 1, step 1"),
}


@pytest.mark.parametrize("case", BAD_SETTINGS)
def test_a_bad_training_setting_is_one_error_line_and_leaves_no_checkpoint(case, tiny_jsonl, capsys):
    flags, message = BAD_SETTINGS[case]
    folder = tiny_jsonl.parent
    code = cli.main(
        ["train", "--out", str(folder / "run"), "--source", str(tiny_jsonl), "--epochs", "1", *TINY, *flags]
    )
    assert code == 2 and message in one_error_line(capsys)
    assert left_behind(folder, tiny_jsonl.name) == [], "no run folder, no .run.partial"


def test_settings_are_checked_before_the_data_is_loaded(tmp_path, capsys):
    """A bad setting is reported even when the data source does not exist: nothing was loaded."""
    assert (
        cli.main(
            ["train", "--out", str(tmp_path / "run"), "--source", str(tmp_path / "nowhere"), "--epochs", "0"]
        )
        == 2
    )
    assert "--epochs" in one_error_line(capsys)
    assert (
        cli.main(
            [
                "build",
                "--artifacts",
                str(tmp_path),
                "--source",
                str(tmp_path / "nowhere"),
                "--batch-size",
                "0",
            ]
        )
        == 2
    )
    assert "--batch-size" in one_error_line(capsys) and left_behind(tmp_path) == []


def test_a_failure_after_training_started_removes_the_partial_folder(tiny_jsonl, monkeypatch, capsys):
    folder = tiny_jsonl.parent

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device", str(folder / ".run.partial" / "model.pt"))

    monkeypatch.setattr("core.training.train.save_checkpoint", full_disk)
    assert (
        cli.main(["train", "--out", str(folder / "run"), "--source", str(tiny_jsonl), "--epochs", "1", *TINY])
        == 2
    )
    assert "No space left on device" in one_error_line(capsys)
    assert left_behind(folder, tiny_jsonl.name) == []


def malformed_file(folder: Path, change) -> Path:
    rows = [json.dumps(r) for r in tiny_rows()]
    path = folder / "bad.jsonl"
    if callable(change):
        row = tiny_rows()[3]
        change(row)
        rows[3] = json.dumps(row)
        path.write_text("\n".join(rows) + "\n")
    else:
        path.write_bytes("\n".join(rows[:3]).encode() + b"\n" + change + b"\n" + rows[4].encode() + b"\n")
    return path


MALFORMED = {
    "passage_text a string": (
        lambda r: r["passages"].update(passage_text="one passage, not a list"),
        "passages.passage_text is a str, not a list of passages",
    ),
    "a null passage": (lambda r: r["passages"]["passage_text"].__setitem__(1, None), "passage 2 is null"),
    "passages null": (lambda r: r.update(passages=None), "missing passages"),
    "is_selected yes": (
        lambda r: r["passages"].update(is_selected=["yes", 0, 0]),
        "passages.is_selected is ['yes', 0, 0], not a list of integers",
    ),
    "query_id missing": (lambda r: r.pop("query_id"), "missing query_id"),
    "a row that is a list": (lambda r: r.clear(), None),
    "undecodable bytes": (b'{"query_id": 9, "query": "caf\xe9", "passages": {}}', "not UTF-8 text"),
    "binary garbage": (bytes(range(128, 256)), "not UTF-8 text"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_row_is_one_error_line_naming_the_file_and_row(case, tmp_path, capsys):
    change, message = MALFORMED[case]
    path = malformed_file(tmp_path, change)
    if message is None:  # an empty object: no query_id, no passages
        message = "missing query_id, passages"
    assert cli.main(["train", "--out", str(tmp_path / "run"), "--source", str(path), *TINY]) == 2
    line = one_error_line(capsys)
    assert line.startswith(f"error: {path}:4") and message in line, line
    assert left_behind(tmp_path, path.name) == []


def test_eval_with_no_scorable_query_is_an_error(tiny_random, tmp_path, capsys):
    checkpoint, _ = tiny_random
    rows = tiny_rows()
    for row in rows:
        row["passages"]["is_selected"] = [0, 0, 0]  # nothing judged relevant
    data = tmp_path / "unjudged.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert cli.main(["eval", "--checkpoint", str(checkpoint), "--data", str(data), "--json"]) == 2
    assert "no query to score" in one_error_line(capsys)


def test_checkpoint_and_vocabulary_errors_name_the_file(tiny_random, tmp_path):
    checkpoint, _ = tiny_random
    ckpt = torch.load(checkpoint, weights_only=True)
    ckpt["vocab"] = ckpt["vocab"][:-5]  # words and vectors disagree
    mismatched = tmp_path / "mismatched.pt"
    torch.save(ckpt, mismatched)
    with pytest.raises(CheckpointError, match=f"checkpoint {mismatched} is corrupt or incompatible.*words"):
        load_checkpoint(mismatched)
    garbage = tmp_path / "vocab.npz"
    garbage.write_bytes(b"not a vocabulary")
    with pytest.raises(ValueError, match=f"vocabulary {garbage} is unreadable"):
        Vocab.load(garbage)
    bad_mined = tmp_path / "negatives.json"
    bad_mined.write_text('{"negatives": [1, 2]}')
    with pytest.raises(ValueError, match=f"mined negatives {bad_mined} are unreadable.*python -m core mine"):
        load_mined(bad_mined)


def test_mine_is_a_stage_of_its_own_that_train_hard_reads(tiny_random, tmp_path, capsys):
    checkpoint, data = tiny_random
    mined = tmp_path / "mined" / "negatives.json"
    mine = [
        "mine",
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(mined),
        "--source",
        str(data),
        "--val-fraction",
        "0.3",
        "--mine-depth",
        "8",
        "--mine-keep",
        "3",
    ]
    assert cli.main(mine) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "mined"
    negatives, provenance = load_mined(mined)
    assert provenance["checkpoint_fingerprint"] == file_fingerprint(checkpoint) and provenance["queries"] > 0
    assert negatives and all(len(v) <= 3 for v in negatives.values())
    assert cli.main(mine) == 0 and json.loads(capsys.readouterr().out)["status"] == "up to date"
    assert (
        cli.main(
            [
                "train",
                "--out",
                str(tmp_path / "hard"),
                "--source",
                str(data),
                "--epochs",
                "1",
                *TINY,
                "--negatives",
                "hard",
                "--hard-file",
                str(mined),
                "--init-from",
                str(checkpoint),
            ]
        )
        == 0
    )
    assert load_checkpoint(tmp_path / "hard" / "model.pt")[2]["train"]["negatives"] == "hard"
    assert (
        cli.main(
            [
                "train",
                "--out",
                str(tmp_path / "x"),
                "--source",
                str(data),
                "--negatives",
                "hard",
                "--hard-file",
                str(tmp_path / "none.json"),
            ]
        )
        == 2
    )
    assert "python -m core mine" in one_error_line(capsys)


# --- a missing source, a read-only or full artifacts folder, a read-only Chroma folder -------


def test_a_missing_data_source_is_explained(tmp_path, capsys):
    assert cli.main(["eval", "--checkpoint", "glove-avg", "--data", str(tmp_path / "nowhere.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_a_read_only_or_full_artifacts_folder_is_explained_and_nothing_is_half_written(
    tmp_path, tiny_jsonl, capsys, monkeypatch, code
):
    target = tmp_path / "artifacts" / "metrics.json"
    write_json(target, {"old": True})
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(code, os.strerror(code), str(dst))

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_json(target, {"new": True})
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.loads(target.read_text()) == {"old": True} and sorted(
        p.name for p in target.parent.iterdir()
    ) == ["metrics.json"]

    def failing_train(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "run" / "model.pt"))

    monkeypatch.setattr("core.training.train.train", failing_train)
    assert (
        cli.main(["train", "--out", str(tmp_path / "run"), "--source", str(tiny_jsonl), "--top-n", "100"])
        == 2
    )
    err = capsys.readouterr().err
    assert os.strerror(code) in err and "ARTIFACTS_DIR" in err and "unchanged" in err


@pytest.mark.skipif(
    os.geteuid() == 0, reason="root writes into read-only folders anyway; the monkeypatched test covers it"
)
def test_a_really_read_only_chroma_folder_is_an_index_error(tmp_path):
    folder = tmp_path / "chroma"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(SearchIndexError, match="writable"):
            ensure_index(chroma_client(folder), None, IndexTarget("x", "fp", None, ["a"], ["text"], "c"))
    finally:
        folder.chmod(0o700)
