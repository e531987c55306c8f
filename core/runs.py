"""Training runs: the registry under `artifacts/runs/` and a launcher that trains in the background.

A launched run is the CLI's own `python -m core train --out artifacts/runs/ID --config ...` in a
separate process, so it keeps going while the app is used (or restarted). One run at a time: a lock
file names the run's process by its id and start time, and is stale unless that very process still
runs (a pid whose start time differs is another process and is never trusted, nor signalled).
Whoever looks next (`refresh`) records how a finished process ended. Every read-modify-write of the
registry holds a file lock (`.registry.lock`), and every file is written atomically, so sessions
polling at once never see or leave half a record; a record that cannot be read is listed as
*unreadable* instead of breaking the page. Layout:

    artifacts/runs/ID/              the finished checkpoint (model.pt, log.json, config.json); train
                                    publishes it atomically, so it is never half-written
    artifacts/runs/jobs/ID/         the launcher's record: job.json (status, command, pid and its start
                                    time, times, error), config.json (the resolved config),
                                    progress.json (the log so far), output.log
    artifacts/runs/.lock            {"run": ID, "pid": N, "start": T} while a run trains
    artifacts/runs/.registry.lock   the file lock (fcntl) around the registry's read-modify-writes
    artifacts/runs/runs.csv, .json  the runs table: every checkpoint and run, rewritten atomically
"""
from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.artifacts import artifacts_dir, folders_with, write_json, write_text
from core.config import Config, ConfigError, validate
from core.tracking import phase

ROOT = Path(__file__).resolve().parents[1]
RUN_PREFIX = "run-"                       # a run's checkpoint name in the app: run-ID
LOCK = ".lock"
REGISTRY_LOCK = ".registry.lock"
HARD_FILE = Path("mined") / "negatives.json"
CANCEL_GRACE_S = 10.0                     # SIGTERM, then SIGKILL after this long
ERROR_LINES = 25
VAL_METRICS = ("mrr@10", "recall@1", "recall@10", "recall@100", "ndcg@10")
FINISHED = ("done", "failed", "cancelled")
UNREADABLE = "unreadable"                 # the status of a run whose record or log cannot be read

_children: dict[int, subprocess.Popen] = {}   # processes this process started, polled so they are reaped


class RunError(RuntimeError):
    """A run that cannot be started; the message says why and what to do."""


@dataclass
class Job:
    run: str
    status: str                 # running, done, failed, cancelled, or unreadable (job.json cannot be read)
    pid: int
    started: float
    command: list[str]
    ended: float | None = None
    returncode: int | None = None
    error: str | None = None    # failed: how it ended, then its output's tail; unreadable: what is wrong
    cancel_requested: bool = False
    pid_start: int | None = None    # the process's start time (/proc/PID/stat field 22): the pid is still it

    @property
    def name(self) -> str:
        return RUN_PREFIX + self.run

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


JOB_TYPES = {"run": str, "status": str, "pid": int, "started": (int, float), "command": list,
             "ended": (int, float, type(None)), "returncode": (int, type(None)), "error": (str, type(None)),
             "cancel_requested": bool, "pid_start": (int, type(None))}


# --- reading records that may be damaged -----------------------------------------------------------

def _read(path: Path) -> tuple[object, str | None]:
    """(the JSON in `path`, None), or (None, what is wrong with the file)."""
    try:
        return json.loads(path.read_bytes(), parse_constant=_not_json), None
    except FileNotFoundError:
        return None, "is missing"
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    except ValueError as e:                                  # not JSON, or not UTF-8 (binary)
        return None, f"is not valid JSON ({type(e).__name__}: {str(e)[:80]})"


def _not_json(constant: str):
    raise ValueError(f"{constant} is not a JSON number")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(record: dict, keys: tuple[str, ...], nullable: bool = False) -> bool:
    return all(_number(record.get(k)) or (nullable and record.get(k) is None) for k in keys)


def _records(value, keys: tuple[str, ...]) -> bool:
    """A list of objects whose `keys` hold numbers."""
    return isinstance(value, list) and all(isinstance(r, dict) and _numbers(r, keys) for r in value)


def _config(value) -> bool:
    """A config as JSON: an object of model, train and data objects (each may be absent)."""
    sections = ("model", "train", "data")
    return isinstance(value, dict) and all(isinstance(value.get(s, {}), dict) for s in sections)


def log_problem(log) -> str | None:
    """What keeps `log` from being a training log the page can draw and tabulate, or None."""
    if not isinstance(log, dict):
        return f"holds a JSON {type(log).__name__}, not a training log"
    if not (_config(log.get("config")) and _numbers(log["config"].get("train", {}), ("margin", "epochs"))):
        return "has no readable config (model, train with margin and epochs)"
    if not _records(log.get("batches"), ("epoch", "step", "loss", "active")):
        return "has batches that are not a list of {epoch, step, loss, active}"
    epochs = log.get("epochs")
    if not (_records(epochs, ("epoch",)) and all(_numbers(e, ("loss", "active"), nullable=True)
                                                 and isinstance(e.get("val"), dict)
                                                 and _numbers(e["val"], tuple(e["val"]), nullable=True)
                                                 for e in epochs)):
        return "has epochs that are not a list of {epoch, loss, active, val}"
    if not (isinstance(log.get("data", {}), dict) and _numbers(log, ("seconds", "steps"), nullable=True)):
        return "has data, seconds or steps of the wrong type"
    return None


def _read_log(path: Path) -> tuple[dict | None, str | None]:
    """(the training log in `path`, None), or (None, what is wrong with it)."""
    log, problem = _read(path)
    problem = problem or log_problem(log)
    return (None, f"{path} {problem}") if problem else (log, None)


def _job_problem(record, run: str) -> str | None:
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a run record"
    wrong = [k for k in record if k not in JOB_TYPES] + \
            [k for k, kind in JOB_TYPES.items() if k in record and not isinstance(record[k], kind)]
    missing = [k for k in ("run", "status", "pid", "started", "command") if k not in record]
    if wrong or missing or record["run"] != run or record["status"] not in ("running", *FINISHED):
        return f"is not a run record for {run} (unknown or wrong-typed: {wrong}, missing: {missing})"
    return None


def _job(path: Path) -> Job:
    """The record `jobs/ID/job.json`, or an unreadable one saying what is wrong with the file."""
    run = path.parent.name
    record, problem = _read(path)
    problem = problem or _job_problem(record, run)
    if problem is None:
        return Job(**record)
    return Job(run, UNREADABLE, 0, _mtime(path), [],
               error=f"{path} {problem}; delete {path.parent} to remove the run")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


# --- where things are ----------------------------------------------------------------------------

def runs_dir(artifacts: str | Path | None = None) -> Path:
    return Path(artifacts or artifacts_dir()) / "runs"


def _job_dir(runs: Path, run: str) -> Path:
    return runs / "jobs" / run


def run_checkpoints(artifacts: str | Path) -> dict[str, Path]:
    """Finished runs' checkpoints (`runs/ID/model.pt`) by app name `run-ID`, oldest first."""
    return {RUN_PREFIX + run: p for run, p in folders_with(runs_dir(artifacts), "model.pt").items()}


def jobs(artifacts: str | Path | None = None) -> list[Job]:
    """Every launched run's record, oldest first; a damaged record is a job of status `unreadable`."""
    return [_job(p) for p in sorted(runs_dir(artifacts).glob("jobs/*/job.json"))]


def _save(runs: Path, job: Job) -> None:
    write_json(_job_dir(runs, job.run) / "job.json", dataclasses.asdict(job))


@contextmanager
def _registry_lock(runs: Path) -> Iterator[None]:
    """Hold the registry's file lock for a read-modify-write (one holder at a time, across threads and
    processes). Raises OSError where the folder cannot be written."""
    runs.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs / REGISTRY_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                        # releases the lock


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
    return _checked(cfg)


def _checked(cfg: Config) -> Config:
    try:
        return validate(cfg)
    except ConfigError as e:
        raise RunError(f"These settings cannot train: {e}.") from e


# --- processes and the lock ----------------------------------------------------------------------

def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot, /proc/PID/stat field 22), or None when there
    is no such running process (a zombie has ended)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _alive(pid, start) -> bool:
    """Whether process `pid` still runs and is the one that started at `start`: a pid whose start time
    differs was reused by another process. A child of ours is asked directly (and reaped when done):
    its pid cannot be reused before that."""
    if not (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and isinstance(start, int)):
        return False
    if pid in _children:
        return _children[pid].poll() is None
    return process_start(pid) == start


def _lock_owner(runs: Path) -> dict | None:
    """The run lock when it names a live process by pid and start time; None when there is no lock or
    it is stale (empty, unreadable, no pid, or its process is gone or another one)."""
    lock, _ = _read(runs / LOCK)
    return lock if isinstance(lock, dict) and _alive(lock.get("pid"), lock.get("start")) else None


def _busy(run: str) -> RunError:
    return RunError(f"A training run ({RUN_PREFIX}{run}) is already in progress; only one run at a time. "
                    "Wait for it to finish or cancel it, then start yours.")


def _output_tail(path: Path, lines: int = ERROR_LINES) -> str:
    """The last lines of a process's output, progress-bar redraws (carriage returns) collapsed."""
    text = path.read_text(errors="replace") if path.is_file() else ""
    shown = [next((part for part in reversed(line.split("\r")) if part.strip()), "") for line in text.split("\n")]
    return "\n".join([line for line in shown if line][-lines:])


def ending(returncode: int | None) -> str:
    """How a process ended, from its exit status (negative: the signal that killed it)."""
    if returncode is None:
        return "ended; exit status unknown (the process was started by another app process)"
    return f"killed (signal {-returncode})" if returncode < 0 else f"exited with code {returncode}"


def launch(cfg: Config, artifacts: str | Path | None = None) -> Job:
    """Start training `cfg` in the background as run `runs/ID`; refused while another run trains, and
    on a read-only or full disk (then nothing is left behind: no record, no lock)."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    cfg = _checked(cfg)
    try:
        with _registry_lock(runs):
            active = _settle(artifacts)                    # also clears the lock of a run that has ended
            owner = _lock_owner(runs)
            if active is not None or owner is not None:
                raise _busy(active.run if active else str(owner.get("run", "?")))
            job = _start(cfg, runs)
            write_table(artifacts)
    except OSError as e:
        raise RunError(f"The run cannot start: {e.strerror or e} ({e.filename or runs}). Free some disk "
                       f"space or make {runs} writable, then start it again; nothing was left behind.") from e
    return job


def _start(cfg: Config, runs: Path) -> Job:
    """Start the training process and record it (job.json, then the lock); on any failure kill it and
    remove its record, so a full disk leaves no half-made run and no lock."""
    run = time.strftime("%Y%m%d-%H%M%S")
    while (runs / run).exists() or _job_dir(runs, run).exists():
        run = run[:15] + f"-{int(run[16:] or 1) + 1}"
    job_dir, proc = _job_dir(runs, run), None
    try:
        job_dir.mkdir(parents=True)
        cfg.save(job_dir / "config.json")
        command = [sys.executable, "-m", "core", "train", "--out", str(runs / run), "--config",
                   str(job_dir / "config.json"), "--progress-file", str(job_dir / "progress.json")]
        with open(job_dir / "output.log", "wb") as out:
            proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
        _children[proc.pid] = proc
        job = Job(run, "running", proc.pid, time.time(), command, pid_start=process_start(proc.pid))
        _save(runs, job)
        write_json(runs / LOCK, {"run": run, "pid": proc.pid, "start": job.pid_start})
        return job
    except BaseException:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _children.pop(proc.pid, None)
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


def _finish(runs: Path, job: Job) -> Job:
    """Record how a run whose process has ended went, and clean up after it: no `.partial` left
    behind, the lock released. Called under the registry lock."""
    proc = _children.pop(job.pid, None)
    job_dir = _job_dir(runs, job.run)
    done = (runs / job.run / "model.pt").is_file()
    job.status = "done" if done else "cancelled" if job.cancel_requested else "failed"
    job.returncode = proc.returncode if proc else None
    output = job_dir / "output.log"
    job.ended = _mtime(output) if output.is_file() else time.time()
    job.error = None if job.status != "failed" else "\n".join(
        [ending(job.returncode), _output_tail(output) or "(the process wrote no output)"])
    for leftover in (f".{job.run}.partial", f".{job.run}.old"):
        shutil.rmtree(runs / leftover, ignore_errors=True)
    _save(runs, job)
    lock, _ = _read(runs / LOCK)
    if isinstance(lock, dict) and lock.get("run") == job.run:
        (runs / LOCK).unlink(missing_ok=True)
    return job


def _settle(artifacts: Path) -> Job | None:
    """Under the registry lock: finish every running job whose process has ended, remove a stale lock,
    rewrite the table when it changed; returns the job still training, if any."""
    runs = runs_dir(artifacts)
    active = None
    for job in jobs(artifacts):
        if job.status == "running":
            if _alive(job.pid, job.pid_start):
                active = job
            else:
                _finish(runs, job)
    if (runs / LOCK).exists() and _lock_owner(runs) is None:
        (runs / LOCK).unlink(missing_ok=True)                 # stale: no valid live owner
    write_table(artifacts)
    return active


def refresh(artifacts: str | Path | None = None) -> Job | None:
    """Record every run whose process has ended, clear a stale lock, rewrite the runs table when it
    changed, and return the run still training, if any. The app calls it on every poll, so it only
    reads unless something changed; then it makes the change under the registry lock. On a disk that
    cannot be written the change waits (the page computes the table from the files anyway)."""
    artifacts = Path(artifacts or artifacts_dir())
    runs = runs_dir(artifacts)
    if not runs.is_dir():
        return None
    running = [job for job in jobs(artifacts) if job.status == "running"]
    alive = [job for job in running if _alive(job.pid, job.pid_start)]
    stale = (runs / LOCK).exists() and _lock_owner(runs) is None
    if len(alive) == len(running) and not stale and _read(runs / "runs.json")[0] == table(artifacts):
        return alive[-1] if alive else None
    try:
        with _registry_lock(runs):
            return _settle(artifacts)
    except OSError:
        return alive[-1] if alive else None


def cancel(artifacts: str | Path | None = None, grace_s: float = CANCEL_GRACE_S) -> Job | None:
    """Stop the running run (SIGTERM to its process group, SIGKILL after `grace_s`), then record it
    as cancelled and clean up. Only a process whose start time matches the record is signalled.
    Returns the job, or None when nothing was running; a disk that cannot be written is a RunError."""
    try:
        return _cancel(Path(artifacts or artifacts_dir()), grace_s)
    except OSError as e:
        raise RunError(f"The run cannot be cancelled: {e.strerror or e} ({e.filename}). Make the artifacts "
                       "folder writable and try again.") from e


def _cancel(artifacts: Path, grace_s: float) -> Job | None:
    runs = runs_dir(artifacts)
    job = refresh(artifacts)
    if job is None:
        return None
    with _registry_lock(runs):
        job = _job(_job_dir(runs, job.run) / "job.json")
        if job.status != "running":
            return job                                  # it ended meanwhile
        job.cancel_requested = True
        _save(runs, job)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _alive(job.pid, job.pid_start):
            break
        os.killpg(job.pid, sig)
        deadline = time.time() + grace_s
        while _alive(job.pid, job.pid_start) and time.time() < deadline:
            time.sleep(0.05)
    with _registry_lock(runs):
        current = _job(_job_dir(runs, job.run) / "job.json")
        job = _finish(runs, current) if current.status == "running" else current
        write_table(artifacts)
    return job


# --- progress and logs ---------------------------------------------------------------------------

@dataclass
class Progress:
    event: str          # starting, validating, batch, epoch or done
    fraction: float     # share of the whole run done (loading, validations and saving included)
    text: str
    log: dict | None    # the log so far (batches, epochs), None before training starts


def _progress_log(runs: Path, run: str) -> tuple[str, dict] | None:
    """(last event, log so far) from a job's progress file; None when there is none yet or it is damaged."""
    state, problem = _read(_job_dir(runs, run) / "progress.json")
    if problem or not isinstance(state, dict) or not isinstance(state.get("event"), str) or \
            log_problem(state.get("log")):
        return None
    return state["event"], state["log"]


def progress(job: Job, artifacts: str | Path | None = None) -> Progress:
    """Where a running job is, from its progress file (its phases: `core.tracking.phase`)."""
    state = _progress_log(runs_dir(artifacts), job.run)
    event, log = state if state is not None else (None, None)
    return Progress(event or "starting", *phase(event, log), log)


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
        log, problem = _read_log(path)
        if problem:
            broken[name] = problem
        else:
            good[name] = log
    for job in jobs(artifacts):
        state = _progress_log(runs_dir(artifacts), job.run)
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
        in_runs = name.startswith(RUN_PREFIX)          # a committed checkpoint's file times are its checkout's
        finished = _mtime(runs / name[len(RUN_PREFIX):] / "log.json") if in_runs else None
        row = _row(name, "done", log["config"], log, None, finished, log.get("seconds")) if log else \
            _row(name, UNREADABLE, {}, None, None, finished, None, broken[name])
        if in_runs:
            launched[name] = row
        else:
            rows.append(row)
    return rows + sorted(launched.values(), key=lambda r: r["finished"] or r["started"] or "", reverse=True)


def _launch_config(runs: Path, run: str) -> dict:
    """The config a run was launched with (jobs/ID/config.json), or {} when it cannot be read."""
    config, _ = _read(_job_dir(runs, run) / "config.json")
    return config if _config(config) else {}


def table_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    pd.DataFrame(rows, columns=list(_row("", "", {}, None, None, None, None))).to_csv(buf, index=False)
    return buf.getvalue()


def write_table(artifacts: str | Path | None = None) -> list[dict]:
    """Write the runs table to runs/runs.csv and runs/runs.json (atomically, and only when it changed)."""
    rows = table(artifacts)
    runs = runs_dir(artifacts)
    if _read(runs / "runs.json")[0] != rows:
        write_json(runs / "runs.json", rows)
        write_text(runs / "runs.csv", table_csv(rows))
    return rows
