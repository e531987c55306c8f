"""What the Training page shows of runs: where a running one is, the logs of all of them as curves,
and the runs table (every checkpoint and run: settings, data, duration, final validation metrics)."""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.common.artifacts import RUN_PREFIX, artifacts_dir, folders_with, runs_dir, write_json, write_text
from core.retrieval.metrics import FULL_METRICS
from core.runs.jobs import (
    UNREADABLE,
    Job,
    is_config,
    job_dir,
    jobs,
    mtime,
    progress_log,
    read_log,
    read_record,
)
from core.training.tracking import phase

VAL_METRICS = (*FULL_METRICS, "ndcg@10")  # the validation columns of the table and the curves


@dataclass
class RunProgress:
    event: str  # starting, validating, batch, epoch or done
    fraction: float  # share of the whole run done (loading, validations and saving included)
    text: str
    log: dict | None  # the log so far (batches, epochs), None before training starts


def progress(job: Job, artifacts: str | Path | None = None) -> RunProgress:
    """Where a running job is, from its progress file (its phases: `core.training.tracking.phase`)."""
    state = progress_log(runs_dir(artifacts), job.run)
    event, log = state if state is not None else (None, None)
    return RunProgress(event or "starting", *phase(event, log), log)


def logs(artifacts: str | Path | None = None) -> dict[str, dict]:
    """Training logs by checkpoint name: every checkpoint's log.json (`artifacts/NAME/`, runs as
    run-ID), and the log so far of runs that are training or ended without a checkpoint. Logs that
    cannot be read are left out (`table` lists them as unreadable)."""
    return _all_logs(Path(artifacts or artifacts_dir()))[0]


def _all_logs(artifacts: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(training logs by checkpoint name, what is wrong with each log.json that cannot be read)."""
    found = folders_with(artifacts, "log.json")
    found.update({RUN_PREFIX + run: p for run, p in folders_with(runs_dir(artifacts), "log.json").items()})
    good, broken = {}, {}
    for name, path in found.items():
        log, problem = read_log(path)
        if problem:
            broken[name] = problem
        else:
            good[name] = log
    for job in jobs(artifacts):
        state = progress_log(runs_dir(artifacts), job.run)
        if state and job.name not in good and job.name not in broken:
            good[job.name] = state[1]
    return good, broken


def curves(logs_by_name: dict[str, dict], smooth: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two long tables for plotting runs overlaid: batches (run, epoch as a fraction, loss and active
    share, both smoothed over `smooth` batches) and epochs (run, epoch, loss, active, margin and the
    validation metrics; epoch 0 is the untrained model)."""
    batches, epochs = [], []
    for name, log in logs_by_name.items():
        b = pd.DataFrame(log.get("batches") or [], columns=["epoch", "step", "loss", "active", "lr"])
        if len(b):
            b["x"] = (
                b.epoch - 1 + (b.groupby("epoch").cumcount() + 1) / b.groupby("epoch").step.transform("size")
            )
            b["loss_smooth"] = b.loss.rolling(smooth, min_periods=1).mean()
            b["active_smooth"] = b.active.rolling(smooth, min_periods=1).mean()
            batches.append(b.assign(run=name))
        margin = log["config"]["train"]["margin"]
        epochs += [
            {
                "run": name,
                "epoch": e["epoch"],
                "loss": e.get("loss"),
                "active": e.get("active"),
                "margin": margin,
                **{k: e["val"].get(k) for k in VAL_METRICS},
            }
            for e in log.get("epochs") or []
        ]
    columns = ["run", "epoch", "loss", "active", "margin", *VAL_METRICS]
    return (
        pd.concat(batches, ignore_index=True)
        if batches
        else pd.DataFrame(
            columns=["run", "x", "epoch", "step", "loss", "active", "loss_smooth", "active_smooth"]
        ),
        pd.DataFrame(epochs, columns=columns),
    )


# --- the runs table ------------------------------------------------------------------------------


def _when(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else None


def _row(
    name: str,
    status: str,
    config: dict,
    log: dict | None,
    started: float | None,
    finished: float | None,
    seconds: float | None,
    error: str | None = None,
) -> dict:
    m, t = config.get("model", {}), config.get("train", {})
    data = (log or {}).get("data", {})
    last = ((log or {}).get("epochs") or [{}])[-1]
    val = last.get("val") or {}
    return {
        "run": name,
        "status": status,
        "started": _when(started),
        "finished": _when(finished),
        "duration_s": None if seconds is None else round(seconds, 1),
        "tower": m.get("tower"),
        "hidden": m.get("hidden"),
        "bidirectional": m.get("bidirectional"),
        "frozen_embeddings": m.get("freeze_embeddings"),
        "loss": t.get("loss"),
        "margin": t.get("margin"),
        "temperature": t.get("temperature"),
        "negatives": t.get("negatives"),
        "lr": t.get("lr"),
        "epochs": t.get("epochs"),
        "batch_size": t.get("batch_size"),
        "max_queries": t.get("max_queries"),
        "init_from": Path(t["init_from"]).parent.name if t.get("init_from") else None,
        "train_queries": data.get("train_queries"),
        "data_fingerprint": data.get("fingerprint"),
        "epochs_done": last.get("epoch"),
        "final_loss": last.get("loss"),
        "final_active": last.get("active"),
        **{f"val_{k}": val.get(k) for k in VAL_METRICS},
        "error": error,
    }


def table(artifacts: str | Path | None = None) -> list[dict]:
    """One row per checkpoint and launched run: hyperparameters, data fingerprint, duration, final
    validation metrics, status. Checkpoints outside runs/ first, then runs newest first."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    all_logs, broken = _all_logs(artifacts)
    rows, launched = [], {}
    for job in jobs(artifacts):
        log = all_logs.get(job.name)
        config = (log or {}).get("config") or _launch_config(runs, job.run)
        status, error = (UNREADABLE, broken[job.name]) if job.name in broken else (job.status, job.error)
        seconds = job.seconds if job.ended else None
        launched[job.name] = _row(job.name, status, config, log, job.started, job.ended, seconds, error)
    for name, log in [*all_logs.items(), *((name, None) for name in broken)]:
        if name in launched:
            continue
        in_runs = name.startswith(RUN_PREFIX)  # a committed checkpoint's file times are its checkout's
        finished = mtime(runs / name[len(RUN_PREFIX) :] / "log.json") if in_runs else None
        row = (
            _row(name, "done", log["config"], log, None, finished, log.get("seconds"))
            if log
            else _row(name, UNREADABLE, {}, None, None, finished, None, broken[name])
        )
        if in_runs:
            launched[name] = row
        else:
            rows.append(row)
    return rows + sorted(launched.values(), key=lambda r: r["finished"] or r["started"] or "", reverse=True)


def _launch_config(runs: Path, run: str) -> dict:
    """The config a run was launched with (jobs/ID/config.json), or {} when it cannot be read."""
    config, _ = read_record(job_dir(runs, run) / "config.json")
    return config if is_config(config) else {}


def table_inputs(artifacts: str | Path | None = None) -> tuple:
    """(path, inode, size, modification time) of every file the runs table is made from, and of
    runs.json: a file replaced by an atomic write has a new inode, whatever its size and time."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    paths = [
        *artifacts.glob("*/log.json"),
        *runs.glob("*/log.json"),
        *runs.glob("jobs/*/*.json"),
        runs / "runs.json",
    ]
    found = []
    for path in sorted(paths):
        try:
            stat = path.stat()
        except OSError:
            continue
        found.append((str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(found)


def table_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    pd.DataFrame(rows, columns=list(_row("", "", {}, None, None, None, None))).to_csv(buf, index=False)
    return buf.getvalue()


def write_table(artifacts: str | Path | None = None) -> list[dict]:
    """Write the runs table to runs/runs.csv and runs/runs.json (atomically, and only when it changed)."""
    rows = table(artifacts)
    runs = runs_dir(artifacts)
    if read_record(runs / "runs.json")[0] != rows:
        write_json(runs / "runs.json", rows)
        write_text(runs / "runs.csv", table_csv(rows))
    return rows
