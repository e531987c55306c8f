"""Training runs: the registry under `artifacts/runs/` and a launcher that trains in the background.

A launched run is the CLI's own `python -m core train --out artifacts/runs/ID --config ...` in a
separate process, so it keeps going while the app is used (or restarted). One run at a time: a lock
file holds the process id and is stale once that process is gone. Whoever looks next (`refresh`)
records how a finished process ended. Layout:

    artifacts/runs/ID/              the finished checkpoint (model.pt, log.json, config.json); train
                                    publishes it atomically, so it is never half-written
    artifacts/runs/jobs/ID/         the launcher's record: job.json (status, command, pid, times, error),
                                    config.json (the resolved config), progress.json (the log so far), output.log
    artifacts/runs/.lock            {"run": ID, "pid": N} while a run trains
    artifacts/runs/runs.csv, .json  the runs table: every checkpoint and run, rewritten atomically
"""
from __future__ import annotations

import dataclasses
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.artifacts import artifacts_dir, folders_with, read_json, write_json, write_text
from core.config import Config
from core.tracking import phase

ROOT = Path(__file__).resolve().parents[1]
RUN_PREFIX = "run-"                       # a run's checkpoint name in the app: run-ID
LOCK = ".lock"
HARD_FILE = Path("mined") / "negatives.json"
CANCEL_GRACE_S = 10.0                     # SIGTERM, then SIGKILL after this long
ERROR_LINES = 25
VAL_METRICS = ("mrr@10", "recall@1", "recall@10", "recall@100", "ndcg@10")
FINISHED = ("done", "failed", "cancelled")

_children: dict[int, subprocess.Popen] = {}   # processes this process started, polled so they are reaped


class RunError(RuntimeError):
    """A run that cannot be started; the message says why and what to do."""


@dataclass
class Job:
    run: str
    status: str                 # running, done, failed or cancelled
    pid: int
    started: float
    command: list[str]
    ended: float | None = None
    returncode: int | None = None
    error: str | None = None    # the tail of the process's output when it failed
    cancel_requested: bool = False

    @property
    def name(self) -> str:
        return RUN_PREFIX + self.run

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


# --- where things are ----------------------------------------------------------------------------

def runs_dir(artifacts: str | Path | None = None) -> Path:
    return Path(artifacts or artifacts_dir()) / "runs"


def _job_dir(runs: Path, run: str) -> Path:
    return runs / "jobs" / run


def run_checkpoints(artifacts: str | Path) -> dict[str, Path]:
    """Finished runs' checkpoints (`runs/ID/model.pt`) by app name `run-ID`, oldest first."""
    return {RUN_PREFIX + run: p for run, p in folders_with(runs_dir(artifacts), "model.pt").items()}


def jobs(artifacts: str | Path | None = None) -> list[Job]:
    """Every launched run's record, oldest first."""
    found = [read_json(p) for p in sorted(runs_dir(artifacts).glob("jobs/*/job.json"))]
    return [Job(**j) for j in found if j]


def _save(runs: Path, job: Job) -> None:
    write_json(_job_dir(runs, job.run) / "job.json", dataclasses.asdict(job))


# --- the config a launch trains with -------------------------------------------------------------

def run_config(artifacts: str | Path | None = None, **settings) -> Config:
    """A `Config` with `settings` (any model/train/data field by name, e.g. hidden=64, loss="triplet").
    Hard negatives read the mined file of the build (`artifacts/mined/negatives.json`)."""
    cfg = Config()
    for key, value in settings.items():
        section = next((s for s in ("model", "train", "data") if hasattr(getattr(cfg, s), key)), None)
        if section is None:
            raise RunError(f"unknown setting {key!r}")
        setattr(getattr(cfg, section), key, value)
    if cfg.train.negatives == "hard":
        mined = Path(artifacts or artifacts_dir()) / HARD_FILE
        if not mined.is_file():
            raise RunError(f"Hard negatives need the mined file {mined}: run `python -m core build` first, "
                           "or train with random negatives.")
        cfg.train.hard_file = str(mined)
    return cfg


# --- processes and the lock ----------------------------------------------------------------------

def _alive(pid: int) -> bool:
    """Whether process `pid` is still running (a finished child of ours is reaped; a zombie is dead)."""
    if pid in _children:
        return _children[pid].poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _busy(run: str) -> RunError:
    return RunError(f"A training run ({RUN_PREFIX}{run}) is already in progress; only one run at a time. "
                    "Wait for it to finish or cancel it, then start yours.")


def _take_lock(runs: Path, run: str) -> None:
    try:
        fd = os.open(runs / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise _busy((read_json(runs / LOCK, {}) or {}).get("run", "?")) from None
    with os.fdopen(fd, "w") as f:
        f.write(f'{{"run": "{run}", "pid": {os.getpid()}}}\n')


def _release_lock(runs: Path, run: str) -> None:
    if (read_json(runs / LOCK, {}) or {}).get("run") == run:
        (runs / LOCK).unlink(missing_ok=True)


def _output_tail(path: Path, lines: int = ERROR_LINES) -> str:
    """The last lines of a process's output, progress-bar redraws (carriage returns) collapsed."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    shown = [next((part for part in reversed(line.split("\r")) if part.strip()), "") for line in text.split("\n")]
    return "\n".join([line for line in shown if line][-lines:])


def launch(cfg: Config, artifacts: str | Path | None = None) -> Job:
    """Start training `cfg` in the background as run `runs/ID`; refused while another run trains."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    runs.mkdir(parents=True, exist_ok=True)
    active = refresh(artifacts)                               # also clears the lock of a run that has ended
    if active is not None:
        raise _busy(active.run)
    run = time.strftime("%Y%m%d-%H%M%S")
    while (runs / run).exists() or _job_dir(runs, run).exists():
        run = run[:15] + f"-{int(run[16:] or 1) + 1}"
    _take_lock(runs, run)
    try:
        job_dir = _job_dir(runs, run)
        job_dir.mkdir(parents=True)
        cfg.save(job_dir / "config.json")
        command = [sys.executable, "-m", "core", "train", "--out", str(runs / run), "--config",
                   str(job_dir / "config.json"), "--progress-file", str(job_dir / "progress.json")]
        with open(job_dir / "output.log", "wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _children[proc.pid] = proc
        job = Job(run, "running", proc.pid, time.time(), command)
        _save(runs, job)
        write_json(runs / LOCK, {"run": run, "pid": proc.pid})
    except BaseException:
        _release_lock(runs, run)
        raise
    write_table(artifacts)
    return job


def _finish(runs: Path, job: Job) -> Job:
    """Record how a run whose process has ended went, and clean up after it: no `.partial` left
    behind, the lock released."""
    proc = _children.pop(job.pid, None)
    job_dir = _job_dir(runs, job.run)
    done = (runs / job.run / "model.pt").is_file()
    job.status = "done" if done else "cancelled" if job.cancel_requested else "failed"
    job.returncode = proc.returncode if proc else None
    output = job_dir / "output.log"
    job.ended = output.stat().st_mtime if output.is_file() else time.time()
    job.error = None if job.status != "failed" else (_output_tail(output) or "the process ended without output")
    for leftover in (f".{job.run}.partial", f".{job.run}.old"):
        shutil.rmtree(runs / leftover, ignore_errors=True)
    _save(runs, job)
    _release_lock(runs, job.run)
    return job


def refresh(artifacts: str | Path | None = None) -> Job | None:
    """Record every run whose process has ended, rewrite the runs table when it changed, and return
    the run still training, if any. Cheap: the app calls it on every poll."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    active = None
    for job in jobs(artifacts):
        if job.status == "running":
            if _alive(job.pid):
                active = job
            else:
                _finish(runs, job)
    lock = read_json(runs / LOCK, None) if (runs / LOCK).is_file() else None
    if lock and active is None and not _alive(int(lock.get("pid", 0))):
        (runs / LOCK).unlink(missing_ok=True)                 # stale: its process is gone
    if runs.is_dir():
        write_table(artifacts)
    return active


def cancel(artifacts: str | Path | None = None, grace_s: float = CANCEL_GRACE_S) -> Job | None:
    """Stop the running run (SIGTERM to its process group, SIGKILL after `grace_s`), then record it
    as cancelled and clean up. Returns the job, or None when nothing was running."""
    artifacts = Path(artifacts or artifacts_dir())
    job = refresh(artifacts)
    if job is None:
        return None
    runs = runs_dir(artifacts)
    job.cancel_requested = True
    _save(runs, job)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(job.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.time() + grace_s
        while _alive(job.pid) and time.time() < deadline:
            time.sleep(0.05)
        if not _alive(job.pid):
            break
    job = _finish(runs, job)
    write_table(artifacts)
    return job


# --- progress and logs ---------------------------------------------------------------------------

@dataclass
class Progress:
    event: str          # starting, validating, batch, epoch or done
    fraction: float     # share of the whole run done (loading, validations and saving included)
    text: str
    log: dict | None    # the log so far (batches, epochs), None before training starts


def progress(job: Job, artifacts: str | Path | None = None) -> Progress:
    """Where a running job is, from its progress file (its phases: `core.tracking.phase`)."""
    state = read_json(_job_dir(runs_dir(artifacts), job.run) / "progress.json", None)
    event, log = (state["event"], state["log"]) if state else (None, None)
    return Progress(event or "starting", *phase(event, log), log)


def logs(artifacts: str | Path | None = None) -> dict[str, dict]:
    """Training logs by checkpoint name: every checkpoint's log.json (`artifacts/NAME/`, runs as
    run-ID), and the log so far of runs that are training or ended without a checkpoint."""
    artifacts = Path(artifacts or artifacts_dir())
    found = folders_with(artifacts, "log.json")
    found.update({RUN_PREFIX + run: p for run, p in folders_with(runs_dir(artifacts), "log.json").items()})
    out = {name: read_json(path) for name, path in found.items()}
    for job in jobs(artifacts):
        state = read_json(_job_dir(runs_dir(artifacts), job.run) / "progress.json", None)
        if job.name not in out and state:
            out[job.name] = state["log"]
    return {name: log for name, log in out.items() if log}


def curves(logs_by_name: dict[str, dict], smooth: int = 20) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two long tables for plotting runs overlaid: batches (run, epoch as a fraction, loss and active
    share, both smoothed over `smooth` batches) and epochs (run, epoch, loss, active, margin and the
    validation metrics; epoch 0 is the untrained model)."""
    batches, epochs = [], []
    for name, log in logs_by_name.items():
        b = pd.DataFrame(log.get("batches") or [], columns=["epoch", "step", "loss", "active", "lr"])
        if len(b):
            b["x"] = b.epoch - 1 + (b.groupby("epoch").cumcount() + 1) / b.groupby("epoch").step.transform("size")
            b["loss_smooth"] = b.loss.rolling(smooth, min_periods=1).mean()
            b["active_smooth"] = b.active.rolling(smooth, min_periods=1).mean()
            batches.append(b.assign(run=name))
        margin = log["config"]["train"]["margin"]
        epochs += [{"run": name, "epoch": e["epoch"], "loss": e.get("loss"), "active": e.get("active"),
                    "margin": margin, **{k: e["val"].get(k) for k in VAL_METRICS}} for e in log.get("epochs") or []]
    columns = ["run", "epoch", "loss", "active", "margin", *VAL_METRICS]
    return (pd.concat(batches, ignore_index=True) if batches else pd.DataFrame(
        columns=["run", "x", "epoch", "step", "loss", "active", "loss_smooth", "active_smooth"]),
        pd.DataFrame(epochs, columns=columns))


# --- the runs table ------------------------------------------------------------------------------

def _when(t: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t else None


def _row(name: str, status: str, config: dict, log: dict | None, started: float | None, finished: float | None,
         seconds: float | None, error: str | None = None) -> dict:
    m, t = config.get("model", {}), config.get("train", {})
    data = (log or {}).get("data", {})
    last = ((log or {}).get("epochs") or [{}])[-1]
    val = last.get("val") or {}
    return {"run": name, "status": status, "started": _when(started), "finished": _when(finished),
            "duration_s": None if seconds is None else round(seconds, 1),
            "tower": m.get("tower"), "hidden": m.get("hidden"), "bidirectional": m.get("bidirectional"),
            "frozen_embeddings": m.get("freeze_embeddings"), "loss": t.get("loss"), "margin": t.get("margin"),
            "temperature": t.get("temperature"), "negatives": t.get("negatives"), "lr": t.get("lr"),
            "epochs": t.get("epochs"), "batch_size": t.get("batch_size"), "max_queries": t.get("max_queries"),
            "init_from": Path(t["init_from"]).parent.name if t.get("init_from") else None,
            "train_queries": data.get("train_queries"), "data_fingerprint": data.get("fingerprint"),
            "epochs_done": last.get("epoch"), "final_loss": last.get("loss"), "final_active": last.get("active"),
            **{f"val_{k}": val.get(k) for k in VAL_METRICS}, "error": error}


def table(artifacts: str | Path | None = None) -> list[dict]:
    """One row per checkpoint and launched run: hyperparameters, data fingerprint, duration, final
    validation metrics, status. Checkpoints outside runs/ first, then runs newest first."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    all_logs = logs(artifacts)
    rows, launched = [], {}
    for job in jobs(artifacts):
        log = all_logs.get(job.name)
        config = (log or {}).get("config") or read_json(_job_dir(runs, job.run) / "config.json", {}) or {}
        seconds = job.seconds if job.ended else None
        launched[job.name] = _row(job.name, job.status, config, log, job.started, job.ended, seconds, job.error)
    for name, log in all_logs.items():
        if name in launched:
            continue
        in_runs = name.startswith(RUN_PREFIX)          # a committed checkpoint's file times are its checkout's
        finished = (runs / name[len(RUN_PREFIX):] / "log.json").stat().st_mtime if in_runs else None
        row = _row(name, "done", log.get("config") or {}, log, None, finished, log.get("seconds"))
        if in_runs:
            launched[name] = row
        else:
            rows.append(row)
    return rows + sorted(launched.values(), key=lambda r: r["finished"] or r["started"] or "", reverse=True)


def table_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    pd.DataFrame(rows, columns=list(_row("", "", {}, None, None, None, None))).to_csv(buf, index=False)
    return buf.getvalue()


def write_table(artifacts: str | Path | None = None) -> list[dict]:
    """Write the runs table to runs/runs.csv and runs/runs.json (atomically, and only when it changed)."""
    rows = table(artifacts)
    runs = runs_dir(artifacts)
    if read_json(runs / "runs.json", None) != rows:
        write_json(runs / "runs.json", rows)
        write_text(runs / "runs.csv", table_csv(rows))
    return rows
