"""Reliability of the runs registry (`core.runs.overview`) and the Training page over it: concurrent polling
while a run ends, damaged records listed as unreadable (the page still loads), stale locks, pids
trusted only with their start time, how a killed run ended, and launches on a full or read-only disk."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from core.common import artifacts
from core.common.artifacts import write_json
from core.common.config import Config
from core.runs import jobs, launcher, processes
from core.runs import overview as runs
from tests.app.test_training import APP, assert_consistent, tiny_env, wait_for  # noqa: F401 (tiny_env: a fixture)


def good_log(loss: float = 0.5) -> dict:
    return {
        "config": Config().to_dict(),
        "data": {"fingerprint": "abc", "train_queries": 10},
        "batches": [{"epoch": 1, "step": 1, "loss": loss, "active": 0.5, "lr": 1e-3}],
        "epochs": [
            {"epoch": 0, "val": {"mrr@10": 0.1}},
            {"epoch": 1, "loss": loss, "active": 0.5, "val": {"mrr@10": 0.2}},
        ],
        "seconds": 1.0,
    }


def job_record(run: str, pid: int, start: int | None, status: str = "running") -> dict:
    return {
        "run": run,
        "status": status,
        "pid": pid,
        "started": time.time() - 5,
        "command": ["python"],
        "pid_start": start,
    }


def record_running(art: Path, run: str, proc: subprocess.Popen, start_offset: int = 0) -> None:
    """A job.json and a lock for `proc` as the launcher writes them (with a wrong start time when
    `start_offset` is not 0)."""
    start = processes.process_start(proc.pid) + start_offset
    folder = artifacts.runs_dir(art)
    write_json(folder / "jobs" / run / "job.json", job_record(run, proc.pid, start))
    write_json(folder / launcher.LOCK, {"run": run, "pid": proc.pid, "start": start})


# --- many pollers while a run ends ---------------------------------------------------------------


def _poll(art: str, seconds: float, errors) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            launcher.refresh(art)
        except Exception as e:  # noqa: BLE001 (any exception fails the test)
            errors.put(f"{type(e).__name__}: {e}")


def test_concurrent_refreshes_while_a_run_ends_agree_and_never_raise(tmp_path):
    ending = subprocess.Popen(["sleep", "0.6"])
    record_running(tmp_path, "ending", ending)
    write_json(artifacts.runs_dir(tmp_path) / "done" / "log.json", good_log())  # a finished CLI run too
    ctx = multiprocessing.get_context("fork")
    errors = ctx.Queue()
    procs = [ctx.Process(target=_poll, args=(str(tmp_path), 1.5, errors)) for _ in range(2)]
    threads = [threading.Thread(target=_poll, args=(str(tmp_path), 1.5, errors)) for _ in range(3)]
    for worker in [*procs, *threads]:
        worker.start()
    for worker in [*procs, *threads]:
        worker.join(30)
    ending.wait()
    seen = []
    while not errors.empty():
        seen.append(errors.get())
    assert not seen and all(p.exitcode == 0 for p in procs), seen[:3]
    assert launcher.refresh(tmp_path) is None
    job = jobs.jobs(tmp_path)[0]
    assert job.status == "failed" and job.error.startswith("killed: it ended without a word")
    folder = artifacts.runs_dir(tmp_path)
    rows = json.loads((folder / "runs.json").read_text())
    assert rows == runs.table(tmp_path) and (folder / "runs.csv").read_text() == runs.table_csv(rows)
    assert {r["run"] for r in rows} == {"run-done", "run-ending"} and not (folder / launcher.LOCK).exists()
    assert not [p.name for p in folder.iterdir() if p.name.endswith(".tmp")], "no temporary file left"


def test_polling_only_reads_when_nothing_changed(tmp_path, monkeypatch):
    write_json(artifacts.runs_dir(tmp_path) / "done" / "log.json", good_log())
    launcher.refresh(tmp_path)
    writes = []
    for module in (runs, launcher, jobs):
        monkeypatch.setattr(module, "write_json", lambda *a: writes.append(a))
    monkeypatch.setattr(launcher, "registry_lock", lambda *a: writes.append(a))
    for _ in range(3):
        launcher.refresh(tmp_path)
    assert writes == []


def test_polling_reads_no_log_until_a_file_changes(tmp_path, monkeypatch):
    log_path = artifacts.runs_dir(tmp_path) / "done" / "log.json"
    write_json(log_path, good_log())
    launcher.refresh(tmp_path)  # writes the table
    launcher.refresh(tmp_path)  # finds runs.json current, and remembers what it was made from
    reads = []
    real = runs.read_log
    monkeypatch.setattr(runs, "read_log", lambda path: reads.append(path) or real(path))
    for _ in range(3):
        launcher.refresh(tmp_path)
    assert reads == [], "a poll with nothing new re-read the logs"
    changed = good_log()
    changed["seconds"] = 99.0
    write_json(log_path, changed)
    launcher.refresh(tmp_path)
    assert log_path in reads, "a changed log was not read"
    assert json.loads((artifacts.runs_dir(tmp_path) / "runs.json").read_text())[0]["duration_s"] == 99.0


# --- damaged records -----------------------------------------------------------------------------

VALID = json.dumps(good_log()).encode()
BAD_FILES = {
    "binary log.json": ("ID/log.json", bytes(range(256))),
    "truncated log.json": ("ID/log.json", VALID[: len(VALID) // 2]),
    "empty log.json": ("ID/log.json", b""),
    "wrong-typed log.json": ("ID/log.json", json.dumps({**good_log(), "batches": 3}).encode()),
    "a list as log.json": ("ID/log.json", b"[1, 2, 3]"),
    "NaN in log.json": ("ID/log.json", VALID.replace(b'"loss": 0.5', b'"loss": NaN')),
    "garbage job.json": ("jobs/ID/job.json", b"\x00\x01 not json"),
    "wrong-typed job.json": (
        "jobs/ID/job.json",
        json.dumps({**job_record("ID", 12, 1), "pid": "12"}).encode(),
    ),
    "another run's job.json": ("jobs/ID/job.json", json.dumps(job_record("other", 12, 1, "done")).encode()),
}


def write_bad_files(art: Path, cases) -> dict[str, str]:
    """Each case's bad file under runs/ as its own run (run ID = the case's index); {app name: case}."""
    names = {}
    for i, case in enumerate(cases):
        where, content = BAD_FILES[case]
        path = artifacts.runs_dir(art) / where.replace("ID", f"bad{i}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        names[f"run-bad{i}"] = case
    return names


@pytest.mark.parametrize("case", BAD_FILES)
def test_a_damaged_record_is_listed_as_unreadable(case, tmp_path):
    ((name, _),) = write_bad_files(tmp_path, [case]).items()
    assert launcher.refresh(tmp_path) is None
    rows = {r["run"]: r for r in runs.table(tmp_path)}
    assert (
        rows[name]["status"] == jobs.UNREADABLE and str(artifacts.runs_dir(tmp_path)) in rows[name]["error"]
    )
    assert name not in runs.logs(tmp_path)
    assert json.loads((artifacts.runs_dir(tmp_path) / "runs.json").read_text()) == list(rows.values())


def test_the_training_page_loads_over_every_damaged_record(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    art = tmp_path / "artifacts"
    names = write_bad_files(art, BAD_FILES)
    write_json(art / "random" / "log.json", good_log())
    (art / "hard").mkdir()
    (art / "hard" / "log.json").write_bytes(b"{")  # a damaged log outside runs/ too
    names["hard"] = "truncated log.json"
    (artifacts.runs_dir(art) / launcher.LOCK).write_bytes(b"")  # what a full disk used to leave
    monkeypatch.setenv("ARTIFACTS_DIR", str(art))
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    status = dict(zip(table["id"], table.status))  # the page shows a run's id as "id", its label as "run"
    assert {n: status.get(n) for n in names} == dict.fromkeys(names, jobs.UNREADABLE)
    assert status["random"] == "done" and at.multiselect[0].value == ["random"]
    assert not (artifacts.runs_dir(art) / launcher.LOCK).exists(), "the empty lock was stale"
    assert not at.get("progress"), "nothing shows as in progress"


# --- locks and pids ------------------------------------------------------------------------------


def _me(**changes) -> dict:
    return {"run": "x", "pid": os.getpid(), "start": processes.process_start(os.getpid()), **changes}


STALE_LOCKS = {
    "empty": b"",
    "garbage": b"\xff\x00",
    "no pid": b'{"run": "x"}',
    "a list": b"[]",
    "pid 0": json.dumps(_me(pid=0)),
    "pid -1": json.dumps(_me(pid=-1)),
    "pid as text": json.dumps(_me(pid=str(os.getpid()))),
    "no start time": json.dumps(_me(start=None)),
    "another start time": json.dumps(_me(start=1)),
}


@pytest.mark.parametrize("case", STALE_LOCKS)
def test_a_lock_without_a_valid_live_owner_is_stale(case, tmp_path):
    content = STALE_LOCKS[case]
    lock = artifacts.runs_dir(tmp_path) / launcher.LOCK
    lock.parent.mkdir(parents=True)
    lock.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert launcher.refresh(tmp_path) is None and not lock.exists()


def test_a_pid_whose_start_time_differs_is_never_trusted_nor_signalled(tmp_path):
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)  # its own process group
    try:
        record_running(tmp_path, "old", stranger, start_offset=-7)  # the pid, reused by another process
        assert launcher.refresh(tmp_path) is None, "not trusted: the run is over"
        assert jobs.jobs(tmp_path)[0].status == "failed"
        assert not (artifacts.runs_dir(tmp_path) / launcher.LOCK).exists()
        record_running(tmp_path, "older", stranger, start_offset=-9)
        assert launcher.cancel(tmp_path, grace_s=0.5) is None
        time.sleep(0.2)
        assert stranger.poll() is None, "the unrelated process was not signalled"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_run_killed_from_outside_says_so(tiny_env):  # noqa: F811 (the imported fixture)
    cfg = launcher.run_config(tiny_env, hidden=8, out_dim=16, epochs=5000, batch_size=4, warmup_steps=1)
    job = launcher.launch(cfg, tiny_env)
    wait_for(lambda: runs.progress(job, tiny_env).event in ("batch", "epoch"), 90, "training to start")
    os.kill(job.pid, signal.SIGKILL)
    wait_for(lambda: launcher.refresh(tiny_env) is None, 30, "the run to be noticed as ended")
    killed = jobs.jobs(tiny_env)[-1]
    assert killed.status == "failed" and killed.returncode == -9
    assert killed.error.splitlines()[0] == "killed (signal 9)"
    assert_consistent(tiny_env, killed)


def test_a_run_that_exits_with_an_error_gives_its_code(tiny_env):  # noqa: F811
    mined = tiny_env / "mined" / "negatives.json"
    mined.parent.mkdir()
    mined.write_text('{"negatives": "none"}')
    launcher.launch(launcher.run_config(tiny_env, negatives="hard", epochs=1), tiny_env)
    wait_for(lambda: launcher.refresh(tiny_env) is None, 90, "the run to fail")
    failed = jobs.jobs(tiny_env)[-1]
    assert failed.error.splitlines()[0] == "exited with code 2"
    assert f"error: mined negatives {mined} are unreadable" in failed.error
    assert_consistent(tiny_env, failed)


# --- launching on a disk that cannot be written ----------------------------------------------------


def test_a_launch_on_a_full_disk_is_a_message_and_leaves_no_lock(tiny_env, monkeypatch):  # noqa: F811
    from streamlit.testing.v1 import AppTest

    def full_disk(self, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(Config, "save", full_disk)
    with pytest.raises(launcher.RunError, match="No space left on device.*nothing was left behind"):
        launcher.launch(launcher.run_config(tiny_env, epochs=1), tiny_env)
    folder = artifacts.runs_dir(tiny_env)
    assert not (folder / launcher.LOCK).exists() and not list(folder.glob("jobs/*"))
    assert launcher.refresh(tiny_env) is None
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("views/pages/training.py").run()
    next(b for b in at.button if b.label == "Start training").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No space left on device" in " ".join(e.value for e in at.error)
    assert not (folder / launcher.LOCK).exists()


def test_a_read_only_disk_refuses_launches_with_a_message_and_polling_still_works(tmp_path, monkeypatch):
    finished = subprocess.Popen(["true"])
    finished.wait()
    real_open = os.open

    def read_only(path, flags, *args):
        if Path(path).name == jobs.REGISTRY_LOCK:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args)

    write_json(
        artifacts.runs_dir(tmp_path) / "jobs" / "ended" / "job.json", job_record("ended", finished.pid, 1)
    )
    monkeypatch.setattr(os, "open", read_only)
    assert launcher.refresh(tmp_path) is None, "the ended run is not trusted, and polling does not raise"
    with pytest.raises(launcher.RunError, match="Read-only file system"):
        launcher.launch(Config(), tmp_path)


def test_how_a_run_ended_is_read_from_its_output_by_another_app_process():
    """A run this process did not start has no exit status here; it used to read 'exit status unknown'."""
    assert processes.ending(None, "epoch 1/4: 50%").startswith("killed: it ended without a word")
    assert processes.ending(None, "error: --lr must be ...") == "exited with an error"
    assert processes.ending(None, "Traceback (most recent call last):\n  ...") == "crashed with an exception"
    assert processes.ending(-9) == "killed (signal 9)" and processes.ending(2) == "exited with code 2"
