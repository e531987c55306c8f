"""Reliability of what is on disk: the atomic write helper under concurrent writers, every writer
going through it, and nothing half-written or left behind when a write fails."""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.artifacts import write_atomic, write_json

ROOT = Path(__file__).resolve().parents[1]
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
        write_json(tmp_path / "log.json", {"loss": float("nan")})      # never a file that does not parse
    assert not (tmp_path / "log.json").exists()
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask()), "permissions as open() gives them"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_every_writer_uses_the_helper():
    """No hand-written temp-file-and-rename left in the code: one helper does it (and knows how)."""
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in sorted((ROOT / "core").glob("*.py")) if p.name != "artifacts.py"
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if "os.replace" in line or ".tmp" in line or ".write_text(" in line or ".write_bytes(" in line]
    offenders += [f"{p.relative_to(ROOT)}" for p in [ROOT / "app_state.py", *(ROOT / "views").glob("*.py")]
                  if "os.replace" in p.read_text() or ".write_text(" in p.read_text()]
    assert not offenders, offenders


def test_checkpoints_vocabularies_and_maps_are_written_atomically(tmp_path, glove_vocab, monkeypatch):
    from core.config import ModelConfig
    from core.model import TwoTower, load_checkpoint, save_checkpoint
    model = TwoTower.from_vocab(ModelConfig(hidden=8, out_dim=8), glove_vocab)
    save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"name": "x"})
    glove_vocab.save(tmp_path / "vocab.npz")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(torch, "save", full_disk)
    monkeypatch.setattr(np, "savez", full_disk)
    for write in (lambda: save_checkpoint(tmp_path / "model.pt", model, glove_vocab, {"name": "y"}),
                  lambda: glove_vocab.save(tmp_path / "vocab.npz")):
        with pytest.raises(OSError):
            write()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "model.pt")[2] == {"name": "x"}
