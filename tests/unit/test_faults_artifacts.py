"""What protects the artifacts from faults: recovery swaps in only a complete run."""

from __future__ import annotations

from core.common.artifacts import find_checkpoints
from tests.unit.test_reliability_artifacts import run_folder


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
