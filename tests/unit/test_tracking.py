"""A training run's config and reports without a run: run_config, phases, progress file, W&B, curve
offsets."""

from __future__ import annotations

import json

import pytest

from core.common.artifacts import write_json
from core.runs import launcher


def test_run_config_sets_fields_and_needs_the_mined_file_for_hard_negatives(tmp_path):
    cfg = launcher.run_config(
        tmp_path,
        tower="avg",
        hidden=32,
        bidirectional=False,
        loss="triplet",
        margin=0.3,
        epochs=1,
        max_queries=200,
    )
    assert (cfg.model.tower, cfg.model.hidden, cfg.model.bidirectional) == ("avg", 32, False)
    assert (cfg.train.loss, cfg.train.margin, cfg.train.epochs, cfg.train.max_queries) == (
        "triplet",
        0.3,
        1,
        200,
    )
    assert cfg.train.negatives == "random" and cfg.train.hard_file is None
    with pytest.raises(launcher.RunError, match="python -m core build"):
        launcher.run_config(tmp_path, negatives="hard")
    write_json(tmp_path / "mined" / "negatives.json", {"negatives": {}})
    assert launcher.run_config(tmp_path, negatives="hard").train.hard_file == str(
        tmp_path / "mined" / "negatives.json"
    )
    with pytest.raises(launcher.RunError, match="unknown setting"):
        launcher.run_config(tmp_path, no_such_field=1)


def small_log(batches: int) -> dict:
    return {
        "batches": [
            {"epoch": 1, "step": i + 1, "loss": 1.0, "active": 0.5, "lr": 1e-3} for i in range(batches)
        ],
        "epochs": [{"epoch": 1, "loss": 1.0, "active": 0.5, "val": {"mrr@10": 0.4}}],
    }


def test_phases_move_forward_through_loading_validation_epochs_and_saving():
    from core.training.tracking import phase

    log = {"config": {"train": {"epochs": 2}}, "steps": 4, "batches": [], "epochs": []}
    states = [phase(None, None), phase("validating", log)]
    log["epochs"].append({"epoch": 0})
    for step in range(1, 5):
        log["batches"].append({"epoch": 1 + (step > 2), "step": step})
        states.append(phase("batch", log))
        if step % 2 == 0:
            states.append(phase("validating", log))
            log["epochs"].append({"epoch": step // 2})
            states.append(phase("epoch", log))
    states.append(phase("done", log))
    fractions, texts = zip(*states)
    assert list(fractions) == sorted(fractions) and fractions[0] > 0 and fractions[-1] == 1.0
    assert texts[0].startswith("Phase 1 of 4: Loading")
    assert texts[1].startswith("Phase 2 of 4: Validating the untrained")
    assert "Epoch 1 of 2: step 1 of 4" in texts[2] and "validating after epoch 1 of 2" in texts[4]
    assert texts[-2].startswith("Phase 4 of 4: Saving") and texts[-1] == "Checkpoint saved"


def test_curves_of_a_continued_run_start_where_its_first_checkpoint_ended():
    from views.parts.charts import epoch_offsets

    logs = {
        "random": {"config": {"train": {}}, "epochs": [{}] * 5},
        "hard": {"config": {"train": {"init_from": "/x/artifacts/random/model.pt"}}, "epochs": [{}] * 4},
        "run-a": {"config": {"train": {"init_from": "/x/artifacts/runs/b/model.pt"}}, "epochs": [{}] * 2},
    }
    assert epoch_offsets(logs) == {"random": 0, "hard": 4, "run-a": 0}


def test_progress_file_is_whole_and_throttles_batches(tmp_path):
    from core.training.tracking import progress_file

    path = tmp_path / "progress.json"
    hook = progress_file(path, every_s=60)
    hook("batch", small_log(1))
    hook("batch", small_log(2))  # within the minute: skipped
    assert len(json.loads(path.read_text())["log"]["batches"]) == 1
    hook("epoch", small_log(3))  # other events always written
    state = json.loads(path.read_text())
    assert state["event"] == "epoch" and len(state["log"]["batches"]) == 3


def test_wandb_logs_only_when_installed_and_configured(monkeypatch):
    import sys
    import types

    from core.common.config import Config
    from core.training.tracking import wandb_hook

    calls = []
    run = types.SimpleNamespace(
        log=lambda data, step: calls.append(("log", step, data)),
        summary={},
        finish=lambda: calls.append(("finish",)),
    )
    fake = types.SimpleNamespace(init=lambda **kw: calls.append(("init", kw["name"])) or run)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    assert wandb_hook(Config(), "x") is None, "installed but not configured: nothing changes"
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setitem(sys.modules, "wandb", None)  # configured but not installed
    assert wandb_hook(Config(), "x") is None
    monkeypatch.setitem(sys.modules, "wandb", fake)
    hook = wandb_hook(Config(), "run-1")
    for event in ("batch", "epoch", "done"):
        hook(event, small_log(2))
    assert calls[0] == ("init", "run-1") and calls[-1] == ("finish",)
    assert calls[1][1] == 2 and calls[1][2]["batch/loss"] == 1.0 and calls[2][2]["val/mrr@10"] == 0.4
    assert run.summary["final/mrr@10"] == 0.4
