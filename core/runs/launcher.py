"""Training in the background: a launched run is the CLI's own `python -m core train --out
artifacts/runs/ID --config ...` in a process group of its own, so it keeps going while the app is used
(or restarted). One run at a time: a lock file names the run's process by its pid and start time, and
is stale unless that very process still runs (a pid whose start time differs is another process and
is never trusted, nor signalled: `core.runs.processes`). Whoever looks next (`refresh`) records how a
finished process ended. Every read-modify-write of the registry holds its file lock, and every file is written
atomically, so sessions polling at once never see or leave half a record.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

from core.common.artifacts import MINED, RUN_PREFIX, adapted_name, artifacts_dir, runs_dir, write_json
from core.common.config import Config, ConfigError, validate
from core.common.outputs import recover
from core.common.settings import ADAPT_STEPS
from core.model import losses  # noqa: F401  (binds the loss choices `validate` reads)
from core.runs import processes
from core.runs.jobs import Job, job_dir, jobs, mtime, read_job, read_record, registry_lock, save_job
from core.runs.overview import table, table_inputs, write_table
from core.training.adapt import is_adapted

LOCK = ".lock"
CORE = [sys.executable, "-m", "core"]
CANCEL_GRACE_S = 10.0  # SIGTERM, then SIGKILL after this long

_current: dict[Path, tuple] = {}  # artifacts folder -> the table's inputs when runs.json last matched them


class RunError(RuntimeError):
    """A run that cannot be started; the message says why and what to do."""


# --- the config a launch trains with -------------------------------------------------------------


def run_config(artifacts: str | Path | None = None, **settings) -> Config:
    """A `Config` with `settings` (any model/train/data field by name, e.g. hidden=64, loss="triplet").
    Hard negatives read the mined file of the build (`artifacts.MINED`)."""
    cfg = Config()
    for key, value in settings.items():
        try:
            cfg.set(key, value)
        except KeyError:
            raise RunError(f"unknown setting {key!r}") from None
    if cfg.train.negatives == "hard":
        mined = Path(artifacts or artifacts_dir()) / MINED
        if not mined.is_file():
            raise RunError(
                f"Hard negatives need the mined file {mined}: run `python -m core build` first, "
                "or train with random negatives."
            )
        cfg.train.hard_file = str(mined)
    return _checked(cfg)


def _checked(cfg: Config) -> Config:
    try:
        return validate(cfg)
    except ConfigError as e:
        raise RunError(f"These settings cannot train: {e}.") from e


# --- the lock --------------------------------------------------------------------------------------


def _lock_owner(runs: Path) -> dict | None:
    """The run lock when it names a live process by pid and start time; None when there is no lock or
    it is stale (empty, unreadable, no pid, or its process is gone or another one)."""
    lock, _ = read_record(runs / LOCK)
    return lock if isinstance(lock, dict) and processes.alive(lock.get("pid"), lock.get("start")) else None


def _busy(run: str) -> RunError:
    return RunError(
        f"A training run ({RUN_PREFIX}{run}) is already in progress; only one run at a time. "
        "Wait for it to finish or cancel it, then start yours."
    )


def launch(cfg: Config, artifacts: str | Path | None = None) -> Job:
    """Start training `cfg` in the background as run `runs/ID`; refused while another run trains, and
    on a read-only or full disk (then nothing is left behind: no record, no lock)."""
    cfg = _checked(cfg)

    def command(runs: Path, run: str, folder: Path) -> list[str]:
        cfg.save(folder / "config.json")
        return [*CORE, "train", "--out", str(runs / run), "--config", str(folder / "config.json")]

    return _launch(Path(artifacts or artifacts_dir()), command)


def launch_adapt(corpus: str, start: str, artifacts: str | Path | None = None) -> Job:
    """Adapt checkpoint `start` to `corpus` in the background (`python -m core adapt`, its default
    budget), into `artifacts/START@CORPUS`, which it replaces only when complete; refused as `launch`."""
    artifacts = Path(artifacts or artifacts_dir())
    out = artifacts / adapted_name(start, corpus)
    if (out / "model.pt").is_file() and not is_adapted(out / "model.pt"):
        raise RunError(f"{out} holds a checkpoint that no adaptation wrote: it is never replaced.")

    def command(runs: Path, run: str, folder: Path) -> list[str]:
        where = ["--out", str(out), "--artifacts", str(artifacts), "--steps", str(ADAPT_STEPS)]
        return [*CORE, "adapt", "--corpus", corpus, "--from", start, *where, "--force"]

    return _launch(artifacts, command, out)


def _launch(artifacts: Path, command, out: Path | None = None) -> Job:
    """Start the run `command(runs, ID, its job folder)` makes, once no other run trains."""
    runs = runs_dir(artifacts)
    try:
        with registry_lock(runs):
            active = _settle(artifacts)  # also clears the lock of a run that has ended
            owner = _lock_owner(runs)
            if active is not None or owner is not None:
                raise _busy(active.run if active else str(owner.get("run", "?")))
            job = _start(command, runs, out)
            write_table(artifacts)
    except OSError as e:
        raise RunError(
            f"The run cannot start: {e.strerror or e} ({e.filename or runs}). Free some disk "
            f"space or make {runs} writable, then start it again; nothing was left behind."
        ) from e
    return job


def _start(command, runs: Path, out: Path | None) -> Job:
    """Start the process and record it (job.json, then the lock); on any failure kill it and remove
    its record, so a full disk leaves no half-made run and no lock."""
    run = time.strftime("%Y%m%d-%H%M%S")
    while (runs / run).exists() or job_dir(runs, run).exists():
        run = run[:15] + f"-{int(run[16:] or 1) + 1}"
    folder, proc = job_dir(runs, run), None
    try:
        folder.mkdir(parents=True)
        argv = [*command(runs, run, folder), "--progress-file", str(folder / "progress.json")]
        proc = processes.spawn(argv, folder / "output.log")
        started, pid_start = time.time(), processes.process_start(proc.pid)
        job = Job(run, "running", proc.pid, started, argv, pid_start=pid_start, out=str(out) if out else None)
        save_job(runs, job)
        write_json(runs / LOCK, {"run": run, "pid": proc.pid, "start": job.pid_start})
        return job
    except BaseException:
        if proc is not None:
            processes.kill(proc)
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _finish(runs: Path, job: Job) -> Job:
    """Record how a run whose process has ended went, and clean up after it: no `.partial` left
    behind, the lock released. Called under the registry lock."""
    proc = processes.forget(job.pid)
    folder = job_dir(runs, job.run)
    out = Path(job.out) if job.out else runs / job.run
    recover(out)  # a swap the process did not finish: completed, or its leftovers removed
    done = (out / "model.pt").is_file() and mtime(out / "model.pt") >= job.started  # not one it replaced
    job.status = "done" if done else "cancelled" if job.cancel_requested else "failed"
    job.returncode = proc.returncode if proc else None
    output = folder / "output.log"
    wrote = output.is_file() and output.stat().st_size > 0  # an empty log's time is when it was made
    job.ended = max(mtime(output) if wrote else time.time(), job.started)
    tail = processes.output_tail(output)
    job.error = (
        None
        if job.status != "failed"
        else "\n".join([processes.ending(job.returncode, tail), tail or "(the process wrote no output)"])
    )
    save_job(runs, job)
    lock, _ = read_record(runs / LOCK)
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
            if processes.alive(job.pid, job.pid_start):
                active = job
            else:
                _finish(runs, job)
    if (runs / LOCK).exists() and _lock_owner(runs) is None:
        (runs / LOCK).unlink(missing_ok=True)  # stale: no valid live owner
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
    alive = [job for job in running if processes.alive(job.pid, job.pid_start)]
    stale = (runs / LOCK).exists() and _lock_owner(runs) is None
    if len(alive) == len(running) and not stale and _table_current(artifacts):
        return alive[-1] if alive else None
    try:
        with registry_lock(runs):
            return _settle(artifacts)
    except OSError:
        return alive[-1] if alive else None


def _table_current(artifacts: Path) -> bool:
    """Whether runs.json holds the table its files make. Once it did, the answer is kept until one
    of those files changes (by name, size or modification time), so a poll with nothing new reads no
    log: it costs a listing and a stat of each file."""
    inputs = table_inputs(artifacts)
    if _current.get(artifacts) == inputs:
        return True
    if read_record(runs_dir(artifacts) / "runs.json")[0] != table(artifacts):
        return False
    _current[artifacts] = inputs
    return True


def cancel(artifacts: str | Path | None = None, grace_s: float = CANCEL_GRACE_S) -> Job | None:
    """Stop the running run (SIGTERM to its process group, SIGKILL after `grace_s`), then record it
    as cancelled and clean up. Only a process whose start time matches the record is signalled.
    Returns the job, or None when nothing was running; a disk that cannot be written is a RunError."""
    try:
        return _cancel(Path(artifacts or artifacts_dir()), grace_s)
    except OSError as e:
        raise RunError(
            f"The run cannot be cancelled: {e.strerror or e} ({e.filename}). Make the artifacts "
            "folder writable and try again."
        ) from e


def _cancel(artifacts: Path, grace_s: float) -> Job | None:
    runs = runs_dir(artifacts)
    job = refresh(artifacts)
    if job is None:
        return None
    with registry_lock(runs):
        job = read_job(job_dir(runs, job.run) / "job.json")
        if job.status != "running":
            return job  # it ended meanwhile
        job.cancel_requested = True
        save_job(runs, job)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not processes.alive(job.pid, job.pid_start):
            break
        os.killpg(job.pid, sig)
        deadline = time.time() + grace_s
        while processes.alive(job.pid, job.pid_start) and time.time() < deadline:
            time.sleep(0.05)
    with registry_lock(runs):
        current = read_job(job_dir(runs, job.run) / "job.json")
        job = _finish(runs, current) if current.status == "running" else current
        write_table(artifacts)
    return job
