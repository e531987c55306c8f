"""What a training run reports while it trains, as `train` hooks: a live progress file that the
app's training page polls, and, when `wandb` is installed and configured, a Weights & Biases run.
Without wandb (or without WANDB_API_KEY / WANDB_MODE set) the tracker is simply absent."""
from __future__ import annotations

import os
import time
from pathlib import Path

from core.artifacts import write_json
from core.config import Config
from core.train import Hook

PROGRESS_EVERY_S = 1.0        # batch events are written at most this often; the others always


def combine(*hooks: Hook | None) -> Hook:
    """One hook calling each of `hooks` that is not None."""
    live = [h for h in hooks if h is not None]

    def hook(event: str, log: dict) -> None:
        for h in live:
            h(event, log)
    return hook


def progress_file(path: str | Path, every_s: float = PROGRESS_EVERY_S) -> Hook:
    """A hook writing {"event", "time", "log"} to `path` atomically: every event but "batch", and a
    batch at most every `every_s` seconds, so a reader always finds a whole, recent file."""
    last = [0.0]

    def hook(event: str, log: dict) -> None:
        now = time.time()
        if event == "batch" and now - last[0] < every_s:
            return
        last[0] = now
        write_json(path, {"event": event, "time": now, "log": log})
    return hook


def wandb_configured() -> bool:
    return bool(os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_MODE"))


def wandb_hook(cfg: Config, name: str) -> Hook | None:
    """A hook logging batches, epochs and the final validation to a wandb run named `name`, or None
    when wandb is not installed or not configured."""
    if not wandb_configured():
        return None
    try:
        import wandb
    except ImportError:
        return None
    run = wandb.init(project=os.environ.get("WANDB_PROJECT", "two-tower-msmarco"), name=name, config=cfg.to_dict())

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            b = log["batches"][-1]
            run.log({"batch/loss": b["loss"], "batch/active": b["active"], "lr": b["lr"], "epoch": b["epoch"]},
                    step=b["step"])
        elif event == "epoch":
            e = log["epochs"][-1]
            run.log({"epoch/loss": e["loss"], "epoch/active": e["active"], "epoch": e["epoch"],
                     **{f"val/{k}": v for k, v in e["val"].items()}}, step=len(log["batches"]))
        elif event == "done":
            run.summary.update({f"final/{k}": v for k, v in log["epochs"][-1]["val"].items()})
            run.finish()
    return hook
