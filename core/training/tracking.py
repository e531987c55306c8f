"""What a training run reports while it trains, as `train` hooks: the console (a tqdm bar per epoch
and a line after it, the CLI's choice), a `Tally` told the steps done, a live progress file that
the app's training page polls (and how far through its phases that file says the run is), and, when
`wandb` is installed and configured, a Weights & Biases run. Without wandb (or without
WANDB_API_KEY / WANDB_MODE set) the tracker is simply absent. `tqdm_tally` is the CLI's `Tally`
for the other long stages (mining, indexing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from core.common.artifacts import write_json
from core.common.config import Config
from core.common.types import Hook, Tally

PROGRESS_EVERY_S = 1.0  # batch events are written at most this often; the others always


def combine(*hooks: Hook | None) -> Hook:
    """One hook calling each of `hooks` that is not None."""
    live = [h for h in hooks if h is not None]

    def hook(event: str, log: dict) -> None:
        for h in live:
            h(event, log)

    return hook


def console() -> Hook:
    """A tqdm bar per epoch (the mean loss and active share of its last 20 steps) and a line after
    each epoch with its loss, active share, speed and validation MRR@10."""
    bar: list = [None]

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            b, epochs = log["batches"][-1], log["config"]["train"]["epochs"]
            if bar[0] is None:
                bar[0] = tqdm(total=log["steps"] // epochs, desc=f"epoch {b['epoch']}/{epochs}")
            recent = [x for x in log["batches"][-20:] if x["epoch"] == b["epoch"]]
            bar[0].update(1)
            loss, active = np.mean([x["loss"] for x in recent]), np.mean([x["active"] for x in recent])
            bar[0].set_postfix(loss=f"{loss:.4f}", active=f"{active:.2f}")
        elif event == "validating" and bar[0] is not None:
            bar[0].close()
            bar[0] = None
        elif event == "epoch":
            e = log["epochs"][-1]
            tqdm.write(
                f"epoch {e['epoch']}: loss {e['loss']:.4f}  active {e['active']:.3f}  "
                f"{e['triplets_per_s']:.0f} triplets/s  val MRR@10 {e['val']['mrr@10']}"
            )

    return hook


def tally_hook(tally: Tally | None) -> Hook | None:
    """A hook telling `tally` (steps done, steps in all) after each step; None without one."""
    if tally is None:
        return None

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            tally(len(log["batches"]), log["steps"])

    return hook


def tqdm_tally(desc: str = "") -> Tally:
    """A `Tally` drawn as tqdm bars: a new bar whenever the count starts again or its total changes."""
    bar: list = [None]

    def tally(done: int, total: int) -> None:
        if bar[0] is None or bar[0].total != total or done < bar[0].n:
            if bar[0] is not None:
                bar[0].close()
            bar[0] = tqdm(total=total, desc=desc)
        bar[0].update(done - bar[0].n)
        if done >= total:
            bar[0].close()
            bar[0] = None

    return tally


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


PHASES = (
    "Loading the data and the word vectors",
    "Validating the untrained model",
    "Training",
    "Saving the checkpoint",
)
SHARES = (0.03, 0.12, 0.95, 1.0)  # where each phase ends on the progress bar; training is by steps


def phase(event: str | None, log: dict | None) -> tuple[float, str]:
    """(fraction of the whole run done, what it is doing) from the last event of a progress file
    (`event` None: no file yet, the run is still loading), so a bar moves through every phase:
    loading, the untrained validation, the epochs (by steps, with each epoch's validation) and saving."""

    def named(i: int, detail: str = "") -> str:
        return f"Phase {i + 1} of {len(PHASES)}: {PHASES[i]}" + (f" · {detail}" if detail else "")

    if event is None or log is None:
        return SHARES[0] / 2, named(0)
    if event == "done":
        return 1.0, "Checkpoint saved"
    epochs, trained = log["config"]["train"]["epochs"], len(log["epochs"]) - 1  # epoch 0: untrained
    if event == "validating" and trained < 0:
        return SHARES[0], named(1, "epoch 0, every validation query over all passages")
    if event == "epoch" and trained >= epochs:
        return SHARES[2], named(3)
    steps, done = max(log.get("steps") or 1, 1), len(log["batches"])
    share = SHARES[1] + (SHARES[2] - SHARES[1]) * min(done / steps, 1.0)
    if event == "validating":
        return share, named(2, f"validating after epoch {trained + 1} of {epochs}")
    epoch = log["batches"][-1]["epoch"] if log["batches"] else 1
    return share, named(2, f"Epoch {epoch} of {epochs}: step {done:,} of {steps:,}")


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
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", "two-tower-msmarco"), name=name, config=cfg.to_dict()
    )

    def hook(event: str, log: dict) -> None:
        if event == "batch":
            b = log["batches"][-1]
            run.log(
                {"batch/loss": b["loss"], "batch/active": b["active"], "lr": b["lr"], "epoch": b["epoch"]},
                step=b["step"],
            )
        elif event == "epoch":
            e = log["epochs"][-1]
            run.log(
                {
                    "epoch/loss": e["loss"],
                    "epoch/active": e["active"],
                    "epoch": e["epoch"],
                    **{f"val/{k}": v for k, v in e["val"].items()},
                },
                step=len(log["batches"]),
            )
        elif event == "done":
            run.summary.update({f"final/{k}": v for k, v in log["epochs"][-1]["val"].items()})
            run.finish()

    return hook
