"""Fault injection: `train` and `build` killed (SIGKILL) at seeded random moments, 20 kills across the
two, over the tiny corpus (the command alone: a build's round processes end by themselves, within
seconds). After every kill: each checkpoint that existed before is still found and
loads, and every JSON artifact parses. At the end: the next train and build complete, and nothing is
left half-written (no `.partial`, `.ready`, `.old`, temporary file or lock)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.common.artifacts import find_checkpoints
from core.model.two_tower import load_checkpoint

pytestmark = pytest.mark.stress

ROOT = Path(__file__).resolve().parents[2]
SEED, KILLS = 19, 20
SMALL = [
    *(
        "--val-fraction",
        "0.3",
        "--tune-fraction",
        "0.2",
        "--top-n",
        "300",
        "--hidden",
        "8",
        "--out-dim",
        "8",
    ),
    *("--epochs", "2", "--batch-size", "8", "--warmup-steps", "1"),
    *("--round-epochs", "1", "--round-batch-size", "8", "--round-warmup-steps", "1"),
    *("--mine-depth", "8", "--mine-keep", "3"),
]


def commands(out: Path, data: Path) -> dict[str, list[str]]:
    common = [sys.executable, "-m", "core"]
    return {
        "train": [*common, "train", "--out", str(out / "runs" / "r1"), "--source", str(data), *SMALL],
        "build": [*common, "build", "--force", "--artifacts", str(out), "--source", str(data), *SMALL],
    }


def run(command: list[str], env: dict, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    if kill_after is None:
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(kill_after)
    proc.send_signal(
        signal.SIGKILL
    )  # the process alone, not its group: a build's rounds must end by themselves
    proc.wait(timeout=60)
    deadline = time.time() + 5
    while group_alive(proc.pid) and time.time() < deadline:
        time.sleep(0.05)
    assert not group_alive(proc.pid), "processes the killed command started still run"
    return None


def group_alive(pgid: int) -> bool:
    """Whether a process of group `pgid` is still running (zombies, dead but not yet reaped, are not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            return True
    return False


def leftovers(out: Path) -> list[str]:
    """What a writer leaves only while it works: swap folders, temporary files, locks."""
    names = (".partial", ".ready", ".old", ".tmp", ".lock")
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob(".*")
        if p.name.endswith(names) and "chroma" not in p.relative_to(out).parts[0]
    )


def check_intact(out: Path, before: dict[str, Path], when: str) -> None:
    found = find_checkpoints(out)  # recovers what a kill left mid-swap
    assert set(before) <= set(found), f"{when}: lost {set(before) - set(found)}"
    for path in found.values():
        load_checkpoint(path)  # raises on a half-written file
    for path in out.rglob("*.json"):
        if "chroma" not in path.relative_to(out).parts[0]:
            json.loads(path.read_text())  # raises on a half-written file
    assert not [p for p in leftovers(out) if p.endswith((".partial", ".ready", ".old"))], when


def test_train_and_build_killed_at_random_points_lose_nothing_and_recover(tiny_jsonl, tmp_path):
    out = tmp_path / "artifacts"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CHROMA_HOST", None)
    cmds = commands(out, tiny_jsonl)
    seconds = {}
    for name, command in cmds.items():  # a first complete run of each, timed
        t0 = time.time()
        done = run(command, env)
        assert done.returncode == 0, done.stderr[-2000:]
        seconds[name] = time.time() - t0
    before = find_checkpoints(out)
    assert set(before) == {"random", "hard", "run-r1"}

    rng = random.Random(SEED)
    schedule = [(name, rng.uniform(0.5, seconds[name])) for name in rng.choices(list(cmds), k=KILLS)]
    assert {name for name, _ in schedule} == {"train", "build"}
    for i, (name, delay) in enumerate(schedule):
        run(cmds[name], env, kill_after=delay)
        check_intact(out, before, f"kill {i + 1}: {name} after {delay:.1f}s")

    for name, command in cmds.items():  # the next runs complete
        done = run(command, env)
        assert done.returncode == 0, f"{name} after the kills: {done.stderr[-2000:]}"
    check_intact(out, before, "the end")
    assert leftovers(out) == [], "nothing half-written, no lock left"
