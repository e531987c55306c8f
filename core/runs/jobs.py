"""Training runs' records under `artifacts/runs/`, read so that a damaged one never breaks a page.
Layout:

    artifacts/runs/ID/              the finished checkpoint (model.pt, log.json, config.json); train
                                    publishes it atomically, so it is never half-written
    artifacts/runs/jobs/ID/         the launcher's record: job.json (status, command, pid and its start
                                    time, times, error), config.json (the resolved config),
                                    progress.json (the log so far), output.log
    artifacts/runs/.lock            {"run": ID, "pid": N, "start": T} while a run trains
    artifacts/runs/.registry.lock   the file lock (fcntl) around the registry's read-modify-writes
    artifacts/runs/runs.csv, .json  the runs table: every checkpoint and run, rewritten atomically

A record or log that cannot be read, or holds the wrong types, is *unreadable*, with what is wrong.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.common.artifacts import RUN_PREFIX, runs_dir, write_json

REGISTRY_LOCK = ".registry.lock"
FINISHED = ("done", "failed", "cancelled")
UNREADABLE = "unreadable"  # the status of a run whose record or log cannot be read


@dataclass
class Job:
    run: str
    status: str  # running, done, failed, cancelled, or unreadable (job.json cannot be read)
    pid: int
    started: float
    command: list[str]
    ended: float | None = None
    returncode: int | None = None
    error: str | None = None  # failed: how it ended, then its output's tail; unreadable: what is wrong
    cancel_requested: bool = False
    pid_start: int | None = None  # the process's start time (/proc/PID/stat field 22): the pid is still it
    out: str | None = (
        None  # its checkpoint's folder when not runs/ID (an adaptation's: artifacts/FROM@CORPUS)
    )

    @property
    def name(self) -> str:
        return Path(self.out).name if self.out else RUN_PREFIX + self.run

    @property
    def seconds(self) -> float:
        return max((self.ended or time.time()) - self.started, 0.0)  # never negative (clock, older record)


JOB_TYPES = {
    "run": str,
    "status": str,
    "pid": int,
    "started": (int, float),
    "command": list,
    "ended": (int, float, type(None)),
    "returncode": (int, type(None)),
    "error": (str, type(None)),
    "cancel_requested": bool,
    "pid_start": (int, type(None)),
    "out": (str, type(None)),
}


def read_record(path: Path) -> tuple[object, str | None]:
    """(the JSON in `path`, None), or (None, what is wrong with the file)."""
    try:
        return json.loads(path.read_bytes(), parse_constant=_not_json), None
    except FileNotFoundError:
        return None, "is missing"
    except OSError as e:
        return None, f"cannot be read ({e.strerror})"
    except ValueError as e:  # not JSON, or not UTF-8 (binary)
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


def is_config(value) -> bool:
    """A config as JSON: an object of model, train and data objects (each may be absent)."""
    sections = ("model", "train", "data")
    return isinstance(value, dict) and all(isinstance(value.get(s, {}), dict) for s in sections)


def log_problem(log) -> str | None:
    """What keeps `log` from being a training log the page can draw and tabulate, or None."""
    if not isinstance(log, dict):
        return f"holds a JSON {type(log).__name__}, not a training log"
    if not (is_config(log.get("config")) and _numbers(log["config"].get("train", {}), ("margin", "epochs"))):
        return "has no readable config (model, train with margin and epochs)"
    if not _records(log.get("batches"), ("epoch", "step", "loss", "active")):
        return "has batches that are not a list of {epoch, step, loss, active}"
    epochs = log.get("epochs")
    if not (
        _records(epochs, ("epoch",))
        and all(
            _numbers(e, ("loss", "active"), nullable=True)
            and isinstance(e.get("val"), dict)
            and _numbers(e["val"], tuple(e["val"]), nullable=True)
            for e in epochs
        )
    ):
        return "has epochs that are not a list of {epoch, loss, active, val}"
    if not (isinstance(log.get("data", {}), dict) and _numbers(log, ("seconds", "steps"), nullable=True)):
        return "has data, seconds or steps of the wrong type"
    return None


def read_log(path: Path) -> tuple[dict | None, str | None]:
    """(the training log in `path`, None), or (None, what is wrong with it)."""
    log, problem = read_record(path)
    problem = problem or log_problem(log)
    return (None, f"{path} {problem}") if problem else (log, None)


def _job_problem(record, run: str) -> str | None:
    if not isinstance(record, dict):
        return f"holds a JSON {type(record).__name__}, not a run record"
    wrong = [k for k in record if k not in JOB_TYPES] + [
        k for k, kind in JOB_TYPES.items() if k in record and not isinstance(record[k], kind)
    ]
    missing = [k for k in ("run", "status", "pid", "started", "command") if k not in record]
    if wrong or missing or record["run"] != run or record["status"] not in ("running", *FINISHED):
        return f"is not a run record for {run} (unknown or wrong-typed: {wrong}, missing: {missing})"
    return None


def read_job(path: Path) -> Job:
    """The record `jobs/ID/job.json`, or an unreadable one saying what is wrong with the file."""
    run = path.parent.name
    record, problem = read_record(path)
    problem = problem or _job_problem(record, run)
    if problem is None:
        return Job(**record)
    return Job(
        run, UNREADABLE, 0, mtime(path), [], error=f"{path} {problem}; delete {path.parent} to remove the run"
    )


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def job_dir(runs: Path, run: str) -> Path:
    return runs / "jobs" / run


def jobs(artifacts: str | Path | None = None) -> list[Job]:
    """Every launched run's record, oldest first; a damaged record is a job of status `unreadable`."""
    return [read_job(p) for p in sorted(runs_dir(artifacts).glob("jobs/*/job.json"))]


def save_job(runs: Path, job: Job) -> None:
    write_json(job_dir(runs, job.run) / "job.json", dataclasses.asdict(job))


@contextmanager
def registry_lock(runs: Path) -> Iterator[None]:
    """Hold the registry's file lock for a read-modify-write (one holder at a time, across threads and
    processes). Raises OSError where the folder cannot be written."""
    runs.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs / REGISTRY_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def progress_log(runs: Path, run: str) -> tuple[str, dict] | None:
    """(last event, log so far) from a job's progress file; None when there is none yet or it is damaged."""
    state, problem = read_record(job_dir(runs, run) / "progress.json")
    if (
        problem
        or not isinstance(state, dict)
        or not isinstance(state.get("event"), str)
        or log_problem(state.get("log"))
    ):
        return None
    return state["event"], state["log"]
